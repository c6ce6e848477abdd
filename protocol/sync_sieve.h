// Sieve scripts on the wire when SIEVE-MAILBOX is not enabled (spec §3.9,
// §4.1, §4.10; Cyrus sync_support.c `sync_sieve_upload`, `sync_sieve_delete`,
// `sync_sieve_activate`, `sync_sieve_list_generate`, `sync_get_sieve`).
//
// Cyrus names a script's file "<name>.script" and its compiled bytecode
// "<name>.bc"; the protocol speaks in those file names.  A replica reports
// every script as "<name>.script" with the SHA-1 of its bytes, and the active
// one a second time as "<name>.bc" with an all-zero GUID: that entry is how
// the client learns which script is active.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "storage/store.h"

namespace replicad::protocol {

inline constexpr std::string_view kSieveScriptSuffix = ".script";
inline constexpr std::string_view kSieveBytecodeSuffix = ".bc";

// Bounds on what the replica stores.  Cyrus's own limit is sieve_maxscriptsize
// (32 KiB by default, enforced by timsieved on the master); this is far
// above any configured value yet keeps one script from taking the store.
inline constexpr size_t kMaxSieveScriptBytes = size_t{16} << 20;
// Script file names are file names on a Cyrus master (NAME_MAX).
inline constexpr size_t kMaxSieveFileName = 255;

// What a FILENAME names, decided as Cyrus does by its last '.'.
struct SieveFileName {
  enum class Kind { script, bytecode, other };
  Kind kind = Kind::other;
  std::string script;  // the script name (file name without its suffix), for script/bytecode
};
SieveFileName parse_sieve_file_name(std::string_view filename);

// The script ACTIVATE_SIEVE names: Cyrus strips the last three characters
// (".bc") without looking at them.
std::string activated_script_name(std::string_view filename);

// Appends the `* SIEVE` lines of GET USER / GET META for a user: each script
// as `%(FILENAME <name>.script LAST_UPDATE t GUID sha1 ISACTIVE 0)`, the
// active one followed by `%(FILENAME <name>.bc LAST_UPDATE 0 GUID 0...0
// ISACTIVE 1)`.  Scripts in name order.
storage::Status write_sieve_lines(storage::ReadView& view, std::string_view userid, std::string& out);

}  // namespace replicad::protocol
