// auth::base64_encode / base64_decode and the AUTHENTICATE response path.
//
// Properties of the coder, for any input bytes:
//   * encode gives 4·⌈n/3⌉ characters of the standard alphabet, padded, and
//     decode(encode(x)) == x;
//   * whatever a strict RFC 4648 decoder (below) accepts, decode accepts with
//     the same bytes (decode may accept a little more — it is libsasl2's
//     decoder, so it takes what Cyrus takes — but never less);
//   * whatever decode accepts has the length its padding implies and
//     survives another encode/decode round.
// Then the same bytes go, line by line, to a Session that runs an
// AUTHENTICATE exchange (mechanism and flavour chosen by the input's hash), as
// the initial response and as the answers to its challenges.
#include <fmt/core.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth/sasl_server.h"
#include "fuzz_support.h"
#include "fuzz_world.h"

namespace {

using replicad::fuzz::show;

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int sextet(char c) {
  auto pos = kAlphabet.find(c);
  return pos == std::string_view::npos ? -1 : static_cast<int>(pos);
}

// RFC 4648 §4, canonical only: whole groups, '=' only as the last one or two
// characters, and the bits the padding hides are zero.
std::optional<std::string> strict_decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t pad = 0;
  while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
  std::string out;
  uint32_t bits = 0;
  int nbits = 0;
  for (size_t i = 0; i < text.size() - pad; ++i) {
    int v = sextet(text[i]);
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xFF);
    }
  }
  if ((bits & ((1u << nbits) - 1)) != 0) return std::nullopt;  // non-zero hidden bits
  return out;
}

void check_coder(std::string_view data) {
  using replicad::auth::base64_decode;
  using replicad::auth::base64_encode;

  const std::string encoded = base64_encode(data);
  FUZZ_CHECK(encoded.size() == (data.size() + 2) / 3 * 4,
             fmt::format("{} bytes encode to {} characters", data.size(), encoded.size()));
  for (size_t i = 0; i < encoded.size(); ++i) {
    const bool padding = encoded[i] == '=' && i + 2 >= encoded.size();
    FUZZ_CHECK(padding || sextet(encoded[i]) >= 0, "encode wrote " + show(encoded));
  }
  auto round = base64_decode(encoded);
  FUZZ_CHECK(round && *round == data, "decode(encode(x)) != x for x = " + show(data));

  auto strict = strict_decode(data);
  auto decoded = base64_decode(data);
  if (strict) FUZZ_CHECK(decoded && *decoded == *strict, "valid base64 refused or misread: " + show(data));
  if (decoded) {
    size_t pad = data.size() >= 2 && data[data.size() - 2] == '=' ? 2 : !data.empty() && data.back() == '=' ? 1 : 0;
    FUZZ_CHECK(decoded->size() == data.size() / 4 * 3 - pad,
               fmt::format("{} decodes to {} bytes", show(data), decoded->size()));
    auto again = base64_decode(base64_encode(*decoded));
    FUZZ_CHECK(again && *again == *decoded, "a decoded value does not survive a round: " + show(data));
  }
}

// The AUTHENTICATE commands the exchange may start with.
struct Opening {
  bool imap;
  const char* command;        // without CRLF; the first input line may follow
  bool initial_response;      // the first input line is the initial response
};
constexpr std::array<Opening, 8> kOpenings = {{
    {false, "AUTHENTICATE PLAIN", true},
    {false, "AUTHENTICATE LOGIN", false},
    {false, "AUTHENTICATE SCRAM-SHA-256", true},
    {false, "AUTHENTICATE DIGEST-MD5", false},
    {true, "A01 AUTHENTICATE PLAIN", true},
    {true, "A01 AUTHENTICATE PLAIN", false},
    {true, "A01 AUTHENTICATE CRAM-MD5", false},
    {true, "A01 AUTHENTICATE SCRAM-SHA-1", true},
}};

void check_exchange(std::string_view data, uint64_t seed) {
  using replicad::fuzz::FuzzWorld;
  const Opening& opening = kOpenings[seed % kOpenings.size()];
  FuzzWorld& world = FuzzWorld::get();
  replicad::fuzz::DiscardingOutput out;
  auto session = world.open(out);

  std::string input = opening.command;
  if (opening.initial_response) {
    // The first line (up to LF) rides on the command line: no CR or LF in it.
    size_t lf = data.find_first_of("\r\n");
    input += " ";
    input += data.substr(0, lf);
    data.remove_prefix(lf == std::string_view::npos ? data.size() : lf);
  }
  input += "\r\n";
  input += data;
  input += "\r\n";

  replicad::fuzz::Splitter reads(input, seed);
  while (!reads.done()) {
    world.feed(*session, reads.next());
    FUZZ_CHECK(world.settle(*session, out), "an AUTHENTICATE step never finished");
  }
  FUZZ_CHECK(!session->busy(), "the session is busy with nothing in flight");
  FUZZ_CHECK(out.closed || out.reading, "an open session stopped reading for good");
  FUZZ_CHECK(!out.ends_mid_line, "the last bytes sent are not the end of a line");
  world.close(std::move(session));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  check_coder(data);
  check_exchange(data, replicad::fuzz::input_hash(data));
  return 0;
}
