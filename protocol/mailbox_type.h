// MBOXTYPE letters (spec §3.3.3; Cyrus mboxlist.c `mboxlist_string_to_mbtype`,
// `mboxlist_mbtype_to_string`, `mbtypes_sync`).
//
// The first letter is the kind (e-mail, calendar, ...), the rest are flags
// (d deleted/tombstone, i intermediate, ...).  Mailbox::mbtype keeps the
// canonical form Cyrus sends: empty for a plain e-mail folder, otherwise kind
// letter then flags in Cyrus's order, never the local-only `l`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace replicad::protocol {

// Canonical form of an MBOXTYPE value; nullopt for a letter Cyrus does not know.
std::optional<std::string> canonical_mbtype(std::string_view letters);

// The kind letter ('e' for a plain e-mail folder, 'f' for #sieve, ...).
char mbtype_kind(std::string_view canonical);
bool mbtype_has(std::string_view canonical, char flag);

inline bool mbtype_is_sieve(std::string_view canonical) { return mbtype_kind(canonical) == 'f'; }
inline bool mbtype_is_tombstone(std::string_view canonical) { return mbtype_has(canonical, 'd'); }
inline bool mbtype_is_intermediate(std::string_view canonical) { return mbtype_has(canonical, 'i'); }
// A name entry without mailbox contents: an intermediate or a tombstone.
inline bool mbtype_is_placeholder(std::string_view canonical) {
  return mbtype_is_intermediate(canonical) || mbtype_is_tombstone(canonical);
}

}  // namespace replicad::protocol
