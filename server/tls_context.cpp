#include "server/tls_context.h"

#include <fmt/core.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <array>
#include <cctype>
#include <string_view>
#include <utility>

namespace replicad {
namespace {

// Cyrus's names for tls_versions, lowest first.
struct VersionName {
  std::string_view name;
  int version;
  uint64_t disable_option;
};
constexpr std::array<VersionName, 4> kVersions = {{
    {"tls1_0", TLS1_VERSION, SSL_OP_NO_TLSv1},
    {"tls1_1", TLS1_1_VERSION, SSL_OP_NO_TLSv1_1},
    {"tls1_2", TLS1_2_VERSION, SSL_OP_NO_TLSv1_2},
    {"tls1_3", TLS1_3_VERSION, SSL_OP_NO_TLSv1_3},
}};

// A certificate chain deeper than this is refused (Cyrus verifies to depth 5).
constexpr int kVerifyDepth = 5;

// The handshake must not fail over a client certificate that does not
// verify: the client may still log in with a password.  Whether it verified
// is read afterwards (SSL_get_verify_result), and only a verified one is
// ever turned into an identity (TlsLayer).
int accept_for_later_check(int, X509_STORE_CTX*) { return 1; }

bool apply_versions(SSL_CTX* ctx, std::string_view text, std::string& error) {
  bool wanted[kVersions.size()] = {};
  bool any = false;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (std::isspace(static_cast<unsigned char>(text[pos])) || text[pos] == ','))
      ++pos;
    size_t end = pos;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end])) && text[end] != ',')
      ++end;
    if (end == pos) break;
    const std::string_view word = text.substr(pos, end - pos);
    bool known = false;
    for (size_t i = 0; i < kVersions.size(); ++i) {
      if (kVersions[i].name == word) {
        wanted[i] = known = any = true;
      }
    }
    if (!known) {
      error = fmt::format("tls_versions: unknown version '{}' (known: tls1_0 tls1_1 tls1_2 tls1_3)", word);
      return false;
    }
    pos = end;
  }
  if (!any) {
    error = "tls_versions: no version given";
    return false;
  }
  // The range from the lowest to the highest wanted version, and the gaps
  // inside it switched off one by one.
  size_t lowest = kVersions.size();
  size_t highest = 0;
  for (size_t i = 0; i < kVersions.size(); ++i) {
    if (!wanted[i]) continue;
    if (lowest == kVersions.size()) lowest = i;
    highest = i;
  }
  if (SSL_CTX_set_min_proto_version(ctx, kVersions[lowest].version) != 1 ||
      SSL_CTX_set_max_proto_version(ctx, kVersions[highest].version) != 1) {
    error = "tls_versions: " + openssl_errors("OpenSSL refused the version range");
    return false;
  }
  for (size_t i = lowest; i <= highest; ++i) {
    if (!wanted[i]) SSL_CTX_set_options(ctx, kVersions[i].disable_option);
  }
  return true;
}

}  // namespace

std::string openssl_errors(std::string_view fallback) {
  std::string text;
  while (unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text.empty() ? std::string(fallback) : text;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::unique_ptr<TlsContext> TlsContext::create(const TlsSettings& settings, std::string& error) {
  if (settings.cert_file.empty() || settings.key_file.empty()) {
    error = "tls_server_cert and tls_server_key are both needed";
    return nullptr;
  }
  ERR_clear_error();
  std::unique_ptr<TlsContext> context(new TlsContext);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    error = "cannot create the TLS context: " + openssl_errors();
    return nullptr;
  }
  context->ctx_ = ctx;

  if (SSL_CTX_use_certificate_chain_file(ctx, settings.cert_file.c_str()) != 1) {
    error = fmt::format("tls_server_cert {}: {}", settings.cert_file, openssl_errors());
    return nullptr;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, settings.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    error = fmt::format("tls_server_key {}: {}", settings.key_file, openssl_errors());
    return nullptr;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    error = fmt::format("tls_server_key {} does not belong to tls_server_cert {}: {}", settings.key_file,
                        settings.cert_file, openssl_errors());
    return nullptr;
  }
  if (!apply_versions(ctx, settings.versions, error)) return nullptr;
  if (!settings.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, settings.ciphers.c_str()) != 1) {
    error = fmt::format("tls_ciphers '{}': {}", settings.ciphers, openssl_errors("no usable cipher"));
    return nullptr;
  }

  // No TLS-level compression (CRIME; COMPRESS DEFLATE is the protocol's
  // own), no renegotiation (a cheap way for a client to burn server CPU),
  // the server's cipher order.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // No session resumption: replication connections are few and long, and
  // a session cache or tickets would only be state to protect.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  SSL_CTX_set_num_tickets(ctx, 0);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_dh_auto(ctx, 1);
  static const unsigned char kSessionContext[] = "replicad";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof(kSessionContext) - 1);

  if (!settings.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, settings.client_ca_file.c_str(), nullptr) != 1) {
      error = fmt::format("tls_client_ca_file {}: {}", settings.client_ca_file, openssl_errors());
      return nullptr;
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca_file.c_str());
    if (names == nullptr) {
      error = fmt::format("tls_client_ca_file {}: no CA certificate in it", settings.client_ca_file);
      return nullptr;
    }
    SSL_CTX_set_client_CA_list(ctx, names);  // takes ownership
    // Ask, never require: a master without a certificate can still log in
    // with a password (EXTERNAL is simply not offered to it).
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_for_later_check);
    SSL_CTX_set_verify_depth(ctx, kVerifyDepth);
    context->requests_client_certs_ = true;
  }
  ERR_clear_error();
  return context;
}

}  // namespace replicad
