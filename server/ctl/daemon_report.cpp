// status and metrics: what the running daemon reports in its status file
// (server/status_file.h), for people and for Prometheus.
#include <fmt/core.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>

#include "server/ctl/commands.h"
#include "server/status_file.h"

namespace replicad::ctl {
namespace {

// A file older than this many intervals means the daemon stopped reporting
// (hung, or killed without a chance to say so).
constexpr int64_t kStaleIntervals = 3;
constexpr int64_t kMinStaleSeconds = 30;

enum class Liveness { running, stale, stopped, dead };

bool process_exists(int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

Liveness liveness(const DaemonStatus& s, int64_t now) {
  if (s.state == "stopped") return Liveness::stopped;
  if (!process_exists(s.pid)) return Liveness::dead;
  int64_t stale_after = std::max(kMinStaleSeconds, kStaleIntervals * s.interval_ms / 1000);
  return now - s.written_time > stale_after ? Liveness::stale : Liveness::running;
}

const char* liveness_word(Liveness l) {
  switch (l) {
    case Liveness::running: return "running";
    case Liveness::stale: return "not reporting";
    case Liveness::stopped: return "stopped";
    case Liveness::dead: return "not running (ended without stopping cleanly)";
  }
  return "unknown";
}

// Prometheus label values: backslash, double quote and newline escaped.
std::string label(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

class Exposition {
 public:
  // HELP and TYPE once per family, then its samples.
  void family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  template <typename T>
  void sample(std::string_view name, T value, std::string_view labels = {}) {
    if (labels.empty()) text_ += fmt::format("{} {}\n", name, value);
    else text_ += fmt::format("{}{{{}}} {}\n", name, labels, value);
  }
  template <typename T>
  void metric(std::string_view name, std::string_view type, std::string_view help, T value) {
    family(name, type, help);
    sample(name, value);
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

void daemon_metrics(Exposition& e, const DaemonStatus& s) {
  e.family("replicad_info", "gauge", "The running replicad's version.");
  e.sample("replicad_info", 1, fmt::format("version=\"{}\"", label(s.version)));
  e.metric("replicad_start_time_seconds", "gauge", "When replicad started (Unix time).", s.started_time);
  e.metric("replicad_status_time_seconds", "gauge", "When replicad last wrote its status (Unix time).",
           s.written_time);
  e.metric("replicad_sessions", "gauge", "Connections open.", s.sessions);
  e.metric("replicad_connections_total", "counter", "Connections accepted since start.", s.connections);
  e.metric("replicad_commands_total", "counter", "APPLY, GET and RESTORE commands handled.", s.commands);
  e.metric("replicad_applies_total", "counter", "APPLY commands handled.", s.applies);
  e.metric("replicad_apply_failures_total", "counter", "APPLY commands answered NO or BAD.", s.apply_failures);
  e.metric("replicad_gets_total", "counter", "GET commands handled.", s.gets);
  e.metric("replicad_get_failures_total", "counter", "GET commands answered NO or BAD.", s.get_failures);
  e.metric("replicad_messages_total", "counter", "Message files uploaded (APPLY MESSAGE).", s.messages);
  e.metric("replicad_message_bytes_total", "counter", "Bytes of uploaded message files.", s.message_bytes);
  e.family("replicad_errors_total", "counter", "Error log lines by Cyrus prefix.");
  e.sample("replicad_errors_total", s.ioerrors, "prefix=\"IOERROR\"");
  e.sample("replicad_errors_total", s.syncerrors, "prefix=\"SYNCERROR\"");
  e.metric("replicad_store_commits_total", "counter", "Durable store transactions.", s.commits);
  e.metric("replicad_store_fsyncs_total", "counter", "fsyncs issued by store commits.", s.fsyncs);
  e.metric("replicad_store_jobs_total", "counter", "Store write jobs completed.", s.store_jobs);
  e.metric("replicad_store_bodies_written_total", "counter", "Message bodies added to the store.", s.bodies_written);
  e.metric("replicad_store_bodies_deleted_total", "counter", "Message bodies removed from the store.",
           s.bodies_deleted);
  e.metric("replicad_apply_rate", "gauge", "APPLY commands per second over the last status interval.", s.apply_rate);
  e.metric("replicad_last_commit_timestamp_seconds", "gauge", "When an APPLY last committed (Unix time).",
           s.last_commit_time);

  const auto& h = s.apply_latency;
  e.family("replicad_apply_duration_seconds", "histogram",
           "APPLY commands that write, from dispatch to durable commit.");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    std::string le = i < LatencyHistogram::bounds().size() ? fmt::format("{}", LatencyHistogram::bounds()[i]) : "+Inf";
    e.sample("replicad_apply_duration_seconds_bucket", cumulative, fmt::format("le=\"{}\"", le));
  }
  e.sample("replicad_apply_duration_seconds_sum", h.sum_seconds);
  e.sample("replicad_apply_duration_seconds_count", h.count);

  if (s.users.empty()) return;
  struct PerUser {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const UserActivity&);
  };
  static const PerUser per_user[] = {
      {"replicad_user_last_apply_timestamp_seconds", "gauge", "When an APPLY for the user last completed.",
       [](const UserActivity& u) { return static_cast<double>(u.last_apply_time); }},
      {"replicad_user_last_success_timestamp_seconds", "gauge", "When an APPLY for the user last succeeded.",
       [](const UserActivity& u) { return static_cast<double>(u.last_success_time); }},
      {"replicad_user_applies_total", "counter", "APPLY commands for the user.",
       [](const UserActivity& u) { return static_cast<double>(u.applies); }},
      {"replicad_user_apply_failures_total", "counter", "APPLY commands for the user answered NO or BAD.",
       [](const UserActivity& u) { return static_cast<double>(u.failures); }},
  };
  for (const auto& m : per_user) {
    e.family(m.name, m.type, m.help);
    for (const UserActivity& u : s.users) e.sample(m.name, m.value(u), fmt::format("user=\"{}\"", label(u.user)));
  }
}

void store_metrics(Exposition& e, storage::StoreReader& reader) {
  storage::StoreInfo si;
  if (!reader.info(si)) return;
  e.metric("replicad_store_file_bytes", "gauge", "Size of the store's data.mdb.", si.file_bytes);
  e.metric("replicad_store_used_bytes", "gauge", "Bytes of the store in use up to its highest page.", si.used_bytes);
  e.metric("replicad_store_map_bytes", "gauge", "The store's map size (lmdb_mapsize): the most it can hold.",
           si.map_bytes);
  e.metric("replicad_store_last_txnid", "counter", "The store's last committed transaction id.", si.last_txnid);
  e.family("replicad_store_entries", "gauge", "Entries per store table.");
  for (const auto& t : si.tables) e.sample("replicad_store_entries", t.entries, fmt::format("table=\"{}\"", label(t.name)));
}

}  // namespace

Outcome status(const std::string& status_path, int64_t now, Value& out) {
  DaemonStatus s;
  std::string error;
  if (!read_status_file(status_path, s, error))
    return Outcome::fail(kExitNotRunning, "replicad has not reported (is it running?): " + error);
  Liveness alive = liveness(s, now);
  out = Value::object();
  out.set("state", liveness_word(alive));
  out.set("pid", s.pid);
  out.set("version", s.version);
  out.set("started_time", s.started_time);
  out.set("status_written_time", s.written_time);
  out.set("status_age_seconds", now - s.written_time);
  out.set("sessions", s.sessions);
  out.set("connections", s.connections);
  out.set("applies", s.applies);
  out.set("apply_failures", s.apply_failures);
  out.set("gets", s.gets);
  out.set("messages", s.messages);
  out.set("message_bytes", s.message_bytes);
  out.set("apply_rate", s.apply_rate);
  out.set("last_commit_time", s.last_commit_time);
  out.set("commits", s.commits);
  out.set("fsyncs", s.fsyncs);
  out.set("ioerrors", s.ioerrors);
  out.set("syncerrors", s.syncerrors);
  Value& users = out.set("users", Value::array());
  for (const UserActivity& u : s.users) {
    Value& row = users.push(Value::object());
    row.set("user", u.user);
    row.set("last_apply_time", u.last_apply_time);
    row.set("last_command", u.last_command);
    row.set("last_result", u.last_result);
    row.set("applies", u.applies);
    row.set("failures", u.failures);
    row.set("last_failure_time", u.last_failure_time);
  }
  if (alive != Liveness::running)
    return Outcome::fail(kExitNotRunning, fmt::format("replicad is {}", liveness_word(alive)));
  return Outcome::ok();
}

Outcome metrics(const std::string& status_path, storage::StoreReader* reader, int64_t now, std::string& text) {
  Exposition e;
  DaemonStatus s;
  std::string error;
  bool reported = read_status_file(status_path, s, error);
  e.metric("replicad_up", "gauge", "1 if replicad is running and reporting, else 0.",
           reported && liveness(s, now) == Liveness::running ? 1 : 0);
  if (reported) daemon_metrics(e, s);
  if (reader != nullptr) store_metrics(e, *reader);
  text = e.take();
  if (!reported && reader == nullptr)
    return Outcome::fail(kExitNoInput, "neither a status file nor a store to report on: " + error);
  return Outcome::ok();
}

}  // namespace replicad::ctl
