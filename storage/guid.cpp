#include "storage/guid.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace replicad::storage {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Guid> Guid::from_hex(std::string_view hex) {
  Guid g;
  if (hex.size() != g.bytes.size() * 2) return std::nullopt;
  for (size_t i = 0; i < g.bytes.size(); ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    g.bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return g;
}

std::string Guid::hex() const {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(bytes.size() * 2, '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  return out;
}

bool Guid::is_null() const {
  for (uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

struct Sha1Stream::State {
  EVP_MD_CTX* ctx = nullptr;
};

Sha1Stream::Sha1Stream() : state_(std::make_unique<State>()) {
  state_->ctx = EVP_MD_CTX_new();
  if (state_->ctx == nullptr || EVP_DigestInit_ex(state_->ctx, EVP_sha1(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise SHA-1");
}

Sha1Stream::~Sha1Stream() { EVP_MD_CTX_free(state_->ctx); }

void Sha1Stream::update(std::span<const char> bytes) {
  if (!bytes.empty()) EVP_DigestUpdate(state_->ctx, bytes.data(), bytes.size());
}

Guid Sha1Stream::finish() {
  Guid g;
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, g.bytes.data(), &len);
  EVP_DigestInit_ex(state_->ctx, EVP_sha1(), nullptr);
  return g;
}

Guid sha1_of(std::string_view bytes) {
  Sha1Stream s;
  s.update(bytes);
  return s.finish();
}

}  // namespace replicad::storage
