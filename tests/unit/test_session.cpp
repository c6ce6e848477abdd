// The session end to end without sockets: greeting, flavour detection,
// authentication, the admin gate, framing of sync replies — each fed whole
// and byte at a time.
#include <catch2/catch.hpp>
#include <sasl/sasl.h>

#include <cstring>
#include <vector>

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
  CHECK(g ==
        "* SASL PLAIN LOGIN\r\n"
        "* COMPRESS DEFLATE\r\n"
        "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID AUTH=PLAIN AUTH=LOGIN SASL-IR] unit replicad test server ready\r\n");
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
          "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION COMPRESS=DEFLATE] Success (no protection)\r\n"
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
        "a3 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION COMPRESS=DEFLATE] Success (no protection)\r\n");
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
      {"COMPRESS DEFLATE", "NO Please authenticate first", "NO Permission denied"},
      // Without a certificate STARTTLS does not exist (as in sync_server).
      {"STARTTLS", "BAD IMAP_PROTOCOL_ERROR Unrecognized command", "NO Permission denied"},
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
      {"COMPRESS FOO", "BAD Please login first", "NO Unknown compression algorithm: FOO"},
      {"STARTTLS", "BAD Unrecognized command", "BAD Unrecognized command"},
  };
  for (const Row& row : imap) {
    SessionWorld world;
    INFO(row.command);
    CHECK(converse(world, std::string("t1 ") + row.command + "\r\n", false) == "t1 " + std::string(row.none) + "\r\n");
    CHECK(converse(world, "A01 AUTHENTICATE PLAIN " + plain("alice", "alicepw") + "\r\nt1 " + row.command + "\r\n",
                   false) ==
          "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID COMPRESS=DEFLATE] Success (no protection)\r\nt1 " +
              std::string(row.user) + "\r\n");
  }
}

// ---------------------------------------------------------------- STARTTLS

namespace {

// A server with a certificate that, like a production config, offers no
// password mechanism without TLS.
void configure_tls(SessionWorld& world, const char* mechanisms = "EXTERNAL PLAIN LOGIN") {
  world.context.tls_available = true;
  world.context.sasl.allow_plaintext = false;
  world.context.sasl.options["mech_list"] = mechanisms;
}

const char* const kPreTlsCaps = "IMAP4rev1 LITERAL+ ID STARTTLS LOGINDISABLED SASL-IR";
const char* const kTlsCaps = "IMAP4rev1 LITERAL+ ID AUTH=PLAIN AUTH=LOGIN SASL-IR";

std::string ok_line(const std::string& caps) {
  return "* OK [CAPABILITY " + caps + "] unit replicad test server ready\r\n";
}

}  // namespace

TEST_CASE("CSYNC STARTTLS: no mechanism before TLS, the OK in the clear, a second banner", "[session][tls]") {
  SessionWorld world;
  configure_tls(world);
  FakeOutput out;
  auto s = world.open(out);
  // No `* SASL` line at all: that is what makes sync_client send STARTTLS.
  CHECK(out.take() == "* STARTTLS\r\n* COMPRESS DEFLATE\r\n" + ok_line(kPreTlsCaps));

  world.feed(*s, out, "STARTTLS\r\n");
  CHECK(out.written == "OK Begin TLS negotiation now\r\n");
  // The transport switched after the OK had been sent, not before.
  REQUIRE(out.tls_started_at);
  CHECK(*out.tls_started_at == out.written.size());
  out.take();

  s->on_tls_established(256, "");
  // The banner again, without STARTTLS and COMPRESS, now with the passwords.
  CHECK(out.take() == "* SASL PLAIN LOGIN\r\n" + ok_line(kTlsCaps));

  world.feed(*s, out,
             "STARTTLS\r\n"
             "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n"
             "STARTTLS\r\n"
             "COMPRESS DEFLATE\r\n");
  CHECK(out.take() ==
        "BAD Already did a successful Starttls\r\n"
        "OK Success (tls protection)\r\n"
        "BAD Can't Starttls after authentication\r\n"
        "OK DEFLATE active\r\n");
  CHECK(converse(world, "STARTTLS extra\r\n", false) == "BAD Unexpected extra arguments to Starttls\r\n");
}

TEST_CASE("bytes pipelined after STARTTLS are discarded, never executed", "[session][tls]") {
  SessionWorld world;
  configure_tls(world);
  world.context.sasl.allow_plaintext = true;   // so that the injected login would work
  const std::string injected = "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\nAPPLY CAPABILITIES ()\r\n";

  SECTION("in the same segment") {
    FakeOutput out;
    auto s = world.open(out);
    out.take();
    world.feed(*s, out, "STARTTLS\r\n" + injected);
    CHECK(out.take() == "OK Begin TLS negotiation now\r\n");
    CHECK_FALSE(s->authenticated());
    CHECK(s->stats().commands == 1);
    s->on_tls_established(256, "");
    out.take();
    world.feed(*s, out, "NOOP\r\n");
    CHECK(out.take() == "OK Noop completed\r\n");
  }
  SECTION("held while an earlier command was still busy") {
    FakeOutput out;
    auto s = world.open(out);
    out.take();
    // The failed login keeps the session busy (the failure pause); what
    // follows waits, then STARTTLS runs and the rest must go.
    world.feed(*s, out, "AUTHENTICATE PLAIN " + plain("admin", "wrong") + "\r\nSTARTTLS\r\n" + injected);
    CHECK(out.take() == "NO authentication failure\r\nOK Begin TLS negotiation now\r\n");
    CHECK_FALSE(s->authenticated());
    CHECK(s->stats().failed_logins == 1);
  }
}

TEST_CASE("IMAP STARTTLS: the client asks for capabilities afterwards", "[session][tls]") {
  SessionWorld world;
  configure_tls(world);
  FakeOutput out;
  auto s = world.open(out);
  CHECK(out.take() == "* STARTTLS\r\n* COMPRESS DEFLATE\r\n" + ok_line(kPreTlsCaps));
  world.feed(*s, out, "A01 LOGIN admin adminpw\r\nS01 STARTTLS\r\n");
  CHECK(out.take() == "A01 NO Login only available under a layer\r\nS01 OK Begin TLS negotiation now\r\n");
  s->on_tls_established(256, "");
  CHECK(out.take().empty());   // no greeting: imapd does not send one either
  world.feed(*s, out, "C01 CAPABILITY\r\nA01 AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n");
  CHECK(out.take() ==
        "* CAPABILITY " + std::string(kTlsCaps) + "\r\n"
        "C01 OK Completed\r\n"
        "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION COMPRESS=DEFLATE] Success (tls protection)\r\n");
}

TEST_CASE("STARTTLS that cannot start closes the connection", "[session][tls]") {
  SessionWorld world;
  configure_tls(world);
  FakeOutput out;
  out.tls_possible = false;
  auto s = world.open(out);
  out.take();
  world.feed(*s, out, "STARTTLS\r\nNOOP\r\n");
  CHECK(out.take() == "OK Begin TLS negotiation now\r\n");
  CHECK(out.closed);
}

TEST_CASE("EXTERNAL: the verified certificate name is checked against admins", "[session][tls][external]") {
  SessionWorld world;
  configure_tls(world);
  auto session_after_tls = [&](FakeOutput& out, const std::string& identity) {
    auto s = world.open(out);
    world.feed(*s, out, "STARTTLS\r\n");
    out.take();
    s->on_tls_established(256, identity);
    return s;
  };
  SECTION("an admin's certificate replicates") {
    FakeOutput out;
    auto s = session_after_tls(out, "admin");
    CHECK(out.take() == "* SASL EXTERNAL PLAIN LOGIN\r\n" + ok_line("IMAP4rev1 LITERAL+ ID AUTH=EXTERNAL AUTH=PLAIN AUTH=LOGIN SASL-IR"));
    world.feed(*s, out, "AUTHENTICATE EXTERNAL =\r\nAPPLY CAPABILITIES (SIEVE-MAILBOX)\r\n");
    CHECK(out.take() == "OK Success (tls protection)\r\n* ENABLED ()\r\nOK success\r\n");
  }
  SECTION("anybody else's is a login without rights") {
    FakeOutput out;
    auto s = session_after_tls(out, "sync-master");
    out.take();
    world.feed(*s, out, "AUTHENTICATE EXTERNAL =\r\nGET USER alice\r\nEXIT\r\n");
    CHECK(out.take() == "OK Success (tls protection)\r\nNO Permission denied\r\nNO Permission denied\r\n");
  }
  SECTION("no verified certificate: no EXTERNAL") {
    FakeOutput out;
    auto s = session_after_tls(out, "");
    CHECK(out.take() == "* SASL PLAIN LOGIN\r\n" + ok_line(kTlsCaps));
    world.feed(*s, out, "AUTHENTICATE EXTERNAL =\r\n");
    CHECK(out.take().rfind("NO ", 0) == 0);
    CHECK_FALSE(s->authenticated());
  }
  SECTION("IMAP flavour") {
    FakeOutput out;
    auto s = world.open(out);
    world.feed(*s, out, "S01 STARTTLS\r\n");
    s->on_tls_established(256, "admin");
    out.take();
    world.feed(*s, out, "A01 AUTHENTICATE EXTERNAL =\r\n");
    CHECK(out.take() == "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION COMPRESS=DEFLATE] Success (tls protection)\r\n");
  }
}

TEST_CASE("implicit TLS: no STARTTLS, COMPRESS offered, the IMAP greeting repeated", "[session][tls]") {
  SessionWorld world;
  configure_tls(world);
  FakeOutput out;
  auto s = world.open(out, "t1", 256);
  CHECK(out.take() == "* SASL PLAIN LOGIN\r\n* COMPRESS DEFLATE\r\n" + ok_line(kTlsCaps));
  SECTION("IMAP: sync_client's CAPABILITY before the greeting gets one more greeting line") {
    world.feed(*s, out, "C01 CAPABILITY\r\nC02 CAPABILITY\r\n");
    CHECK(out.take() ==
          "* CAPABILITY " + std::string(kTlsCaps) + "\r\nC01 OK Completed\r\n" + ok_line(kTlsCaps) +
          "* CAPABILITY " + std::string(kTlsCaps) + "\r\nC02 OK Completed\r\n");
  }
  SECTION("CSYNC: STARTTLS is refused, the login says tls protection, COMPRESS works") {
    world.feed(*s, out, "STARTTLS\r\nAUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\nCOMPRESS DEFLATE\r\n");
    CHECK(out.take() ==
          "BAD Already did a successful Starttls\r\nOK Success (tls protection)\r\nOK DEFLATE active\r\n");
  }
}

TEST_CASE("tls_required: nothing to authenticate with until TLS", "[session][tls]") {
  SessionWorld world;
  configure_tls(world);
  world.context.tls_required = true;
  world.context.sasl.allow_plaintext = true;   // would offer PLAIN, but TLS is required
  FakeOutput out;
  auto s = world.open(out);
  CHECK(out.take() == "* STARTTLS\r\n* COMPRESS DEFLATE\r\n" + ok_line(kPreTlsCaps));
  world.feed(*s, out, "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\nSTARTTLS\r\n");
  CHECK(out.take() == "NO Authenticate only available under a layer\r\nOK Begin TLS negotiation now\r\n");
  s->on_tls_established(128, "");
  CHECK(out.take() == "* SASL PLAIN LOGIN\r\n" + ok_line(kTlsCaps));
  world.feed(*s, out, "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n");
  CHECK(out.take() == "OK Success (tls protection)\r\n");
}

// ---------------------------------------------------------------- COMPRESS

TEST_CASE("COMPRESS: the OK uncompressed, once only, DEFLATE only", "[session][compress]") {
  SessionWorld world;
  const std::string login = "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n";
  SECTION("CSYNC") {
    FakeOutput out;
    auto s = world.open(out);
    world.feed(*s, out, login + "COMPRESS\r\nCOMPRESS DEFLATE X\r\nCOMPRESS LZ4\r\nCOMPRESS \"a b\"\r\n");
    out.take();
    world.feed(*s, out, "compress deflate\r\n");
    CHECK(out.written == "OK DEFLATE active\r\n");
    REQUIRE(out.compress_started_at);
    CHECK(*out.compress_started_at == out.written.size());
    out.take();
    world.feed(*s, out, "COMPRESS DEFLATE\r\n");
    CHECK(out.take() == "NO Compression already active: DEFLATE\r\n");
  }
  SECTION("CSYNC refusals before the switch") {
    CHECK(converse(world, login + "COMPRESS\r\nCOMPRESS DEFLATE X\r\nCOMPRESS LZ4\r\nCOMPRESS \"a b\"\r\n", false) ==
          "OK Success (no protection)\r\n"
          "BAD Missing required argument to Compress\r\n"
          "BAD Unexpected extra arguments to Compress\r\n"
          "NO Unknown compression algorithm: LZ4\r\n"
          "NO Unknown compression algorithm\r\n");
  }
  SECTION("IMAP: advertised after login until it is active") {
    FakeOutput out;
    auto s = world.open(out);
    out.take();
    world.feed(*s, out, "A01 AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\nZ01 COMPRESS DEFLATE\r\n");
    CHECK(out.take() ==
          "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION COMPRESS=DEFLATE] Success (no protection)\r\n"
          "Z01 OK DEFLATE active\r\n");
    world.feed(*s, out, "C01 CAPABILITY\r\nZ02 COMPRESS DEFLATE\r\n");
    CHECK(out.take() ==
          "* CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION\r\nC01 OK Completed\r\n"
          "Z02 NO Compression already active: DEFLATE\r\n");
  }
  SECTION("bytes pipelined after COMPRESS are dropped") {
    FakeOutput out;
    auto s = world.open(out);
    world.feed(*s, out, login);
    out.take();
    world.feed(*s, out, "COMPRESS DEFLATE\r\nNOOP\r\n");
    CHECK(out.take() == "OK DEFLATE active\r\n");
    CHECK(s->stats().commands == 2);
  }
  SECTION("a transport that cannot compress closes the connection") {
    FakeOutput out;
    out.compress_possible = false;
    auto s = world.open(out);
    world.feed(*s, out, login + "COMPRESS DEFLATE\r\n");
    CHECK(out.closed);
  }
}

// ---------------------------------------------------------------- limits before authentication

TEST_CASE("a client gets a bounded number of commands before it authenticates", "[session][limits]") {
  SessionWorld world;
  world.context.max_preauth_commands = 3;
  SECTION("CSYNC") {
    FakeOutput out;
    auto s = world.open(out);
    out.take();
    world.feed(*s, out, "NOOP\r\nNOOP\r\nFROB\r\nNOOP\r\nNOOP\r\n");
    CHECK(out.take() ==
          "OK Noop completed\r\nOK Noop completed\r\nBAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n"
          "BYE Too many commands without authentication\r\n");
    CHECK(out.closed);
  }
  SECTION("IMAP, guessing passwords") {
    FakeOutput out;
    auto s = world.open(out);
    out.take();
    std::string guesses;
    for (int i = 0; i < 5; ++i) guesses += "A0" + std::to_string(i) + " AUTHENTICATE PLAIN " + plain("admin", "guess") + "\r\n";
    world.feed(*s, out, guesses);
    CHECK(out.take() ==
          "A00 NO authentication failure\r\nA01 NO authentication failure\r\nA02 NO authentication failure\r\n"
          "* BYE Too many commands without authentication\r\n");
    CHECK(out.closed);
    CHECK(s->stats().failed_logins == 3);
  }
  SECTION("no such limit once authenticated") {
    std::string input = "AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n";
    std::string expected = "OK Success (no protection)\r\n";
    for (int i = 0; i < 10; ++i) {
      input += "NOOP\r\n";
      expected += "OK Noop completed\r\n";
    }
    CHECK(converse(world, input, false) == expected);
  }
}

// ---------------------------------------------------------------- SCRAM on the wire

namespace {

// libsasl2's client, configured as sync_client configures it (service name,
// no authzid, any security layer accepted), speaking through the session.
class ScramClient {
 public:
  ScramClient(const char* service, const std::string& user, const std::string& password) : user_(user) {
    static const bool ready = sasl_client_init(nullptr) == SASL_OK;
    REQUIRE(ready);
    secret_.resize(sizeof(sasl_secret_t) + password.size());
    auto* secret = reinterpret_cast<sasl_secret_t*>(secret_.data());
    secret->len = password.size();
    std::memcpy(secret->data, password.data(), password.size());
    // libsasl2 stores every callback as int (*)(void); through void (*)(void)
    // the cast says so without a warning.
    auto cb = [](auto* fn) { return reinterpret_cast<int (*)(void)>(reinterpret_cast<void (*)(void)>(fn)); };
    callbacks_ = {
        sasl_callback_t{SASL_CB_AUTHNAME, cb(&ScramClient::name), this},
        sasl_callback_t{SASL_CB_USER, cb(&ScramClient::empty), this},
        sasl_callback_t{SASL_CB_PASS, cb(&ScramClient::pass), this},
        sasl_callback_t{SASL_CB_LIST_END, nullptr, nullptr},
    };
    REQUIRE(sasl_client_new(service, "unit", nullptr, nullptr, callbacks_.data(), 0, &conn_) == SASL_OK);
    sasl_security_properties_t props{};
    props.max_ssf = 256;
    props.maxbufsize = 65536;
    REQUIRE(sasl_setprop(conn_, SASL_SEC_PROPS, &props) == SASL_OK);
  }
  ~ScramClient() { sasl_dispose(&conn_); }

  // The AUTHENTICATE arguments: mechanism and base64 initial response.
  std::string start(const char* mechanism) {
    const char* out = nullptr;
    unsigned len = 0;
    const char* chosen = nullptr;
    sasl_interact_t* interact = nullptr;
    REQUIRE(sasl_client_start(conn_, mechanism, &interact, &out, &len, &chosen) == SASL_CONTINUE);
    return std::string(chosen) + " " + replicad::auth::base64_encode(std::string_view(out, len));
  }
  // Answers one `+ ` line (without its prefix and CRLF); returns the
  // base64 answer and the library's verdict.
  std::string step(const std::string& challenge_b64, int& rc) {
    auto challenge = replicad::auth::base64_decode(challenge_b64);
    REQUIRE(challenge);
    const char* out = nullptr;
    unsigned len = 0;
    sasl_interact_t* interact = nullptr;
    rc = sasl_client_step(conn_, challenge->data(), static_cast<unsigned>(challenge->size()), &interact, &out, &len);
    return replicad::auth::base64_encode(std::string_view(out != nullptr ? out : "", len));
  }

 private:
  static int name(void* self, int, const char** result, unsigned* len) {
    const std::string& user = static_cast<ScramClient*>(self)->user_;
    *result = user.c_str();
    if (len) *len = static_cast<unsigned>(user.size());
    return SASL_OK;
  }
  static int empty(void*, int, const char** result, unsigned* len) {
    *result = "";
    if (len) *len = 0;
    return SASL_OK;
  }
  static int pass(sasl_conn_t*, void* self, int, sasl_secret_t** secret) {
    *secret = reinterpret_cast<sasl_secret_t*>(static_cast<ScramClient*>(self)->secret_.data());
    return SASL_OK;
  }

  std::string user_;
  std::vector<unsigned char> secret_;
  std::vector<sasl_callback_t> callbacks_;
  sasl_conn_t* conn_ = nullptr;
};

std::string strip_line(const std::string& line, const std::string& prefix) {
  REQUIRE(line.rfind(prefix, 0) == 0);
  REQUIRE(line.size() >= prefix.size() + 2);
  return line.substr(prefix.size(), line.size() - prefix.size() - 2);
}

}  // namespace

TEST_CASE("SCRAM-SHA-256: server-final as a continuation in CSYNC, left out in IMAP", "[session][scram]") {
  SessionWorld world;
  world.context.sasl.options["mech_list"] = "SCRAM-SHA-256 SCRAM-SHA-1 PLAIN";
  for (const char* mechanism : {"SCRAM-SHA-256", "SCRAM-SHA-1"}) {
    INFO(mechanism);
    SECTION(std::string("CSYNC ") + mechanism) {
      FakeOutput out;
      auto s = world.open(out);
      CHECK(out.take().rfind("* SASL SCRAM-SHA-256 SCRAM-SHA-1 PLAIN\r\n", 0) == 0);
      ScramClient client("csync", "admin", "adminpw");
      world.feed(*s, out, "AUTHENTICATE " + client.start(mechanism) + "\r\n");
      int rc = SASL_FAIL;
      const std::string client_final = client.step(strip_line(out.take(), "+ "), rc);
      REQUIRE(rc == SASL_CONTINUE);
      world.feed(*s, out, client_final + "\r\n");
      // The server signature travels as one more continuation...
      const std::string server_final = strip_line(out.take(), "+ ");
      CHECK(replicad::auth::base64_decode(server_final)->rfind("v=", 0) == 0);
      client.step(server_final, rc);
      CHECK(rc == SASL_OK);   // the client verified the server
      // ...answered by an empty line; then the OK.
      world.feed(*s, out, "\r\n");
      CHECK(out.take() == "OK Success (no protection)\r\n");
      CHECK(s->authenticated());
    }
    SECTION(std::string("IMAP ") + mechanism) {
      FakeOutput out;
      auto s = world.open(out);
      out.take();
      ScramClient client("imap", "admin", "adminpw");
      world.feed(*s, out, "A01 AUTHENTICATE " + client.start(mechanism) + "\r\n");
      int rc = SASL_FAIL;
      const std::string client_final = client.step(strip_line(out.take(), "+ "), rc);
      world.feed(*s, out, client_final + "\r\n");
      // sync_client cannot read a continuation here (spec §1.6.1): the
      // tagged OK comes at once, with the capabilities it looks for.
      CHECK(out.take() ==
            "A01 OK [CAPABILITY IMAP4rev1 LITERAL+ ID X-REPLICATION COMPRESS=DEFLATE] Success (no protection)\r\n");
    }
    SECTION(std::string("wrong password ") + mechanism) {
      FakeOutput out;
      auto s = world.open(out);
      out.take();
      ScramClient client("csync", "admin", "wrong");
      world.feed(*s, out, "AUTHENTICATE " + client.start(mechanism) + "\r\n");
      int rc = SASL_FAIL;
      world.feed(*s, out, client.step(strip_line(out.take(), "+ "), rc) + "\r\n");
      CHECK(out.take().rfind("NO ", 0) == 0);
      CHECK(s->stats().failed_logins == 1);
    }
  }
}
