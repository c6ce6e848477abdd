// replicad.conf: the imapd.conf grammar Cyrus operators already know.
//
//   # comment
//   key: value
//
// Keys are case-insensitive; a key given twice is an error (as in Cyrus);
// values are typed on access: switches (yes/no, on/off, true/false, 1/0),
// integers, durations (30s, 10m, 2h, 1d; bare number = the key's default
// unit) and byte sizes (512K, 64M, 1G).  Relative paths are taken relative to
// the working directory.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace replicad {

class Config {
 public:
  struct Problem {
    int line = 0;         // 0 when not tied to a line
    std::string message;
  };

  // Reads a file.  Returns false with problems filled when the file cannot be
  // read or a line does not parse.
  bool load_file(const std::string& path);
  bool load_text(std::string_view text, const std::string& origin = "<text>");

  const std::vector<Problem>& problems() const { return problems_; }
  const std::string& origin() const { return origin_; }

  bool has(std::string_view key) const;
  std::string get_string(std::string_view key, std::string_view fallback = {}) const;
  // A typed read records a problem (and returns the fallback) when the value
  // does not parse, so a typo never silently becomes a default.
  bool get_switch(std::string_view key, bool fallback);
  int64_t get_int(std::string_view key, int64_t fallback);
  std::chrono::milliseconds get_duration(std::string_view key, std::chrono::milliseconds fallback,
                                         std::chrono::milliseconds bare_unit = std::chrono::seconds(1));
  uint64_t get_bytes(std::string_view key, uint64_t fallback);
  // Space- or comma-separated words.
  std::vector<std::string> get_list(std::string_view key) const;

  // Every key with this prefix (prefix removed), e.g. "sasl_".
  std::map<std::string, std::string> with_prefix(std::string_view prefix) const;
  // Keys present in the file that no code asked for, with their line numbers.
  std::vector<Problem> unknown_keys(const std::vector<std::string_view>& known) const;

 private:
  struct Entry {
    std::string value;
    int line = 0;
  };
  const Entry* find(std::string_view key) const;
  void problem(const Entry* e, std::string message);

  std::string origin_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<Problem> problems_;
};

}  // namespace replicad
