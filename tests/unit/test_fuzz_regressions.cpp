// Every input a fuzz target (tests/fuzz) found a bug with, kept as a unit
// test so the bug stays fixed in the ordinary g++ build and under
// -Db_sanitize=address,undefined.  Each case names the target that found it.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/settings.h"
#include "session_harness.h"

using replicad::Config;

namespace {

bool has_problem_with(const std::vector<Config::Problem>& problems, const std::string& text) {
  for (const auto& p : problems)
    if (p.message.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

// fuzz_config: "24 * 9223372036854775807 cannot be represented" — a duration
// whose milliseconds do not fit chrono's signed counter was undefined
// behaviour; now it is a problem like any other unreadable value.
TEST_CASE("a duration too large for milliseconds is a problem, not an overflow", "[fuzz][config]") {
  using namespace std::chrono;
  const std::string huge[] = {
      "sync_timeout: 18446744073709551615d",   // days
      "sync_timeout: 9223372036854775807h",    // hours
      "sync_timeout: 9223372036854775808ms",   // just over INT64_MAX milliseconds
      "sync_timeout: 9223372036854775807",     // bare number: seconds
  };
  for (const auto& line : huge) {
    INFO(line);
    Config config;
    REQUIRE(config.load_text(line + "\n"));
    CHECK(config.get_duration("sync_timeout", minutes(30)) == minutes(30));
    CHECK(has_problem_with(config.problems(), "is not a duration"));
  }
  Config edge;
  REQUIRE(edge.load_text("a: 9223372036854775807ms\nb: 106751991167d\nc: 2h\n"));
  CHECK(edge.get_duration("a", seconds(1)) == milliseconds(INT64_MAX));
  CHECK(edge.get_duration("b", seconds(1)) == hours(24) * 106751991167);
  CHECK(edge.get_duration("c", seconds(1)) == hours(2));
  CHECK(edge.problems().empty());
}

// fuzz_config: "maxconnections: -1" was cast to 4294967295 and accepted, and
// 4294967296 wrapped to 0; a limit outside 1..2^32-1 is now refused.
TEST_CASE("maxconnections outside 32 bits is refused, not wrapped", "[fuzz][config]") {
  for (const char* value : {"-1", "0", "4294967296", "-4294967295"}) {
    INFO(value);
    Config config;
    REQUIRE(config.load_text(std::string("admins: a\nmaxconnections: ") + value + "\n"));
    std::vector<Config::Problem> problems;
    bool fatal = false;
    replicad::read_settings(config, problems, fatal);
    CHECK(fatal);
    CHECK(has_problem_with(problems, "maxconnections: must be between 1 and 4294967295"));
  }
  Config config;
  REQUIRE(config.load_text("admins: a\nmaxconnections: 4294967295\n"));
  std::vector<Config::Problem> problems;
  bool fatal = false;
  CHECK(replicad::read_settings(config, problems, fatal).max_connections == 4294967295u);
  CHECK_FALSE(fatal);
}

// fuzz_session_preauth (crash-5275826b...) and fuzz_sasl_base64: once the
// flavour was IMAP, a line of one word was dispatched as "<tag> <verb>" and
// read items[1] past the end of the vector (heap-buffer-overflow).  The
// input is the fuzzer's, byte for byte: a tagged line with NULs in its verb
// decides the flavour, the LOGIN responses that follow are lines of one word.
TEST_CASE("IMAP: a line of one word after the flavour is decided", "[fuzz][session]") {
  const std::string input = "A01 AUTH" + std::string(99, '\0') +
                            "ENTICATE LOGIN\r\nYWRtaW4=\r\nYWRtaW5wdw==\r\n"
                            "S0 SYNCAPPLY CAPABILITIES (SIEVE-MAILBOX)\r\nS1 SYNCGET USER dave\r\nQ01 LOGOUT\r\n";
  for (bool bytewise : {false, true}) {
    INFO((bytewise ? "byte at a time" : "whole"));
    replicad::testing::SessionWorld world;
    replicad::testing::FakeOutput out;
    auto session = world.open(out);
    out.take();
    world.feed(*session, out, input, bytewise);
    CHECK(out.take() ==
          "A01 BAD Unrecognized command\r\n"
          "YWRtaW4= BAD Null command\r\n"
          "YWRtaW5wdw== BAD Null command\r\n"
          "S0 BAD Please login first\r\n"
          "S1 BAD Please login first\r\n"
          "* BYE LOGOUT received\r\n"
          "Q01 OK Completed\r\n");
    CHECK(out.closed);
  }
}

// fuzz_sasl_base64 (leak-a4654a72...): LOGIN with an empty or white-space
// user name.  libsasl2 cannot canonicalise such a name, and cyrus-sasl
// 2.1.28's LOGIN plugin then leaks its copy of the password -- repeatable by
// anyone before logging in.  The name is now refused before the password
// reaches the plugin (LeakSanitizer in the ASan build checks the rest).
TEST_CASE("LOGIN: a user name libsasl2 cannot canonicalise fails before the password", "[fuzz][sasl]") {
  using replicad::auth::base64_encode;
  const std::string username_prompt = "+ " + base64_encode("Username:") + "\r\n";
  const std::string password_prompt = "+ " + base64_encode("Password:") + "\r\n";
  replicad::testing::SessionWorld world;
  for (const std::string name : {std::string(), std::string("   "), std::string(" admin"), std::string("admin\t"),
                                 std::string("ad\0min", 6)}) {
    INFO("user name of " << name.size() << " bytes");
    replicad::testing::FakeOutput out;
    auto session = world.open(out);
    out.take();
    world.feed(*session, out, "AUTHENTICATE LOGIN\r\n" + base64_encode(name) + "\r\n" + base64_encode("adminpw") +
                                  "\r\nNOOP\r\n");
    CHECK(out.take() == username_prompt + password_prompt + "NO authentication failure\r\nOK Noop completed\r\n");
    // The same name as LOGIN's initial response.
    if (!name.empty()) {
      world.feed(*session, out, "AUTHENTICATE LOGIN " + base64_encode(name) + "\r\n" + base64_encode("adminpw") + "\r\n");
      CHECK(out.take() == password_prompt + "NO authentication failure\r\n");
    }
    session->on_disconnect();
  }
  // A proper name still logs in, both ways.
  replicad::testing::FakeOutput out;
  auto session = world.open(out);
  out.take();
  world.feed(*session, out, "AUTHENTICATE login " + base64_encode("admin") + "\r\n" + base64_encode("adminpw") + "\r\n");
  CHECK(out.take() == password_prompt + "OK Success (no protection)\r\n");
  session->on_disconnect();
}
