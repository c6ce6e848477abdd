// Keys of the composite tables.
//
//   records  uniqueid \0 uid(4 bytes, big endian)   ascending uid within a mailbox
//   subs     userid \0 mailbox                        a user's subscriptions, sorted
//   seen     userid \0 uniqueid                       a user's \Seen state per mailbox
//   sieve    userid \0 script name                    a user's Sieve scripts, by name
//
// The NUL separator makes "everything of one uniqueid/userid" a key prefix, so
// one cursor range visits exactly that owner's entries (without it, the
// records of "abc" and "abcd" would interleave).  Cyrus identifiers are C
// strings and never contain NUL; an identifier that does is refused here, as
// is one too long for an LMDB key (511 bytes).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace replicad::storage::keys {

// LMDB's compile-time maximum key size (mdb_env_get_maxkeysize()).
inline constexpr size_t kMaxKeySize = 511;

// Whether `id` can be the first part of a composite key: non-empty, no NUL.
bool usable_owner(std::string_view id);

// Whether `key` is a usable key of a simple (non-composite) table.
inline bool usable_simple(std::string_view key) { return !key.empty() && key.size() <= kMaxKeySize; }

// nullopt when the parts cannot form a key.
std::optional<std::string> record(std::string_view uniqueid, uint32_t uid);
std::optional<std::string> owner_item(std::string_view owner, std::string_view item);
// The common prefix of all keys of `owner` ("owner\0").
std::optional<std::string> owner_prefix(std::string_view owner);

// The uid at the end of a record key of `prefix_size` prefix bytes, or nullopt
// when the key is not exactly prefix + 4 bytes.
std::optional<uint32_t> record_uid(std::string_view key, size_t prefix_size);

}  // namespace replicad::storage::keys
