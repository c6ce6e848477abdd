// Logging: one line per event, `key=value` fields, to stderr.
//
// Every layer may log (the store reports IOERROR, the sync core SYNCERROR), so
// this file depends on nothing but libfmt.  Lines carry the session id when
// there is one, so an operator can follow one connection through the log:
//
//   replicad[1234]: <6>s12 login user=admin mech=PLAIN
//
// Under systemd (JOURNAL_STREAM set) the level is written as a `<N>` prefix,
// which journald turns into the priority; on a terminal it is a word.  A
// log file gets a UTC timestamp and the pid on every line; syslog gets the
// level as the priority (logfile, syslog, syslog_facility, syslog_prefix).
// A message is kept on one line: CR and LF inside it are written as \r, \n.
#pragma once

#include <fmt/core.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace replicad::log {

enum class Level { error = 3, warning = 4, notice = 5, info = 6, debug = 7 };

// Messages above this level are dropped (default: info).
void set_level(Level level);
Level level();
bool enabled(Level level);

// Writes one line; `session` may be empty.  Thread-safe (one write(2) a line).
void write(Level level, std::string_view session, std::string_view message);

// Where lines go.  The default is standard error: under systemd (with
// JOURNAL_STREAM set) with "<N>" priority prefixes for journald, else with
// the level as a word.
struct Destination {
  std::string file;                  // logfile: appended to, with timestamps; reopened by reopen()
  bool syslog = false;               // syslog(3) instead (the file is then not used)
  int syslog_facility = 0;           // LOG_LOCAL6 etc.; 0 = LOG_LOCAL6, Cyrus's default
  std::string syslog_ident = "replicad";
};
// Call once at start, before other threads log.  False (and nothing
// changed) with `error` set when the file cannot be opened.
bool configure(const Destination& destination, std::string& error);
// SIGHUP: open the log file again (logrotate has moved it away); a no-op
// for the other destinations.
bool reopen(std::string& error);
// A syslog facility by Cyrus's names (LOCAL0..LOCAL7, DAEMON, MAIL, USER,
// AUTH, AUTHPRIV, any case), or nullopt.
std::optional<int> syslog_facility(std::string_view name);

// Lines written so far that carry Cyrus's error prefixes (monitoring counts
// them: replicadctl metrics shows them as replicad_errors_total).
struct PrefixCounts {
  uint64_t ioerrors = 0;    // "IOERROR: ..."
  uint64_t syncerrors = 0;  // "SYNCERROR: ..."
};
PrefixCounts prefix_counts();

template <typename... Args>
void emit(Level lvl, std::string_view session, fmt::format_string<Args...> f, Args&&... args) {
  if (!enabled(lvl)) return;
  write(lvl, session, fmt::format(f, std::forward<Args>(args)...));
}

template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) { emit(Level::error, {}, f, std::forward<Args>(args)...); }
template <typename... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) { emit(Level::warning, {}, f, std::forward<Args>(args)...); }
template <typename... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) { emit(Level::notice, {}, f, std::forward<Args>(args)...); }
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) { emit(Level::info, {}, f, std::forward<Args>(args)...); }
template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) { emit(Level::debug, {}, f, std::forward<Args>(args)...); }

}  // namespace replicad::log
