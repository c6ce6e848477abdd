// The replicadctl commands as functions: each fills a Value report (printed
// as text or JSON by the caller) and says how the command ended.  The store
// is only ever read through snapshots, so every command is safe while
// replicad runs.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "server/ctl/value.h"
#include "storage/store_reader.h"

namespace replicad::ctl {

// Exit codes: 0 fine, 1 verify found drift (or the thing asked for is not
// there), 3 replicad is not running (status), otherwise sysexits.h as the
// Cyrus tools use them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitProblems = 1;
inline constexpr int kExitNotRunning = 3;
inline constexpr int kExitUsage = 64;
inline constexpr int kExitNoInput = 66;
inline constexpr int kExitSoftware = 70;
inline constexpr int kExitCantCreate = 73;
inline constexpr int kExitIoError = 74;

struct Outcome {
  int exit_code = kExitOk;
  std::string error;  // for stderr when not empty

  static Outcome ok() { return {}; }
  static Outcome fail(int code, std::string message) { return {code, std::move(message)}; }
};

// info: store size, counts per table, format version.
Outcome info(storage::StoreReader& reader, Value& out);
// users: one row per user owning mailboxes.
Outcome users(storage::StoreReader& reader, Value& out);
// mailboxes [USER]: one row per mailbox (all of them without a user).
Outcome mailboxes(storage::StoreReader& reader, std::string_view user, Value& out);
// show MAILBOX: the header and every record; MAILBOX is an internal name or
// a uniqueid.
Outcome show(storage::StoreReader& reader, std::string_view mailbox, Value& out);
// cat GUID: the stored message bytes, unchanged.
Outcome cat(storage::StoreReader& reader, std::string_view guid, std::ostream& body);

// verify [USER]: recompute what the store keeps derived (see verify.cpp).
Outcome verify(storage::StoreReader& reader, std::string_view user, Value& out);

// backup DEST: a compacted hot copy, then opened and checked.
Outcome backup(storage::StoreReader& reader, const std::string& destination, Value& out);

// status: what the running replicad last reported in its status file
// (`status_path`, normally <datadir>/status): running or not, sessions,
// counters, and per user the last apply and failures.  Exit 3 when replicad
// is not running (or has not reported for three intervals).
Outcome status(const std::string& status_path, int64_t now, Value& out);
// metrics: the status file and the store's size and counts in Prometheus's
// text exposition format (for node_exporter's textfile collector).  Either
// source may be missing (`reader` null); replicad_up says whether the daemon is.
Outcome metrics(const std::string& status_path, storage::StoreReader* reader, int64_t now, std::string& text);

}  // namespace replicad::ctl
