#include "server/config.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>

namespace replicad {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// Splits "123abc" into 123 and "abc"; nullopt when there are no digits or the
// number does not fit.
std::optional<std::pair<uint64_t, std::string>> number_and_suffix(std::string_view s) {
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end == s.data()) return std::nullopt;
  return std::make_pair(n, lower(trim(std::string_view(end, s.data() + s.size() - end))));
}

}  // namespace

bool Config::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    origin_ = path;
    problems_.push_back({0, fmt::format("cannot read config file {}", path)});
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return load_text(ss.str(), path);
}

bool Config::load_text(std::string_view text, const std::string& origin) {
  origin_ = origin;
  bool ok = true;
  int lineno = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++lineno;
    std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      problems_.push_back({lineno, fmt::format("expected 'key: value', got '{}'", line)});
      ok = false;
      continue;
    }
    std::string key = lower(trim(line.substr(0, colon)));
    std::string value(trim(line.substr(colon + 1)));
    if (entries_.count(key) != 0) {
      problems_.push_back({lineno, fmt::format("'{}' is set twice (first on line {})", key,
                                               entries_[key].line)});
      ok = false;
      continue;
    }
    entries_.emplace(std::move(key), Entry{std::move(value), lineno});
  }
  return ok;
}

const Config::Entry* Config::find(std::string_view key) const {
  auto it = entries_.find(lower(key));
  return it == entries_.end() ? nullptr : &it->second;
}

void Config::problem(const Entry* e, std::string message) {
  problems_.push_back({e != nullptr ? e->line : 0, std::move(message)});
}

bool Config::has(std::string_view key) const { return find(key) != nullptr; }

std::string Config::get_string(std::string_view key, std::string_view fallback) const {
  const Entry* e = find(key);
  return e != nullptr ? e->value : std::string(fallback);
}

bool Config::get_switch(std::string_view key, bool fallback) {
  const Entry* e = find(key);
  if (e == nullptr) return fallback;
  std::string v = lower(e->value);
  if (v == "yes" || v == "on" || v == "true" || v == "1" || v == "t" || v == "y") return true;
  if (v == "no" || v == "off" || v == "false" || v == "0" || v == "f" || v == "n") return false;
  problem(e, fmt::format("{}: '{}' is not a switch (yes/no)", key, e->value));
  return fallback;
}

int64_t Config::get_int(std::string_view key, int64_t fallback) {
  const Entry* e = find(key);
  if (e == nullptr) return fallback;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(e->value.data(), e->value.data() + e->value.size(), n);
  if (ec != std::errc() || end != e->value.data() + e->value.size()) {
    problem(e, fmt::format("{}: '{}' is not an integer", key, e->value));
    return fallback;
  }
  return n;
}

std::chrono::milliseconds Config::get_duration(std::string_view key, std::chrono::milliseconds fallback,
                                               std::chrono::milliseconds bare_unit) {
  const Entry* e = find(key);
  if (e == nullptr) return fallback;
  auto parsed = number_and_suffix(e->value);
  if (parsed) {
    auto [n, unit] = *parsed;
    int64_t unit_ms = 0;
    if (unit.empty()) unit_ms = bare_unit.count();
    else if (unit == "ms") unit_ms = 1;
    else if (unit == "s") unit_ms = 1000;
    else if (unit == "m") unit_ms = 60 * 1000;
    else if (unit == "h") unit_ms = 3600 * 1000;
    else if (unit == "d") unit_ms = 24 * 3600 * 1000;
    // Checked here: the product in chrono's signed counters would overflow
    // (undefined behaviour) for "sync_timeout: 99999999999999999d".
    if (unit_ms > 0 && n <= static_cast<uint64_t>(INT64_MAX / unit_ms))
      return std::chrono::milliseconds(static_cast<int64_t>(n) * unit_ms);
  }
  problem(e, fmt::format("{}: '{}' is not a duration (e.g. 30s, 10m, 2h)", key, e->value));
  return fallback;
}

uint64_t Config::get_bytes(std::string_view key, uint64_t fallback) {
  const Entry* e = find(key);
  if (e == nullptr) return fallback;
  auto parsed = number_and_suffix(e->value);
  if (parsed) {
    auto [n, unit] = *parsed;
    uint64_t mult = 0;
    if (unit.empty() || unit == "b") mult = 1;
    else if (unit == "k" || unit == "kb") mult = uint64_t{1} << 10;
    else if (unit == "m" || unit == "mb") mult = uint64_t{1} << 20;
    else if (unit == "g" || unit == "gb") mult = uint64_t{1} << 30;
    else if (unit == "t" || unit == "tb") mult = uint64_t{1} << 40;
    if (mult != 0 && n <= UINT64_MAX / mult) return n * mult;
  }
  problem(e, fmt::format("{}: '{}' is not a byte size (e.g. 512K, 64M, 1G)", key, e->value));
  return fallback;
}

std::vector<std::string> Config::get_list(std::string_view key) const {
  std::vector<std::string> out;
  std::string v = get_string(key);
  std::string word;
  for (char c : v) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == ',') {
      if (!word.empty()) out.push_back(std::move(word));
      word.clear();
    } else {
      word += c;
    }
  }
  if (!word.empty()) out.push_back(std::move(word));
  return out;
}

std::map<std::string, std::string> Config::with_prefix(std::string_view prefix) const {
  std::map<std::string, std::string> out;
  std::string p = lower(prefix);
  for (const auto& [k, e] : entries_)
    if (k.size() > p.size() && k.compare(0, p.size(), p) == 0) out.emplace(k.substr(p.size()), e.value);
  return out;
}

std::vector<Config::Problem> Config::unknown_keys(const std::vector<std::string_view>& known) const {
  std::vector<Problem> out;
  for (const auto& [k, e] : entries_) {
    bool found = false;
    for (std::string_view kn : known) {
      // A known entry ending in '*' is a prefix (sasl_*).
      if (!kn.empty() && kn.back() == '*' ? k.compare(0, kn.size() - 1, kn.substr(0, kn.size() - 1)) == 0
                                          : k == kn) {
        found = true;
        break;
      }
    }
    if (!found) out.push_back({e.line, fmt::format("unknown key '{}'", k)});
  }
  return out;
}

}  // namespace replicad
