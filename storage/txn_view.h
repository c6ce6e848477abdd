// ReadView and WriteView over one LMDB transaction.
//
// The same class serves read snapshots (ReadTxn hands out only its ReadView
// face) and the writer's nested per-job transactions.  It keeps the store's
// invariants:
//   * a mailbox name and its uniqueid map one to one (`mailboxes`, `uniqueids`);
//   * every record belongs to an existing mailbox's uniqueid;
//   * bodyrefs[guid] = number of records, in any mailbox, carrying that GUID
//     (expunged ones included: they keep their body if it is there);
//   * a body without references does not outlive the job that left it so;
//   * a user's active Sieve script (`sieve_active`) is one of the user's
//     scripts (`sieve`).
// Views returned by body() point into LMDB's map (or, in a write transaction,
// into its dirty pages) and are valid until the transaction ends or, in a
// write transaction, until its next change.
#pragma once

#include <lmdb.h>

#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

#include "storage/lmdb_support.h"
#include "storage/store.h"

namespace replicad::storage {

class TxnView final : public WriteView {
 public:
  TxnView(MDB_txn* txn, const Tables& tables) : txn_(txn), t_(tables) {}

  // ReadView
  std::optional<Mailbox> mailbox(std::string_view name) override;
  std::optional<std::string> name_of_uniqueid(std::string_view uniqueid) override;
  Status for_each_mailbox(std::string_view prefix,
                          const std::function<bool(const Mailbox&)>& fn) override;
  Status for_each_mailbox_name(std::string_view prefix,
                               const std::function<bool(std::string_view)>& fn) override;
  std::optional<MessageRecord> record(std::string_view uniqueid, uint32_t uid) override;
  Status for_each_record(std::string_view uniqueid, uint32_t first_uid,
                         const std::function<bool(const MessageRecord&)>& fn) override;
  bool has_body(const Guid& guid) override;
  std::optional<std::string_view> body(const Guid& guid) override;
  std::optional<QuotaRoot> quota(std::string_view root) override;
  Status for_each_quota(const std::function<bool(const QuotaRoot&)>& fn) override;
  std::vector<std::string> subscriptions(std::string_view userid) override;
  std::optional<SeenEntry> seen(std::string_view userid, std::string_view uniqueid) override;
  Status for_each_seen(std::string_view userid,
                       const std::function<bool(const SeenEntry&)>& fn) override;
  std::optional<SieveScript> sieve_script(std::string_view userid, std::string_view name) override;
  Status for_each_sieve_script(std::string_view userid,
                               const std::function<bool(const SieveScript&)>& fn) override;
  std::optional<std::string> active_sieve_script(std::string_view userid) override;

  // WriteView.  Beyond store.h: put_mailbox answers `exists` when the name is
  // held by another uniqueid or the uniqueid by another name (rename or delete
  // first); put_record answers `not_found` when no mailbox has the uniqueid;
  // add/remove_subscription are idempotent; the other deletes answer
  // `not_found` for something absent.
  Status put_mailbox(const Mailbox& mailbox) override;
  Status delete_mailbox(std::string_view name) override;
  Status rename_mailbox(std::string_view old_name, std::string_view new_name) override;
  Status put_record(std::string_view uniqueid, const MessageRecord& record) override;
  Status delete_record(std::string_view uniqueid, uint32_t uid) override;
  Status put_body_from_file(const Guid& guid, const std::string& path, uint64_t size,
                            uint64_t offset = 0) override;
  Status put_quota(const QuotaRoot& quota) override;
  Status delete_quota(std::string_view root) override;
  Status add_subscription(std::string_view userid, std::string_view mailbox) override;
  Status remove_subscription(std::string_view userid, std::string_view mailbox) override;
  Status put_seen(std::string_view userid, const SeenEntry& seen) override;
  Status delete_seen(std::string_view userid, std::string_view uniqueid) override;
  Status put_sieve_script(std::string_view userid, const SieveScript& script) override;
  Status delete_sieve_script(std::string_view userid, std::string_view name) override;
  Status activate_sieve_script(std::string_view userid, std::string_view name) override;
  Status deactivate_sieve_script(std::string_view userid) override;

  // For the writer, once a job's apply() succeeded: deletes the bodies the
  // job left without references.
  Status collect_unreferenced_bodies();
  // The first LMDB failure that may have left the transaction unusable
  // (LMDB then refuses to commit it, and a failed nested commit poisons its
  // parent).  A job that ignored such a failure must still be rolled back.
  const std::optional<Status>& txn_failure() const { return txn_failure_; }

  uint64_t bodies_written() const { return bodies_written_; }
  uint64_t bodies_deleted() const { return bodies_deleted_; }

 private:
  enum class Visit { next, stop, corrupt };

  // Lookups: ok, not_found, or an LMDB error (logged).
  Status get(MDB_dbi dbi, std::string_view key, std::string_view& value, std::string_view what);
  template <typename T>
  Status get_decoded(MDB_dbi dbi, std::string_view key, T& out, std::string_view what);
  template <typename T>
  std::optional<T> find_decoded(MDB_dbi dbi, std::string_view key, std::string_view what);
  // Visits, in key order, the entries at or after `from` whose key starts
  // with `prefix`.
  template <typename Visitor>
  Status scan(MDB_dbi dbi, std::string_view prefix, std::string_view from, std::string_view what,
              Visitor&& visit);

  Status put(MDB_dbi dbi, std::string_view key, std::string_view value, std::string_view what);
  Status del(MDB_dbi dbi, std::string_view key, std::string_view what);
  // Maps an LMDB result of this transaction, remembering failures that break it.
  Status checked(int rc, std::string_view what);

  // Changes bodyrefs[guid] by +1/-1; a count reaching zero marks the body
  // for collection at the end of the job.
  Status add_ref(const Guid& guid);
  Status drop_ref(const Guid& guid);
  Status ref_count(const Guid& guid, uint64_t& count);

  MDB_txn* txn_;
  Tables t_;
  std::optional<Status> txn_failure_;
  std::unordered_set<Guid, GuidHash> maybe_unreferenced_;
  uint64_t bodies_written_ = 0;
  uint64_t bodies_deleted_ = 0;
};

}  // namespace replicad::storage
