#include "server/settings.h"

#include <fmt/core.h>

#include <charconv>

#include "server/log.h"

namespace replicad {

std::string ListenAddress::text() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

bool parse_listen_address(const std::string& text, ListenAddress& out) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') return false;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      host = "127.0.0.1";
      port = text;
    } else {
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (host.find(':') != std::string::npos) return false;  // IPv6 needs brackets
    }
  }
  if (host == "localhost") host = "127.0.0.1";
  if (host == "*") host = "0.0.0.0";
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) return false;
  out.host = host;
  out.port = static_cast<uint16_t>(value);
  return true;
}

const std::vector<SettingDoc>& setting_docs() {
  static const std::vector<SettingDoc> docs = {
      {"listen", "127.0.0.1:2005", "addresses to accept both flavours on: host:port, [v6]:port; several separated by spaces (empty: none)"},
      {"listen_tls", "(none)", "addresses where TLS starts with the first byte (sync_host: host:port/tls); needs tls_server_cert"},
      {"datadir", "var", "data directory: store/ (LMDB) and staging/ (uploads in flight)"},
      {"servername", "replicad", "name in the greeting; the SASL server name and default realm"},
      {"admins", "(none)", "identities allowed to replicate, separated by spaces"},
      {"allowplaintext", "no", "offer PLAIN and LOGIN on connections without TLS"},
      {"maxmessagesize", "4G", "largest message (file literal) accepted"},
      {"lmdb_mapsize", "64G", "LMDB map size: the most the store can hold (the file grows as needed)"},
      {"maxconnections", "500", "connections served at once; more are greeted with BYE and closed"},
      {"sync_timeout", "30m", "idle time after which an authenticated connection is closed"},
      {"preauth_timeout", "60s", "time a connection may take to authenticate"},
      {"failedloginpause", "3s", "delay before a failed authentication is answered"},
      {"loglevel", "info", "error, warning, notice, info or debug"},
      {"status_interval", "5s", "how often <datadir>/status (replicadctl status, metrics) and systemd's STATUS= are refreshed"},
      {"logfile", "(standard error)", "append log lines to this file instead, with timestamps; reopened on SIGHUP"},
      {"syslog", "no", "send log lines to syslog(3) instead of standard error or logfile"},
      {"syslog_facility", "LOCAL6", "syslog facility: LOCAL0..LOCAL7, DAEMON, MAIL, USER, AUTH, AUTHPRIV"},
      {"syslog_prefix", "(none)", "syslog ident becomes <prefix>/replicad, as Cyrus's services are <prefix>/imap"},
      {"trace_dir", "<datadir>/trace", "protocol traces: a session authenticated as U is traced into trace_dir/U/ if that directory exists"},
      {"sasl_*", "", "handed to Cyrus SASL without the prefix: sasl_pwcheck_method, sasl_auxprop_plugin, sasl_sasldb_path, sasl_mech_list, ..."},
      {"tls_server_cert", "(none)", "PEM file: the server certificate, then its chain; enables STARTTLS"},
      {"tls_server_key", "(none)", "PEM file: the private key of tls_server_cert"},
      {"tls_client_ca_file", "(none)", "PEM file of CAs: clients are asked for a certificate, and a verified one enables EXTERNAL as its CN"},
      {"tls_versions", "tls1_2 tls1_3", "TLS versions allowed: tls1_0 tls1_1 tls1_2 tls1_3"},
      {"tls_ciphers", "(OpenSSL default)", "OpenSSL cipher list for TLS 1.2 and lower"},
      {"tls_required", "no", "offer no SASL mechanism and refuse AUTHENTICATE/LOGIN until TLS is up"},
      {"deleted_expire", "7d", "remove DELETED.* mailboxes (delayed deletes) this long after their deletion; at least the master's cyr_expire -D age; 0 keeps them"},
      {"deleted_expire_period", "1h", "how often to look for expired DELETED.* mailboxes"},
  };
  return docs;
}

Settings read_settings(Config& config, std::vector<Config::Problem>& problems, bool& fatal) {
  Settings s;
  fatal = false;
  auto read_addresses = [&](const char* key, const std::vector<std::string>& words, std::vector<ListenAddress>& out) {
    for (const auto& word : words) {
      ListenAddress addr;
      if (!parse_listen_address(word, addr)) {
        problems.push_back({0, fmt::format("{}: '{}' is not host:port or [v6]:port", key, word)});
        fatal = true;
        continue;
      }
      out.push_back(addr);
    }
  };
  read_addresses("listen", config.has("listen") ? config.get_list("listen") : std::vector<std::string>{"127.0.0.1:2005"},
                 s.listen);
  read_addresses("listen_tls", config.get_list("listen_tls"), s.listen_tls);
  s.datadir = config.get_string("datadir", s.datadir);
  s.servername = config.get_string("servername", s.servername);
  s.admins = config.get_string("admins");
  s.allow_plaintext = config.get_switch("allowplaintext", s.allow_plaintext);
  s.max_message_size = config.get_bytes("maxmessagesize", s.max_message_size);
  s.lmdb_mapsize = config.get_bytes("lmdb_mapsize", s.lmdb_mapsize);
  // Out of range becomes 0 (refused below) rather than wrapping: "-1" must
  // not turn into four billion connections.
  const int64_t connections = config.get_int("maxconnections", s.max_connections);
  s.max_connections = connections >= 1 && connections <= UINT32_MAX ? static_cast<uint32_t>(connections) : 0;
  s.idle_timeout = config.get_duration("sync_timeout", s.idle_timeout);
  s.preauth_timeout = config.get_duration("preauth_timeout", s.preauth_timeout);
  s.failed_login_pause = config.get_duration("failedloginpause", s.failed_login_pause);
  s.log_level = config.get_string("loglevel", s.log_level);
  s.status_interval = config.get_duration("status_interval", s.status_interval);
  s.logfile = config.get_string("logfile");
  s.syslog = config.get_switch("syslog", s.syslog);
  s.syslog_facility = config.get_string("syslog_facility", s.syslog_facility);
  s.syslog_prefix = config.get_string("syslog_prefix");
  s.trace_dir = config.get_string("trace_dir");
  s.sasl = config.with_prefix("sasl_");
  s.tls_server_cert = config.get_string("tls_server_cert");
  s.tls_server_key = config.get_string("tls_server_key");
  s.tls_client_ca_file = config.get_string("tls_client_ca_file");
  s.tls_versions = config.get_string("tls_versions", s.tls_versions);
  s.tls_ciphers = config.get_string("tls_ciphers");
  s.tls_required = config.get_switch("tls_required", s.tls_required);
  s.deleted_expire = config.get_duration("deleted_expire", s.deleted_expire);
  s.deleted_expire_period = config.get_duration("deleted_expire_period", s.deleted_expire_period);

  if (s.admins.empty())
    problems.push_back({0, "admins: nobody is allowed to replicate (set 'admins: <identity>')"});
  if (s.datadir.empty()) {
    problems.push_back({0, "datadir: must not be empty"});
    fatal = true;
  }
  if (s.max_message_size == 0 || s.max_message_size > 0xFFFFFFFFu) {
    problems.push_back({0, "maxmessagesize: must be between 1 and 4G-1 (the protocol's limit)"});
    fatal = true;
  }
  if (s.tls_server_cert.empty() != s.tls_server_key.empty()) {
    problems.push_back({0, "tls_server_cert and tls_server_key: both or neither"});
    fatal = true;
  }
  if (!s.tls_configured()) {
    if (!s.listen_tls.empty()) {
      problems.push_back({0, "listen_tls: needs tls_server_cert and tls_server_key"});
      fatal = true;
    }
    if (s.tls_required) {
      problems.push_back({0, "tls_required: needs tls_server_cert and tls_server_key"});
      fatal = true;
    }
    if (!s.tls_client_ca_file.empty())
      problems.push_back({0, "tls_client_ca_file: ignored without tls_server_cert"});
  }
  if (s.listen.empty() && s.listen_tls.empty()) {
    problems.push_back({0, "listen, listen_tls: no address to listen on"});
    fatal = true;
  }
  if (!log::syslog_facility(s.syslog_facility)) {
    problems.push_back({0, fmt::format("syslog_facility: '{}' is not a facility (LOCAL0..LOCAL7, DAEMON, ...)",
                                       s.syslog_facility)});
    fatal = true;
  }
  if (s.syslog && !s.logfile.empty()) problems.push_back({0, "logfile: ignored with syslog: yes"});
  if (s.status_interval < std::chrono::milliseconds(100)) {
    problems.push_back({0, "status_interval: must be at least 100ms"});
    fatal = true;
  }
  if (s.max_connections == 0) {
    problems.push_back({0, "maxconnections: must be between 1 and 4294967295"});
    fatal = true;
  }
  if (s.deleted_expire.count() > 0 && s.deleted_expire_period < std::chrono::seconds(1)) {
    problems.push_back({0, "deleted_expire_period: must be at least 1s"});
    fatal = true;
  }
  // Every documented key is known, and only those: a key read above but
  // missing from setting_docs() is reported as unknown, which tests catch.
  static const std::vector<std::string_view> known = [] {
    std::vector<std::string_view> keys;
    for (const SettingDoc& doc : setting_docs()) keys.push_back(doc.key);
    return keys;
  }();
  for (auto& p : config.unknown_keys(known)) problems.push_back(p);
  for (const auto& p : config.problems()) {
    problems.push_back(p);
    fatal = true;
  }
  return s;
}

}  // namespace replicad
