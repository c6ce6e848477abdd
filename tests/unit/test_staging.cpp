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

// The bytes a staged upload stands for: its region of the spool.
std::string read_region(const std::string& path, uint64_t offset, uint64_t size) {
  std::string all = read_file(path);
  if (offset > all.size()) return "<offset past the end>";
  return all.substr(offset, size);
}
std::string read_region(const FileRef& f) { return read_region(f.path, f.offset, f.size); }
std::string read_region(const StagedFile& f) { return read_region(f.path, f.offset, f.size); }

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

TEST_CASE("a verified upload is a region of the session's one spool file", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "s1", 1 << 20);
  CHECK_FALSE(fs::exists(tmp.root()));  // created lazily

  const std::string body = "From: a\r\n\r\nhello\r\n";
  const Guid guid = sha1_of(body);
  FileRef file = upload(area, body, guid.hex());
  CHECK(file.verified);
  CHECK(file.path == tmp.root() + "/s1/spool");
  CHECK(file.offset == 0);
  CHECK(read_region(file) == body);
  struct stat st {};
  REQUIRE(::stat((tmp.root() + "/s1").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);
  CHECK(entries(tmp.root() + "/s1") == 1);  // one file, however many uploads

  area.keep(guid, file);
  REQUIRE(area.find(guid) != nullptr);
  CHECK(area.find(guid)->path == file.path);
  CHECK(area.find(guid)->size == body.size());
  CHECK(area.find(guid)->offset == 0);
  CHECK(area.staged_count() == 1);

  // The next upload follows in the same file.
  const std::string second = "From: b\r\n\r\nworld\r\n";
  FileRef next = upload(area, second, sha1_of(second).hex());
  REQUIRE(next.verified);
  CHECK(next.path == file.path);
  CHECK(next.offset == body.size());
  CHECK(read_region(next) == second);
  CHECK(read_region(*area.find(guid)) == body);
  CHECK(entries(tmp.root() + "/s1") == 1);
  CHECK(area.spool_bytes() == body.size() + second.size());
}

TEST_CASE("an upload whose SHA-1 differs is cut off the spool again", "[staging]") {
  TempDir tmp;
  StagingArea area(tmp.root(), "s1", 1 << 20);
  FileRef file = upload(area, "the real bytes", sha1_of("other bytes").hex());
  CHECK_FALSE(file.verified);
  CHECK(file.path.empty());
  CHECK(area.spool_bytes() == 0);
  CHECK(fs::file_size(tmp.root() + "/s1/spool") == 0);
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
  CHECK(area.spool_bytes() == 0);  // the partial upload is cut off
  CHECK(fs::file_size(tmp.root() + "/s1/spool") == 0);
}

TEST_CASE("discard gives back an unkept last region but never a kept one", "[staging]") {
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
  CHECK(read_region(*area.find(guid)) == body);
  CHECK(area.spool_bytes() == body.size());  // the unkept copy was the last region

  const std::string other = "another message";
  FileRef unkept = upload(area, other, sha1_of(other).hex());
  REQUIRE(area.spool_bytes() == body.size() + other.size());
  area.discard(unkept);
  CHECK(area.spool_bytes() == body.size());

  // Discarding in the middle of an upload cuts off what it wrote so far.
  std::string reason;
  REQUIRE(area.begin("default", sha1_of("abc").hex(), 3, reason));
  REQUIRE(area.write(std::span<const char>("a", 1), reason));
  area.discard(FileRef{"default", sha1_of("abc").hex(), 3, {}, false});
  CHECK(area.spool_bytes() == body.size());
  CHECK(fs::file_size(first.path) == body.size());
  CHECK(read_region(*area.find(guid)) == body);

  // A region that is not the last stays (dead) until the session ends, and
  // the uploads after it are untouched.
  FileRef middle = upload(area, other, sha1_of(other).hex());
  const std::string last_body = "the last one";
  FileRef last = upload(area, last_body, sha1_of(last_body).hex());
  area.discard(middle);
  CHECK(area.spool_bytes() == body.size() + other.size() + last_body.size());
  CHECK(read_region(last) == last_body);
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
    CHECK(fs::exists(tmp.root() + "/s1/spool"));
    CHECK(read_region(*area.find(guid)) == body);
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
  CHECK(read_region(*staged) == good);
  CHECK(area.staged_count() == 1);
  CHECK(area.spool_bytes() == good.size());  // the failed command left nothing behind
}
