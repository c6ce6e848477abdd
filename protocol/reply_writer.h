// Builds the data lines of sync replies straight into the reply text, in the
// exact shape Cyrus's dlist_print produces: `%(KEY value KEY value)`, lists
// `(a b)`, one space between items, values quoted or sent as literals by the
// dlist writer's rules (spec §2.3).  Writing text directly (instead of
// building a Dlist tree first) keeps a FULLMAILBOX of 100 000 records cheap.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

#include "protocol/dlist_writer.h"

namespace replicad::protocol {

// One data line is "* NAME value\r\n": open_line writes up to the value,
// close_line the line end.
inline std::string& open_line(std::string& out, std::string_view name) {
  out += "* ";
  out += name;
  out += ' ';
  return out;
}
inline void close_line(std::string& out) { out += "\r\n"; }

// One `%(...)` or `(...)` being written.  Keys are plain upper-case atoms.
class KvWriter {
 public:
  enum class Shape { kvlist, list };

  explicit KvWriter(std::string& out, Shape shape = Shape::kvlist) : out_(out) {
    out_ += shape == Shape::kvlist ? "%(" : "(";
  }
  KvWriter(const KvWriter&) = delete;
  KvWriter& operator=(const KvWriter&) = delete;

  // "KEY " (kvlist) -- the value follows.
  std::string& key(std::string_view name) {
    separate();
    out_ += name;
    out_ += ' ';
    return out_;
  }
  // A bare list member position -- the value follows.
  std::string& item() {
    separate();
    return out_;
  }

  void num(std::string_view name, uint64_t value) { fmt::format_to(std::back_inserter(key(name)), "{}", value); }
  void str(std::string_view name, std::string_view value) { write_astring(key(name), value); }
  void nil(std::string_view name) { key(name) += "NIL"; }

  void item_str(std::string_view value) { write_astring(item(), value); }
  void item_flag(std::string_view flag) { write_flag(item(), flag); }

  void close() { out_ += ')'; }

 private:
  void separate() {
    if (!first_) out_ += ' ';
    first_ = false;
  }

  std::string& out_;
  bool first_ = true;
};

}  // namespace replicad::protocol
