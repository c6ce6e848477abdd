// The binary form of the stored structs: small, explicit and versioned.
//
// Every value starts with one byte naming its layout version, followed by the
// fields in declaration order:
//   integers  fixed width, little endian (bool is one byte, 0 or 1)
//   strings   u32 length, then the raw bytes (NUL and any other byte allowed)
//   GUIDs     the 20 raw bytes
//   lists     u32 count, then the elements
// Decoding is bounds-checked throughout and strict (unknown version, a count
// larger than the remaining bytes could hold, trailing bytes): anything that
// is not exactly what encode() produces yields Errc::corrupt, never a crash.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/model.h"
#include "storage/store.h"

namespace replicad::storage::codec {

// Layout version of the whole database (stored in the `meta` table).  Bump it
// when any layout below, or the key scheme in keys.h, changes incompatibly.
inline constexpr uint32_t kFormatVersion = 1;

std::string encode(const Mailbox& mailbox);
std::string encode(const MessageRecord& record);
std::string encode(const QuotaRoot& quota);
std::string encode(const SeenEntry& seen);
std::string encode(const SieveScript& script);

Status decode(std::string_view bytes, Mailbox& out);
Status decode(std::string_view bytes, MessageRecord& out);
Status decode(std::string_view bytes, QuotaRoot& out);
Status decode(std::string_view bytes, SeenEntry& out);
Status decode(std::string_view bytes, SieveScript& out);

// A bare u64 / u32 (body reference counts, the format version).
std::string encode_u64(uint64_t value);
Status decode_u64(std::string_view bytes, uint64_t& out);
std::string encode_u32(uint32_t value);
Status decode_u32(std::string_view bytes, uint32_t& out);

}  // namespace replicad::storage::codec
