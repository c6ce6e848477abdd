// The staging area on a real temporary directory, alone and behind the parser.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "dlist_test_support.h"
#include "protocol/command_parser.h"
#include "protocol/staging.h"
#include "storage/guid.h"

using namespace replicad::protocol;
using namespace replicad::protocol::testing;
using replicad::storage::Guid;
using replicad::storage::sha1_of;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "replicad-staging-XXXXXX").string();
    REQUIRE(::mkdtemp(pattern.data()) != nullptr);
    path = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string root() const { return (path / "staging").string(); }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

size_t entries(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) ++n;
  return n;
}

// Streams `body` into the area in chunks of three bytes, as the parser would.
FileRef upload(StagingArea& area, std::string_view body, const std::string& guid_hex) {
  std::string reason;
  REQUIRE(area.begin("default", guid_hex, body.size(), reason));
  for (size_t i = 0; i < body.size(); i += 3) {
    std::string_view part = body.substr(i, 3);
    REQUIRE(area.write(std::span<const char>(part.data(), part.size()), reason));
  }
  FileRef file{"default", guid_hex, body.size(), {}, false};
  area.finish(file);
  return file;
}

}  // namespace

TEST_CASE("a verified upload is named by its GUID", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "s1", 1 << 20);
  CHECK_FALSE(fs::exists(tmp.root()));  // created lazily

  const std::string body = "From: a\r\n\r\nhello\r\n";
  const Guid guid = sha1_of(body);
  FileRef file = upload(area, body, guid.hex());
  CHECK(file.verified);
  CHECK(file.path == tmp.root() + "/s1/" + guid.hex());
  CHECK(read_file(file.path) == body);
  struct stat st {};
  REQUIRE(::stat((tmp.root() + "/s1").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(entries(tmp.root() + "/s1") == 1);  // no temporary file left

  area.keep(guid, file);
  REQUIRE(area.find(guid) != nullptr);
  CHECK(area.find(guid)->path == file.path);
  CHECK(area.find(guid)->size == body.size());
  CHECK(area.staged_count() == 1);
}

TEST_CASE("an upload whose SHA-1 differs is deleted", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "s1", 1 << 20);
  FileRef file = upload(area, "the real bytes", sha1_of("other bytes").hex());
  CHECK_FALSE(file.verified);
  CHECK(file.path.empty());
  CHECK(entries(tmp.root() + "/s1") == 0);
  area.keep(sha1_of("other bytes"), file);  // not verified: not kept
  CHECK(area.staged_count() == 0);
}

TEST_CASE("begin refuses bad GUIDs and oversized files; write refuses extra bytes", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "s1", 10);
  std::string reason;
  CHECK_FALSE(area.begin("default", "12345", 3, reason));
  CHECK(reason.find("40 hex") != std::string::npos);
  CHECK_FALSE(area.begin("default", std::string(40, 'g'), 3, reason));
  CHECK_FALSE(area.begin("default", sha1_of("x").hex(), 11, reason));
  CHECK(reason.find("limit") != std::string::npos);

  REQUIRE(area.begin("default", sha1_of("abc").hex(), 3, reason));
  CHECK_FALSE(area.write(std::span<const char>("abcd", 4), reason));
  CHECK(reason.find("more bytes") != std::string::npos);
  CHECK(entries(tmp.root() + "/s1") == 0);  // the partial file is gone
}

TEST_CASE("discard removes an unkept file but never a kept one", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "s1", 1 << 20);
  const std::string body = "same message";
  const Guid guid = sha1_of(body);
  FileRef first = upload(area, body, guid.hex());
  area.keep(guid, first);
  // The same GUID again, in a command that then fails.
  FileRef second = upload(area, body, guid.hex());
  REQUIRE(second.verified);
  area.discard(second);
  CHECK(fs::exists(first.path));
  CHECK(read_file(first.path) == body);

  const std::string other = "another message";
  FileRef unkept = upload(area, other, sha1_of(other).hex());
  REQUIRE(fs::exists(unkept.path));
  area.discard(unkept);
  CHECK_FALSE(fs::exists(unkept.path));

  // Discarding in the middle of an upload removes its temporary file.
  std::string reason;
  REQUIRE(area.begin("default", sha1_of("abc").hex(), 3, reason));
  REQUIRE(area.write(std::span<const char>("a", 1), reason));
  area.discard(FileRef{"default", sha1_of("abc").hex(), 3, {}, false});
  CHECK(entries(tmp.root() + "/s1") == 1);  // only the kept file
}

TEST_CASE("clear() and the destructor delete the session's files", "[staging]") {
  TempDir tmp;
  const std::string body = "x";
  const Guid guid = sha1_of(body);
  {
    StagingArea area(tmp.root(), "s1", 1 << 20);
    area.keep(guid, upload(area, body, guid.hex()));
    area.reserve(sha1_of("reserved"));
    CHECK(area.reserved(sha1_of("reserved")));
    area.clear();
    CHECK(area.staged_count() == 0);
    CHECK(area.find(guid) == nullptr);
    CHECK_FALSE(area.reserved(sha1_of("reserved")));
    CHECK_FALSE(fs::exists(tmp.root() + "/s1"));

    // Usable again after clear(); the destructor cleans up as well.
    area.keep(guid, upload(area, body, guid.hex()));
    CHECK(fs::exists(tmp.root() + "/s1/" + guid.hex()));
    // An upload left half-way is removed with the directory.
    std::string reason;
    REQUIRE(area.begin("default", sha1_of("abc").hex(), 3, reason));
  }
  CHECK_FALSE(fs::exists(tmp.root() + "/s1"));
  CHECK(fs::exists(tmp.root()));
}

TEST_CASE("session ids stay inside the root", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "../escape", 1 << 20);
  FileRef file = upload(area, "x", sha1_of("x").hex());
  REQUIRE(file.verified);
  CHECK(fs::path(file.path).parent_path().parent_path() == fs::path(tmp.root()));
}

TEST_CASE("remove_leftovers wipes everything under the root", "[staging]") {
  TempDir tmp;
  fs::create_directories(tmp.root() + "/old-session/sub");
  std::ofstream(tmp.root() + "/old-session/upload-1.tmp") << "partial";
  std::ofstream(tmp.root() + "/stray") << "x";
  StagingArea::remove_leftovers(tmp.root());
  CHECK(fs::exists(tmp.root()));
  CHECK(entries(tmp.root()) == 0);
  StagingArea::remove_leftovers(tmp.root() + "/missing");  // no root yet: nothing to do
}

TEST_CASE("the parser streams APPLY MESSAGE into the staging area", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "s7", 1 << 20);
  CommandParser parser(ParserLimits{}, &area);

  const std::string good = "Subject: one\r\n\r\n)\r\nNOOP\r\n";
  const std::string other = "Subject: two\r\n";
  const std::string wrong_guid = sha1_of("not these bytes").hex();
  const std::string input =
      "APPLY MESSAGE (%{default " + sha1_of(good).hex() + " " + std::to_string(good.size()) + "}\r\n" + good +
      " %{default " + wrong_guid + " " + std::to_string(other.size()) + "}\r\n" + other + ")\r\n" +
      // A bad GUID fails the whole command, and its good file is discarded.
      "APPLY MESSAGE (%{default " + sha1_of(other).hex() + " " + std::to_string(other.size()) + "}\r\n" +
      other + " %{default xyz 3}\r\nabc)\r\n" + "NOOP\r\n";

  std::vector<std::string> events;
  std::string_view rest = input;
  while (!rest.empty()) {
    auto out = parser.feed(rest.substr(0, 5));  // small pieces, as from a socket
    rest.remove_prefix(out.consumed);
    if (out.status == CommandParser::Status::command) {
      auto cmd = parser.take_command();
      events.push_back("command: " + dump(cmd));
      if (cmd.size() == 3) {
        for (const Dlist& f : cmd[2].items)
          if (f.file.verified) area.keep(*Guid::from_hex(f.file.guid_hex), f.file);
      }
    } else if (out.status == CommandParser::Status::error) {
      events.push_back("error: " + parser.error_message());
    }
  }
  REQUIRE(events.size() == 3);
  CHECK(events[0] == fmt::format(R"(command: "APPLY" "MESSAGE" (file(default {} {} ok) file(default {} {} bad)))",
                                 sha1_of(good).hex(), good.size(), wrong_guid, other.size()));
  CHECK(events[1].find("40 hex") != std::string::npos);
  CHECK(events[2] == R"(command: "NOOP")");

  const StagedFile* staged = area.find(sha1_of(good));
  REQUIRE(staged != nullptr);
  CHECK(read_file(staged->path) == good);
  CHECK(area.staged_count() == 1);
  CHECK(entries(tmp.root() + "/s7") == 1);  // the failed command left nothing behind
}
