#include "storage/group_commit.h"

#include <exception>
#include <string>
#include <utility>

#include "server/log.h"
#include "storage/txn_view.h"

namespace replicad::storage {

struct GroupCommitWriter::JobOutcome {
  Status status;
  uint64_t bodies_written = 0;
  uint64_t bodies_deleted = 0;
  // The nested commit failed; LMDB may have marked the parent unusable, so
  // the whole batch must be rolled back.
  bool batch_broken = false;
};

GroupCommitWriter::GroupCommitWriter(MDB_env* env, const Tables& tables, bool durable, Store::Post post)
    : env_(env), tables_(tables), durable_(durable), post_(std::move(post)), thread_([this] { run(); }) {}

GroupCommitWriter::~GroupCommitWriter() { shutdown(); }

void GroupCommitWriter::submit(WriteJob job) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      queue_.push_back(std::move(job));
      wake_.notify_one();
      return;
    }
  }
  jobs_.fetch_add(1, std::memory_order_relaxed);
  complete(job, Status::error(Errc::aborted, "store is shut down"));
}

void GroupCommitWriter::shutdown() {
  std::lock_guard serial(shutdown_mutex_);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  // A job calling shutdown() on the writer thread would wait for itself.
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

StoreStats GroupCommitWriter::stats() const {
  StoreStats s;
  s.commits = commits_.load(std::memory_order_relaxed);
  s.jobs = jobs_.load(std::memory_order_relaxed);
  s.syncs = syncs_.load(std::memory_order_relaxed);
  s.bodies_written = bodies_written_.load(std::memory_order_relaxed);
  s.bodies_deleted = bodies_deleted_.load(std::memory_order_relaxed);
  return s;
}

void GroupCommitWriter::run() {
  std::vector<WriteJob> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return !queue_.empty() || stopping_; });
      if (queue_.empty()) return;  // stopping, and every submitted job has run
      batch.swap(queue_);          // everything that is waiting: one commit for all
    }
    run_batch(batch);
    batch.clear();
  }
}

void GroupCommitWriter::run_batch(std::vector<WriteJob>& batch) {
  MDB_txn* parent = nullptr;
  std::vector<Status> outcomes;
  if (Status st = mdb_status(mdb_txn_begin(env_, nullptr, 0, &parent), "begin write txn"); !st) {
    outcomes.assign(batch.size(), st);
    finish(batch, outcomes);
    return;
  }

  outcomes.reserve(batch.size());
  uint64_t written = 0;
  uint64_t deleted = 0;
  bool anything_to_commit = false;
  for (WriteJob& job : batch) {
    JobOutcome outcome = run_job(parent, job);
    if (outcome.batch_broken) {
      // Jobs that already succeeded are rolled back with the parent and the
      // rest never run: none of the batch is durable, so none may report ok.
      mdb_txn_abort(parent);
      Status rolled_back = Status::error(outcome.status.code, "batch rolled back: " + outcome.status.message);
      for (Status& earlier : outcomes)
        if (earlier) earlier = rolled_back;
      outcomes.push_back(std::move(outcome.status));
      outcomes.resize(batch.size(), rolled_back);
      finish(batch, outcomes);
      return;
    }
    if (outcome.status) {
      anything_to_commit = true;
      written += outcome.bodies_written;
      deleted += outcome.bodies_deleted;
    }
    outcomes.push_back(std::move(outcome.status));
  }

  if (!anything_to_commit) {
    mdb_txn_abort(parent);
  } else if (Status st = mdb_status(mdb_txn_commit(parent), "commit"); !st) {
    // mdb_txn_commit frees the transaction even when it fails.  Nothing of
    // this batch reached the disk.
    for (Status& outcome : outcomes)
      if (outcome) outcome = st;
  } else {
    commits_.fetch_add(1, std::memory_order_relaxed);
    if (durable_) syncs_.fetch_add(1, std::memory_order_relaxed);
    bodies_written_.fetch_add(written, std::memory_order_relaxed);
    bodies_deleted_.fetch_add(deleted, std::memory_order_relaxed);
  }
  finish(batch, outcomes);
}

void GroupCommitWriter::finish(std::vector<WriteJob>& batch, std::vector<Status>& outcomes) {
  // Counters first, so whoever sees a completion also sees its commit counted.
  jobs_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (size_t i = 0; i < batch.size(); ++i) complete(batch[i], std::move(outcomes[i]));
}

GroupCommitWriter::JobOutcome GroupCommitWriter::run_job(MDB_txn* parent, WriteJob& job) {
  MDB_txn* child = nullptr;
  if (Status st = mdb_status(mdb_txn_begin(env_, parent, 0, &child), "begin nested txn"); !st)
    return {std::move(st)};

  TxnView view(child, tables_);
  Status st;
  try {
    st = job.apply ? job.apply(view) : Status::success();
    if (st) st = view.collect_unreferenced_bodies();
  } catch (const std::exception& e) {
    st = Status::error(Errc::io_error, fmt::format("write job threw: {}", e.what()));
    log::error("IOERROR: {}", st.message);
  } catch (...) {
    st = Status::error(Errc::io_error, "write job threw a non-standard exception");
    log::error("IOERROR: {}", st.message);
  }
  // A job may have carried on after an LMDB failure; LMDB would refuse the
  // nested commit and poison the parent with it.  Roll the job back instead.
  if (st && view.txn_failure()) st = *view.txn_failure();
  if (!st) {
    mdb_txn_abort(child);
    return {std::move(st)};
  }
  if (Status committed = mdb_status(mdb_txn_commit(child), "commit nested txn"); !committed)
    return {std::move(committed), 0, 0, true};
  return {Status::success(), view.bodies_written(), view.bodies_deleted()};
}

void GroupCommitWriter::complete(WriteJob& job, Status status) {
  if (!job.done) return;
  if (!post_) {  // no loop to hand it to: run it here
    job.done(std::move(status));
    return;
  }
  post_([done = std::move(job.done), status = std::move(status)]() { done(status); });
}

}  // namespace replicad::storage
