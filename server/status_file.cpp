#include "server/status_file.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <variant>

namespace replicad {
namespace {

constexpr std::string_view kMagic = "replicad-status";
constexpr int kFormat = 1;
// A status file is a few KiB per thousand users; anything huge is not ours.
constexpr size_t kMaxFileSize = size_t{64} << 20;

// One table per struct drives both writing and reading, so the two cannot
// drift apart.
template <typename S>
using Member = std::variant<int64_t S::*, uint64_t S::*, double S::*, std::string S::*>;

template <typename S>
struct Field {
  std::string_view name;
  Member<S> member;
};

const Field<DaemonStatus> kStatusFields[] = {
    {"pid", &DaemonStatus::pid},
    {"version", &DaemonStatus::version},
    {"state", &DaemonStatus::state},
    {"started_time", &DaemonStatus::started_time},
    {"written_time", &DaemonStatus::written_time},
    {"interval_ms", &DaemonStatus::interval_ms},
    {"sessions", &DaemonStatus::sessions},
    {"connections", &DaemonStatus::connections},
    {"commands", &DaemonStatus::commands},
    {"applies", &DaemonStatus::applies},
    {"apply_failures", &DaemonStatus::apply_failures},
    {"gets", &DaemonStatus::gets},
    {"get_failures", &DaemonStatus::get_failures},
    {"messages", &DaemonStatus::messages},
    {"message_bytes", &DaemonStatus::message_bytes},
    {"ioerrors", &DaemonStatus::ioerrors},
    {"syncerrors", &DaemonStatus::syncerrors},
    {"commits", &DaemonStatus::commits},
    {"fsyncs", &DaemonStatus::fsyncs},
    {"store_jobs", &DaemonStatus::store_jobs},
    {"bodies_written", &DaemonStatus::bodies_written},
    {"bodies_deleted", &DaemonStatus::bodies_deleted},
    {"apply_rate", &DaemonStatus::apply_rate},
    {"last_commit_time", &DaemonStatus::last_commit_time},
};

const Field<UserActivity> kUserFields[] = {
    {"last_apply_time", &UserActivity::last_apply_time},
    {"last_success_time", &UserActivity::last_success_time},
    {"last_failure_time", &UserActivity::last_failure_time},
    {"last_command", &UserActivity::last_command},
    {"last_result", &UserActivity::last_result},
    {"applies", &UserActivity::applies},
    {"failures", &UserActivity::failures},
    {"messages", &UserActivity::messages},
    {"message_bytes", &UserActivity::message_bytes},
};

std::string encode(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f || c == '%' || c == '=') out += fmt::format("%{:02X}", c);
    else out += static_cast<char>(c);
  }
  return out;
}

bool decode(std::string_view s, std::string& out) {
  out.clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= s.size()) return false;
    auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, value, 16);
    if (ec != std::errc() || end != s.data() + i + 3) return false;
    out += static_cast<char>(value);
    i += 2;
  }
  return true;
}

template <typename S>
std::string text_of(const S& s, const Member<S>& member) {
  return std::visit(
      [&](auto ptr) -> std::string {
        using T = std::remove_cvref_t<decltype(s.*ptr)>;
        if constexpr (std::is_same_v<T, std::string>) return encode(s.*ptr);
        else return fmt::format("{}", s.*ptr);
      },
      member);
}

template <typename T>
bool number(std::string_view text, T& out) {
  if constexpr (std::is_same_v<T, double>) {
    // from_chars for double is missing from g++ 12's library on some
    // targets; strtod on a bounded copy is exact enough for a rate.
    std::string copy(text);
    char* end = nullptr;
    errno = 0;
    out = std::strtod(copy.c_str(), &end);
    return !copy.empty() && errno == 0 && end == copy.c_str() + copy.size();
  } else {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc() && end == text.data() + text.size();
  }
}

template <typename S>
bool assign(S& s, const Member<S>& member, std::string_view text) {
  return std::visit(
      [&](auto ptr) -> bool {
        using T = std::remove_cvref_t<decltype(s.*ptr)>;
        if constexpr (std::is_same_v<T, std::string>) return decode(text, s.*ptr);
        else return number(text, s.*ptr);
      },
      member);
}

template <typename S, size_t N>
const Field<S>* find_field(const Field<S> (&fields)[N], std::string_view name) {
  for (const auto& f : fields)
    if (f.name == name) return &f;
  return nullptr;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    line.remove_prefix(start);
    size_t end = line.find(' ');
    out.push_back(line.substr(0, end));
    line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
  }
  return out;
}

std::string bound_text(size_t i) {
  const auto& b = LatencyHistogram::bounds();
  return i < b.size() ? fmt::format("{}", b[i]) : "+Inf";
}

}  // namespace

const std::vector<double>& LatencyHistogram::bounds() {
  static const std::vector<double> b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30};
  return b;
}

void LatencyHistogram::observe(double seconds) {
  const auto& b = bounds();
  size_t i = 0;
  while (i < b.size() && seconds > b[i]) ++i;
  ++counts[i];
  sum_seconds += seconds;
  ++count;
}

std::string format_status(const DaemonStatus& s) {
  std::string out = fmt::format("{} {}\n", kMagic, kFormat);
  for (const auto& f : kStatusFields) out += fmt::format("{} {}\n", f.name, text_of(s, f.member));
  for (size_t i = 0; i < s.apply_latency.counts.size(); ++i)
    out += fmt::format("latency_bucket {} {}\n", bound_text(i), s.apply_latency.counts[i]);
  out += fmt::format("latency_sum {}\n", s.apply_latency.sum_seconds);
  out += fmt::format("latency_count {}\n", s.apply_latency.count);
  for (const UserActivity& u : s.users) {
    out += "user " + encode(u.user);
    for (const auto& f : kUserFields) out += fmt::format(" {}={}", f.name, text_of(u, f.member));
    out += '\n';
  }
  return out;
}

bool parse_status(std::string_view text, DaemonStatus& out, std::string& error) {
  out = DaemonStatus{};
  int lineno = 0;
  bool header = false;
  size_t bucket = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    auto w = words(line);
    if (w.empty()) continue;
    auto bad = [&](std::string_view why) {
      error = fmt::format("line {}: {}", lineno, why);
      return false;
    };
    if (!header) {
      int format = 0;
      if (w.size() != 2 || w[0] != kMagic || !number(w[1], format)) return bad("not a replicad status file");
      if (format != kFormat) return bad(fmt::format("status format {} is not the supported {}", format, kFormat));
      header = true;
      continue;
    }
    if (w[0] == "latency_bucket") {
      uint64_t count = 0;
      if (w.size() != 3 || bucket >= out.apply_latency.counts.size() || w[1] != bound_text(bucket) ||
          !number(w[2], count))
        return bad("bad latency bucket");
      out.apply_latency.counts[bucket++] = count;
    } else if (w[0] == "latency_sum") {
      if (w.size() != 2 || !number(w[1], out.apply_latency.sum_seconds)) return bad("bad latency_sum");
    } else if (w[0] == "latency_count") {
      if (w.size() != 2 || !number(w[1], out.apply_latency.count)) return bad("bad latency_count");
    } else if (w[0] == "user") {
      UserActivity u;
      if (w.size() < 2 || !decode(w[1], u.user) || u.user.empty()) return bad("bad user line");
      for (size_t i = 2; i < w.size(); ++i) {
        size_t eq = w[i].find('=');
        if (eq == std::string_view::npos) return bad("expected key=value");
        const auto* f = find_field(kUserFields, w[i].substr(0, eq));
        if (f != nullptr && !assign(u, f->member, w[i].substr(eq + 1)))
          return bad(fmt::format("bad value for {}", f->name));
      }
      out.users.push_back(std::move(u));
    } else if (const auto* f = find_field(kStatusFields, w[0])) {
      if (w.size() > 2 || !assign(out, f->member, w.size() == 2 ? w[1] : std::string_view{}))
        return bad(fmt::format("bad value for {}", f->name));
    }
  }
  if (!header) {
    error = "empty status file";
    return false;
  }
  return true;
}

bool write_status_file(const std::string& path, const DaemonStatus& status, std::string& error) {
  std::string text = format_status(status);
  std::string temporary = path + ".tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
  if (fd < 0) {
    error = fmt::format("cannot create {}: {}", temporary, std::strerror(errno));
    return false;
  }
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = fmt::format("cannot write {}: {}", temporary, std::strerror(errno));
      ::close(fd);
      ::unlink(temporary.c_str());
      return false;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // No fsync: this is a report, not data; rename alone keeps readers from
  // ever seeing a partial file.
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    error = fmt::format("cannot rename {} to {}: {}", temporary, path, std::strerror(errno));
    ::unlink(temporary.c_str());
    return false;
  }
  return true;
}

bool read_status_file(const std::string& path, DaemonStatus& out, std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = fmt::format("cannot read {}: {}", path, std::strerror(errno));
    return false;
  }
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(std::max<std::streamoff>(in.tellg(), 0));
  if (size > kMaxFileSize) {
    error = fmt::format("{} is larger than a status file can be", path);
    return false;
  }
  in.seekg(0);
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  if (!parse_status(text, out, error)) {
    error = path + ": " + error;
    return false;
  }
  return true;
}

}  // namespace replicad
