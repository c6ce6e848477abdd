// SaslServer on top of Cyrus SASL (libsasl2), configured the way Cyrus'
// sync_server and imapd configure it (global.c mysasl_config / mysasl_secprops,
// sync_server.c cmd_authenticate / reset_saslconn), except that replicad
// never negotiates a SASL security layer.
#include "auth/sasl_server.h"

#include <fmt/core.h>
#include <sasl/sasl.h>

#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

#include "auth/sasl_callbacks.h"
#include "server/log.h"

namespace replicad::auth {
namespace {

// The callbacks given to sasl_server_init: libsasl2 keeps using them until
// sasl_server_done, so they live here, not on the caller's stack.
std::unique_ptr<detail::SaslCallbacks> g_library_callbacks;

// RFC 4422 §3.1: a mechanism name is 1 to 20 characters of A-Z 0-9 - _.
// libsasl2 compares names case-insensitively, so lower case is let through.
constexpr size_t kMaxMechanismName = 20;

// One decoded client response.  Cyrus reads at most 16 KiB of decoded data
// per line (saslserver.c BASE64_BUF_SIZE); sync_client allows initial
// responses of up to 64 KiB of line.  No mechanism replicad offers comes near.
constexpr size_t kMaxClientResponse = 64 * 1024;

bool valid_mechanism_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxMechanismName) return false;
  for (char c : name) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// cyrus-sasl 2.1.28's LOGIN plugin (plugins/login.c, step 3) returns without
// freeing its copy of the password when libsasl2 cannot canonicalise the
// user name -- empty, all white space, or (a bug in lib/canonusr.c) some
// names with leading white space.  Anyone may repeat that before logging in,
// leaking up to a kilobyte a time, so such names are refused before the
// password reaches the plugin.  No account has one.
bool login_name_acceptable(std::string_view name) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
  return !name.empty() && !space(name.front()) && !space(name.back()) && !has_nul(name);
}

bool is_login_mechanism(std::string_view name) {
  return name.size() == 5 && std::equal(name.begin(), name.end(), "LOGIN", [](char a, char b) {
           return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == b;
         });
}

// libsasl2 wants addresses as "<numeric host>;<port>" and refuses others,
// but 2.1.28 leaks the half-built connection when it does; so the same rule
// is checked here first.
bool valid_sasl_address(std::string_view address) {
  const size_t semicolon = address.find(';');
  const std::string host(address.substr(0, semicolon));
  const std::string port(semicolon == std::string_view::npos ? std::string_view()
                                                             : address.substr(semicolon + 1));
  if (host.empty() || host.size() >= NI_MAXHOST) return false;
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return false;
  freeaddrinfo(found);
  return true;
}

const char* null_if_empty(const std::string& text) { return text.empty() ? nullptr : text.c_str(); }

// The text after `NO` that Cyrus sends for a failed exchange.  imapd turns
// "user not found" into "authentication failure" so a client cannot probe
// for accounts; replicad does that in both flavours.
std::string failure_text(int rc) {
  if (rc == SASL_NOUSER) rc = SASL_BADAUTH;
  const char* text = sasl_errstring(rc, nullptr, nullptr);
  return text != nullptr ? text : "Error authenticating";
}

struct ConnDisposer {
  void operator()(sasl_conn_t* conn) const { sasl_dispose(&conn); }
};
using ConnPtr = std::unique_ptr<sasl_conn_t, ConnDisposer>;

class CyrusSaslServer final : public SaslServer {
 public:
  CyrusSaslServer(std::string_view service, const SaslConfig& config, const ConnectionInfo& info)
      : service_(service),
        servername_(config.servername),
        allow_plaintext_(config.allow_plaintext),
        info_(info),
        callbacks_(config, info.remote.empty() ? std::string() : "remote=" + info.remote) {}

  // (Re)creates the libsasl2 connection, as Cyrus does after every failed
  // exchange (reset_saslconn): a mechanism's half-finished state must not
  // leak into the next attempt.  Returns a SASL result code.
  int open();

  std::vector<std::string> mechanisms() override;
  Step start(std::string_view mechanism, std::optional<std::string_view> initial) override;
  Step step(std::string_view response) override;

  std::string authcid() const override { return authcid_; }
  std::string authzid() const override { return authzid_; }
  unsigned ssf() const override { return ssf_; }

 private:
  enum class State { fresh, exchanging, authenticated, failed };

  Step finish(int rc, const char* out, unsigned out_len);
  // Ends the exchange.  `why` is for the log when libsasl2 has no detail
  // (the exchange never reached it).
  Step fail(int rc, const char* why = nullptr);
  static Step refuse(int rc);

  const std::string service_;
  const std::string servername_;
  const bool allow_plaintext_;
  const ConnectionInfo info_;
  detail::SaslCallbacks callbacks_;   // declared before conn_: must outlive it
  ConnPtr conn_;
  State state_ = State::fresh;
  std::string mechanism_;
  std::optional<std::string> login_name_;   // LOGIN: the user name, once given
  std::string authcid_;
  std::string authzid_;
  unsigned ssf_ = 0;
};

int CyrusSaslServer::open() {
  conn_.reset();
  state_ = State::fresh;
  mechanism_.clear();
  authcid_.clear();
  authzid_.clear();
  ssf_ = 0;

  // user_realm stays NULL as in Cyrus: sasldb then looks users up in the
  // realm named by the server name, where set_password and
  // `saslpasswd2 -u <servername>` put them.
  //
  // SASL_SUCCESS_DATA: libsasl2 returns server-final data (SCRAM's v=...,
  // DIGEST-MD5's rspauth) together with SASL_OK instead of turning it into
  // one more challenge.  The session decides how it travels: CSYNC sends it
  // as a `+ ` line and waits for the empty answer, the IMAP flavour drops it
  // and answers with the tagged OK (spec §1.2.1, §1.6.1).
  sasl_conn_t* raw = nullptr;
  int rc = sasl_server_new(service_.c_str(), null_if_empty(servername_), nullptr,
                           null_if_empty(info_.local), null_if_empty(info_.remote),
                           callbacks_.list(), SASL_SUCCESS_DATA, &raw);
  if (rc != SASL_OK) return rc;
  conn_.reset(raw);

  // No security layers, so nothing is ever wrapped after the OK line: with
  // max_ssf 0 (and, independently, maxbufsize 0) DIGEST-MD5 offers only
  // qop=auth, even to a client such as sync_client that would take a layer.
  sasl_security_properties_t props{};
  props.min_ssf = 0;
  props.max_ssf = 0;
  props.maxbufsize = 0;
  props.security_flags = SASL_SEC_NOANONYMOUS;
  // Passwords in the clear only where the operator allows it or TLS hides them.
  if (!allow_plaintext_ && info_.tls_ssf == 0) props.security_flags |= SASL_SEC_NOPLAINTEXT;
  rc = sasl_setprop(raw, SASL_SEC_PROPS, &props);
  if (rc != SASL_OK) return rc;

  const sasl_ssf_t external_ssf = info_.tls_ssf;
  rc = sasl_setprop(raw, SASL_SSF_EXTERNAL, &external_ssf);
  if (rc != SASL_OK) return rc;

  // Only with an identity does libsasl2 offer EXTERNAL.
  if (!info_.tls_identity.empty()) {
    rc = sasl_setprop(raw, SASL_AUTH_EXTERNAL, info_.tls_identity.c_str());
    if (rc != SASL_OK) return rc;
  }
  return SASL_OK;
}

std::vector<std::string> CyrusSaslServer::mechanisms() {
  std::vector<std::string> names;
  if (!conn_) return names;
  const char* list = nullptr;
  unsigned len = 0;
  int count = 0;
  if (sasl_listmech(conn_.get(), nullptr, "", " ", "", &list, &len, &count) != SASL_OK ||
      list == nullptr) {
    return names;
  }
  std::string_view rest(list, len);
  while (!rest.empty()) {
    const size_t space = rest.find(' ');
    const std::string_view name = rest.substr(0, space);
    if (!name.empty() && (name != "EXTERNAL" || !info_.tls_identity.empty())) {
      names.emplace_back(name);
    }
    if (space == std::string_view::npos) break;
    rest.remove_prefix(space + 1);
  }
  return names;
}

SaslServer::Step CyrusSaslServer::start(std::string_view mechanism,
                                        std::optional<std::string_view> initial) {
  if (state_ == State::authenticated) return refuse(SASL_BADPROT);
  if (state_ != State::fresh || !conn_) {
    const int rc = open();
    if (rc != SASL_OK) return fail(rc);
  }
  if (!valid_mechanism_name(mechanism)) return fail(SASL_NOMECH, "invalid mechanism name");
  mechanism_.assign(mechanism);
  if (initial && initial->size() > kMaxClientResponse) {
    return fail(SASL_BUFOVER, "initial response too long");
  }
  login_name_.reset();
  // LOGIN takes a non-empty initial response as the user name.
  if (is_login_mechanism(mechanism_) && initial && !initial->empty()) login_name_.emplace(*initial);

  // A null pointer means "no initial response"; an empty one (`=` on the
  // wire) must reach the mechanism as a non-null empty buffer.
  const char* in = nullptr;
  unsigned in_len = 0;
  if (initial) {
    in = initial->empty() ? "" : initial->data();
    in_len = static_cast<unsigned>(initial->size());
  }
  const char* out = nullptr;
  unsigned out_len = 0;
  const int rc = sasl_server_start(conn_.get(), mechanism_.c_str(), in, in_len, &out, &out_len);
  return finish(rc, out, out_len);
}

SaslServer::Step CyrusSaslServer::step(std::string_view response) {
  if (state_ != State::exchanging) return refuse(SASL_BADPROT);
  if (response.size() > kMaxClientResponse) return fail(SASL_BUFOVER, "response too long");
  if (is_login_mechanism(mechanism_)) {
    if (!login_name_) {
      login_name_.emplace(response);  // this response is the user name
    } else if (!login_name_acceptable(*login_name_)) {
      return fail(SASL_BADAUTH, "user name empty or with surrounding white space");
    }
  }
  const char* out = nullptr;
  unsigned out_len = 0;
  const int rc =
      sasl_server_step(conn_.get(), response.empty() ? "" : response.data(),
                       static_cast<unsigned>(response.size()), &out, &out_len);
  return finish(rc, out, out_len);
}

SaslServer::Step CyrusSaslServer::finish(int rc, const char* out, unsigned out_len) {
  Step result;
  if (rc == SASL_CONTINUE) {
    state_ = State::exchanging;
    result.kind = Step::Kind::challenge;
    if (out != nullptr) result.data.assign(out, out_len);
    return result;
  }
  if (rc != SASL_OK) return fail(rc);

  // SASL_USERNAME is the authorisation identity, already checked by the
  // library's proxy policy (which allows only authzid == authcid or none);
  // SASL_AUTHUSER is who proved their identity.
  const void* value = nullptr;
  if (sasl_getprop(conn_.get(), SASL_USERNAME, &value) == SASL_OK && value != nullptr) {
    authzid_ = static_cast<const char*>(value);
  }
  value = nullptr;
  if (sasl_getprop(conn_.get(), SASL_AUTHUSER, &value) == SASL_OK && value != nullptr) {
    authcid_ = static_cast<const char*>(value);
  }
  if (authzid_.empty() || authcid_.empty()) {
    // Cyrus answers "weird SASL error" here; a session without a user
    // cannot be checked against `admins`, so it is no success.
    log::error("sasl: mechanism {} succeeded without a user name", mechanism_);
    authzid_.clear();
    authcid_.clear();
    return fail(SASL_FAIL);
  }
  value = nullptr;
  if (sasl_getprop(conn_.get(), SASL_SSF, &value) == SASL_OK && value != nullptr) {
    ssf_ = *static_cast<const sasl_ssf_t*>(value);
  }
  state_ = State::authenticated;
  result.kind = Step::Kind::success;
  if (out != nullptr) result.data.assign(out, out_len);
  return result;
}

SaslServer::Step CyrusSaslServer::fail(int rc, const char* why) {
  state_ = State::failed;
  // The session logs the failed login itself (at notice, with its id); this
  // line adds what only libsasl2 knows, e.g. "user not found" or "No valid
  // SCRAM-SHA-256 secret found", which the client is never told.  Never the
  // client's response: it may be a password.
  if (log::enabled(log::Level::info)) {
    // The detail first: a failed getprop below would replace it.
    std::string reason = why != nullptr ? why : "";
    std::string user = "-";
    if (conn_) {
      if (reason.empty()) {
        const char* text = sasl_errdetail(conn_.get());
        reason = text != nullptr ? text : failure_text(rc);
      }
      const void* value = nullptr;
      if (rc != SASL_NOUSER && sasl_getprop(conn_.get(), SASL_USERNAME, &value) == SASL_OK &&
          value != nullptr) {
        user = static_cast<const char*>(value);
      }
    }
    log::info("sasl: failed remote={} mech={} user={} detail={}",
              info_.remote.empty() ? "-" : info_.remote, mechanism_.empty() ? "-" : mechanism_,
              detail::one_line(user), detail::one_line(reason));
  }
  return refuse(rc);
}

SaslServer::Step CyrusSaslServer::refuse(int rc) {
  Step result;
  result.kind = Step::Kind::failure;
  result.error = failure_text(rc);
  return result;
}

}  // namespace

bool sasl_library_init(const SaslConfig& config, std::string& error) {
  // libsasl2 has one global server state per process; a second call (e.g.
  // `replicad setpass` after start-up code) keeps the first one.  Every
  // connection reads its options from its own SaslConfig anyway.
  if (g_library_callbacks) return true;
  auto callbacks = std::make_unique<detail::SaslCallbacks>(config, std::string());
  // "replicad" is the application name libsasl2 uses for its own optional
  // config file (/etc/sasl2/replicad.conf), consulted for options replicad
  // does not set.
  const int rc = sasl_server_init(callbacks->list(), "replicad");
  if (rc != SASL_OK) {
    const char* text = sasl_errstring(rc, nullptr, nullptr);
    error = fmt::format("cannot initialise libsasl2: {}", text != nullptr ? text : "unknown error");
    return false;
  }
  g_library_callbacks = std::move(callbacks);
  return true;
}

void sasl_library_done() {
  if (!g_library_callbacks) return;
  sasl_server_done();
  g_library_callbacks.reset();
}

std::unique_ptr<SaslServer> SaslServer::create(std::string_view service, const SaslConfig& config,
                                               const ConnectionInfo& conn, std::string& error) {
  if (service.empty() || has_nul(service) || has_nul(config.servername) || has_nul(conn.local) ||
      has_nul(conn.remote) || has_nul(conn.tls_identity)) {
    error = "invalid SASL connection parameters";
    return nullptr;
  }
  for (const std::string* address : {&conn.local, &conn.remote}) {
    if (!address->empty() && !valid_sasl_address(*address)) {
      error = fmt::format("invalid address for SASL: {}", *address);
      return nullptr;
    }
  }
  auto server = std::make_unique<CyrusSaslServer>(service, config, conn);
  const int rc = server->open();
  if (rc != SASL_OK) {
    const char* text = sasl_errstring(rc, nullptr, nullptr);
    error = fmt::format("cannot create SASL connection: {}", text != nullptr ? text : "unknown error");
    return nullptr;
  }
  return server;
}

}  // namespace replicad::auth
