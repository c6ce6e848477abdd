// Every status_interval, on the loop thread: rewrite <datadir>/status for
// replicadctl, tell systemd a one-line STATUS=, and log progress lines while
// a sync keeps going.  Also pings systemd's watchdog from the same loop, so a
// loop that stops turning is noticed.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "server/activity.h"
#include "server/status_file.h"
#include "server/systemd.h"
#include "storage/store.h"

namespace replicad {

// What the reporter asks the rest of the daemon.
struct StatusSources {
  std::function<uint64_t()> sessions;      // connections open
  std::function<uint64_t()> connections;   // accepted since start
  std::function<storage::StoreStats()> store;
};

class StatusReporter {
 public:
  StatusReporter(uv_loop_t* loop, std::string path, std::chrono::milliseconds interval, std::string version,
                 Activity& activity, StatusSources sources, SystemdNotifier& notifier);
  ~StatusReporter();
  StatusReporter(const StatusReporter&) = delete;
  StatusReporter& operator=(const StatusReporter&) = delete;

  // The previous run's per-user history (a missing file is a first start).
  void restore_history();
  // Writes the status now and then every interval; starts the watchdog pings.
  void start();
  // Shutdown begins: the timers are closed (so they do not keep the loop
  // alive) and the status says "stopping".  Call from the loop.
  void stop();
  // After the loop has ended: the final status, "stopped".
  void write_final();

  // "2 sessions, last commit 3s ago, 12.5 applies/s": the STATUS= line.
  std::string summary() const;
  // The report as it would be written now.
  DaemonStatus snapshot(std::string_view state) const;

 private:
  void tick();
  void log_progress(const Activity::Interval& interval, double seconds);
  void write(const DaemonStatus& status);

  uv_loop_t* loop_;
  std::string path_;
  std::chrono::milliseconds interval_;
  std::string version_;
  Activity& activity_;
  StatusSources sources_;
  SystemdNotifier& notifier_;

  uv_timer_t timer_{};
  uv_timer_t watchdog_timer_{};
  bool started_ = false;
  bool stopped_ = false;
  int64_t started_time_ = 0;
  std::chrono::steady_clock::time_point last_tick_;
  double apply_rate_ = 0;
  Activity::Interval previous_;   // the interval before the last: a sync still going shows in both
  bool write_failed_ = false;     // logged once, not every interval
};

}  // namespace replicad
