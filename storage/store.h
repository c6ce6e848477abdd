// The mailbox store: one LMDB environment under the data directory.
//
// This is the only interface the rest of replicad sees of storage.  Reads run
// anywhere through a ReadTxn (an LMDB read transaction: a consistent snapshot,
// cheap, safe to use on the event-loop thread).  Writes run only on the store's
// own writer thread: callers hand it a WriteJob and get the completion back on
// their own thread, after the transaction is committed *and durable*.
//
// Group commit: the writer takes every job that is waiting when it starts a
// transaction, runs each in a nested transaction (so one failing job leaves no
// trace and does not disturb the others), commits once, syncs once, then
// completes them all.
//
// Message bodies are stored once per GUID (single instance across mailboxes
// and users) with a reference count that changes in the same transaction as the
// records that use them; a body whose count drops to zero is deleted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "storage/guid.h"
#include "storage/model.h"

namespace replicad::storage {

// Errors are values on the data path.  The sync core maps them onto Cyrus's
// reply strings.
enum class Errc {
  ok = 0,
  not_found,
  exists,
  map_full,      // LMDB map (or the disk) is full
  io_error,      // anything else from LMDB or the file system
  corrupt,       // a stored value that does not decode
  aborted,       // the job asked to roll back (its own logic decided so)
};

struct Status {
  Errc code = Errc::ok;
  std::string message;  // for logs, never shown to the client verbatim

  bool ok() const { return code == Errc::ok; }
  explicit operator bool() const { return ok(); }
  static Status success() { return {}; }
  static Status error(Errc c, std::string msg) { return {c, std::move(msg)}; }
};

struct StoreOptions {
  std::string directory;                    // holds data.mdb/lock.mdb
  uint64_t map_size = uint64_t{64} << 30;   // LMDB map size (virtual, the file grows)
  unsigned max_readers = 256;
  bool durable = true;                      // false only for tests/benchmarks: no fsync
};

// Counters for logs and metrics; read from any thread.
struct StoreStats {
  uint64_t commits = 0;        // durable transactions
  uint64_t jobs = 0;           // jobs completed (ok or not)
  uint64_t syncs = 0;          // fsyncs issued by commits
  uint64_t bodies_written = 0;
  uint64_t bodies_deleted = 0;
};

// Read access; valid until the transaction it belongs to ends.  Views of
// bodies point into LMDB's map and die with the transaction too.
class ReadView {
 public:
  virtual ~ReadView() = default;

  virtual std::optional<Mailbox> mailbox(std::string_view name) = 0;
  // The name currently holding this uniqueid, if any.
  virtual std::optional<std::string> name_of_uniqueid(std::string_view uniqueid) = 0;
  // Mailboxes whose name starts with `prefix`, in name order; stop when fn returns false.
  virtual Status for_each_mailbox(std::string_view prefix,
                                  const std::function<bool(const Mailbox&)>& fn) = 0;
  // Only their names (no header is decoded: cheap enough to walk every
  // mailbox); a view is valid during its call only.
  virtual Status for_each_mailbox_name(std::string_view prefix,
                                       const std::function<bool(std::string_view)>& fn) = 0;

  virtual std::optional<MessageRecord> record(std::string_view uniqueid, uint32_t uid) = 0;
  // Records of a mailbox (by uniqueid) with uid >= first_uid, ascending.
  virtual Status for_each_record(std::string_view uniqueid, uint32_t first_uid,
                                 const std::function<bool(const MessageRecord&)>& fn) = 0;

  virtual bool has_body(const Guid& guid) = 0;
  virtual std::optional<std::string_view> body(const Guid& guid) = 0;

  virtual std::optional<QuotaRoot> quota(std::string_view root) = 0;
  virtual Status for_each_quota(const std::function<bool(const QuotaRoot&)>& fn) = 0;

  // Internal mailbox names the user is subscribed to, sorted.
  virtual std::vector<std::string> subscriptions(std::string_view userid) = 0;
  virtual std::optional<SeenEntry> seen(std::string_view userid, std::string_view uniqueid) = 0;
  virtual Status for_each_seen(std::string_view userid,
                               const std::function<bool(const SeenEntry&)>& fn) = 0;

  // A user's Sieve scripts (GUIDs filled in), one by name or all in name
  // order, and the name of the one that is active, if any.
  virtual std::optional<SieveScript> sieve_script(std::string_view userid, std::string_view name) = 0;
  virtual Status for_each_sieve_script(std::string_view userid,
                                       const std::function<bool(const SieveScript&)>& fn) = 0;
  virtual std::optional<std::string> active_sieve_script(std::string_view userid) = 0;
};

// Write access, only inside a WriteJob on the writer thread.
class WriteView : public ReadView {
 public:
  // Creates or replaces the mailbox header (keyed by name) and keeps the
  // uniqueid index in step.  Records are keyed by uniqueid, so they follow.
  virtual Status put_mailbox(const Mailbox& mailbox) = 0;
  // Removes header, uniqueid index entry, every record (dropping body refs)
  // and nothing else (subscriptions/seen belong to users).
  virtual Status delete_mailbox(std::string_view name) = 0;
  // Moves the header to a new name (uniqueid and records unchanged).
  virtual Status rename_mailbox(std::string_view old_name, std::string_view new_name) = 0;

  // Inserts or replaces a record; body references follow the GUID: a new
  // record (or a changed GUID) takes a reference, the replaced one drops its own.
  // Storing a record whose body is absent is allowed only for expunged records.
  virtual Status put_record(std::string_view uniqueid, const MessageRecord& record) = 0;
  virtual Status delete_record(std::string_view uniqueid, uint32_t uid) = 0;

  // Copies a verified staged message -- `size` bytes at `offset` of the
  // file `path` -- into the body table unless the GUID is already stored.
  // The body has no references until a record takes one; a body left
  // without references at the end of the job is deleted.
  virtual Status put_body_from_file(const Guid& guid, const std::string& path, uint64_t size,
                                    uint64_t offset = 0) = 0;

  virtual Status put_quota(const QuotaRoot& quota) = 0;
  virtual Status delete_quota(std::string_view root) = 0;
  virtual Status add_subscription(std::string_view userid, std::string_view mailbox) = 0;
  virtual Status remove_subscription(std::string_view userid, std::string_view mailbox) = 0;
  virtual Status put_seen(std::string_view userid, const SeenEntry& seen) = 0;
  // Removes a user's seen entry for one mailbox (APPLY UNUSER); not_found if
  // there is none.
  virtual Status delete_seen(std::string_view userid, std::string_view uniqueid) = 0;

  // Stores or replaces a user's script; the store computes its GUID from
  // the content.  An active script stays active when replaced.
  virtual Status put_sieve_script(std::string_view userid, const SieveScript& script) = 0;
  // Removes a script, and the user's activation with it if it was the
  // active one; not_found if the user has no such script.
  virtual Status delete_sieve_script(std::string_view userid, std::string_view name) = 0;
  // Makes an existing script the user's only active one; not_found if the
  // user has no script of that name.
  virtual Status activate_sieve_script(std::string_view userid, std::string_view name) = 0;
  // Leaves the user without an active script; not_found if none was active.
  virtual Status deactivate_sieve_script(std::string_view userid) = 0;
};

// An open read transaction; ends when destroyed.
class ReadTxn {
 public:
  virtual ~ReadTxn() = default;
  virtual ReadView& view() = 0;
};

struct WriteJob {
  // Runs on the writer thread inside its own nested transaction.  Returning a
  // non-ok Status rolls back exactly this job's changes.
  std::function<Status(WriteView&)> apply;
  // Runs on the thread that owns `post` (see Store::open) once the outcome is
  // final: ok only if the job's changes are committed and synced.
  std::function<void(Status)> done;
};

class Store {
 public:
  // `post` hands a completion to the caller's thread (the server wraps a
  // uv_async_t); it must be callable from any thread.
  using Post = std::function<void(std::function<void()>)>;

  static std::unique_ptr<Store> open(const StoreOptions& options, Post post, Status& status);
  virtual ~Store() = default;

  virtual std::unique_ptr<ReadTxn> begin_read() = 0;
  virtual void submit(WriteJob job) = 0;
  // Stops the writer after finishing the jobs already submitted.
  virtual void shutdown() = 0;
  virtual StoreStats stats() const = 0;
};

}  // namespace replicad::storage
