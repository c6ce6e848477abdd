#include "server/activity.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace replicad {

Activity::Activity(size_t max_users, WallClock clock)
    : max_users_(std::max<size_t>(max_users, 1)), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return static_cast<int64_t>(std::time(nullptr)); };
}

UserActivity& Activity::user(const std::string& name) {
  auto it = users_.find(name);
  if (it != users_.end()) return it->second;
  if (users_.size() >= max_users_) {
    auto idlest = std::min_element(users_.begin(), users_.end(), [](const auto& a, const auto& b) {
      return a.second.last_apply_time < b.second.last_apply_time;
    });
    users_.erase(idlest);
  }
  UserActivity& u = users_[name];
  u.user = name;
  return u;
}

void Activity::on_sync_command(const protocol::SyncEvent& e) {
  bool ok = e.status.rfind("OK", 0) == 0;
  ++totals_.commands;
  if (e.verb == "GET") {
    ++totals_.gets;
    if (!ok) ++totals_.get_failures;
    return;
  }
  if (e.verb != "APPLY") return;

  ++totals_.applies;
  if (!ok) ++totals_.apply_failures;
  totals_.messages += e.messages;
  totals_.message_bytes += e.message_bytes;
  int64_t now = clock_();
  if (e.committed) {
    totals_.last_commit_time = now;
    totals_.apply_latency.observe(std::chrono::duration<double>(e.elapsed).count());
  }
  interval_.total.applies += 1;
  interval_.total.messages += e.messages;
  interval_.total.message_bytes += e.message_bytes;
  if (e.user.empty()) return;

  UserActivity& u = user(std::string(e.user));
  u.last_apply_time = now;
  u.last_command = "APPLY " + std::string(e.kind);
  u.last_result = std::string(e.status);
  ++u.applies;
  u.messages += e.messages;
  u.message_bytes += e.message_bytes;
  if (ok) {
    u.last_success_time = now;
  } else {
    ++u.failures;
    u.last_failure_time = now;
  }
  Progress& p = interval_.users[u.user];
  p.applies += 1;
  p.messages += e.messages;
  p.message_bytes += e.message_bytes;
}

void Activity::restore(const std::vector<UserActivity>& users) {
  for (const UserActivity& previous : users) {
    if (previous.user.empty()) continue;
    user(previous.user) = previous;
  }
}

void Activity::report(DaemonStatus& s) const {
  s.commands = totals_.commands;
  s.applies = totals_.applies;
  s.apply_failures = totals_.apply_failures;
  s.gets = totals_.gets;
  s.get_failures = totals_.get_failures;
  s.messages = totals_.messages;
  s.message_bytes = totals_.message_bytes;
  s.last_commit_time = totals_.last_commit_time;
  s.apply_latency = totals_.apply_latency;
  s.users.clear();
  s.users.reserve(users_.size());
  for (const auto& [name, u] : users_) s.users.push_back(u);
  std::sort(s.users.begin(), s.users.end(), [](const UserActivity& a, const UserActivity& b) { return a.user < b.user; });
}

Activity::Interval Activity::take_interval() {
  Interval out = std::move(interval_);
  interval_ = Interval{};
  return out;
}

}  // namespace replicad
