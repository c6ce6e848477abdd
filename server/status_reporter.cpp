#include "server/status_reporter.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "server/log.h"

namespace replicad {
namespace {

// Progress lines per interval; more active users are summed up in one line.
constexpr size_t kMaxProgressLines = 20;

int64_t unix_now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string ago(int64_t then, int64_t now) {
  if (then <= 0) return "never";
  int64_t s = std::max<int64_t>(now - then, 0);
  if (s < 120) return fmt::format("{}s ago", s);
  if (s < 7200) return fmt::format("{}m ago", s / 60);
  return fmt::format("{}h ago", s / 3600);
}

}  // namespace

StatusReporter::StatusReporter(uv_loop_t* loop, std::string path, std::chrono::milliseconds interval,
                               std::string version, Activity& activity, StatusSources sources,
                               SystemdNotifier& notifier)
    : loop_(loop),
      path_(std::move(path)),
      interval_(std::max(interval, std::chrono::milliseconds(100))),
      version_(std::move(version)),
      activity_(activity),
      sources_(std::move(sources)),
      notifier_(notifier),
      started_time_(unix_now()),
      last_tick_(std::chrono::steady_clock::now()) {}

StatusReporter::~StatusReporter() = default;

void StatusReporter::restore_history() {
  if (::access(path_.c_str(), F_OK) != 0) return;  // the first start
  DaemonStatus previous;
  std::string error;
  if (!read_status_file(path_, previous, error)) {
    log::warning("status: previous history not used: {}", error);
    return;
  }
  activity_.restore(previous.users);
  log::info("status: {} users' history read from {}", previous.users.size(), path_);
}

void StatusReporter::start() {
  if (started_) return;
  started_ = true;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  auto period = static_cast<uint64_t>(interval_.count());
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<StatusReporter*>(t->data)->tick(); }, period, period);
  // The status must exist as soon as the daemon is up, not one interval later.
  write(snapshot("running"));

  uv_timer_init(loop_, &watchdog_timer_);
  watchdog_timer_.data = this;
  auto watchdog = notifier_.watchdog_interval();
  if (watchdog.count() > 0) {
    // Half the timeout, as sd_watchdog_enabled(3) advises.
    auto every = static_cast<uint64_t>(std::max<int64_t>(watchdog.count() / 2000, 1));
    uv_timer_start(&watchdog_timer_, [](uv_timer_t* t) { static_cast<StatusReporter*>(t->data)->notifier_.watchdog(); },
                   0, every);
    log::info("systemd watchdog: pinging every {}ms", every);
  }
}

void StatusReporter::stop() {
  if (stopped_) return;
  stopped_ = true;
  write(snapshot("stopping"));
  if (!started_) return;
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&watchdog_timer_), nullptr);
}

void StatusReporter::write_final() { write(snapshot("stopped")); }

DaemonStatus StatusReporter::snapshot(std::string_view state) const {
  DaemonStatus s;
  s.pid = ::getpid();
  s.version = version_;
  s.state = std::string(state);
  s.started_time = started_time_;
  s.written_time = unix_now();
  s.interval_ms = interval_.count();
  if (sources_.sessions) s.sessions = sources_.sessions();
  if (sources_.connections) s.connections = sources_.connections();
  activity_.report(s);
  log::PrefixCounts errors = log::prefix_counts();
  s.ioerrors = errors.ioerrors;
  s.syncerrors = errors.syncerrors;
  if (sources_.store) {
    storage::StoreStats st = sources_.store();
    s.commits = st.commits;
    s.fsyncs = st.syncs;
    s.store_jobs = st.jobs;
    s.bodies_written = st.bodies_written;
    s.bodies_deleted = st.bodies_deleted;
  }
  s.apply_rate = apply_rate_;
  return s;
}

std::string StatusReporter::summary() const {
  uint64_t sessions = sources_.sessions ? sources_.sessions() : 0;
  DaemonStatus s;
  activity_.report(s);
  return fmt::format("{} session{}, last commit {}, {:.1f} applies/s", sessions, sessions == 1 ? "" : "s",
                     ago(s.last_commit_time, unix_now()), apply_rate_);
}

void StatusReporter::tick() {
  auto now = std::chrono::steady_clock::now();
  double seconds = std::max(std::chrono::duration<double>(now - last_tick_).count(), 0.001);
  last_tick_ = now;
  Activity::Interval interval = activity_.take_interval();
  apply_rate_ = static_cast<double>(interval.total.applies) / seconds;
  log_progress(interval, seconds);
  previous_ = std::move(interval);
  write(snapshot("running"));
  notifier_.status(summary());
}

// A sync that spans more than one interval gets a line per interval and
// user: what was applied since the last line, and at what rate.  Short runs
// (most of them) are covered by the per-command lines alone.
void StatusReporter::log_progress(const Activity::Interval& interval, double seconds) {
  size_t lines = 0;
  Activity::Progress rest;
  size_t rest_users = 0;
  for (const auto& [user, p] : interval.users) {
    if (previous_.users.count(user) == 0) continue;
    if (lines < kMaxProgressLines) {
      ++lines;
      log::info("progress user={} applies=+{} messages=+{} bytes=+{} rate={:.1f}/s", user, p.applies, p.messages,
                p.message_bytes, static_cast<double>(p.applies) / seconds);
    } else {
      ++rest_users;
      rest.applies += p.applies;
      rest.messages += p.messages;
      rest.message_bytes += p.message_bytes;
    }
  }
  if (rest_users > 0)
    log::info("progress users=+{} more applies=+{} messages=+{} bytes=+{}", rest_users, rest.applies, rest.messages,
              rest.message_bytes);
}

void StatusReporter::write(const DaemonStatus& status) {
  std::string error;
  if (write_status_file(path_, status, error)) {
    if (write_failed_) log::notice("status: {} written again", path_);
    write_failed_ = false;
    return;
  }
  if (!write_failed_) log::error("IOERROR: status: {}", error);
  write_failed_ = true;
}

}  // namespace replicad
