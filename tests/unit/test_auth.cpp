// auth/: real SASL exchanges between SaslServer and a libsasl2 client in the
// same process, against sasldb files made by set_password and by saslpasswd2.
#include <catch2/catch.hpp>

#include <sasl/sasl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "auth/admin_policy.h"
#include "auth/password_store.h"
#include "auth/sasl_server.h"

using namespace std::string_literals;
using replicad::auth::AdminPolicy;
using replicad::auth::ConnectionInfo;
using replicad::auth::SaslConfig;
using replicad::auth::SaslServer;
using Kind = SaslServer::Step::Kind;

namespace {

constexpr const char* kServerName = "replica.test";

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "replicad-auth-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

SaslConfig config_with_sasldb(const std::filesystem::path& sasldb, bool allow_plaintext = true) {
  SaslConfig config;
  config.servername = kServerName;
  config.allow_plaintext = allow_plaintext;
  config.options["pwcheck_method"] = "auxprop";
  config.options["auxprop_plugin"] = "sasldb";
  config.options["sasldb_path"] = sasldb.string();
  return config;
}

// libsasl2 has process-wide state: initialise the server and client sides
// once.  The library-wide sasldb_path points at an empty directory; every
// test's connections carry their own path in their SaslConfig.
void ensure_sasl() {
  static TempDir* library_dir = new TempDir();   // lives as long as the process
  static const bool ready = [] {
    std::string error;
    const bool ok = replicad::auth::sasl_library_init(
        config_with_sasldb(library_dir->path() / "unused-sasldb2"), error);
    INFO(error);
    REQUIRE(ok);
    REQUIRE(sasl_client_init(nullptr) == SASL_OK);
    return true;
  }();
  REQUIRE(ready);
}

// A sasldb in a fresh directory holding admin/adminpw and alice/alicepw.
struct Accounts {
  TempDir dir;
  SaslConfig config;

  explicit Accounts(bool allow_plaintext = true)
      : config(config_with_sasldb(dir.path() / "sasldb2", allow_plaintext)) {
    ensure_sasl();
    add("admin", "adminpw");
    add("alice", "alicepw");
  }
  void add(const std::string& user, const std::string& password) {
    std::string error;
    const bool ok = replicad::auth::set_password(config, user, password, error);
    INFO(error);
    REQUIRE(ok);
  }
};

std::unique_ptr<SaslServer> make_server(const SaslConfig& config, ConnectionInfo conn = {}) {
  std::string error;
  if (conn.remote.empty()) {
    conn.local = "127.0.0.1;2005";
    conn.remote = "127.0.0.1;40000";
  }
  auto server = SaslServer::create("csync", config, conn, error);
  INFO(error);
  REQUIRE(server != nullptr);
  return server;
}

bool offers(SaslServer& server, const std::string& mechanism) {
  const auto names = server.mechanisms();
  return std::find(names.begin(), names.end(), mechanism) != names.end();
}

// The libsasl2 client side, with the credentials sync_client would use.
class Client {
 public:
  Client(std::string authname, std::string password, std::string authzid = {})
      : authname_(std::move(authname)), authzid_(std::move(authzid)) {
    secret_.resize(sizeof(sasl_secret_t) + password.size());
    auto* secret = reinterpret_cast<sasl_secret_t*>(secret_.data());
    secret->len = password.size();
    std::memcpy(secret->data, password.data(), password.size());

    using Generic = void (*)(void);
    auto cb = [](auto* fn) { return reinterpret_cast<int (*)(void)>(reinterpret_cast<Generic>(fn)); };
    callbacks_ = {
        sasl_callback_t{SASL_CB_AUTHNAME, cb(&Client::simple), this},
        sasl_callback_t{SASL_CB_USER, cb(&Client::simple), this},
        sasl_callback_t{SASL_CB_PASS, cb(&Client::pass), this},
        sasl_callback_t{SASL_CB_GETREALM, cb(&Client::realm), this},
        sasl_callback_t{SASL_CB_LIST_END, nullptr, nullptr},
    };
    REQUIRE(sasl_client_new("csync", kServerName, nullptr, nullptr, callbacks_.data(), 0, &conn_) ==
            SASL_OK);
    // Like sync_client: plaintext allowed, any security layer accepted.
    sasl_security_properties_t props{};
    props.min_ssf = 0;
    props.max_ssf = 256;
    props.maxbufsize = 65536;
    REQUIRE(sasl_setprop(conn_, SASL_SEC_PROPS, &props) == SASL_OK);
  }
  ~Client() { sasl_dispose(&conn_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  sasl_conn_t* conn() { return conn_; }

 private:
  static int simple(void* context, int id, const char** result, unsigned* len) {
    auto* self = static_cast<Client*>(context);
    const std::string& value = id == SASL_CB_AUTHNAME ? self->authname_ : self->authzid_;
    *result = value.c_str();
    if (len != nullptr) *len = static_cast<unsigned>(value.size());
    return SASL_OK;
  }
  static int pass(sasl_conn_t*, void* context, int, sasl_secret_t** secret) {
    *secret = reinterpret_cast<sasl_secret_t*>(static_cast<Client*>(context)->secret_.data());
    return SASL_OK;
  }
  static int realm(void*, int, const char** available, const char** result) {
    *result = (available != nullptr && available[0] != nullptr) ? available[0] : kServerName;
    return SASL_OK;
  }

  std::string authname_;
  std::string authzid_;
  std::vector<unsigned char> secret_;
  std::vector<sasl_callback_t> callbacks_;
  sasl_conn_t* conn_ = nullptr;
};

struct Exchange {
  SaslServer::Step last;      // the server's final answer
  int client_final = SASL_FAIL;   // the client's verdict after any server-final data
  int round_trips = 0;
};

// Drives one exchange the way the session does: start with the client's
// initial response (if it has one), then challenge/response until the
// server is done; server-final data goes back to the client for checking.
Exchange run(SaslServer& server, Client& client, const char* mechanism) {
  Exchange result;
  sasl_interact_t* interact = nullptr;
  const char* out = nullptr;
  unsigned out_len = 0;
  const char* chosen = nullptr;
  int rc = sasl_client_start(client.conn(), mechanism, &interact, &out, &out_len, &chosen);
  REQUIRE((rc == SASL_OK || rc == SASL_CONTINUE));
  REQUIRE(chosen != nullptr);
  REQUIRE(std::string(chosen) == mechanism);

  std::optional<std::string> initial;
  if (out != nullptr) initial.emplace(out, out_len);
  result.last = initial ? server.start(chosen, std::string_view(*initial)) : server.start(chosen, {});
  while (result.last.kind == Kind::challenge) {
    REQUIRE(++result.round_trips < 10);
    rc = sasl_client_step(client.conn(), result.last.data.data(),
                          static_cast<unsigned>(result.last.data.size()), &interact, &out, &out_len);
    REQUIRE((rc == SASL_OK || rc == SASL_CONTINUE));
    result.last = server.step(std::string_view(out != nullptr ? out : "", out_len));
  }
  result.client_final = rc;
  if (result.last.kind == Kind::success && !result.last.data.empty()) {
    result.client_final = sasl_client_step(client.conn(), result.last.data.data(),
                                           static_cast<unsigned>(result.last.data.size()),
                                           &interact, &out, &out_len);
  }
  return result;
}

}  // namespace

// ---------------------------------------------------------------- base64

TEST_CASE("base64 encodes like the AUTHENTICATE lines sync_client sends", "[auth][base64]") {
  using replicad::auth::base64_decode;
  using replicad::auth::base64_encode;
  CHECK(base64_encode("\0admin\0adminpw"s) == "AGFkbWluAGFkbWlucHc=");
  CHECK(base64_encode("") == "");
  CHECK(base64_encode("f") == "Zg==");
  CHECK(base64_encode("fo") == "Zm8=");
  CHECK(base64_encode("foo") == "Zm9v");
  CHECK(base64_decode("AGFkbWluAGFkbWlucHc=") == "\0admin\0adminpw"s);
  CHECK(base64_decode("") == ""s);
  CHECK(base64_decode("cj02Uk11WkJw") == "r=6RMuZBp"s);
}

TEST_CASE("base64 round trips every byte value and length", "[auth][base64]") {
  using replicad::auth::base64_decode;
  using replicad::auth::base64_encode;
  std::string bytes;
  for (int i = 0; i < 300; ++i) bytes.push_back(static_cast<char>((i * 151 + 7) & 0xff));
  for (size_t len = 0; len <= bytes.size(); ++len) {
    const std::string piece = bytes.substr(0, len);
    const std::string text = base64_encode(piece);
    CHECK(text.size() == (len + 2) / 3 * 4);
    CHECK(base64_decode(text) == piece);
  }
  // Larger than one encoder piece, not a multiple of it.
  std::string big(200'003, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + (i >> 8));
  CHECK(base64_decode(base64_encode(big)) == big);
}

TEST_CASE("base64 decoding is strict", "[auth][base64]") {
  using replicad::auth::base64_decode;
  const std::vector<std::string> bad = {
      "=",            // the session's "empty response" marker, not base64
      "Zg",           // unpadded
      "Zg=",          // short padding
      "Zm9",          // incomplete group
      "Z===",         // too much padding
      "Zg=a",         // data after padding
      "Zg==Zm9v",     // a group after padding
      "Zm9v ",        // trailing blank
      " Zm9v",        // leading blank
      "Zm 9v",        // inner blank
      "Zm9v\r\n",     // line break
      "\rZm9",        // carriage return first
      "Zm9!",         // outside the alphabet
      "Zm9-",         // base64url alphabet
      "Zm9_",
      "Zm9\xc3",      // non-ASCII
      "Zm\0v"s,       // NUL
  };
  for (const auto& text : bad) {
    INFO("input: " << text);
    CHECK_FALSE(base64_decode(text).has_value());
  }
}

// ---------------------------------------------------------------- admin policy

TEST_CASE("AdminPolicy admits listed identities that act as themselves", "[auth][admin]") {
  const AdminPolicy policy("admin, repl\tcyrus  ,");
  CHECK_FALSE(policy.empty());
  struct Row {
    const char* authcid;
    const char* authzid;
    bool admin;
  };
  const Row table[] = {
      {"admin", "", true},          // PLAIN \0admin\0pw (what sync_client sends)
      {"admin", "admin", true},     // authzid == authcid
      {"repl", "repl", true},
      {"cyrus", "", true},
      {"alice", "", false},         // not listed
      {"alice", "alice", false},
      {"admin", "alice", false},    // proxy login: never admin
      {"alice", "admin", false},    // ... nor the other way round
      {"Admin", "", false},         // case-sensitive, as Cyrus
      {"adm", "", false},           // no prefix matches
      {"admin,", "", false},        // separators are not part of names
      {"", "", false},
      {"", "admin", false},
  };
  for (const auto& row : table) {
    INFO(row.authcid << " as " << row.authzid);
    CHECK(policy.is_admin(row.authcid, row.authzid) == row.admin);
  }
}

TEST_CASE("AdminPolicy with no admins admits nobody", "[auth][admin]") {
  for (const char* value : {"", " ", ",, \t"}) {
    const AdminPolicy policy(value);
    CHECK(policy.empty());
    CHECK_FALSE(policy.is_admin("admin", ""));
    CHECK_FALSE(policy.is_admin("", ""));
  }
}

// ---------------------------------------------------------------- PLAIN, LOGIN

TEST_CASE("PLAIN accepts an empty authzid and authzid == authcid", "[auth][sasl]") {
  Accounts accounts;
  SECTION("empty authzid, as sync_client sends it") {
    auto server = make_server(accounts.config);
    const auto step = server->start("PLAIN", "\0admin\0adminpw"s);
    REQUIRE(step.kind == Kind::success);
    CHECK(step.data.empty());
    CHECK(server->authcid() == "admin");
    CHECK(server->authzid() == "admin");
    CHECK(server->ssf() == 0);
    CHECK(AdminPolicy("admin").is_admin(server->authcid(), server->authzid()));
  }
  SECTION("authzid equal to authcid") {
    auto server = make_server(accounts.config);
    const auto step = server->start("PLAIN", "admin\0admin\0adminpw"s);
    REQUIRE(step.kind == Kind::success);
    CHECK(server->authcid() == "admin");
    CHECK(server->authzid() == "admin");
  }
  SECTION("mechanism name in lower case") {
    auto server = make_server(accounts.config);
    CHECK(server->start("plain", "\0alice\0alicepw"s).kind == Kind::success);
    CHECK(server->authcid() == "alice");
  }
  SECTION("through the libsasl2 client") {
    auto server = make_server(accounts.config);
    Client client("admin", "adminpw");
    const auto exchange = run(*server, client, "PLAIN");
    CHECK(exchange.last.kind == Kind::success);
    CHECK(exchange.round_trips == 0);
    CHECK(exchange.client_final == SASL_OK);
  }
  SECTION("without an initial response: an empty challenge first") {
    auto server = make_server(accounts.config);
    const auto first = server->start("PLAIN", std::nullopt);
    REQUIRE(first.kind == Kind::challenge);
    CHECK(first.data.empty());
    const auto second = server->step("\0admin\0adminpw"s);
    CHECK(second.kind == Kind::success);
    CHECK(server->authcid() == "admin");
  }
}

TEST_CASE("PLAIN failures read like Cyrus' and reveal nothing", "[auth][sasl]") {
  Accounts accounts;
  auto server = make_server(accounts.config);
  SECTION("wrong password") {
    const auto step = server->start("PLAIN", "\0admin\0wrong"s);
    CHECK(step.kind == Kind::failure);
    CHECK(step.error == "authentication failure");
    CHECK(server->authcid().empty());
    CHECK(server->authzid().empty());
  }
  SECTION("unknown user gets the same text") {
    const auto step = server->start("PLAIN", "\0mallory\0adminpw"s);
    CHECK(step.kind == Kind::failure);
    CHECK(step.error == "authentication failure");
  }
  SECTION("proxy login (authzid != authcid) is refused") {
    const auto step = server->start("PLAIN", "alice\0admin\0adminpw"s);
    CHECK(step.kind == Kind::failure);
    CHECK(server->authzid().empty());
  }
  SECTION("empty initial response") {
    CHECK(server->start("PLAIN", ""s).kind == Kind::failure);
  }
  SECTION("a failed attempt does not spoil the next one") {
    CHECK(server->start("PLAIN", "\0admin\0wrong"s).kind == Kind::failure);
    CHECK(server->step("anything").kind == Kind::failure);   // the exchange is over
    CHECK(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::success);
    CHECK(server->authcid() == "admin");
  }
}

TEST_CASE("LOGIN asks for user name and password in two steps", "[auth][sasl]") {
  Accounts accounts;
  auto server = make_server(accounts.config);
  const auto first = server->start("LOGIN", std::nullopt);
  REQUIRE(first.kind == Kind::challenge);
  CHECK(first.data == "Username:");
  const auto second = server->step("admin");
  REQUIRE(second.kind == Kind::challenge);
  CHECK(second.data == "Password:");
  const auto third = server->step("adminpw");
  REQUIRE(third.kind == Kind::success);
  CHECK(third.data.empty());
  CHECK(server->authcid() == "admin");
  CHECK(server->authzid() == "admin");

  SECTION("and via the libsasl2 client; a wrong password fails") {
    auto other = make_server(accounts.config);
    Client good("alice", "alicepw");
    CHECK(run(*other, good, "LOGIN").last.kind == Kind::success);
    auto third_server = make_server(accounts.config);
    Client bad("alice", "nope");
    const auto exchange = run(*third_server, bad, "LOGIN");
    CHECK(exchange.last.kind == Kind::failure);
    CHECK(exchange.last.error == "authentication failure");
  }
}

// ---------------------------------------------------------------- SCRAM, CRAM-MD5, DIGEST-MD5

TEST_CASE("SCRAM returns its server-final message with success", "[auth][sasl][scram]") {
  Accounts accounts(/*allow_plaintext=*/false);
  for (const char* mechanism : {"SCRAM-SHA-256", "SCRAM-SHA-1"}) {
    DYNAMIC_SECTION(mechanism) {
      auto server = make_server(accounts.config);
      REQUIRE(offers(*server, mechanism));
      Client client("admin", "adminpw");
      const auto exchange = run(*server, client, mechanism);
      REQUIRE(exchange.last.kind == Kind::success);
      CHECK(exchange.round_trips == 1);   // client-first, server-first, client-final
      // Server-final: "v=" and the server signature, which the client checks.
      CHECK(exchange.last.data.rfind("v=", 0) == 0);
      CHECK(exchange.client_final == SASL_OK);
      CHECK(server->authcid() == "admin");
      CHECK(server->authzid() == "admin");
      CHECK(server->ssf() == 0);
    }
  }
  SECTION("wrong password") {
    auto server = make_server(accounts.config);
    Client client("admin", "wrong");
    const auto exchange = run(*server, client, "SCRAM-SHA-256");
    CHECK(exchange.last.kind == Kind::failure);
    CHECK(exchange.last.error == "authentication failure");
    CHECK(server->authcid().empty());
  }
}

TEST_CASE("CRAM-MD5 works when its plugin is installed", "[auth][sasl]") {
  Accounts accounts(/*allow_plaintext=*/false);
  auto server = make_server(accounts.config);
  if (!offers(*server, "CRAM-MD5")) {
    WARN("CRAM-MD5 plugin not installed");
    return;
  }
  Client client("alice", "alicepw");
  const auto exchange = run(*server, client, "CRAM-MD5");
  CHECK(exchange.last.kind == Kind::success);
  CHECK(exchange.round_trips == 1);
  CHECK(server->authcid() == "alice");

  auto again = make_server(accounts.config);
  Client wrong("alice", "bad");
  CHECK(run(*again, wrong, "CRAM-MD5").last.kind == Kind::failure);
}

TEST_CASE("DIGEST-MD5 negotiates no security layer", "[auth][sasl]") {
  Accounts accounts(/*allow_plaintext=*/false);
  auto server = make_server(accounts.config);
  if (!offers(*server, "DIGEST-MD5")) {
    WARN("DIGEST-MD5 plugin not installed");
    return;
  }
  const auto first = server->start("DIGEST-MD5", std::nullopt);
  REQUIRE(first.kind == Kind::challenge);
  // max_ssf 0: only qop=auth is offered, so sync_client (max SSF 255) cannot
  // pick auth-conf and wrap the stream (spec §1.2.1).
  CHECK(first.data.find("qop=\"auth\"") != std::string::npos);
  CHECK(first.data.find("auth-conf") == std::string::npos);
  CHECK(first.data.find("auth-int") == std::string::npos);

  auto fresh = make_server(accounts.config);
  Client client("admin", "adminpw");
  const auto exchange = run(*fresh, client, "DIGEST-MD5");
  REQUIRE(exchange.last.kind == Kind::success);
  CHECK(exchange.last.data.rfind("rspauth=", 0) == 0);
  CHECK(exchange.client_final == SASL_OK);
  CHECK(fresh->ssf() == 0);
  const void* client_ssf = nullptr;
  REQUIRE(sasl_getprop(client.conn(), SASL_SSF, &client_ssf) == SASL_OK);
  CHECK(*static_cast<const sasl_ssf_t*>(client_ssf) == 0);
}

// ---------------------------------------------------------------- what is offered

TEST_CASE("plaintext mechanisms are offered only when allowed or under TLS", "[auth][sasl]") {
  Accounts accounts(/*allow_plaintext=*/false);
  SECTION("no TLS, plaintext not allowed") {
    auto server = make_server(accounts.config);
    CHECK_FALSE(offers(*server, "PLAIN"));
    CHECK_FALSE(offers(*server, "LOGIN"));
    CHECK_FALSE(offers(*server, "ANONYMOUS"));
    CHECK_FALSE(offers(*server, "EXTERNAL"));
    CHECK(offers(*server, "SCRAM-SHA-256"));
    // Not offered means not usable either.
    const auto step = server->start("PLAIN", "\0admin\0adminpw"s);
    CHECK(step.kind == Kind::failure);
    CHECK(server->authcid().empty());
  }
  SECTION("TLS below") {
    ConnectionInfo tls;
    tls.local = "127.0.0.1;2005";
    tls.remote = "127.0.0.1;40001";
    tls.tls_ssf = 256;
    auto server = make_server(accounts.config, tls);
    CHECK(offers(*server, "PLAIN"));
    CHECK(offers(*server, "LOGIN"));
    CHECK_FALSE(offers(*server, "EXTERNAL"));
    CHECK(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::success);
  }
  SECTION("allow_plaintext") {
    SaslConfig config = accounts.config;
    config.allow_plaintext = true;
    auto server = make_server(config);
    CHECK(offers(*server, "PLAIN"));
    CHECK(offers(*server, "LOGIN"));
    CHECK_FALSE(offers(*server, "ANONYMOUS"));
  }
}

TEST_CASE("sasl_mech_list limits the mechanisms", "[auth][sasl]") {
  Accounts accounts;
  SaslConfig config = accounts.config;
  config.options["mech_list"] = "SCRAM-SHA-256 PLAIN";
  auto server = make_server(config);
  auto names = server->mechanisms();
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"PLAIN", "SCRAM-SHA-256"});
  CHECK(server->start("LOGIN", std::nullopt).kind == Kind::failure);
  CHECK(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::success);
}

TEST_CASE("EXTERNAL is offered only with a TLS identity", "[auth][sasl]") {
  Accounts accounts(/*allow_plaintext=*/false);
  ConnectionInfo tls;
  tls.local = "127.0.0.1;2005";
  tls.remote = "127.0.0.1;40002";
  tls.tls_ssf = 256;
  tls.tls_identity = "sync-master";
  auto server = make_server(accounts.config, tls);
  REQUIRE(offers(*server, "EXTERNAL"));
  const auto step = server->start("EXTERNAL", ""s);   // `AUTHENTICATE EXTERNAL =`
  REQUIRE(step.kind == Kind::success);
  CHECK(server->authcid() == "sync-master");
  CHECK(server->authzid() == "sync-master");
  CHECK_FALSE(AdminPolicy("admin").is_admin(server->authcid(), server->authzid()));

  tls.tls_identity.clear();
  auto anonymous_tls = make_server(accounts.config, tls);
  CHECK_FALSE(offers(*anonymous_tls, "EXTERNAL"));
  CHECK(anonymous_tls->start("EXTERNAL", ""s).kind == Kind::failure);
}

// ---------------------------------------------------------------- misuse

TEST_CASE("bad mechanism names and out-of-order calls fail cleanly", "[auth][sasl]") {
  Accounts accounts;
  auto server = make_server(accounts.config);
  SECTION("garbage names") {
    for (const std::string& name :
         {""s, "PL AIN"s, "PLAIN\0"s, "PLA\"IN"s, std::string(21, 'A'), "NOSUCHMECH"s, "PLAIN\r\n"s}) {
      INFO("mechanism: " << name);
      const auto step = server->start(name, "\0admin\0adminpw"s);
      CHECK(step.kind == Kind::failure);
      CHECK_FALSE(step.error.empty());
    }
    CHECK(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::success);
  }
  SECTION("a step before any start") {
    const auto step = server->step("\0admin\0adminpw"s);
    CHECK(step.kind == Kind::failure);
    CHECK(step.error == "bad protocol / cancel");
    CHECK(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::success);
  }
  SECTION("an abandoned exchange (client sent `*`) can be restarted") {
    REQUIRE(server->start("LOGIN", std::nullopt).kind == Kind::challenge);
    REQUIRE(server->step("admin").kind == Kind::challenge);
    CHECK(server->start("PLAIN", "\0alice\0alicepw"s).kind == Kind::success);
    CHECK(server->authcid() == "alice");
  }
  SECTION("nothing more after success") {
    REQUIRE(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::success);
    CHECK(server->start("PLAIN", "\0alice\0alicepw"s).kind == Kind::failure);
    CHECK(server->step("x").kind == Kind::failure);
    CHECK(server->authcid() == "admin");
  }
  SECTION("oversized responses") {
    const std::string huge(70'000, 'a');
    CHECK(server->start("PLAIN", std::string_view(huge)).kind == Kind::failure);
    REQUIRE(server->start("LOGIN", std::nullopt).kind == Kind::challenge);
    CHECK(server->step(huge).kind == Kind::failure);
  }
  SECTION("bad connection parameters") {
    std::string error;
    ConnectionInfo bad;
    for (const char* address : {"not an address", "127.0.0.1;20x5", ";2005", "example.org;2005"}) {
      INFO(address);
      bad.remote = address;
      error.clear();
      CHECK(SaslServer::create("csync", accounts.config, bad, error) == nullptr);
      CHECK_FALSE(error.empty());
    }
    ConnectionInfo v6;
    v6.local = "::1;2005";
    v6.remote = "::1;40003";
    error.clear();
    CHECK(SaslServer::create("csync", accounts.config, v6, error) != nullptr);
    CHECK(error.empty());
    error.clear();
    CHECK(SaslServer::create("", accounts.config, {}, error) == nullptr);
    CHECK_FALSE(error.empty());
  }
}

// ---------------------------------------------------------------- accounts

TEST_CASE("set_password creates and updates accounts", "[auth][password]") {
  Accounts accounts;
  accounts.add("admin", "second-password");
  auto server = make_server(accounts.config);
  CHECK(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::failure);
  CHECK(server->start("PLAIN", "\0admin\0second-password"s).kind == Kind::success);

  std::string error;
  CHECK_FALSE(replicad::auth::set_password(accounts.config, "", "pw", error));
  CHECK_FALSE(error.empty());
  error.clear();
  CHECK_FALSE(replicad::auth::set_password(accounts.config, "bob", "", error));
  CHECK_FALSE(error.empty());
  error.clear();
  CHECK_FALSE(replicad::auth::set_password(accounts.config, "b ob", "pw", error));
  error.clear();
  CHECK_FALSE(replicad::auth::set_password(accounts.config, "bob", "p\0w"s, error));
  error.clear();

  SaslConfig nowhere = accounts.config;
  nowhere.options["sasldb_path"] = (accounts.dir.path() / "missing" / "sasldb2").string();
  CHECK_FALSE(replicad::auth::set_password(nowhere, "bob", "pw", error));
  CHECK_FALSE(error.empty());
}

TEST_CASE("set_password files users where a mixed-case server name finds them", "[auth][password]") {
  ensure_sasl();
  TempDir dir;
  SaslConfig config = config_with_sasldb(dir.path() / "sasldb2");
  config.servername = "Replica.EXAMPLE";   // libsasl2 lower-cases the server name
  std::string error;
  REQUIRE(replicad::auth::set_password(config, "admin", "adminpw", error));
  auto server = make_server(config);
  CHECK(server->start("PLAIN", "\0admin\0adminpw"s).kind == Kind::success);
}

TEST_CASE("a sasldb made by saslpasswd2 works", "[auth][password][saslpasswd2]") {
  const char* tool = "/usr/sbin/saslpasswd2";
  if (access(tool, X_OK) != 0) {
    WARN("saslpasswd2 not installed (sasl2-bin)");
    return;
  }
  ensure_sasl();
  TempDir dir;
  const auto sasldb = dir.path() / "sasldb2";
  // -p: password from stdin, no prompt; -u: the realm SaslServer looks in.
  const std::string command = std::string(tool) + " -f '" + sasldb.string() + "' -u " + kServerName +
                              " -c -p repl";
  FILE* pipe = popen(command.c_str(), "w");
  REQUIRE(pipe != nullptr);
  std::fputs("replpw", pipe);
  REQUIRE(pclose(pipe) == 0);

  const SaslConfig config = config_with_sasldb(sasldb);
  auto plain = make_server(config);
  CHECK(plain->start("PLAIN", "\0repl\0replpw"s).kind == Kind::success);
  CHECK(plain->authcid() == "repl");

  auto scram = make_server(config);
  Client client("repl", "replpw");
  const auto exchange = run(*scram, client, "SCRAM-SHA-256");
  CHECK(exchange.last.kind == Kind::success);
  CHECK(exchange.client_final == SASL_OK);

  auto wrong = make_server(config);
  CHECK(wrong->start("PLAIN", "\0repl\0nope"s).error == "authentication failure");
}

TEST_CASE("sasl_library_init is idempotent", "[auth][sasl]") {
  ensure_sasl();
  std::string error;
  CHECK(replicad::auth::sasl_library_init(SaslConfig{}, error));
  CHECK(error.empty());
}
