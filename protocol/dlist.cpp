#include "protocol/dlist.h"

#include <limits>
#include <utility>

namespace replicad::protocol {

Dlist Dlist::nil_value(std::string key) {
  Dlist v;
  v.name = std::move(key);
  return v;
}

Dlist Dlist::string_value(std::string value, std::string key) {
  Dlist v;
  v.type = Type::string;
  v.name = std::move(key);
  v.str = std::move(value);
  return v;
}

Dlist Dlist::list_value(std::string key) {
  Dlist v;
  v.type = Type::list;
  v.name = std::move(key);
  return v;
}

Dlist Dlist::kvlist_value(std::string key) {
  Dlist v;
  v.type = Type::kvlist;
  v.name = std::move(key);
  return v;
}

Dlist Dlist::flag_value(std::string flag) {
  Dlist v = string_value(std::move(flag));
  v.raw_flag = true;
  return v;
}

const Dlist* Dlist::get(std::string_view key) const {
  if (type != Type::kvlist) return nullptr;
  // First match wins, as in Cyrus dlist_getchild (spec §2.2): a duplicated
  // key never overrides an earlier one.
  for (const Dlist& member : items)
    if (member.name == key) return &member;
  return nullptr;
}

Dlist& Dlist::add(Dlist value) {
  items.push_back(std::move(value));
  return items.back();
}

Dlist& Dlist::add_string(std::string key, std::string value) {
  return add(string_value(std::move(value), std::move(key)));
}

Dlist& Dlist::add_num(std::string key, uint64_t value) {
  return add(string_value(std::to_string(value), std::move(key)));
}

Dlist& Dlist::add_nil(std::string key) { return add(nil_value(std::move(key))); }

Dlist& Dlist::add_list(std::string key) { return add(list_value(std::move(key))); }

Dlist& Dlist::add_kvlist(std::string key) { return add(kvlist_value(std::move(key))); }

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// Cyrus parsenum: the whole string must be decimal digits (no sign, no
// spaces, not empty) and the value must fit 64 bits.
std::optional<uint64_t> to_num64(const Dlist* v) {
  if (v == nullptr || !v->is_string() || v->str.empty()) return std::nullopt;
  constexpr uint64_t max = std::numeric_limits<uint64_t>::max();
  uint64_t value = 0;
  for (char c : v->str) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<uint64_t>(c - '0');
    if (value > (max - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// Cyrus dlist_tonum32 reads a 64-bit number and casts it: 4294967296 reads as
// 0.  The replica must see the same value the Cyrus replica would.
std::optional<uint32_t> to_num32(const Dlist* v) {
  auto wide = to_num64(v);
  if (!wide) return std::nullopt;
  return static_cast<uint32_t>(*wide);
}

std::optional<uint64_t> to_hex64(const Dlist* v) {
  if (v == nullptr || !v->is_string() || v->str.empty()) return std::nullopt;
  uint64_t value = 0;
  for (char c : v->str) {
    int digit = hex_digit(c);
    if (digit < 0) return std::nullopt;
    if (value >> 60 != 0) return std::nullopt;  // one more digit would overflow
    value = value << 4 | static_cast<uint64_t>(digit);
  }
  return value;
}

std::optional<storage::Guid> to_guid(const Dlist* v) {
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return storage::Guid::from_hex(v->str);
}

std::optional<std::string> to_atom(const Dlist* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_nil()) return std::string();
  if (!v->is_string() || v->str.find('\0') != std::string::npos) return std::nullopt;
  return v->str;
}

std::optional<std::string> to_buf(const Dlist* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_nil()) return std::string();
  if (!v->is_string()) return std::nullopt;
  return v->str;
}

}  // namespace replicad::protocol
