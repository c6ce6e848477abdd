// The running daemon's state for replicadctl (`status`, `metrics`):
// <datadir>/status, a small text file replicad rewrites every few seconds
// (status_interval) and once more when it stops.
//
// Why a file and not a table in the store: everything here is process state
// (open sessions, counters since start, latencies) that the store's
// transactions have no business carrying, and a write job per status update
// would cost an fsync.  The per-user part (last apply, failures) is read back
// when replicad starts, so it survives restarts; a crash loses at most one
// interval of it.  The file is replaced atomically (write, then rename), so a
// reader never sees half of it.
//
// Format, one item per line, strings percent-encoded (space, '%', '=' and
// bytes outside printable ASCII as %XX):
//
//   replicad-status 1
//   pid 4242
//   counter_name 17                  one line per scalar field
//   latency_bucket 0.005 12          per histogram bucket (upper bound, count)
//   user alice applies=3 last_command=APPLY%20MAILBOX ...
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace replicad {

// What replicad last did for one replicated user (the user a command's
// mailbox or userid belongs to).
struct UserActivity {
  std::string user;
  int64_t last_apply_time = 0;     // Unix time the last APPLY completed, any outcome
  int64_t last_success_time = 0;   // ... that completed with OK
  int64_t last_failure_time = 0;
  std::string last_command;        // "APPLY MAILBOX"
  std::string last_result;         // "OK success" or the NO/BAD text
  uint64_t applies = 0;
  uint64_t failures = 0;
  uint64_t messages = 0;           // uploads (APPLY MESSAGE) attributed to the user
  uint64_t message_bytes = 0;

  bool operator==(const UserActivity&) const = default;
};

// Durations of APPLY commands that write, from dispatch to durable commit:
// Prometheus-style buckets (counts per bucket, not cumulative here).
struct LatencyHistogram {
  static const std::vector<double>& bounds();  // seconds, ascending; +Inf is implied
  std::vector<uint64_t> counts = std::vector<uint64_t>(bounds().size() + 1, 0);
  double sum_seconds = 0;
  uint64_t count = 0;

  void observe(double seconds);
  bool operator==(const LatencyHistogram&) const = default;
};

struct DaemonStatus {
  int64_t pid = 0;
  std::string version;
  std::string state;               // running, stopping, stopped
  int64_t started_time = 0;
  int64_t written_time = 0;
  int64_t interval_ms = 0;         // rewritten this often while running
  uint64_t sessions = 0;           // connections open now
  uint64_t connections = 0;        // accepted since start
  uint64_t commands = 0;           // APPLY/GET/RESTORE handled
  uint64_t applies = 0;
  uint64_t apply_failures = 0;     // APPLYs answered NO/BAD
  uint64_t gets = 0;
  uint64_t get_failures = 0;
  uint64_t messages = 0;           // message files uploaded (APPLY MESSAGE)
  uint64_t message_bytes = 0;
  uint64_t ioerrors = 0;           // log lines with Cyrus's IOERROR: prefix
  uint64_t syncerrors = 0;         // ... SYNCERROR:
  uint64_t commits = 0;            // the store's durable transactions
  uint64_t fsyncs = 0;
  uint64_t store_jobs = 0;
  uint64_t bodies_written = 0;
  uint64_t bodies_deleted = 0;
  double apply_rate = 0;           // APPLYs per second over the last interval
  int64_t last_commit_time = 0;    // the last APPLY that committed
  LatencyHistogram apply_latency;
  std::vector<UserActivity> users;

  bool operator==(const DaemonStatus&) const = default;
};

std::string format_status(const DaemonStatus& status);
// Strict: an unknown version, a malformed line or a bad number is an error
// (unknown keys are skipped, so a newer daemon's file still reads).
bool parse_status(std::string_view text, DaemonStatus& out, std::string& error);

// Write to a temporary file beside `path`, then rename over it.
bool write_status_file(const std::string& path, const DaemonStatus& status, std::string& error);
bool read_status_file(const std::string& path, DaemonStatus& out, std::string& error);

}  // namespace replicad
