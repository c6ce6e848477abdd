// The session end to end without sockets: greeting, flavour detection,
// authentication, the admin gate, framing of sync replies — each fed whole
// and byte at a time.
#include <catch2/catch.hpp>

#include "auth/sasl_server.h"
#include "session_harness.h"

using replicad::testing::FakeOutput;
using replicad::testing::SessionWorld;

namespace {

std::string plain(const std::string& user, const std::string& pass) {
  return replicad::auth::base64_encode(std::string(1, '\0') + user + '\0' + pass);
}

// Runs a whole dialogue and returns everything the server wrote after the greeting.
std::string converse(SessionWorld& world, const std::string& input, bool byte_at_a_time) {
  FakeOutput out;
  auto s = world.open(out);
  out.take();
  world.feed(*s, out, input, byte_at_a_time);
  return out.take();
}

}  // namespace

TEST_CASE("the greeting serves both flavours at once", "[session]") {
  SessionWorld world;
  FakeOutput out;
  auto s = world.open(out);
  std::string g = out.take();
  CHECK(g.rfind("* SASL PLAIN LOGIN\r\n", 0) == 0);
  CHECK(g.find("* OK [CAPABILITY IMAP4rev1 LITERAL+ ID AUTH=PLAIN AUTH=LOGIN SASL-IR] unit replicad test server ready\r\n") !=
        std::string::npos);
}

TEST_CASE("CSYNC: login, NOOP, CAPABILITIES, RESTART, EXIT", "[session]") {
  for (bool bytewise : {false, true}) {
    SessionWorld world;
    std::string out = converse(world,
                               "NOOP\r\n"
                               "APPLY CAPABILITIES (SIEVE-MAILBOX)\r\n"
                               "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n"
                               "APPLY CAPABILITIES (SIEVE-MAILBOX)\r\n"
                               "GET USER nobody\r\n"
                               "RESTART\r\n"
                               "EXIT\r\n",
                               bytewise);
    CHECK(out ==
          "OK Noop completed\r\n"
          "NO Please authenticate first\r\n"
          "OK Success (no protection)\r\n"
          "* ENABLED ()\r\n"
          "OK success\r\n"
          "OK success\r\n"
          "OK Restarting\r\n"
          "OK Finished\r\n");
  }
}

TEST_CASE("IMAP: tagged login with SASL-IR, X-REPLICATION for admins, SYNC commands", "[session]") {
  for (bool bytewise : {false, true}) {
    SessionWorld world;
    std::string out = converse(world,
                               "A01 AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n"
                               "S0 SYNCAPPLY CAPABILITIES (SIEVE-MAILBOX)\r\n"
                               "S1 SYNCGET USER nobody\r\n"
                               "S2 SYNCRESTART\r\n"
                               "Q01 LOGOUT\r\n",
                               bytewise);
    CHECK(out ==
          "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION] Success (no protection)\r\n"
          "* ENABLED ()\r\n"
          "S0 OK success\r\n"
          "S1 OK success\r\n"
          "S2 OK Restarting\r\n"
          "* BYE LOGOUT received\r\n"
          "Q01 OK Completed\r\n");
  }
}

TEST_CASE("IMAP: CAPABILITY, ID, LOGIN and a literal continuation", "[session]") {
  SessionWorld world;
  std::string out = converse(world,
                             "C01 CAPABILITY\r\n"
                             "a2 ID NIL\r\n"
                             "a3 LOGIN admin {7}\r\nadminpw\r\n",
                             false);
  CHECK(out ==
        "* CAPABILITY IMAP4rev1 LITERAL+ ID AUTH=PLAIN AUTH=LOGIN SASL-IR\r\n"
        "C01 OK Completed\r\n"
        "* ID (\"name\" \"replicad\" \"version\" \"test\")\r\n"
        "a2 OK Completed\r\n"
        "+ go ahead\r\n"
        "a3 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION] Success (no protection)\r\n");
}

TEST_CASE("AUTHENTICATE with continuations, cancel and failure", "[session]") {
  SessionWorld world;
  SECTION("LOGIN in two steps, CSYNC") {
    std::string out = converse(world,
                               "AUTHENTICATE LOGIN\r\n" + replicad::auth::base64_encode("admin") + "\r\n" +
                                   replicad::auth::base64_encode("adminpw") + "\r\n",
                               true);
    CHECK(out == "+ VXNlcm5hbWU6\r\n+ UGFzc3dvcmQ6\r\nOK Success (no protection)\r\n");
  }
  SECTION("cancel") {
    std::string out = converse(world, "AUTHENTICATE LOGIN\r\n*\r\nNOOP\r\n", false);
    CHECK(out == "+ VXNlcm5hbWU6\r\nBAD Client canceled authentication\r\nOK Noop completed\r\n");
  }
  SECTION("wrong password, then the session goes on") {
    std::string out = converse(world, "AUTHENTICATE PLAIN " + plain("admin", "wrong") + "\r\nNOOP\r\n", false);
    CHECK(out == "NO authentication failure\r\nOK Noop completed\r\n");
  }
  SECTION("IMAP wrong password") {
    std::string out = converse(world, "A01 AUTHENTICATE PLAIN " + plain("admin", "wrong") + "\r\n", false);
    CHECK(out == "A01 NO authentication failure\r\n");
  }
  SECTION("second AUTHENTICATE") {
    std::string p = plain("admin", "adminpw");
    std::string out = converse(world, "AUTHENTICATE PLAIN " + p + "\r\nAUTHENTICATE PLAIN " + p + "\r\n", false);
    CHECK(out == "OK Success (no protection)\r\nBAD Already authenticated\r\n");
  }
}

TEST_CASE("bad input gets an answer and the session goes on", "[session]") {
  SessionWorld world;
  std::string out = converse(world,
                             "\r\n"
                             "FROB\r\n"
                             "NOOP extra\r\n"
                             "NOOP\r\n",
                             true);
  CHECK(out ==
        "BAD Null command\r\n"
        "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n"
        "BAD Unexpected extra arguments to Noop\r\n"
        "OK Noop completed\r\n");
}

// The admin gate, as a table: every verb of both flavours in every
// authentication state.  A row here is what stops an admin-only command from
// ever reaching a non-admin.
TEST_CASE("the admin gate, verb by verb", "[session][policy]") {
  struct Row {
    const char* command;        // without tag
    const char* none;           // reply before login
    const char* user;           // reply after a non-admin login
  };
  const Row csync[] = {
      {"APPLY CAPABILITIES ()", "NO Please authenticate first", "NO Permission denied"},
      {"GET USER alice", "NO Please authenticate first", "NO Permission denied"},
      {"RESTORE MAILBOX %()", "NO Please authenticate first", "NO Permission denied"},
      {"RESTART", "OK Restarting", "NO Permission denied"},
      {"NOOP", "OK Noop completed", "NO Permission denied"},
      {"COMPRESS DEFLATE", "NO Compression is not available", "NO Permission denied"},
      {"STARTTLS", "NO Error initializing TLS", "NO Permission denied"},
      {"EXIT", "OK Finished", "NO Permission denied"},
  };
  for (const Row& row : csync) {
    SessionWorld world;
    INFO(row.command);
    CHECK(converse(world, std::string(row.command) + "\r\n", false) == std::string(row.none) + "\r\n");
    CHECK(converse(world, "AUTHENTICATE PLAIN " + plain("alice", "alicepw") + "\r\n" + row.command + "\r\n", false) ==
          "OK Success (no protection)\r\n" + std::string(row.user) + "\r\n");
  }
  const Row imap[] = {
      {"SYNCAPPLY CAPABILITIES ()", "BAD Please login first", "BAD Unrecognized command"},
      {"SYNCGET USER alice", "BAD Please login first", "BAD Unrecognized command"},
      {"SYNCRESTORE MAILBOX %()", "BAD Please login first", "BAD Unrecognized command"},
      {"SYNCRESTART", "BAD Please login first", "BAD Unrecognized command"},
      {"NOOP", "OK Completed", "OK Completed"},
  };
  for (const Row& row : imap) {
    SessionWorld world;
    INFO(row.command);
    CHECK(converse(world, std::string("t1 ") + row.command + "\r\n", false) == "t1 " + std::string(row.none) + "\r\n");
    CHECK(converse(world, "A01 AUTHENTICATE PLAIN " + plain("alice", "alicepw") + "\r\nt1 " + row.command + "\r\n",
                   false) ==
          "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID] Success (no protection)\r\nt1 " + std::string(row.user) + "\r\n");
  }
}
