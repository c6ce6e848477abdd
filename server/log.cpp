#include "server/log.h"

#include <atomic>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace replicad::log {
namespace {

std::atomic<Level> g_level{Level::info};
std::atomic<uint64_t> g_ioerrors{0};
std::atomic<uint64_t> g_syncerrors{0};

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

void write(Level lvl, std::string_view session, std::string_view message) {
  if (message.starts_with("IOERROR:")) g_ioerrors.fetch_add(1, std::memory_order_relaxed);
  else if (message.starts_with("SYNCERROR:")) g_syncerrors.fetch_add(1, std::memory_order_relaxed);
  std::string line;
  line.reserve(message.size() + 48);
  if (under_journald()) {
    line += fmt::format("<{}>", static_cast<int>(lvl));
  } else {
    line += level_word(lvl);
    line += ' ';
  }
  if (!session.empty()) {
    line += session;
    line += ' ';
  }
  line += message;
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
