// backup: a hot copy of the store that is consistent by construction.
//
// LMDB copies from one read transaction, so the copy is exactly the store as
// of one committed write transaction, whatever replicad commits meanwhile;
// MDB_CP_COMPACT leaves free pages out and renumbers the rest, so the copy
// is as small as the data.  The copy is then opened like any store, which
// proves it readable; `replicadctl --store DEST verify` checks it fully.
#include <fmt/core.h>

#include <chrono>

#include "server/ctl/commands.h"

namespace replicad::ctl {

Outcome backup(storage::StoreReader& reader, const std::string& destination, Value& out) {
  storage::StoreInfo before;
  if (storage::Status st = reader.info(before); !st)
    return Outcome::fail(kExitIoError, "cannot read the store: " + st.message);
  auto started = std::chrono::steady_clock::now();
  if (storage::Status st = reader.copy_compacted(destination); !st)
    return Outcome::fail(st.code == storage::Errc::exists ? kExitCantCreate : kExitIoError,
                         "backup failed: " + st.message);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  storage::Status st;
  auto copy = storage::StoreReader::open(destination, st);
  storage::StoreInfo after;
  if (copy) st = copy->info(after);
  if (!copy || !st) return Outcome::fail(kExitIoError, fmt::format("the copy in {} does not open: {}", destination, st.message));

  out = Value::object();
  out.set("destination", destination);
  out.set("source_file_bytes", before.file_bytes);
  out.set("copy_file_bytes", after.file_bytes);
  out.set("last_txnid", after.last_txnid);
  out.set("format_version", after.format_version);
  for (const auto& t : after.tables)
    if (t.name == "mailboxes" || t.name == "records" || t.name == "bodies") out.set(t.name, t.entries);
  out.set("seconds", seconds);
  return Outcome::ok();
}

}  // namespace replicad::ctl
