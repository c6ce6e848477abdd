#include "protocol/mailbox_type.h"

#include <cstdint>

namespace replicad::protocol {
namespace {

// Cyrus's bits, only to put the letters back in its order.
enum Bits : uint32_t {
  kDeleted = 1u << 0,
  kMoving = 1u << 1,
  kRemote = 1u << 2,
  kReserve = 1u << 3,
  kIntermediate = 1u << 4,
};

struct FlagLetter {
  uint32_t bit;
  char letter;
};
// The order mboxlist_mbtype_to_string writes them in.
constexpr FlagLetter kFlagOrder[] = {
    {kDeleted, 'd'}, {kMoving, 'm'}, {kRemote, 'r'}, {kReserve, 'z'}, {kIntermediate, 'i'}};

bool is_kind_letter(char c) {
  switch (c) {
    case 'a': case 'b': case 'c': case 'e': case 'n': case 'p': case 's': return true;
    default: return false;
  }
}

}  // namespace

std::optional<std::string> canonical_mbtype(std::string_view letters) {
  char kind = 'e';
  size_t i = 0;
  // The kind is always the first letter; a bare flag string is a legacy
  // e-mail entry.  'f' (Sieve) is read as a flag by Cyrus but is a kind.
  if (!letters.empty() && is_kind_letter(letters[0])) {
    kind = letters[0];
    i = 1;
  }
  uint32_t flags = 0;
  for (; i < letters.size(); ++i) {
    switch (letters[i]) {
      case 'd': flags |= kDeleted; break;
      case 'm': flags |= kMoving; break;
      case 'r': flags |= kRemote; break;
      case 'z': flags |= kReserve; break;
      case 'i': flags |= kIntermediate; break;
      case 'f': kind = 'f'; break;
      case 'l': break;  // legacy directory layout: local to the master, never synced
      default: return std::nullopt;
    }
  }
  if (kind == 'e' && flags == 0) return std::string();
  std::string out(1, kind);
  for (const FlagLetter& f : kFlagOrder)
    if (flags & f.bit) out.push_back(f.letter);
  return out;
}

char mbtype_kind(std::string_view canonical) {
  return canonical.empty() ? 'e' : canonical[0];
}

bool mbtype_has(std::string_view canonical, char flag) {
  return canonical.size() > 1 && canonical.substr(1).find(flag) != std::string_view::npos;
}

}  // namespace replicad::protocol
