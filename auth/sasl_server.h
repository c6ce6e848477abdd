// Server side of SASL authentication, through Cyrus SASL (libsasl2).
//
// The `sasl_*` keys of replicad.conf are handed to the library as Cyrus does
// (sasl_pwcheck_method, sasl_auxprop_plugin, sasl_sasldb_path,
// sasl_mech_list, ...: the key without its `sasl_` prefix is the library's
// option name).  This class knows nothing of the wire: it takes and returns
// decoded bytes; the session does the base64 and the `+ ` lines.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replicad::auth {

struct SaslConfig {
  std::string servername;                       // SASL server FQDN, also the default realm
  std::map<std::string, std::string> options;   // sasl_* keys without the prefix
  bool allow_plaintext = false;                 // offer PLAIN/LOGIN without TLS
};

// Initialises libsasl2 once per process.  Returns false and fills `error`
// when the library cannot start (e.g. a missing plugin directory).
bool sasl_library_init(const SaslConfig& config, std::string& error);
void sasl_library_done();

struct ConnectionInfo {
  std::string local;    // "ip;port" as libsasl2 wants it, may be empty
  std::string remote;
  unsigned tls_ssf = 0;        // strength of the TLS layer below, 0 without TLS
  std::string tls_identity;    // peer certificate identity for EXTERNAL (later)
};

class SaslServer {
 public:
  struct Step {
    enum class Kind { challenge, success, failure };
    Kind kind = Kind::failure;
    std::string data;      // challenge bytes, or server-final data on success (may be empty)
    std::string error;     // failure text for the client, e.g. "authentication failure"
  };

  // `service` is the SASL service name: "csync" or "imap" (spec §1.2).
  static std::unique_ptr<SaslServer> create(std::string_view service, const SaslConfig& config,
                                            const ConnectionInfo& conn, std::string& error);
  virtual ~SaslServer() = default;

  // Mechanisms offered now: the library's list, minus plaintext ones when
  // plaintext is not allowed on this connection.
  virtual std::vector<std::string> mechanisms() = 0;

  // Starts an exchange.  `initial` is the decoded initial response if the
  // client sent one (an empty string for `=`), nullopt if it sent none.
  virtual Step start(std::string_view mechanism, std::optional<std::string_view> initial) = 0;
  virtual Step step(std::string_view response) = 0;

  // After success: who logged in (authentication id) and as whom (authorisation id).
  virtual std::string authcid() const = 0;
  virtual std::string authzid() const = 0;
  // Security layer strength negotiated by SASL itself; replicad disables
  // layers (maxssf 0), so this is 0 unless TLS is below.
  virtual unsigned ssf() const = 0;
};

// Standard base64 with padding, as the AUTHENTICATE lines carry it.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace replicad::auth
