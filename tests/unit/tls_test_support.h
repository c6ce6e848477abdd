// Certificates made at test time (no files in the repository), and an
// OpenSSL client over memory BIOs to talk to the server side under test.
#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace replicad::testing {

// A CA, a server certificate and a client certificate (CN sync-master)
// signed by it, and a self-signed client certificate nobody trusts.
struct TestPki {
  std::filesystem::path dir;
  std::string ca_cert;
  std::string server_cert, server_key;
  std::string client_cert, client_key;       // CN=sync-master, signed by the CA
  std::string stranger_cert, stranger_key;   // CN=sync-master, self-signed

  static const TestPki& get() {
    static const TestPki pki = make();
    return pki;
  }

 private:
  struct Made {
    EVP_PKEY* key;
    X509* cert;
  };

  static void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    REQUIRE(ext != nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }

  // issuer == nullptr: self-signed.
  static Made issue(const char* cn, const Made* issuer, bool ca, long serial) {
    Made m{EVP_EC_gen("P-256"), X509_new()};
    REQUIRE(m.key != nullptr);
    X509_set_version(m.cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(m.cert), serial);
    X509_gmtime_adj(X509_getm_notBefore(m.cert), -3600);
    X509_gmtime_adj(X509_getm_notAfter(m.cert), 3600L * 24 * 365);
    X509_set_pubkey(m.cert, m.key);
    X509_NAME* name = X509_get_subject_name(m.cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
    X509* issuer_cert = issuer ? issuer->cert : m.cert;
    X509_set_issuer_name(m.cert, X509_get_subject_name(issuer_cert));
    add_ext(m.cert, issuer_cert, NID_basic_constraints, ca ? "critical,CA:TRUE" : "CA:FALSE");
    if (ca) add_ext(m.cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(m.cert, issuer_cert, NID_subject_key_identifier, "hash");
    REQUIRE(X509_sign(m.cert, issuer ? issuer->key : m.key, EVP_sha256()) > 0);
    return m;
  }

  static std::string write_cert(const std::filesystem::path& path, X509* cert) {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    PEM_write_X509(f, cert);
    std::fclose(f);
    return path.string();
  }

  static std::string write_key(const std::filesystem::path& path, EVP_PKEY* key) {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
    std::fclose(f);
    return path.string();
  }

  static TestPki make() {
    TestPki p;
    p.dir = std::filesystem::temp_directory_path() / ("replicad-pki-" + std::to_string(::getpid()));
    std::filesystem::create_directories(p.dir);
    Made ca = issue("replicad test CA", nullptr, true, 1);
    Made server = issue("replica.test", &ca, false, 2);
    Made client = issue("sync-master", &ca, false, 3);
    Made stranger = issue("sync-master", nullptr, false, 4);
    p.ca_cert = write_cert(p.dir / "ca.pem", ca.cert);
    p.server_cert = write_cert(p.dir / "server.pem", server.cert);
    p.server_key = write_key(p.dir / "server.key", server.key);
    p.client_cert = write_cert(p.dir / "client.pem", client.cert);
    p.client_key = write_key(p.dir / "client.key", client.key);
    p.stranger_cert = write_cert(p.dir / "stranger.pem", stranger.cert);
    p.stranger_key = write_key(p.dir / "stranger.key", stranger.key);
    for (Made* m : {&ca, &server, &client, &stranger}) {
      X509_free(m->cert);
      EVP_PKEY_free(m->key);
    }
    return p;
  }
};

// A TLS client in memory, as sync_client configures it: no verification of
// the server, an optional client certificate.
class TlsTestClient {
 public:
  explicit TlsTestClient(const std::string& cert = {}, const std::string& key = {}, int max_version = 0) {
    ctx_ = SSL_CTX_new(TLS_client_method());
    REQUIRE(ctx_ != nullptr);
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_NONE, nullptr);
    if (max_version != 0) SSL_CTX_set_max_proto_version(ctx_, max_version);
    if (!cert.empty()) {
      REQUIRE(SSL_CTX_use_certificate_file(ctx_, cert.c_str(), SSL_FILETYPE_PEM) == 1);
      REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM) == 1);
    }
    ssl_ = SSL_new(ctx_);
    in_ = BIO_new(BIO_s_mem());
    out_ = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in_, -1);
    BIO_set_mem_eof_return(out_, -1);
    SSL_set_bio(ssl_, in_, out_);
    SSL_set_connect_state(ssl_);
  }
  ~TlsTestClient() {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
  }
  TlsTestClient(const TlsTestClient&) = delete;
  TlsTestClient& operator=(const TlsTestClient&) = delete;

  // Ciphertext from the server.
  void receive(const std::string& bytes) {
    if (!bytes.empty()) BIO_write(in_, bytes.data(), static_cast<int>(bytes.size()));
  }
  // Runs the handshake as far as it goes; true once done.
  bool handshake() {
    if (SSL_is_init_finished(ssl_)) return true;
    const int rc = SSL_do_handshake(ssl_);
    if (rc == 1) return true;
    const int e = SSL_get_error(ssl_, rc);
    failed_ = !(e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE);
    return false;
  }
  bool failed() const { return failed_; }
  void write(const std::string& plain) {
    REQUIRE(SSL_write(ssl_, plain.data(), static_cast<int>(plain.size())) == static_cast<int>(plain.size()));
  }
  std::string read() {
    std::string all;
    char buf[16384];
    for (;;) {
      const int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n <= 0) break;
      all.append(buf, static_cast<size_t>(n));
    }
    return all;
  }
  // Ciphertext for the server.
  std::string take() {
    std::string out;
    char buf[16384];
    int n;
    while ((n = BIO_read(out_, buf, sizeof(buf))) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }
  void close_notify() { SSL_shutdown(ssl_); }
  SSL* native() { return ssl_; }

 private:
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;
  BIO* out_ = nullptr;
  bool failed_ = false;
};

}  // namespace replicad::testing
