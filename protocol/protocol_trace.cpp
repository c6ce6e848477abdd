#include "protocol/protocol_trace.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <optional>
#include <vector>

namespace replicad::protocol {
namespace {

constexpr std::string_view kRedacted = "<redacted>";

std::string upper(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::toupper(c); });
  return out;
}

std::vector<std::string_view> words(std::string_view line, size_t max) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() < max) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t end = line.find(' ', i);
    if (end == std::string_view::npos) end = line.size();
    if (end > i) out.push_back(line.substr(i, end - i));
    i = end;
  }
  return out;
}

// Control characters shown as \xNN (tabs kept): one trace line per line.
void append_printable(std::string& out, std::string_view bytes) {
  for (unsigned char c : bytes) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
}

// The size a line announces for the literal that follows it: "{N}", "{N+}"
// or a file literal "%{partition guid N}" at its very end.
std::optional<uint64_t> literal_announced(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inside = line.substr(open + 1, line.size() - open - 2);
  if (open > 0 && line[open - 1] == '%') {
    size_t space = inside.rfind(' ');
    if (space == std::string_view::npos) return std::nullopt;
    inside = inside.substr(space + 1);
  } else if (!inside.empty() && inside.back() == '+') {
    inside.remove_suffix(1);
  }
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(inside.data(), inside.data() + inside.size(), n);
  if (ec != std::errc() || end != inside.data() + inside.size() || inside.empty()) return std::nullopt;
  return n;
}

// One "<redacted>" stands for however many pieces of a credential.
void mark_redacted(std::string& logical) {
  if (!logical.ends_with(kRedacted)) logical += kRedacted;
}

std::string clock_time() {
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  std::tm tm{};
  ::gmtime_r(&tv.tv_sec, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}", buf, static_cast<int>(tv.tv_usec / 1000));
}

}  // namespace

ProtocolTrace::~ProtocolTrace() {
  if (file_ == nullptr) return;
  for (auto [d, who] : {std::pair{&client_, 'C'}, std::pair{&server_, 'S'}})
    if (!d->logical.empty() || !d->physical.empty()) emit(who, d->logical + d->physical + " <connection closed>");
  std::fputs("-- end of session\n", file_);
  std::fclose(file_);
}

bool ProtocolTrace::start(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = fmt::format("cannot create {}: {}", path, std::strerror(errno));
    return false;
  }
  file_ = ::fdopen(fd, "a");
  if (file_ == nullptr) {
    error = fmt::format("cannot use {}: {}", path, std::strerror(errno));
    ::close(fd);
    return false;
  }
  if (dropped_ > 0) std::fprintf(file_, "-- %zu bytes of lines before the login not kept\n", dropped_);
  std::fwrite(buffered_.data(), 1, buffered_.size(), file_);
  std::fflush(file_);
  buffered_.clear();
  buffered_.shrink_to_fit();
  return true;
}

void ProtocolTrace::feed(Direction& d, char who, std::string_view bytes) {
  while (!bytes.empty()) {
    if (d.literal_left > 0) {
      size_t n = static_cast<size_t>(std::min<uint64_t>(d.literal_left, bytes.size()));
      if (d.literal_shown) append_printable(d.logical, bytes.substr(0, n));
      d.literal_left -= n;
      bytes.remove_prefix(n);
      if (d.literal_left == 0 && !d.literal_shown) {
        if (d.redact_rest) mark_redacted(d.logical);
        else d.logical += fmt::format("<{} bytes>", d.literal_size);
      }
      continue;
    }
    size_t nl = bytes.find('\n');
    std::string_view piece = bytes.substr(0, nl);
    size_t room = kMaxLine - std::min(kMaxLine, d.physical.size());
    d.physical.append(piece.substr(0, room));
    if (piece.size() > room) d.cut = true;
    if (nl == std::string_view::npos) return;
    bytes.remove_prefix(nl + 1);
    end_physical_line(d, who);
  }
}

void ProtocolTrace::end_physical_line(Direction& d, char who) {
  std::string_view line = d.physical;
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::optional<uint64_t> literal = d.cut ? std::nullopt : literal_announced(line);
  const bool command_start = d.logical.empty();

  std::string shown;
  if (d.redact_rest) {
    // after a literal of a credential: nothing more of it is shown
  } else if (who == 'C' && command_start && in_sasl_) {
    // A SASL response (or the client's "*" cancel).
    shown = kRedacted;
    d.redact_rest = true;
  } else if (who == 'C' && command_start) {
    auto w = words(line, 3);
    size_t verb = !w.empty() && (upper(w[0]) == "AUTHENTICATE" || upper(w[0]) == "LOGIN") ? 0 : 1;
    std::string verb_word = w.size() > verb ? upper(w[verb]) : std::string();
    if (verb_word == "AUTHENTICATE" || verb_word == "LOGIN") {
      // Keep "[tag] AUTHENTICATE MECH" / "[tag] LOGIN"; the rest is a credential.
      size_t keep = verb + (verb_word == "AUTHENTICATE" ? 2 : 1);
      auto kept = words(line, keep);
      size_t end = kept.empty() ? 0 : static_cast<size_t>(kept.back().data() + kept.back().size() - line.data());
      append_printable(shown, line.substr(0, end));
      if (end < line.size()) shown += " " + std::string(kRedacted);
      d.redact_rest = true;
      if (verb_word == "AUTHENTICATE") in_sasl_ = true;
    }
  } else if (who == 'S' && command_start && in_sasl_) {
    if (!line.empty() && line.front() == '+') {
      shown = "+ " + std::string(kRedacted);  // a challenge: part of the exchange
      d.redact_rest = true;
    } else {
      in_sasl_ = false;                        // the final reply
    }
  }
  if (shown.empty() && !d.redact_rest) append_printable(shown, line);
  if (d.cut) shown += fmt::format(" <line cut at {} bytes>", kMaxLine);
  d.logical += shown;
  d.physical.clear();
  d.cut = false;

  if (literal) {
    d.literal_left = *literal;
    d.literal_size = *literal;
    d.literal_shown = !d.redact_rest && *literal <= kInlineLiteral;
    if (*literal == 0 && d.redact_rest) mark_redacted(d.logical);
    return;  // the command goes on after the literal
  }
  emit(who, d.logical);
  d.logical.clear();
  d.redact_rest = false;
}

void ProtocolTrace::emit(char who, std::string_view line) {
  std::string text = fmt::format("{} {}: {}\n", clock_time(), who, line);
  if (file_ != nullptr) {
    std::fwrite(text.data(), 1, text.size(), file_);
    std::fflush(file_);
    return;
  }
  if (buffered_.size() + text.size() <= kMaxBuffered) buffered_ += text;
  else dropped_ += text.size();
}

}  // namespace replicad::protocol
