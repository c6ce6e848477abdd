// Base64 for the AUTHENTICATE lines, through libsasl2's own coder: the decoder
// then accepts exactly what Cyrus' saslserver.c accepts.
#include <sasl/sasl.h>
#include <sasl/saslutil.h>

#include <algorithm>
#include <string>

#include "auth/sasl_server.h"

namespace replicad::auth {
namespace {

// sasl_encode64/sasl_decode64 count in `unsigned`; work in pieces well below
// that.  An encoder piece is a whole number of 3-byte groups.
constexpr size_t kEncodePiece = 3 * 16 * 1024;

// Nothing on an AUTHENTICATE line comes near this; larger input is refused
// rather than decoded.
constexpr size_t kMaxBase64Text = 16u << 20;

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string text;
  text.reserve((bytes.size() + 2) / 3 * 4);
  std::string piece_text;
  while (!bytes.empty()) {
    const std::string_view piece = bytes.substr(0, std::min(bytes.size(), kEncodePiece));
    bytes.remove_prefix(piece.size());
    // Room for the four-character groups plus the NUL sasl_encode64 writes.
    piece_text.resize((piece.size() + 2) / 3 * 4 + 1);
    unsigned written = 0;
    const int rc = sasl_encode64(piece.data(), static_cast<unsigned>(piece.size()), piece_text.data(),
                                 static_cast<unsigned>(piece_text.size()), &written);
    // Cannot fail with a buffer of the computed size; stop rather than emit
    // a wrong line if it ever did.
    if (rc != SASL_OK) return {};
    text.append(piece_text.data(), written);
  }
  return text;
}

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty()) return std::string();
  // Strict: whole four-character groups only (sasl_decode64 would report a
  // short tail as "continue"), no white space, no line breaks, `=` only as
  // the last one or two characters.
  if (text.size() % 4 != 0 || text.size() > kMaxBase64Text) return std::nullopt;
  // sasl_decode64 needs one byte more than it writes (the NUL).
  std::string bytes(text.size() / 4 * 3 + 1, '\0');
  unsigned decoded = 0;
  const int rc = sasl_decode64(text.data(), static_cast<unsigned>(text.size()), bytes.data(),
                               static_cast<unsigned>(bytes.size()), &decoded);
  if (rc != SASL_OK) return std::nullopt;
  bytes.resize(decoded);
  return bytes;
}

}  // namespace replicad::auth
