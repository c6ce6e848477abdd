// Expiry of delayed-delete mailboxes (spec §3.4, §9.5).
//
// With Cyrus's default `delete_mode: delayed` a user's DELETE reaches the
// replica as a RENAME into `[<domain>!]DELETED.<name>.<hex time>`.  The
// master later removes its own copy (`cyr_expire -D`) and leaves no
// tombstone, so sync_client never tells the replica: a Cyrus replica runs
// cyr_expire itself, and replicad runs this.  A removed mailbox takes its
// records with it, and the store drops every message body no other record
// uses (in the same transaction).
//
// The age must be at least the master's `cyr_expire -D` age: a DELETED
// mailbox the master still has and the replica no longer has is uploaded
// again by the next `sync_client -u/-A`.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "storage/store.h"

namespace replicad::protocol {

// The deletion time a delayed-delete name carries in its last component
// (Cyrus mboxname_todeleted writes time() as "%X"); nullopt for a name that
// is not [<domain>!]DELETED.<...>.<hex>.
std::optional<uint64_t> deleted_mailbox_time(std::string_view mailbox);

struct ExpiryReport {
  size_t mailboxes = 0;   // removed
  uint64_t records = 0;   // records they held
  size_t failed = 0;      // mailboxes whose write job failed (tried again next run)
};

class DeletedExpiry {
 public:
  // Mailboxes per write job: a bound on one transaction, and on how long
  // other writers wait behind it.
  static constexpr size_t kBatch = 32;

  DeletedExpiry(storage::Store& store, uint64_t max_age_seconds, std::string log_id = "expire");

  // Finds the DELETED mailboxes whose deletion time is at least the age
  // before `now` (a read snapshot, names only), then removes them through
  // the store's writer.  `done` runs once with the totals, on the thread the
  // store completes jobs on (right away when there is nothing to do).  A run
  // asked for while one is in progress is skipped (done is not called).
  void run(uint64_t now, std::function<void(const ExpiryReport&)> done = {});
  bool running() const { return *running_; }
  uint64_t max_age() const { return max_age_; }

 private:
  storage::Store& store_;
  uint64_t max_age_;
  std::string log_id_;
  // Shared with the completions of jobs in flight.
  std::shared_ptr<bool> running_ = std::make_shared<bool>(false);
};

}  // namespace replicad::protocol
