// What a replicadctl command reports: a small ordered tree of values that is
// printed either as JSON (`--json`, for scripts) or as text for people.
//
// The text form follows two naming conventions so that every command reads
// the same: a key ending in `_bytes` is a size (shown with a binary unit as
// well), a key ending in `_time` is a Unix time (shown as UTC, 0 = "never").
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace replicad::ctl {

class Value {
 public:
  enum class Kind { null, boolean, integer, unsigned_integer, real, string, array, object };

  Value() = default;
  Value(std::nullptr_t) {}
  Value(bool b) : kind_(Kind::boolean), bool_(b) {}
  template <std::signed_integral T>
  Value(T n) : kind_(Kind::integer), int_(n) {}
  template <std::unsigned_integral T>
    requires(!std::same_as<T, bool>)
  Value(T n) : kind_(Kind::unsigned_integer), uint_(n) {}
  Value(double d) : kind_(Kind::real), real_(d) {}
  Value(std::string s) : kind_(Kind::string), str_(std::move(s)) {}
  Value(std::string_view s) : kind_(Kind::string), str_(s) {}
  Value(const char* s) : kind_(Kind::string), str_(s) {}

  static Value array() { return Value(Kind::array); }
  static Value object() { return Value(Kind::object); }

  Kind kind() const { return kind_; }
  bool is_object() const { return kind_ == Kind::object; }
  bool is_array() const { return kind_ == Kind::array; }
  bool is_scalar() const { return kind_ != Kind::object && kind_ != Kind::array; }

  // Object: appends a member (keys keep their insertion order) and returns it.
  Value& set(std::string key, Value value);
  // Array: appends an element and returns it.
  Value& push(Value value);

  // Object lookup (first member of that name) or nullptr.
  const Value* get(std::string_view key) const;
  const std::vector<std::pair<std::string, Value>>& members() const { return members_; }
  const std::vector<Value>& elements() const { return elements_; }

  bool as_bool() const { return bool_; }
  int64_t as_int() const;
  uint64_t as_uint() const;
  double as_real() const;
  const std::string& as_string() const { return str_; }

 private:
  explicit Value(Kind k) : kind_(k) {}

  Kind kind_ = Kind::null;
  bool bool_ = false;
  int64_t int_ = 0;
  uint64_t uint_ = 0;
  double real_ = 0;
  std::string str_;
  std::vector<Value> elements_;
  std::vector<std::pair<std::string, Value>> members_;
};

// JSON text, two-space indented, with a final newline.  Strings are bytes:
// valid UTF-8 passes through, control characters are escaped and any byte
// that is not part of valid UTF-8 becomes U+FFFD.
std::string to_json(const Value& value);

// Text for people: an object's scalar members as aligned "key: value" lines,
// each array member as a headed table (one column per key of its objects),
// each object member as an indented block.
std::string to_text(const Value& value);

// Pieces of the text form, also used by commands with their own layout.
std::string text_of_scalar(std::string_view key, const Value& value);
std::string human_bytes(uint64_t bytes);     // "11.8 MiB"
std::string utc_time(int64_t unix_seconds);  // "2024-05-01 12:00:00Z", "never" for 0

}  // namespace replicad::ctl
