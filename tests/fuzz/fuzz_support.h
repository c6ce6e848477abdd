// What the fuzz targets share: a check that stops the run with a readable
// message (libFuzzer then saves the input as a crash), and a deterministic
// splitter that cuts an input into pieces whose sizes derive from the input.
//
// The pieces come from a hash of the whole input rather than from bytes set
// aside for the purpose, so every byte the fuzzer mutates is protocol data
// and a corpus file is exactly what a peer could send; the same input always
// splits the same way, so every finding reproduces.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace replicad::fuzz {

[[noreturn]] inline void check_failed(const char* file, int line, const char* condition,
                                      const std::string& detail) {
  std::fprintf(stderr, "\n%s:%d: check failed: %s\n  %s\n", file, line, condition, detail.c_str());
  std::abort();
}

// FUZZ_CHECK(condition, detail): `detail` is a std::string built only on failure.
#define FUZZ_CHECK(condition, detail)                                              \
  do {                                                                             \
    if (!(condition)) ::replicad::fuzz::check_failed(__FILE__, __LINE__, #condition, (detail)); \
  } while (0)

// FNV-1a over the input: the seed of everything a target derives from it.
inline uint64_t input_hash(std::string_view data) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : data) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

// splitmix64: small, fast and good enough to vary piece sizes.
class Random {
 public:
  explicit Random(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // 0 .. bound-1 (bound > 0).
  uint64_t below(uint64_t bound) { return next() % bound; }

 private:
  uint64_t state_;
};

// Cuts `data` into pieces: single bytes, short runs, medium runs and "the
// rest" in about equal measure, so both byte-at-a-time resumption and bulk
// paths get exercised within one input.
class Splitter {
 public:
  Splitter(std::string_view data, uint64_t seed) : data_(data), random_(seed) {}

  bool done() const { return data_.empty(); }
  std::string_view next() {
    size_t n = 0;
    switch (random_.below(4)) {
      case 0: n = 1; break;
      case 1: n = 1 + random_.below(16); break;
      case 2: n = 1 + random_.below(512); break;
      default: n = data_.size(); break;
    }
    n = n < data_.size() ? n : data_.size();
    std::string_view piece = data_.substr(0, n);
    data_.remove_prefix(n);
    return piece;
  }
  // A yes/no from the same stream (e.g. "let the session settle now").
  bool coin() { return random_.below(2) == 0; }

 private:
  std::string_view data_;
  Random random_;
};

// Bytes as a C-like literal for failure messages (NUL, CR, 8-bit visible).
inline std::string show(std::string_view bytes, size_t max = 400) {
  static const char* hex = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < bytes.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(bytes[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7F) {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (bytes.size() > max) out += "...";
  return out + "\"";
}

}  // namespace replicad::fuzz
