// dlist: the value language of the replication protocol (spec §2).
//
// On the wire everything is a string, a list, a key/value list, a file literal
// or NIL; the reader decides a field's type by its name when it reads it
// (spec §2.4), so this tree keeps strings as bytes and offers typed accessors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/guid.h"

namespace replicad::protocol {

// A file literal `%{partition guid size}` whose bytes went to a staging file
// while they streamed in (they never sit in memory).
struct FileRef {
  std::string partition;
  std::string guid_hex;        // as announced by the peer
  uint64_t size = 0;
  std::string path;            // staging file, empty if the bytes were discarded
  bool verified = false;       // SHA-1 of the bytes equals the announced GUID
  uint64_t offset = 0;         // where the bytes start in `path` (a session's uploads share one file)
};

struct Dlist {
  enum class Type : uint8_t { nil, string, list, kvlist, file };

  Type type = Type::nil;
  std::string name;            // the key, when this value is a kvlist member
  std::string str;             // Type::string: the bytes (atom, quoted or literal)
  std::vector<Dlist> items;    // Type::list / Type::kvlist members
  FileRef file;                // Type::file
  bool raw_flag = false;       // a flag name, written raw (`\Seen`) instead of quoted

  static Dlist nil_value(std::string key = {});
  static Dlist string_value(std::string value, std::string key = {});
  static Dlist list_value(std::string key = {});
  static Dlist kvlist_value(std::string key = {});
  static Dlist flag_value(std::string flag);

  bool is_nil() const { return type == Type::nil; }
  bool is_string() const { return type == Type::string; }
  bool is_list() const { return type == Type::list; }
  bool is_kvlist() const { return type == Type::kvlist; }
  bool is_file() const { return type == Type::file; }

  // kvlist lookup by key; the first occurrence wins (Cyrus dlist_getchild).
  const Dlist* get(std::string_view key) const;

  // Builders for replies: append a member and return it.
  Dlist& add(Dlist value);
  Dlist& add_string(std::string key, std::string value);
  Dlist& add_num(std::string key, uint64_t value);
  Dlist& add_nil(std::string key);
  Dlist& add_list(std::string key);
  Dlist& add_kvlist(std::string key);
};

// Typed readers (spec §2.4).  A value that is absent or does not convert gives
// nullopt, which the callers treat like a missing field.
std::optional<uint64_t> to_num64(const Dlist* v);      // decimal digits only
std::optional<uint32_t> to_num32(const Dlist* v);      // as num64, truncated to 32 bits (Cyrus does)
std::optional<uint64_t> to_hex64(const Dlist* v);      // hex digits, either case
std::optional<storage::Guid> to_guid(const Dlist* v);  // exactly 40 hex digits
// An atom: a string without NUL.  NIL gives an empty string with is_nil set by the caller's check.
std::optional<std::string> to_atom(const Dlist* v);
// Any string bytes (may contain NUL): annotation values, sieve scripts.
std::optional<std::string> to_buf(const Dlist* v);

}  // namespace replicad::protocol
