// Replays recorded sessions of Cyrus's own sync_client against a Cyrus 3.6
// replica (sync_transcripts.h) into replicad's sync core, and requires every
// reply -- data lines and status -- to be the bytes the Cyrus replica sent.
//
// Transcripts show only the first bytes of each message, so uploads are
// staged with stand-in bodies of the announced size and taken at their
// announced GUID ("by hand"); nothing on the wire depends on the bytes
// except GET FETCH, which the transcripts do not contain.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "sync_test_support.h"
#include "sync_transcripts.h"

using namespace replicad;
using sync_test::SyncHarness;

namespace {

// One line of traffic as it was on the wire (CRLF not included), with the
// literals the log shows on lines of their own put back in place.
struct WireLine {
  int conn = 0;
  char from = 'C';  // C client, S server
  std::string bytes;
};

// wire-proxy writes bytes with \\ \t \r \n \xHH escapes.
std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      out += text[i];
      continue;
    }
    char next = text[++i];
    switch (next) {
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'n': out += '\n'; break;
      case 'x':
        out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
        i += 2;
        break;
      default: out += next; break;
    }
  }
  return out;
}

std::vector<WireLine> read_log(std::string_view log) {
  static const std::regex line_re(R"(^\d\d:\d\d:\d\d\.\d+ #(\d+) ([CS]): (.*)$)");
  static const std::regex literal_re(R"(^  <literal (\d+) bytes> '(.*)'(\.\.\. \(\+\d+ bytes\))?$)");
  static const std::regex marker_re(R"((\{\d+\+?\}|%\{\S+ \S+ \d+\})$)");

  struct Raw {
    int conn;
    char from;
    std::string text;
  };
  std::vector<Raw> raw;
  size_t pos = 0;
  while (pos < log.size()) {
    size_t end = log.find('\n', pos);
    if (end == std::string_view::npos) end = log.size();
    std::string line(log.substr(pos, end - pos));
    pos = end + 1;
    std::smatch m;
    if (std::regex_match(line, m, line_re)) raw.push_back({std::stoi(m[1]), m[2].str()[0], m[3]});
  }

  std::vector<WireLine> lines;
  for (size_t i = 0; i < raw.size(); ++i) {
    WireLine wl{raw[i].conn, raw[i].from, unescape(raw[i].text)};
    std::string text = raw[i].text;
    // A line ending in a literal marker continues after the literal's bytes,
    // on the next line of the same connection and direction.
    while (std::regex_search(text, marker_re)) {
      auto same_stream = [&](size_t j) { return raw[j].conn == wl.conn && raw[j].from == wl.from; };
      size_t j = i + 1;
      while (j < raw.size() && !same_stream(j)) ++j;
      std::smatch lit;
      REQUIRE(j < raw.size());
      REQUIRE(std::regex_match(raw[j].text, lit, literal_re));
      std::string shown = unescape(lit[2].str());
      size_t size = std::stoul(lit[1]);
      shown.resize(size, 'x');  // a shortened literal: stand-in bytes
      wl.bytes += "\r\n" + shown;
      size_t k = j + 1;
      while (k < raw.size() && !same_stream(k)) ++k;
      REQUIRE(k < raw.size());
      wl.bytes += unescape(raw[k].text);
      text = raw[k].text;
      raw[j].conn = raw[k].conn = -1;  // consumed
      i = std::max(i, k);
    }
    if (wl.conn >= 0) lines.push_back(std::move(wl));
  }
  return lines;
}

// The sync command of a client line in either flavour, without the IMAP
// tag: "APPLY ...", "GET ...", "RESTART".  `tag` receives the IMAP tag.
std::optional<std::string> sync_command(const std::string& line, std::string& tag) {
  tag.clear();
  if (line.starts_with("APPLY ") || line.starts_with("GET ") || line == "RESTART") return line;
  // IMAP flavour: "<tag> SYNCAPPLY ..." (the line may hold literals, so no regex).
  size_t space = line.find(' ');
  if (space == std::string::npos || space == 0) return std::nullopt;
  std::string rest = line.substr(space + 1);
  if (!rest.starts_with("SYNCAPPLY ") && !rest.starts_with("SYNCGET ") && rest != "SYNCRESTART")
    return std::nullopt;
  tag = line.substr(0, space);
  return rest.substr(4);
}

bool is_status(const std::string& line, const std::string& tag) {
  std::string_view rest = line;
  if (!tag.empty()) {
    if (!rest.starts_with(tag + " ")) return false;
    rest.remove_prefix(tag.size() + 1);
  }
  return rest.starts_with("OK ") || rest.starts_with("NO ") || rest.starts_with("BAD ") || rest.starts_with("BYE");
}

// "" when equal, else where and how they differ.
std::string difference(const std::string& want, const std::string& got) {
  if (want == got) return {};
  size_t at = 0;
  while (at < want.size() && at < got.size() && want[at] == got[at]) ++at;
  size_t from = at > 80 ? at - 80 : 0;
  return fmt::format("first difference at byte {}:\n  Cyrus:    ...{}\n  replicad: ...{}", at,
                     want.substr(from, 200), got.substr(from, 200));
}

void replay_group(const sync_test::TranscriptGroup& group) {
  protocol::SyncConfig config;
  config.sieve_mailbox = true;  // the recorded replicas offered SIEVE-MAILBOX
  SyncHarness h(config, /*trust_uploads=*/true);
  size_t commands = 0;
  for (const sync_test::Transcript& t : group.transcripts) {
    std::vector<WireLine> lines = read_log(t.log);
    int session_conn = -1;
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string tag;
      if (lines[i].from != 'C') continue;
      std::optional<std::string> command = sync_command(lines[i].bytes, tag);
      if (!command) continue;

      std::string expected;
      for (size_t j = i + 1; j < lines.size(); ++j) {
        if (lines[j].conn != lines[i].conn || lines[j].from != 'S') continue;
        std::string reply = lines[j].bytes;
        bool last = is_status(reply, tag);
        if (last && !tag.empty()) reply.erase(0, tag.size() + 1);
        expected += reply + "\r\n";
        if (last) break;
      }
      if (lines[i].conn != session_conn) {
        h.new_session();  // a new connection: fresh session state
        session_conn = lines[i].conn;
      }
      std::string got = h.run(*command + "\r\n");
      ++commands;
      INFO(t.name << ": " << command->substr(0, 120));
      std::string diff = difference(expected, got);
      INFO(diff);
      CHECK(diff.empty());
    }
  }
  INFO(group.name);
  CHECK(commands > 0);
}

}  // namespace

TEST_CASE("the transcript reader puts literals back", "[replay]") {
  std::vector<WireLine> lines = read_log(
      "12:00:00.000 #1 C: APPLY X %(A {3+}\n"
      "12:00:00.000 #1 C:   <literal 3 bytes> '\\\\a\\t'\n"
      "12:00:00.000 #1 C: ) B %{default 0123456789012345678901234567890123456789 6}\n"
      "12:00:00.000 #1 C:   <literal 6 bytes> 'ab'... (+4 bytes)\n"
      "12:00:00.000 #1 C: )\n"
      "12:00:00.001 #1 S: OK success\n");
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].bytes ==
        "APPLY X %(A {3+}\r\n\\a\t) B %{default 0123456789012345678901234567890123456789 6}\r\nabxxxx)");
  CHECK(lines[1].from == 'S');
  CHECK(lines[1].bytes == "OK success");
}

TEST_CASE("recorded Cyrus sessions replay byte for byte", "[replay][transcript]") {
  for (const sync_test::TranscriptGroup& group : sync_test::transcript_groups()) {
    DYNAMIC_SECTION(group.name << ": " << group.about) { replay_group(group); }
  }
}
