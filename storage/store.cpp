// Store::open and the LMDB-backed Store: the environment, read snapshots and
// the writer thread (group_commit.h) that owns every write.
#include "storage/store.h"

#include <lmdb.h>

#include <system_error>

#include "server/log.h"
#include "storage/group_commit.h"
#include "storage/lmdb_env.h"
#include "storage/txn_view.h"

namespace replicad::storage {
namespace {

class LmdbReadTxn final : public ReadTxn {
 public:
  LmdbReadTxn(MDB_txn* txn, const Tables& tables) : txn_(txn), view_(txn, tables) {}
  ~LmdbReadTxn() override { mdb_txn_abort(txn_); }  // read-only: abort just releases the snapshot
  LmdbReadTxn(const LmdbReadTxn&) = delete;
  LmdbReadTxn& operator=(const LmdbReadTxn&) = delete;

  ReadView& view() override { return view_; }

 private:
  MDB_txn* txn_;
  TxnView view_;
};

class LmdbStore final : public Store {
 public:
  LmdbStore(MDB_env* env, const Tables& tables, bool durable, Post post)
      : env_(env), tables_(tables), writer_(env, tables, durable, std::move(post)) {}

  // Read transactions must all have ended: LMDB frees their slots with the
  // environment.
  ~LmdbStore() override {
    writer_.shutdown();
    mdb_env_close(env_);
  }

  std::unique_ptr<ReadTxn> begin_read() override {
    MDB_txn* txn = nullptr;
    // MDB_NOTLS (set on the environment) lets this thread hold several.
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc == MDB_READERS_FULL) {
      // Slots of dead processes may be what fills the table; free them and retry once.
      int dead = 0;
      if (mdb_reader_check(env_, &dead) == MDB_SUCCESS && dead > 0)
        rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    }
    // nullptr (logged as IOERROR) when no snapshot can be had.
    if (!mdb_status(rc, "begin read txn")) return nullptr;
    return std::make_unique<LmdbReadTxn>(txn, tables_);
  }

  void submit(WriteJob job) override { writer_.submit(std::move(job)); }
  void shutdown() override { writer_.shutdown(); }
  StoreStats stats() const override { return writer_.stats(); }

 private:
  MDB_env* env_;
  Tables tables_;
  GroupCommitWriter writer_;
};

}  // namespace

std::unique_ptr<Store> Store::open(const StoreOptions& options, Post post, Status& status) {
  MDB_env* env = nullptr;
  Tables tables;
  status = open_environment(options, env, tables);
  if (!status) return nullptr;
  try {
    auto store = std::make_unique<LmdbStore>(env, tables, options.durable, std::move(post));
    log::info("store: opened {} (durable={})", options.directory, options.durable);
    return store;
  } catch (const std::system_error& e) {  // the writer thread could not start
    mdb_env_close(env);
    status = Status::error(Errc::io_error, fmt::format("cannot start the store writer: {}", e.what()));
    log::error("IOERROR: {}", status.message);
    return nullptr;
  }
}

}  // namespace replicad::storage
