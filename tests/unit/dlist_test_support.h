// Helpers shared by the dlist, parser and staging tests: an unambiguous text
// form of parsed values, a memory FileSink, and a driver that feeds the same
// input whole, byte at a time and in odd chunks and insists on one result.
#pragma once

#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <algorithm>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/command_parser.h"
#include "protocol/dlist.h"
#include "storage/guid.h"

namespace replicad::protocol::testing {

// Bytes as a C-like string literal, so NUL, CR, TAB and 8-bit are visible.
inline std::string show_bytes(std::string_view bytes) {
  std::string out = "\"";
  for (char c : bytes) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u >= 0x7F) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// NIL, "string", flag:"\Seen", (list), %(KEY=value), file(part guid size ok|bad).
inline std::string dump(const Dlist& v) {
  std::string out = v.name.empty() ? "" : v.name + "=";
  switch (v.type) {
    case Dlist::Type::nil:
      return out + "NIL";
    case Dlist::Type::string:
      return out + (v.raw_flag ? "flag:" : "") + show_bytes(v.str);
    case Dlist::Type::list:
    case Dlist::Type::kvlist: {
      out += v.is_list() ? "(" : "%(";
      for (size_t i = 0; i < v.items.size(); ++i) out += (i ? " " : "") + dump(v.items[i]);
      return out + ")";
    }
    case Dlist::Type::file:
      return out + fmt::format("file({} {} {} {})", v.file.partition, v.file.guid_hex, v.file.size,
                               v.file.verified ? "ok" : "bad");
  }
  return out;
}

inline std::string dump(const std::vector<Dlist>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + dump(values[i]);
  return out;
}

// Keeps file literals in memory; checks the GUID like the staging area does.
class MemorySink : public FileSink {
 public:
  bool refuse = false;                 // begin() says no
  std::optional<size_t> fail_after;    // write() fails once this many bytes arrived
  std::vector<std::string> log;        // begin/finish/discard, in order
  std::vector<std::string> finished;   // bytes of each finished file

  bool begin(std::string_view partition, std::string_view guid_hex, uint64_t size,
             std::string& reason) override {
    log.push_back(fmt::format("begin {} {} {}", partition, guid_hex, size));
    if (!storage::Guid::from_hex(guid_hex)) {
      reason = "GUID is not 40 hex digits";
      return false;
    }
    if (refuse) {
      reason = "no space left";
      return false;
    }
    current_.clear();
    return true;
  }
  bool write(std::span<const char> bytes, std::string& reason) override {
    current_.append(bytes.data(), bytes.size());
    if (fail_after && current_.size() >= *fail_after) {
      reason = "disk full";
      return false;
    }
    return true;
  }
  void finish(FileRef& file) override {
    file.verified = storage::sha1_of(current_).hex() == file.guid_hex;
    file.path = file.verified ? "mem:" + file.guid_hex : "";
    log.push_back(fmt::format("finish {} {}", file.guid_hex, file.verified ? "ok" : "bad"));
    finished.push_back(current_);
  }
  void discard(const FileRef& file) override { log.push_back("discard " + file.guid_hex); }

 private:
  std::string current_;
};

// What a parser made of some input: one line per outcome other than need_more.
struct ParseRun {
  std::vector<std::string> events;   // "command: ...", "error: ...", "fatal: ...", "continuation"
  std::vector<std::vector<Dlist>> commands;
  std::vector<std::string> sink_log;
  bool mid_command = false;          // bytes after the last outcome are still pending
};

using AfterCommand = std::function<void(const std::vector<Dlist>&, CommandParser&)>;

inline ParseRun run_chunked(std::string_view input, size_t chunk, const ParserLimits& limits,
                            bool with_sink, const AfterCommand& after, MemorySink* sink_setup) {
  MemorySink sink;
  if (sink_setup != nullptr) {
    sink.refuse = sink_setup->refuse;
    sink.fail_after = sink_setup->fail_after;
  }
  CommandParser parser(limits, with_sink ? &sink : nullptr);
  ParseRun run;
  size_t pending = 0;
  for (size_t start = 0; start < input.size(); start += chunk) {
    std::string_view rest = input.substr(start, chunk);
    while (!rest.empty()) {
      auto out = parser.feed(rest);
      REQUIRE(out.consumed <= rest.size());
      rest.remove_prefix(out.consumed);
      pending += out.consumed;
      switch (out.status) {
        case CommandParser::Status::need_more:
          REQUIRE(rest.empty());  // need_more means every byte was used
          break;
        case CommandParser::Status::continuation:
          run.events.push_back("continuation");
          break;
        case CommandParser::Status::command: {
          auto values = parser.take_command();
          run.events.push_back("command: " + dump(values));
          pending = 0;
          if (after) after(values, parser);
          run.commands.push_back(std::move(values));
          break;
        }
        case CommandParser::Status::error:
          run.events.push_back((parser.fatal() ? "fatal: " : "error: ") + parser.error_message());
          pending = 0;
          break;
      }
    }
  }
  run.mid_command = pending != 0;
  run.sink_log = sink.log;
  return run;
}

// The same input whole, byte at a time and in chunks of 7 must give the same
// outcomes, values and sink calls.
inline ParseRun parse(std::string_view input, const ParserLimits& limits = {}, bool with_sink = true,
                      const AfterCommand& after = {}, MemorySink* sink_setup = nullptr) {
  ParseRun whole = run_chunked(input, std::max<size_t>(input.size(), 1), limits, with_sink, after, sink_setup);
  ParseRun bytewise = run_chunked(input, 1, limits, with_sink, after, sink_setup);
  ParseRun sevens = run_chunked(input, 7, limits, with_sink, after, sink_setup);
  CHECK(bytewise.events == whole.events);
  CHECK(bytewise.sink_log == whole.sink_log);
  CHECK(bytewise.mid_command == whole.mid_command);
  CHECK(sevens.events == whole.events);
  CHECK(sevens.sink_log == whole.sink_log);
  return whole;
}

}  // namespace replicad::protocol::testing
