// Every configuration key replicad reads, with its default, in one place.
// (`replicad --help-config` prints this table; docs/configuration.md mirrors it.)
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "server/config.h"

namespace replicad {

struct ListenAddress {
  std::string host;  // numeric IPv4 or IPv6 (without brackets)
  uint16_t port = 0;
  std::string text() const;
};

struct Settings {
  std::vector<ListenAddress> listen;           // listen: 127.0.0.1:2005 [::1]:2005
  std::vector<ListenAddress> listen_tls;       // listen_tls: TLS from the first byte (sync_host host:port/tls)
  std::string datadir = "var";                 // datadir: LMDB store and staging area
  std::string servername = "replicad";         // servername: greeting and SASL realm
  std::string admins;                          // admins: replication identities
  bool allow_plaintext = false;                // allowplaintext: PLAIN/LOGIN without TLS
  uint64_t max_message_size = 0xFFFFFFFFu;     // maxmessagesize: largest file literal
  uint64_t lmdb_mapsize = uint64_t{64} << 30;  // lmdb_mapsize: virtual map size
  uint32_t max_connections = 500;              // maxconnections
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(30)};   // sync_timeout (Cyrus' key)
  std::chrono::milliseconds preauth_timeout{std::chrono::minutes(1)}; // preauth_timeout
  std::chrono::milliseconds failed_login_pause{std::chrono::seconds(3)};  // failedloginpause
  std::string log_level = "info";              // loglevel: error warning notice info debug
  std::chrono::milliseconds status_interval{std::chrono::seconds(5)};  // status_interval: <datadir>/status, STATUS=
  std::string logfile;                         // logfile: append log lines here instead of stderr
  bool syslog = false;                         // syslog: log to syslog(3) instead
  std::string syslog_facility = "LOCAL6";      // syslog_facility (Cyrus's key and default)
  std::string syslog_prefix;                   // syslog_prefix: the ident becomes <prefix>/replicad
  std::string trace_dir;                       // trace_dir: per-identity protocol traces (default <datadir>/trace)
  std::map<std::string, std::string> sasl;     // sasl_*: handed to libsasl2
  std::string tls_server_cert;                 // tls_server_cert: PEM certificate (chain); enables STARTTLS
  std::string tls_server_key;                  // tls_server_key: its PEM private key
  std::string tls_client_ca_file;              // tls_client_ca_file: verify client certificates (EXTERNAL)
  std::string tls_versions = "tls1_2 tls1_3";  // tls_versions
  std::string tls_ciphers;                     // tls_ciphers: OpenSSL cipher list (TLS <= 1.2)
  bool tls_required = false;                   // tls_required: no authentication without TLS
  // deleted_expire: DELETED.* mailboxes older than this are removed (0: never)
  std::chrono::milliseconds deleted_expire{std::chrono::hours(7 * 24)};
  std::chrono::milliseconds deleted_expire_period{std::chrono::hours(1)};  // deleted_expire_period

  bool tls_configured() const { return !tls_server_cert.empty(); }

  std::string store_dir() const { return datadir + "/store"; }
  std::string staging_dir() const { return datadir + "/staging"; }
  std::string status_path() const { return datadir + "/status"; }
  std::string trace_path() const { return trace_dir.empty() ? datadir + "/trace" : trace_dir; }
};

// Reads and checks every key.  Problems (bad values, unknown keys) are
// appended to `problems`; the result is usable only when `fatal` stays false.
Settings read_settings(Config& config, std::vector<Config::Problem>& problems, bool& fatal);

// host:port, [v6]:port, or a bare port (all addresses of loopback are not implied:
// a bare port means 127.0.0.1).
bool parse_listen_address(const std::string& text, ListenAddress& out);

// The documentation of every key: name, default, meaning.
struct SettingDoc {
  const char* key;
  const char* fallback;
  const char* meaning;
};
const std::vector<SettingDoc>& setting_docs();

}  // namespace replicad
