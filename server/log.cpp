#include "server/log.h"

#include <fcntl.h>
#include <sys/time.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>

namespace replicad::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<uint64_t> g_ioerrors{0};
std::atomic<uint64_t> g_syncerrors{0};

enum class Mode { standard_error, file, syslog };
std::atomic<Mode> g_mode{Mode::standard_error};
std::mutex g_file_mutex;         // configure()/reopen(): one at a time
std::string g_file;              // guarded by g_file_mutex
std::string g_syslog_ident;      // openlog keeps the pointer: must outlive every syslog()

// journald reads "<N>" priority prefixes from a service's stderr stream.
bool under_journald() {
  static const bool yes = std::getenv("JOURNAL_STREAM") != nullptr;
  return yes;
}

std::string_view level_word(Level lvl) {
  switch (lvl) {
    case Level::error: return "error";
    case Level::warning: return "warning";
    case Level::notice: return "notice";
    case Level::info: return "info";
    case Level::debug: return "debug";
  }
  return "info";
}

}  // namespace

void set_level(Level lvl) { g_level.store(lvl, std::memory_order_relaxed); }
Level level() { return g_level.load(std::memory_order_relaxed); }
bool enabled(Level lvl) { return static_cast<int>(lvl) <= static_cast<int>(level()); }

PrefixCounts prefix_counts() {
  return {g_ioerrors.load(std::memory_order_relaxed), g_syncerrors.load(std::memory_order_relaxed)};
}

std::optional<int> syslog_facility(std::string_view name) {
  static const std::pair<std::string_view, int> facilities[] = {
      {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
      {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
      {"daemon", LOG_DAEMON}, {"mail", LOG_MAIL},     {"user", LOG_USER},     {"auth", LOG_AUTH},
      {"authpriv", LOG_AUTHPRIV}};
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const auto& [n, f] : facilities)
    if (n == lower) return f;
  return std::nullopt;
}

namespace {

// Opens the log file onto standard error, so that whatever else writes
// there (libraries, a crash message) lands in the same file.
bool open_onto_stderr(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = fmt::format("cannot open log file {}: {}", path, std::strerror(errno));
    return false;
  }
  // dup2 swaps the descriptor atomically: a line being written goes
  // entirely to the old file or entirely to the new one.
  int rc = ::dup2(fd, STDERR_FILENO);
  int err = errno;
  ::close(fd);
  if (rc < 0) {
    error = fmt::format("cannot use log file {}: {}", path, std::strerror(err));
    return false;
  }
  return true;
}

std::string timestamp() {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  std::tm tm{};
  ::gmtime_r(&tv.tv_sec, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(tv.tv_usec / 1000));
}

// One event, one line, whatever the message holds.
void append_one_line(std::string& line, std::string_view message) {
  for (char c : message) {
    if (c == '\n') line += "\\n";
    else if (c == '\r') line += "\\r";
    else line += c;
  }
}

}  // namespace

bool configure(const Destination& d, std::string& error) {
  std::lock_guard lock(g_file_mutex);
  if (d.syslog) {
    g_syslog_ident = d.syslog_ident.empty() ? std::string("replicad") : d.syslog_ident;
    ::openlog(g_syslog_ident.c_str(), LOG_PID | LOG_NDELAY, d.syslog_facility != 0 ? d.syslog_facility : LOG_LOCAL6);
    g_mode.store(Mode::syslog);
    return true;
  }
  if (!d.file.empty()) {
    if (!open_onto_stderr(d.file, error)) return false;
    g_file = d.file;
    g_mode.store(Mode::file);
    return true;
  }
  g_mode.store(Mode::standard_error);
  return true;
}

bool reopen(std::string& error) {
  std::lock_guard lock(g_file_mutex);
  if (g_mode.load() != Mode::file) return true;
  return open_onto_stderr(g_file, error);
}

void write(Level lvl, std::string_view session, std::string_view message) {
  if (message.starts_with("IOERROR:")) g_ioerrors.fetch_add(1, std::memory_order_relaxed);
  else if (message.starts_with("SYNCERROR:")) g_syncerrors.fetch_add(1, std::memory_order_relaxed);
  Mode mode = g_mode.load(std::memory_order_relaxed);
  std::string line;
  line.reserve(message.size() + 64);
  if (mode == Mode::syslog) {
    if (!session.empty()) {
      line += session;
      line += ' ';
    }
    append_one_line(line, message);
    ::syslog(static_cast<int>(lvl), "%s", line.c_str());
    return;
  }
  if (mode == Mode::file) {
    line += timestamp();
    line += fmt::format(" replicad[{}]: ", ::getpid());
    line += level_word(lvl);
    line += ' ';
  } else if (under_journald()) {
    line += fmt::format("<{}>", static_cast<int>(lvl));
  } else {
    line += level_word(lvl);
    line += ' ';
  }
  if (!session.empty()) {
    line += session;
    line += ' ';
  }
  append_one_line(line, message);
  line += '\n';
  // One write(2) per line keeps lines whole when threads log at once.
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace replicad::log
