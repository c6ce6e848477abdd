#include "server/config.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
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

bool valid_key(std::string_view key) {
  if (!key.empty() && key.front() == '@') key.remove_prefix(1);  // a directive
  return !key.empty() && std::all_of(key.begin(), key.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
}

// A config file: regular, not huge.  Empty `error` on success.
std::string read_config_file(const std::string& path, std::string& text) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return fmt::format("cannot read config file {}: no such file", path);
  if (!std::filesystem::is_regular_file(status)) return fmt::format("cannot read config file {}: not a file", path);
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return fmt::format("cannot read config file {}: {}", path, ec.message());
  if (size > Config::kMaxFileSize) return fmt::format("config file {} is larger than {} bytes", path, Config::kMaxFileSize);
  std::ifstream in(path, std::ios::binary);
  if (!in) return fmt::format("cannot read config file {}", path);
  std::stringstream ss;
  ss << in.rdbuf();
  text = ss.str();
  return {};
}

std::string canonical_name(const std::string& path) {
  std::error_code ec;
  auto canonical = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : canonical.string();
}

// Cyrus's duration form: number-unit pairs added up ("1h30m"), units d, h,
// m, s (and ms here); a trailing bare number takes the key's default unit.
// nullopt for anything else, or a total that does not fit in milliseconds.
std::optional<int64_t> parse_duration_ms(std::string_view text, int64_t bare_unit_ms) {
  std::string v = lower(trim(text));
  if (v.empty()) return std::nullopt;
  int64_t total = 0;
  size_t i = 0;
  while (i < v.size()) {
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(v.data() + i, v.data() + v.size(), n);
    if (ec != std::errc() || end == v.data() + i) return std::nullopt;
    i = static_cast<size_t>(end - v.data());
    int64_t unit_ms = 0;
    std::string_view rest(v.data() + i, v.size() - i);
    if (rest.empty()) unit_ms = bare_unit_ms;
    else if (rest.starts_with("ms")) unit_ms = 1, i += 2;
    else if (rest[0] == 's') unit_ms = 1000, i += 1;
    else if (rest[0] == 'm') unit_ms = 60 * 1000, i += 1;
    else if (rest[0] == 'h') unit_ms = 3600 * 1000, i += 1;
    else if (rest[0] == 'd') unit_ms = 24 * 3600 * 1000, i += 1;
    // Checked here: chrono's signed counters would overflow (undefined
    // behaviour) for "sync_timeout: 99999999999999999d".
    if (unit_ms <= 0 || n > static_cast<uint64_t>((INT64_MAX - total) / unit_ms)) return std::nullopt;
    total += static_cast<int64_t>(n) * unit_ms;
  }
  return total;
}

}  // namespace

bool Config::load_file(const std::string& path) {
  origin_ = path;
  std::string text;
  if (std::string error = read_config_file(path, text); !error.empty()) {
    problems_.push_back({0, std::move(error), {}});
    return false;
  }
  files_.push_back(canonical_name(path));
  return parse(text, path, 0);
}

bool Config::load_text(std::string_view text, const std::string& origin) {
  origin_ = origin;
  files_.push_back(canonical_name(origin));
  return parse(text, origin, 0);
}

bool Config::parse(std::string_view text, const std::string& file, int depth) {
  bool ok = true;
  int lineno = 0;
  auto fail = [&](int line, std::string message) {
    problems_.push_back({line, std::move(message), file});
    ok = false;
  };
  while (!text.empty()) {
    // One logical line: physical lines are joined while they end in '\'.
    const int first_line = lineno + 1;
    std::string logical;
    for (;;) {
      size_t nl = text.find('\n');
      std::string_view raw = text.substr(0, nl);
      text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
      ++lineno;
      if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
      if (!raw.empty() && raw.back() == '\\' && !text.empty()) {
        logical.append(raw.substr(0, raw.size() - 1));
        continue;
      }
      logical.append(raw);
      break;
    }
    std::string_view line = trim(logical);
    if (line.empty() || line.front() == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      fail(first_line, fmt::format("expected 'key: value', got '{}'", line));
      continue;
    }
    std::string_view key_text = trim(line.substr(0, colon));
    if (!valid_key(key_text)) {
      fail(first_line, fmt::format("invalid option name '{}' (letters, digits, '-' and '_')", key_text));
      continue;
    }
    std::string key = lower(key_text);
    std::string value(trim(line.substr(colon + 1)));
    if (key.front() == '@') {
      if (key == "@include") {
        if (!include(value, file, first_line, depth)) ok = false;
      } else {
        fail(first_line, fmt::format("unknown directive '{}'", key));
      }
      continue;
    }
    if (auto it = entries_.find(key); it != entries_.end()) {
      const Entry& first = it->second;
      fail(first_line, first.file == file
                           ? fmt::format("'{}' is set twice (first on line {})", key, first.line)
                           : fmt::format("'{}' is set twice (first on line {} of {})", key, first.line, first.file));
      continue;
    }
    entries_.emplace(std::move(key), Entry{std::move(value), first_line, file});
  }
  return ok;
}

bool Config::include(const std::string& name, const std::string& from_file, int line, int depth) {
  auto fail = [&](std::string message) {
    problems_.push_back({line, std::move(message), from_file});
    return false;
  };
  if (name.empty()) return fail("@include: no file named");
  if (depth + 1 > kMaxIncludeDepth) return fail(fmt::format("@include {}: nested deeper than {}", name, kMaxIncludeDepth));
  // Relative names are relative to the including file, so a configuration
  // directory can be moved as a whole.
  std::filesystem::path path(name);
  if (path.is_relative()) path = std::filesystem::path(from_file).parent_path() / path;
  std::string text;
  if (std::string error = read_config_file(path.string(), text); !error.empty()) return fail(std::move(error));
  std::string canonical = canonical_name(path.string());
  if (std::find(files_.begin(), files_.end(), canonical) != files_.end())
    return fail(fmt::format("configuration file {} included twice", path.string()));
  files_.push_back(std::move(canonical));
  return parse(text, path.string(), depth + 1);
}

const Config::Entry* Config::find(std::string_view key) const {
  auto it = entries_.find(lower(key));
  return it == entries_.end() ? nullptr : &it->second;
}

void Config::problem(const Entry* e, std::string message) {
  problems_.push_back({e != nullptr ? e->line : 0, std::move(message), e != nullptr ? e->file : std::string()});
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
  if (auto ms = parse_duration_ms(e->value, bare_unit.count())) return std::chrono::milliseconds(*ms);
  problem(e, fmt::format("{}: '{}' is not a duration (e.g. 30s, 10m, 2h, 1h30m)", key, e->value));
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
    else if (unit == "k" || unit == "kb" || unit == "kib") mult = uint64_t{1} << 10;
    else if (unit == "m" || unit == "mb" || unit == "mib") mult = uint64_t{1} << 20;
    else if (unit == "g" || unit == "gb" || unit == "gib") mult = uint64_t{1} << 30;
    else if (unit == "t" || unit == "tb" || unit == "tib") mult = uint64_t{1} << 40;
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
    if (!found) out.push_back({e.line, fmt::format("unknown key '{}'", k), e.file});
  }
  return out;
}

}  // namespace replicad
