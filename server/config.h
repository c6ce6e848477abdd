// replicad.conf: the imapd.conf grammar Cyrus operators already know.
//
//   # comment
//   key: value
//   @include: other.conf
//
// As in Cyrus's libconfig: keys are letters, digits, '-' and '_', compared
// case-insensitively; a line ending in '\' continues on the next; a key
// given twice (in any of the files) is an error; `@include: FILE` reads
// another file in place (relative names are taken from the including file's
// directory; a file included twice is an error).  Unlike Cyrus, an empty
// value is allowed (`listen:` with nothing means "no plain listener").
//
// Values are typed on access: switches (yes/no, on/off, true/false, t/f,
// y/n, 1/0), integers, durations as Cyrus writes them (30s, 10m, 2h, 1d,
// combined as 1h30m; ms for milliseconds; a bare number is the key's default
// unit) and byte sizes (512K, 64M, 1G, also KB/KiB).  Relative paths in
// values are taken relative to the working directory.
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
    std::string file;     // the file of `line`; empty: the configuration as a whole
  };

  // Reads a file (and what it includes).  Returns false with problems
  // filled when a file cannot be read or a line does not parse.
  bool load_file(const std::string& path);
  // The same for text in memory; `origin` names it in problems and is the
  // directory relative @include names start from.
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
  // Keys present that no code asked for, with their file and line.
  std::vector<Problem> unknown_keys(const std::vector<std::string_view>& known) const;

  // Included files may nest this deep; each may be at most this large.
  static constexpr int kMaxIncludeDepth = 8;
  static constexpr uint64_t kMaxFileSize = uint64_t{1} << 20;

 private:
  struct Entry {
    std::string value;
    int line = 0;
    std::string file;
  };
  const Entry* find(std::string_view key) const;
  void problem(const Entry* e, std::string message);
  bool parse(std::string_view text, const std::string& file, int depth);
  bool include(const std::string& name, const std::string& from_file, int line, int depth);

  std::string origin_;
  std::map<std::string, Entry, std::less<>> entries_;
  std::vector<std::string> files_;   // canonical names of the files read, for "included twice"
  std::vector<Problem> problems_;
};

}  // namespace replicad
