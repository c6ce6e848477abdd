#include "server/tls_layer.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>

namespace replicad {
namespace {

// One SSL_read/SSL_write call moves at most this much: a record holds 16 KiB.
constexpr size_t kChunk = 16 * 1024;

// Longest client certificate name taken as an identity; an admin name in
// replicad.conf is a short login, and libsasl2 copies it around.
constexpr size_t kMaxIdentity = 255;

// The subject CN as UTF-8, or empty when there is not exactly one, or it is
// not something an `admins` entry could match (control characters, NUL).
std::string single_common_name(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return {};
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, index) >= 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len <= 0 || utf8 == nullptr) return {};
  std::string name(reinterpret_cast<const char*>(utf8), static_cast<size_t>(len));
  OPENSSL_free(utf8);
  const bool clean = name.size() <= kMaxIdentity &&
                     std::none_of(name.begin(), name.end(), [](char c) {
                       return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == ' ';
                     });
  return clean ? name : std::string();
}

}  // namespace

std::unique_ptr<TlsLayer> TlsLayer::create(const TlsContext& context, std::string& error) {
  ERR_clear_error();
  std::unique_ptr<TlsLayer> layer(new TlsLayer);
  layer->ssl_ = SSL_new(context.native());
  if (layer->ssl_ == nullptr) {
    error = "SSL_new: " + openssl_errors();
    return nullptr;
  }
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  if (in == nullptr || out == nullptr) {
    BIO_free(in);
    BIO_free(out);
    error = "BIO_new: " + openssl_errors();
    return nullptr;
  }
  // An empty input BIO means "no more yet", never end of file: OpenSSL then
  // answers WANT_READ and the handshake resumes when more bytes come.
  BIO_set_mem_eof_return(in, -1);
  BIO_set_mem_eof_return(out, -1);
  SSL_set_bio(layer->ssl_, in, out);
  layer->in_ = in;
  layer->out_ = out;
  SSL_set_accept_state(layer->ssl_);
  return layer;
}

TlsLayer::~TlsLayer() { SSL_free(ssl_); }

void TlsLayer::receive(std::string_view ciphertext) {
  while (!ciphertext.empty()) {
    const int n = static_cast<int>(std::min<size_t>(ciphertext.size(), INT_MAX));
    // A memory BIO grows as needed; only an allocation failure stops it,
    // and read() then runs out of input and the connection times out.
    if (BIO_write(in_, ciphertext.data(), n) <= 0) return;
    ciphertext.remove_prefix(static_cast<size_t>(n));
  }
}

bool TlsLayer::fail(std::string_view what, int rc) {
  const int code = SSL_get_error(ssl_, rc);
  failed_ = true;
  error_ = std::string(what) + ": ";
  if (code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    error_ += "unexpected end of the TLS stream";
  } else {
    error_ += openssl_errors("TLS protocol error");
  }
  return false;
}

bool TlsLayer::handshake() {
  ERR_clear_error();
  const int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    describe_peer();
    if (!waiting_plaintext_.empty()) {
      std::string waiting;
      waiting.swap(waiting_plaintext_);
      return write(waiting);
    }
    return true;
  }
  const int code = SSL_get_error(ssl_, rc);
  if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return true;
  return fail("TLS handshake failed", rc);
}

bool TlsLayer::read(std::string& out, size_t max) {
  if (failed_) return false;
  if (!established_) {
    if (!handshake()) return false;
    if (!established_) return true;   // waiting for the peer
  }
  size_t added = 0;
  while (added < max && !peer_closed_) {
    const size_t chunk = std::min(max - added, kChunk);
    const size_t old = out.size();
    out.resize(old + chunk);
    ERR_clear_error();
    const int n = SSL_read(ssl_, out.data() + old, static_cast<int>(chunk));
    out.resize(old + static_cast<size_t>(std::max(n, 0)));
    if (n > 0) {
      added += static_cast<size_t>(n);
      continue;
    }
    const int code = SSL_get_error(ssl_, n);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) break;
    if (code == SSL_ERROR_ZERO_RETURN) {
      peer_closed_ = true;
      break;
    }
    return fail("TLS read failed", n);
  }
  return true;
}

bool TlsLayer::write(std::string_view plaintext) {
  if (failed_) return false;
  if (!established_) {
    waiting_plaintext_.append(plaintext);
    return true;
  }
  while (!plaintext.empty()) {
    const size_t chunk = std::min(plaintext.size(), kChunk);
    ERR_clear_error();
    // A memory BIO takes everything: SSL_write either writes it all or fails.
    const int n = SSL_write(ssl_, plaintext.data(), static_cast<int>(chunk));
    if (n <= 0) return fail("TLS write failed", n);
    plaintext.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void TlsLayer::take_output(std::string& out) {
  size_t pending = BIO_ctrl_pending(out_);
  while (pending > 0) {
    const size_t old = out.size();
    const size_t chunk = std::min<size_t>(pending, INT_MAX);
    out.resize(old + chunk);
    const int n = BIO_read(out_, out.data() + old, static_cast<int>(chunk));
    out.resize(old + static_cast<size_t>(std::max(n, 0)));
    if (n <= 0) break;
    pending = BIO_ctrl_pending(out_);
  }
}

void TlsLayer::shutdown() {
  if (!established_ || failed_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);   // queues close_notify; the peer's is not waited for
  ERR_clear_error();
}

void TlsLayer::describe_peer() {
  peer_.protocol = SSL_get_version(ssl_);
  if (const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_)) {
    peer_.cipher = SSL_CIPHER_get_name(cipher);
    peer_.bits = static_cast<unsigned>(std::max(SSL_CIPHER_get_bits(cipher, nullptr), 0));
  }
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (cert == nullptr) return;
  peer_.client_certificate = true;
  peer_.client_name = single_common_name(cert);
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    peer_.verify_error = X509_verify_cert_error_string(verify);
  } else if (peer_.client_name.empty()) {
    peer_.verify_error = "no single, printable common name in the subject";
  } else {
    peer_.client_verified = true;
  }
}

}  // namespace replicad
