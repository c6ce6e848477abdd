#include "server/ctl/value.h"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>

namespace replicad::ctl {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Length of the valid UTF-8 sequence starting at s[i], or 0.
size_t utf8_sequence(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = byte(i);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
  // Overlong forms, surrogates and values above U+10FFFF are not valid.
  if (len == 2 && c < 0xc2) return 0;
  if (len == 3 && c == 0xe0 && byte(i + 1) < 0xa0) return 0;
  if (len == 3 && c == 0xed && byte(i + 1) >= 0xa0) return 0;
  if (len == 4 && c == 0xf0 && byte(i + 1) < 0x90) return 0;
  if (len == 4 && (c > 0xf4 || (c == 0xf4 && byte(i + 1) >= 0x90))) return 0;
  return len;
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = utf8_sequence(s, i);
      if (len == 0) {
        out += "\\ufffd";
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == 0x7f) out += fmt::format("\\u{:04x}", c);
        else out += static_cast<char>(c);
    }
    ++i;
  }
  out += '"';
}

std::string json_number(double d) {
  if (!std::isfinite(d)) return "null";
  return fmt::format("{}", d);
}

void json_value(std::string& out, const Value& v, int depth) {
  std::string indent(static_cast<size_t>(depth + 1) * 2, ' ');
  std::string closing(static_cast<size_t>(depth) * 2, ' ');
  switch (v.kind()) {
    case Value::Kind::null: out += "null"; return;
    case Value::Kind::boolean: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::integer: out += fmt::format("{}", v.as_int()); return;
    case Value::Kind::unsigned_integer: out += fmt::format("{}", v.as_uint()); return;
    case Value::Kind::real: out += json_number(v.as_real()); return;
    case Value::Kind::string: json_string(out, v.as_string()); return;
    case Value::Kind::array:
      if (v.elements().empty()) {
        out += "[]";
        return;
      }
      out += "[\n";
      for (size_t i = 0; i < v.elements().size(); ++i) {
        out += indent;
        json_value(out, v.elements()[i], depth + 1);
        out += i + 1 < v.elements().size() ? ",\n" : "\n";
      }
      out += closing + "]";
      return;
    case Value::Kind::object:
      if (v.members().empty()) {
        out += "{}";
        return;
      }
      out += "{\n";
      for (size_t i = 0; i < v.members().size(); ++i) {
        out += indent;
        json_string(out, v.members()[i].first);
        out += ": ";
        json_value(out, v.members()[i].second, depth + 1);
        out += i + 1 < v.members().size() ? ",\n" : "\n";
      }
      out += closing + "}";
      return;
  }
}

// Text cells keep one line each: control characters and bytes outside ASCII
// that are not UTF-8 are shown escaped.
std::string printable(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = utf8_sequence(s, i);
      if (len == 0) {
        out += fmt::format("\\x{:02x}", c);
        ++i;
      } else {
        out.append(s.substr(i, len));
        i += len;
      }
      continue;
    }
    if (c == '\t') out += "\\t";
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
    ++i;
  }
  return out;
}

// Display width: UTF-8 continuation bytes take no column.
size_t width(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  }));
}

std::string pad(std::string s, size_t to) {
  size_t w = width(s);
  if (w < to) s.append(to - w, ' ');
  return s;
}

std::string cell(std::string_view key, const Value& v);

std::string inline_text(const Value& v) {
  std::string out;
  if (v.is_array()) {
    for (const Value& e : v.elements()) {
      if (!out.empty()) out += ' ';
      out += cell({}, e);
    }
  } else if (v.is_object()) {
    for (const auto& [k, m] : v.members()) {
      if (!out.empty()) out += ' ';
      out += k + "=" + cell(k, m);
    }
  }
  return out;
}

std::string cell(std::string_view key, const Value& v) {
  if (v.is_scalar()) return text_of_scalar(key, v);
  std::string text = inline_text(v);
  return text.empty() ? "-" : text;
}

void table_text(std::string& out, const Value& rows, const std::string& indent) {
  std::vector<std::string> columns;
  bool scalars_only = true;
  for (const Value& row : rows.elements()) {
    if (!row.is_object()) continue;
    scalars_only = false;
    for (const auto& [k, m] : row.members())
      if (std::find(columns.begin(), columns.end(), k) == columns.end()) columns.push_back(k);
  }
  if (scalars_only) {
    for (const Value& row : rows.elements()) out += indent + cell({}, row) + "\n";
    return;
  }
  std::vector<std::vector<std::string>> cells;
  std::vector<size_t> widths;
  std::vector<std::string> header;
  for (const auto& c : columns) {
    std::string h = c;
    std::transform(h.begin(), h.end(), h.begin(), [](unsigned char ch) { return std::toupper(ch); });
    widths.push_back(width(h));
    header.push_back(std::move(h));
  }
  for (const Value& row : rows.elements()) {
    std::vector<std::string> line;
    for (size_t i = 0; i < columns.size(); ++i) {
      const Value* m = row.get(columns[i]);
      line.push_back(m != nullptr ? cell(columns[i], *m) : "-");
      widths[i] = std::max(widths[i], width(line.back()));
    }
    cells.push_back(std::move(line));
  }
  auto emit = [&](const std::vector<std::string>& line) {
    std::string text = indent;
    for (size_t i = 0; i < line.size(); ++i) text += i + 1 < line.size() ? pad(line[i], widths[i]) + "  " : line[i];
    out += text + "\n";
  };
  emit(header);
  for (const auto& line : cells) emit(line);
}

void object_text(std::string& out, const Value& v, const std::string& indent) {
  size_t key_width = 0;
  for (const auto& [k, m] : v.members())
    if (m.is_scalar()) key_width = std::max(key_width, k.size() + 1);
  for (const auto& [k, m] : v.members()) {
    if (m.is_scalar()) {
      out += indent + pad(k + ":", key_width) + " " + text_of_scalar(k, m) + "\n";
    } else if (m.is_array()) {
      out += indent + k + (m.elements().empty() ? ": (none)" : ":") + "\n";
      table_text(out, m, indent + "  ");
    } else {
      out += indent + k + ":\n";
      object_text(out, m, indent + "  ");
    }
  }
}

}  // namespace

Value& Value::set(std::string key, Value value) {
  members_.emplace_back(std::move(key), std::move(value));
  return members_.back().second;
}

Value& Value::push(Value value) {
  elements_.push_back(std::move(value));
  return elements_.back();
}

const Value* Value::get(std::string_view key) const {
  for (const auto& [k, v] : members_)
    if (k == key) return &v;
  return nullptr;
}

int64_t Value::as_int() const {
  if (kind_ == Kind::unsigned_integer) return static_cast<int64_t>(uint_);
  if (kind_ == Kind::real) return static_cast<int64_t>(real_);
  return int_;
}

uint64_t Value::as_uint() const {
  if (kind_ == Kind::integer) return int_ < 0 ? 0 : static_cast<uint64_t>(int_);
  if (kind_ == Kind::real) return real_ < 0 ? 0 : static_cast<uint64_t>(real_);
  return uint_;
}

double Value::as_real() const {
  if (kind_ == Kind::integer) return static_cast<double>(int_);
  if (kind_ == Kind::unsigned_integer) return static_cast<double>(uint_);
  return real_;
}

std::string to_json(const Value& value) {
  std::string out;
  json_value(out, value, 0);
  out += '\n';
  return out;
}

std::string to_text(const Value& value) {
  std::string out;
  if (value.is_object()) object_text(out, value, "");
  else if (value.is_array()) table_text(out, value, "");
  else out = text_of_scalar({}, value) + "\n";
  return out;
}

std::string text_of_scalar(std::string_view key, const Value& v) {
  switch (v.kind()) {
    case Value::Kind::null: return "-";
    case Value::Kind::boolean: return v.as_bool() ? "yes" : "no";
    case Value::Kind::integer:
    case Value::Kind::unsigned_integer:
      if (ends_with(key, "_time")) return utc_time(v.as_int());
      if (ends_with(key, "_bytes") && v.as_uint() >= 1024)
        return fmt::format("{} ({})", v.as_uint(), human_bytes(v.as_uint()));
      return v.kind() == Value::Kind::integer ? fmt::format("{}", v.as_int()) : fmt::format("{}", v.as_uint());
    case Value::Kind::real: return fmt::format("{:.3g}", v.as_real());
    case Value::Kind::string: return v.as_string().empty() ? "\"\"" : printable(v.as_string());
    default: return inline_text(v);
  }
}

std::string human_bytes(uint64_t bytes) {
  static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(units)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, units[unit]);
}

std::string utc_time(int64_t unix_seconds) {
  if (unix_seconds <= 0) return "never";
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (gmtime_r(&t, &tm) == nullptr) return fmt::format("{}", unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

}  // namespace replicad::ctl
