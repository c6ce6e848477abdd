// CommandParser under libFuzzer: any bytes, fed whole, in pieces whose sizes
// derive from the input, and (for small inputs) one byte at a time.
//
// Invariants checked on every run:
//   * a feed never reports more bytes consumed than it was given, need_more
//     means every byte was used, and the parser never stalls (an outcome
//     that consumes nothing cannot repeat);
//   * the sink sees a strict begin → write* → finish|discard order, never
//     more than one file open, and a finished file ends up either in the
//     command's values (exactly once) or discarded when the command fails;
//   * all three feeding patterns give the same outcomes, values, error
//     messages and sink calls: where a read boundary falls cannot matter.
#include <fmt/core.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "protocol/command_parser.h"
#include "protocol/dlist.h"
#include "storage/guid.h"

namespace {

using replicad::fuzz::show;
using replicad::protocol::CommandParser;
using replicad::protocol::Dlist;
using replicad::protocol::FileRef;
using replicad::protocol::FileSink;
using replicad::protocol::ParserLimits;

// Limits small enough that a short input crosses each of them.
ParserLimits tiny_limits() {
  ParserLimits l;
  l.max_line_bytes = 200;
  l.max_literal = 40;
  l.max_file_literal = 64;
  l.max_depth = 3;
  l.max_items = 24;
  l.max_tag_bytes = 8;
  return l;
}

// One unambiguous line per value tree (the same form the unit tests use).
std::string dump(const Dlist& v) {
  std::string out = v.name.empty() ? "" : show(v.name) + "=";
  switch (v.type) {
    case Dlist::Type::nil:
      return out + "NIL";
    case Dlist::Type::string:
      return out + (v.raw_flag ? "flag:" : "") + show(v.str, v.str.size());
    case Dlist::Type::list:
    case Dlist::Type::kvlist: {
      out += v.is_list() ? "(" : "%(";
      for (size_t i = 0; i < v.items.size(); ++i) out += (i ? " " : "") + dump(v.items[i]);
      return out + ")";
    }
    case Dlist::Type::file:
      return out + fmt::format("file({} {} {} {})", show(v.file.partition), show(v.file.guid_hex),
                               v.file.size, v.file.verified ? "ok" : "bad");
  }
  return out;
}

size_t count_files(const Dlist& v) {
  size_t n = v.is_file() ? 1 : 0;
  for (const Dlist& item : v.items) n += count_files(item);
  return n;
}

// Keeps file bytes in memory and holds the parser to the FileSink contract.
class CheckingSink : public FileSink {
 public:
  CheckingSink(bool refuse_all, bool fail_writes) : refuse_all_(refuse_all), fail_writes_(fail_writes) {}

  bool begin(std::string_view partition, std::string_view guid_hex, uint64_t size,
             std::string& reason) override {
    FUZZ_CHECK(!open_, "begin() while a file is open");
    log.push_back(fmt::format("begin {} {} {}", show(partition), show(guid_hex), size));
    if (!replicad::storage::Guid::from_hex(guid_hex)) {
      reason = "GUID is not 40 hex digits";
      return false;
    }
    if (refuse_all_) {
      reason = "no space left";
      return false;
    }
    open_ = true;
    expected_ = size;
    bytes_.clear();
    return true;
  }

  bool write(std::span<const char> bytes, std::string& reason) override {
    FUZZ_CHECK(open_, "write() without an open file");
    FUZZ_CHECK(!bytes.empty(), "write() of nothing");
    bytes_.append(bytes.data(), bytes.size());
    FUZZ_CHECK(bytes_.size() <= expected_, fmt::format("{} bytes written to a file of {}", bytes_.size(), expected_));
    // A failing disk fails the first write: where a later one would fail
    // depends on read boundaries, and so would the error's offset.
    if (fail_writes_) {
      reason = "disk full";
      return false;
    }
    return true;
  }

  void finish(FileRef& file) override {
    FUZZ_CHECK(open_, "finish() without an open file");
    FUZZ_CHECK(bytes_.size() == expected_, fmt::format("finished after {} of {} bytes", bytes_.size(), expected_));
    FUZZ_CHECK(file.size == expected_, "FileRef size differs from the announced size");
    open_ = false;
    file.verified = replicad::storage::sha1_of(bytes_).hex() == file.guid_hex;
    file.path = file.verified ? "mem:" + file.guid_hex : "";
    log.push_back(fmt::format("finish {}", file.verified ? "ok" : "bad"));
    ++unclaimed_;
  }

  void discard(const FileRef&) override {
    // Either the open file (a write failed) or one finished earlier in the
    // command that has now failed.
    FUZZ_CHECK(open_ || unclaimed_ > 0, "discard() of a file that is neither open nor finished");
    if (open_) {
      open_ = false;
    } else {
      --unclaimed_;
    }
    log.push_back("discard");
  }

  // A command came out: its file values are exactly the finished files.
  void on_command(const std::vector<Dlist>& values) {
    FUZZ_CHECK(!open_, "a command completed with a file still open");
    size_t files = 0;
    for (const Dlist& v : values) files += count_files(v);
    FUZZ_CHECK(files == unclaimed_, fmt::format("{} file values but {} finished files", files, unclaimed_));
    unclaimed_ = 0;
  }
  // A command failed: every file it received was handed back.
  void on_error() {
    FUZZ_CHECK(!open_, "a failed command left a file open");
    FUZZ_CHECK(unclaimed_ == 0, fmt::format("a failed command kept {} finished files", unclaimed_));
  }

  std::vector<std::string> log;

 private:
  bool refuse_all_;
  bool fail_writes_;
  bool open_ = false;
  uint64_t expected_ = 0;
  std::string bytes_;
  size_t unclaimed_ = 0;
};

struct Trace {
  std::vector<std::string> events;
  std::vector<std::string> sink_log;
};

struct Setup {
  ParserLimits limits;
  bool with_sink = true;
  bool refuse_all = false;
  bool fail_writes = false;
};

// Feeds `data` in the pieces `piece_size` yields (0 = the rest).
template <typename PieceSize>
Trace run(std::string_view data, const Setup& setup, PieceSize piece_size) {
  CheckingSink sink(setup.refuse_all, setup.fail_writes);
  CommandParser parser(setup.limits, setup.with_sink ? &sink : nullptr);
  Trace trace;
  while (!data.empty()) {
    size_t n = std::min(data.size(), piece_size());
    std::string_view rest = data.substr(0, n);
    data.remove_prefix(n);
    int idle_outcomes = 0;
    while (!rest.empty()) {
      auto out = parser.feed(rest);
      FUZZ_CHECK(out.consumed <= rest.size(), fmt::format("consumed {} of {} bytes", out.consumed, rest.size()));
      rest.remove_prefix(out.consumed);
      idle_outcomes = out.consumed == 0 ? idle_outcomes + 1 : 0;
      FUZZ_CHECK(idle_outcomes < 3, "the parser stalls: outcomes without consuming a byte");
      switch (out.status) {
        case CommandParser::Status::need_more:
          FUZZ_CHECK(rest.empty(), fmt::format("need_more with {} bytes left unread", rest.size()));
          break;
        case CommandParser::Status::continuation:
          trace.events.push_back("continuation");
          break;
        case CommandParser::Status::command: {
          auto values = parser.take_command();
          sink.on_command(values);
          std::string line = "command:";
          for (const Dlist& v : values) line += " " + dump(v);
          trace.events.push_back(std::move(line));
          // As the session does after an AUTHENTICATE challenge; decided by
          // the values so that every feeding pattern does it at the same point.
          if (values.size() % 2 == 1) parser.expect_raw_line();
          break;
        }
        case CommandParser::Status::error:
          sink.on_error();
          FUZZ_CHECK(!parser.error_message().empty(), "an error without a message");
          for (char c : parser.error_message())
            FUZZ_CHECK(c >= 0x20 && c < 0x7F, "an error message that would break the reply line: " +
                                                  show(parser.error_message()));
          std::string line = (parser.fatal() ? "fatal: " : "error: ") + parser.error_message();
          FUZZ_CHECK(parser.failed_words().size() <= 2, "more than two failed words");
          for (const std::string& word : parser.failed_words()) {
            FUZZ_CHECK(word.size() <= setup.limits.max_tag_bytes, "a failed word longer than a tag");
            line += " | " + show(word);
          }
          trace.events.push_back(std::move(line));
          break;
      }
    }
  }
  trace.sink_log = std::move(sink.log);
  return trace;
}

void compare(const Trace& a, const Trace& b, const char* how) {
  size_t n = std::min(a.events.size(), b.events.size());
  for (size_t i = 0; i < n; ++i)
    FUZZ_CHECK(a.events[i] == b.events[i],
               fmt::format("{}: outcome {} differs:\n  whole: {}\n  {}: {}", how, i, a.events[i], how, b.events[i]));
  FUZZ_CHECK(a.events.size() == b.events.size(),
             fmt::format("{}: {} outcomes whole, {} {}", how, a.events.size(), b.events.size(), how));
  FUZZ_CHECK(a.sink_log == b.sink_log, fmt::format("{}: the file sink saw different calls", how));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  const uint64_t seed = replicad::fuzz::input_hash(data);

  Setup setup;
  switch (seed % 4) {
    case 0: setup.limits = ParserLimits{}; break;
    case 1: setup.limits = replicad::protocol::preauth_limits(); break;
    default: setup.limits = tiny_limits(); break;
  }
  setup.with_sink = (seed >> 8) % 8 != 0;
  setup.refuse_all = (seed >> 12) % 8 == 0;
  setup.fail_writes = (seed >> 16) % 8 == 0;

  Trace whole = run(data, setup, [] { return SIZE_MAX; });
  replicad::fuzz::Random random(seed);
  Trace pieces = run(data, setup, [&] {
    switch (random.below(3)) {
      case 0: return size_t{1};
      case 1: return static_cast<size_t>(1 + random.below(16));
      default: return static_cast<size_t>(1 + random.below(600));
    }
  });
  compare(whole, pieces, "pieces");
  if (size <= 4096) {
    Trace bytewise = run(data, setup, [] { return size_t{1}; });
    compare(whole, bytewise, "byte at a time");
  }
  return 0;
}
