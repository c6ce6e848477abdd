// The store's writer thread: the only place write transactions happen.
//
// LMDB allows one write transaction at a time, bound to its thread, and every
// commit costs an fsync.  So callers never write: they queue a WriteJob and
// the writer runs whatever has queued up meanwhile as one batch -- one parent
// transaction, each job in its own nested transaction (a failing job is
// rolled back alone), one commit, one fsync -- and only then reports each
// job's outcome through `post`.  Under load many jobs share one fsync; when
// idle a lone job commits at once.
#pragma once

#include <lmdb.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "storage/lmdb_support.h"
#include "storage/store.h"

namespace replicad::storage {

class GroupCommitWriter {
 public:
  // Starts the thread (std::system_error if it cannot be started).  `env`
  // must stay open until shutdown() has returned.
  GroupCommitWriter(MDB_env* env, const Tables& tables, bool durable, Store::Post post);
  ~GroupCommitWriter();
  GroupCommitWriter(const GroupCommitWriter&) = delete;
  GroupCommitWriter& operator=(const GroupCommitWriter&) = delete;

  // Thread-safe; takes a mutex only.  After shutdown() the job is answered
  // at once with Errc::aborted.
  void submit(WriteJob job);
  // Runs every job submitted so far, then joins the thread.  Idempotent.
  void shutdown();
  StoreStats stats() const;

 private:
  struct JobOutcome;

  void run();
  void run_batch(std::vector<WriteJob>& batch);
  JobOutcome run_job(MDB_txn* parent, WriteJob& job);
  // Counts the batch's jobs and hands each its outcome.
  void finish(std::vector<WriteJob>& batch, std::vector<Status>& outcomes);
  void complete(WriteJob& job, Status status);

  MDB_env* env_;
  Tables tables_;
  bool durable_;
  Store::Post post_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<WriteJob> queue_;  // guarded by mutex_
  bool stopping_ = false;        // guarded by mutex_
  std::mutex shutdown_mutex_;    // serialises shutdown() callers around join()

  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> jobs_{0};
  std::atomic<uint64_t> syncs_{0};
  std::atomic<uint64_t> bodies_written_{0};
  std::atomic<uint64_t> bodies_deleted_{0};

  std::thread thread_;  // last: starts once everything above is initialised
};

}  // namespace replicad::storage
