// What replicad has been doing: counters since start, APPLY latencies and,
// per replicated user, the last apply and its outcome.  Fed by the sync core
// (SyncObserver) on the loop thread and read there by the status reporter,
// so it needs no lock.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "protocol/sync_core.h"
#include "server/status_file.h"

namespace replicad {

class Activity final : public protocol::SyncObserver {
 public:
  using WallClock = std::function<int64_t()>;  // Unix seconds

  // At most `max_users` users are remembered; the one idle longest is
  // forgotten first (a replica of a few hundred thousand users stays within
  // a few tens of MiB).
  explicit Activity(size_t max_users = 200000, WallClock clock = {});

  void on_sync_command(const protocol::SyncEvent& event) override;

  // Per-user history from the previous run's status file.
  void restore(const std::vector<UserActivity>& users);
  // Counters, latencies and users (in userid order) into `status`.
  void report(DaemonStatus& status) const;

  // What happened since the previous call, per user and in all: the status
  // reporter's apply rate and progress lines.
  struct Progress {
    uint64_t applies = 0;
    uint64_t messages = 0;
    uint64_t message_bytes = 0;
  };
  struct Interval {
    Progress total;
    std::map<std::string, Progress> users;
  };
  Interval take_interval();

 private:
  UserActivity& user(const std::string& name);

  size_t max_users_;
  WallClock clock_;
  DaemonStatus totals_;  // only the counter fields and apply_latency are used
  std::unordered_map<std::string, UserActivity> users_;
  Interval interval_;
};

}  // namespace replicad
