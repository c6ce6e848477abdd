#include "auth/password_store.h"

#include <fmt/core.h>
#include <sasl/sasl.h>

#include <memory>

#include "auth/sasl_callbacks.h"

namespace replicad::auth {
namespace {

// Long enough for any login name or generated password, short enough that a
// typo (a file pasted as an argument) is refused instead of stored.
constexpr size_t kMaxUser = 255;
constexpr size_t kMaxPassword = 1024;

// No NUL (PLAIN separates its fields with it) and no control characters or
// blanks (they cannot be typed into sync_authname / AUTHENTICATE lines).
bool usable_user(std::string_view user) {
  if (user.empty() || user.size() > kMaxUser) return false;
  for (char c : user) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

bool usable_password(std::string_view password) {
  if (password.empty() || password.size() > kMaxPassword) return false;
  for (char c : password) {
    if (c == '\0' || c == '\r' || c == '\n') return false;
  }
  return true;
}

struct ConnDisposer {
  void operator()(sasl_conn_t* conn) const { sasl_dispose(&conn); }
};

}  // namespace

bool set_password(const SaslConfig& config, std::string_view user, std::string_view password,
                  std::string& error) {
  if (!usable_user(user)) {
    error = "user name must be 1 to 255 printable characters without blanks";
    return false;
  }
  if (!usable_password(password)) {
    error = "password must be 1 to 1024 bytes without NUL or line breaks";
    return false;
  }
  if (!sasl_library_init(config, error)) return false;

  // sasl_setpass reports success when no store took the password at all (it
  // only logs a warning), so make sure one can before trying.
  if (sasl_auxprop_store(nullptr, nullptr, nullptr) != SASL_OK) {
    error = "no SASL auxprop plugin can store passwords (is libsasl2-modules-db installed, "
            "and sasl_auxprop_plugin a writable store?)";
    return false;
  }

  // The connection's options come from `config` (sasldb_path above all).
  // Its realm is the server name as libsasl2 derives it (lower-cased) from
  // a NULL user realm: exactly what SaslServer's lookups use.  Passing the
  // configured name as the realm would file "Replica.Example" users where
  // no login finds them.
  detail::SaslCallbacks callbacks(config, std::string());
  const char* servername = config.servername.empty() ? nullptr : config.servername.c_str();
  sasl_conn_t* raw = nullptr;
  int rc = sasl_server_new("csync", servername, nullptr, nullptr, nullptr, callbacks.list(), 0,
                           &raw);
  if (rc != SASL_OK) {
    error = fmt::format("cannot create SASL connection: {}", sasl_errstring(rc, nullptr, nullptr));
    return false;
  }
  std::unique_ptr<sasl_conn_t, ConnDisposer> conn(raw);

  const std::string user_z(user);
  rc = sasl_setpass(conn.get(), user_z.c_str(), password.data(),
                    static_cast<unsigned>(password.size()), nullptr, 0, SASL_SET_CREATE);
  if (rc != SASL_OK) {
    const char* detail = sasl_errdetail(conn.get());
    error = fmt::format("cannot set the password of {}: {}", user_z,
                        detail != nullptr ? detail : sasl_errstring(rc, nullptr, nullptr));
    return false;
  }
  return true;
}

}  // namespace replicad::auth
