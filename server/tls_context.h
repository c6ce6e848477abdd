// The server's TLS configuration: one OpenSSL SSL_CTX built from the tls_*
// keys, shared by every TLS connection (STARTTLS and the listen_tls ports).
//
// Built once at start-up, where a bad certificate or key is a configuration
// error; a connection only ever asks it for a new SSL object (TlsLayer).
// Connections keep their own reference to the SSL_CTX through OpenSSL, so a
// later reload can build a new TlsContext and swap it in for new connections
// without disturbing the ones that are open.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

namespace replicad {

struct TlsSettings {
  std::string cert_file;        // tls_server_cert: PEM, the certificate first, then its chain
  std::string key_file;         // tls_server_key: PEM private key
  std::string client_ca_file;   // tls_client_ca_file: ask for client certificates, verify with these CAs
  std::string versions = "tls1_2 tls1_3";  // tls_versions: the protocol versions allowed
  std::string ciphers;          // tls_ciphers: OpenSSL cipher list for TLS <= 1.2; empty = OpenSSL's default
};

class TlsContext {
 public:
  // Loads and checks everything (the key must match the certificate).
  // Returns nullptr with `error` filled when something is wrong.
  static std::unique_ptr<TlsContext> create(const TlsSettings& settings, std::string& error);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* native() const { return ctx_; }
  // True when clients are asked for a certificate (tls_client_ca_file).
  bool requests_client_certificates() const { return requests_client_certs_; }

 private:
  TlsContext() = default;

  SSL_CTX* ctx_ = nullptr;
  bool requests_client_certs_ = false;
};

// The most recent OpenSSL error queue as one line (and clears the queue).
std::string openssl_errors(std::string_view fallback = "unknown TLS error");

}  // namespace replicad
