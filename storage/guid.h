// A message GUID: the SHA-1 of the exact bytes of a message file (spec §7).
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace replicad::storage {

struct Guid {
  std::array<uint8_t, 20> bytes{};

  // Exactly 40 hex digits (either case); anything else is not a GUID.
  static std::optional<Guid> from_hex(std::string_view hex);
  // 40 lower-case hex digits, the wire form.
  std::string hex() const;
  // The all-zero GUID means "no GUID" (sieve .bc entries).
  bool is_null() const;
  std::string_view raw() const { return {reinterpret_cast<const char*>(bytes.data()), bytes.size()}; }

  auto operator<=>(const Guid&) const = default;
};

struct GuidHash {
  size_t operator()(const Guid& g) const noexcept {
    size_t h;
    static_assert(sizeof(h) <= sizeof(g.bytes));
    __builtin_memcpy(&h, g.bytes.data(), sizeof(h));  // already uniformly distributed
    return h;
  }
};

// Incremental SHA-1, fed while a file literal streams in.
class Sha1Stream {
 public:
  Sha1Stream();
  ~Sha1Stream();
  Sha1Stream(const Sha1Stream&) = delete;
  Sha1Stream& operator=(const Sha1Stream&) = delete;

  void update(std::span<const char> bytes);
  Guid finish();  // resets the stream for reuse

 private:
  struct State;
  std::unique_ptr<State> state_;
};

Guid sha1_of(std::string_view bytes);

}  // namespace replicad::storage
