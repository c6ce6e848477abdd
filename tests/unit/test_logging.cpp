// Logging: destinations (standard error, a log file reopened after
// logrotate, syslog facilities), one line per event, Cyrus's error prefixes
// counted; and protocol traces with credentials redacted and bodies elided,
// alone and from a real session.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "auth/sasl_server.h"
#include "protocol/protocol_trace.h"
#include "server/log.h"
#include "session_harness.h"
#include "test_support.h"

using namespace replicad;
using protocol::ProtocolTrace;

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Standard error is where the log goes; tests that move it put it back.
class SavedStderr {
 public:
  SavedStderr() : fd_(::dup(STDERR_FILENO)) {}
  ~SavedStderr() {
    std::string ignored;
    log::configure(log::Destination{}, ignored);
    ::dup2(fd_, STDERR_FILENO);
    ::close(fd_);
  }

 private:
  int fd_;
};

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Everything after "HH:MM:SS.mmm " of each trace line.
std::vector<std::string> trace_lines(const std::string& path) {
  std::vector<std::string> out;
  static const std::regex stamp(R"(^\d\d:\d\d:\d\d\.\d\d\d ([CS]: .*)$)");
  for (const auto& line : lines_of(slurp(path))) {
    std::smatch m;
    if (std::regex_match(line, m, stamp)) out.push_back(m[1]);
    else out.push_back(line);
  }
  return out;
}

}  // namespace

// ---- log destinations -------------------------------------------------------------

TEST_CASE("a log file gets timestamped lines and is reopened after logrotate", "[log]") {
  testing::TempDir dir{"replicad-log"};
  SavedStderr saved;
  std::string path = dir.file("replicad.log");
  std::string error;
  REQUIRE(log::configure(log::Destination{path}, error));
  log::notice("first line key={}", 1);
  log::emit(log::Level::error, "s7", "IOERROR: two\nlines\r");
  std::filesystem::rename(path, path + ".1");      // logrotate moves it
  log::info("still to the old file");
  REQUIRE(log::reopen(error));                      // SIGHUP
  log::warning("to the new file");

  auto old_lines = lines_of(slurp(path + ".1"));
  REQUIRE(old_lines.size() == 3);
  static const std::regex line(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z replicad\[\d+\]: (.*)$)");
  std::smatch m;
  REQUIRE(std::regex_match(old_lines[0], m, line));
  CHECK(m[1] == "notice first line key=1");
  REQUIRE(std::regex_match(old_lines[1], m, line));
  CHECK(m[1] == "error s7 IOERROR: two\\nlines\\r");  // one event, one line
  CHECK_THAT(old_lines[2], Catch::EndsWith("info still to the old file"));
  auto new_lines = lines_of(slurp(path));
  REQUIRE(new_lines.size() == 1);
  CHECK_THAT(new_lines[0], Catch::EndsWith("warning to the new file"));
}

TEST_CASE("a log file that cannot be opened changes nothing", "[log]") {
  testing::TempDir dir{"replicad-log"};
  SavedStderr saved;
  std::string error;
  CHECK_FALSE(log::configure(log::Destination{dir.file("no/such/dir/log")}, error));
  CHECK_THAT(error, Catch::Contains("cannot open log file"));
  CHECK(log::reopen(error));  // still standard error: nothing to reopen
}

TEST_CASE("syslog facilities by Cyrus's names", "[log]") {
  CHECK(log::syslog_facility("LOCAL6") == LOG_LOCAL6);
  CHECK(log::syslog_facility("local0") == LOG_LOCAL0);
  CHECK(log::syslog_facility("Daemon") == LOG_DAEMON);
  CHECK(log::syslog_facility("mail") == LOG_MAIL);
  CHECK_FALSE(log::syslog_facility("local8"));
  CHECK_FALSE(log::syslog_facility(""));
}

TEST_CASE("IOERROR and SYNCERROR lines are counted", "[log]") {
  testing::TempDir dir{"replicad-log"};
  SavedStderr saved;
  std::string error;
  REQUIRE(log::configure(log::Destination{dir.file("log")}, error));
  auto before = log::prefix_counts();
  log::error("IOERROR: disk full");
  log::emit(log::Level::error, "s1", "SYNCERROR: bad");
  log::emit(log::Level::notice, "s1", "SYNCNOTICE: only a notice");
  log::error("no prefix");
  auto after = log::prefix_counts();
  CHECK(after.ioerrors == before.ioerrors + 1);
  CHECK(after.syncerrors == before.syncerrors + 1);
}

// ---- ProtocolTrace ----------------------------------------------------------------

TEST_CASE("a trace redacts AUTHENTICATE and LOGIN and elides bodies", "[trace]") {
  testing::TempDir dir{"replicad-trace"};
  std::string path = dir.file("t.trace");
  {
    ProtocolTrace t;
    t.server("* OK replicad ready\r\n");
    t.client("A01 AUTHENTICATE PLAIN AGFkbWluAHNlY3JldA==\r\n");
    t.server("A01 OK Success\r\n");
    std::string error;
    REQUIRE(t.start(path, error));
    // A SASL exchange with continuations, both ways.
    t.client("AUTHENTICATE LOGIN\r\n");
    t.server("+ VXNlcm5hbWU6\r\n");
    t.client("YWRtaW4=\r\n");
    t.server("+ UGFzc3dvcmQ6\r\n");
    t.client("c2VjcmV0\r\n");
    t.server("OK Success (no protection)\r\n");
    // LOGIN with the password as a literal.
    t.client("a2 LOGIN {5}\r\n");
    t.server("+ go ahead\r\n");
    t.client("admin {6}\r\nsecret\r\n");
    // A small literal stays, a message body goes, split anywhere.
    std::string body(5000, 'x');
    std::string command = "APPLY MESSAGE (%{default 0123456789abcdef0123456789abcdef01234567 5000}\r\n" + body +
                          " {3}\r\nabc)\r\n";
    for (size_t i = 0; i < command.size(); i += 333) t.client(command.substr(i, 333));
    t.server("OK success\r\n");
    t.client("GET USER alice\r\n");
  }
  auto lines = trace_lines(path);
  REQUIRE(lines.size() == 15);
  CHECK(lines[0] == "S: * OK replicad ready");
  CHECK(lines[1] == "C: A01 AUTHENTICATE PLAIN <redacted>");
  CHECK(lines[2] == "S: A01 OK Success");
  CHECK(lines[3] == "C: AUTHENTICATE LOGIN");
  CHECK(lines[4] == "S: + <redacted>");
  CHECK(lines[5] == "C: <redacted>");
  CHECK(lines[6] == "S: + <redacted>");
  CHECK(lines[7] == "C: <redacted>");
  CHECK(lines[8] == "S: OK Success (no protection)");
  CHECK(lines[9] == "S: + go ahead");
  CHECK(lines[10] == "C: a2 LOGIN <redacted>");
  CHECK(lines[11] == "C: APPLY MESSAGE (%{default 0123456789abcdef0123456789abcdef01234567 5000}<5000 bytes> {3}abc)");
  CHECK(lines[12] == "S: OK success");
  CHECK(lines[13] == "C: GET USER alice");
  CHECK(lines[14] == "-- end of session");
  std::string all = slurp(path);
  for (const char* secret : {"AGFkbWluAHNlY3JldA==", "YWRtaW4=", "c2VjcmV0", "secret", "VXNlcm5hbWU6", "xxxx"})
    CHECK(all.find(secret) == std::string::npos);
}

TEST_CASE("before the login a trace keeps a bounded amount", "[trace]") {
  testing::TempDir dir{"replicad-trace"};
  std::string path = dir.file("t.trace");
  {
    ProtocolTrace t;
    std::string line(1000, 'n');
    for (int i = 0; i < 100; ++i) t.client(line + "\r\n");
    std::string error;
    REQUIRE(t.start(path, error));
  }
  std::string all = slurp(path);
  CHECK(all.size() < ProtocolTrace::kMaxBuffered + 2000);
  CHECK_THAT(all, Catch::StartsWith("-- "));
  CHECK_THAT(all, Catch::Contains("bytes of lines before the login not kept"));
}

TEST_CASE("a session is traced when a directory is named after its identity", "[trace][session]") {
  testing::SessionWorld world;
  testing::TempDir traces{"replicad-traces"};
  world.context.trace_dir = traces.path();
  std::filesystem::create_directories(traces.file("admin"));
  auto plain = [](const std::string& u, const std::string& p) {
    return auth::base64_encode(std::string(1, '\0') + u + '\0' + p);
  };

  // alice has no directory: not traced, nothing written.
  {
    testing::FakeOutput out;
    auto s = world.open(out, "s1");
    world.feed(*s, out, "AUTHENTICATE PLAIN " + plain("alice", "alicepw") + "\r\nNOOP\r\n");
    s->on_disconnect();
  }
  // admin is: the whole session, the login redacted.
  {
    testing::FakeOutput out;
    auto s = world.open(out, "s2");
    // Fed as sync_client sends it: each command after the reply to the one
    // before (a line pipelined behind AUTHENTICATE would be redacted too).
    world.feed(*s, out, "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n");
    world.feed(*s, out, "GET USER nobody\r\n");
    world.feed(*s, out, "EXIT\r\n");
    s->on_disconnect();
  }
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(traces.path()))
    if (e.is_regular_file()) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  CHECK(files[0].parent_path().filename() == "admin");
  CHECK_THAT(files[0].filename().string(), Catch::EndsWith("-s2.trace"));
  CHECK((std::filesystem::status(files[0]).permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);
  auto lines = trace_lines(files[0].string());
  REQUIRE(lines.size() >= 5);
  CHECK_THAT(lines[0], Catch::StartsWith("S: * "));  // the greeting, kept from before the login
  CHECK(std::find(lines.begin(), lines.end(), "C: AUTHENTICATE PLAIN <redacted>") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "C: GET USER nobody") != lines.end());
  CHECK(std::find(lines.begin(), lines.end(), "S: OK success") != lines.end());
  CHECK(lines.back() == "-- end of session");
  CHECK(slurp(files[0].string()).find(plain("admin", "adminpw")) == std::string::npos);
}
