// The command reader: an incremental, resumable state machine over the bytes of
// a connection (after TLS and DEFLATE).  It does no I/O and allocates only for
// the values it returns, so it can be tested byte at a time and fuzzed.
//
// A command is one "line": space-separated top-level values ending in CRLF (or
// a bare LF) at nesting depth 0.  Values follow the dlist grammar (spec §2.2):
// atoms, "quoted", {N} / {N+} literals, (lists), %(kvlists), NIL and file
// literals %{partition guid size}.  Inside parentheses CR and LF are white
// space, as in Cyrus.  The first values are the tag and/or the command word;
// the session decides what they mean.
//
// File literal bytes are not buffered: they stream into a FileSink (the
// session's staging area) while SHA-1 is computed.  A literal the sink refuses
// (too large, bad GUID, disk error) is still consumed, so the stream stays in
// step with the client, and the command then fails as a whole.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/dlist.h"

namespace replicad::protocol {

struct ParserLimits {
  size_t max_line_bytes = 64u << 20;       // bytes of one command outside literals
  uint64_t max_literal = 64u << 20;        // one {N} literal (kept in memory)
  uint64_t max_file_literal = 0xFFFFFFFFu; // one %{...} file literal (streamed)
  size_t max_depth = 16;                   // nesting of lists/kvlists
  size_t max_items = 10'000'000;           // values in one command, all levels
  size_t max_tag_bytes = 64;               // first token length (IMAP tags)
};

// Limits before authentication are far tighter (spec §0.3 hardening).
ParserLimits preauth_limits();

// Receives the bytes of file literals.  Implemented by the session (staging
// files) and by tests (memory).
class FileSink {
 public:
  virtual ~FileSink() = default;
  // A file literal starts.  Return false to refuse it: its bytes are then
  // consumed and dropped, and the command fails with `reason`.
  virtual bool begin(std::string_view partition, std::string_view guid_hex, uint64_t size,
                     std::string& reason) = 0;
  // Some of its bytes (in order).  Return false on a write error: the rest is
  // dropped and the command fails with `reason`.
  virtual bool write(std::span<const char> bytes, std::string& reason) = 0;
  // All bytes arrived.  Fills path/verified of the FileRef (partition, guid,
  // size are already set).
  virtual void finish(FileRef& file) = 0;
  // The command that held the file failed or was abandoned: drop it.
  virtual void discard(const FileRef& file) = 0;
};

class CommandParser {
 public:
  enum class Status {
    need_more,     // every byte given was consumed; feed more
    command,       // a complete command is ready: take_command()
    error,         // a malformed command was skipped to its end: error_message()
    continuation,  // a synchronising literal {N} needs "+ go ahead" now; feed on
  };

  struct Outcome {
    Status status = Status::need_more;
    size_t consumed = 0;   // bytes of the input used; feed the rest again
  };

  CommandParser(ParserLimits limits, FileSink* sink);
  ~CommandParser();
  CommandParser(const CommandParser&) = delete;
  CommandParser& operator=(const CommandParser&) = delete;

  // Consumes bytes until a command is complete, an error was skipped over, a
  // continuation is due, or the input is used up.
  Outcome feed(std::string_view input);

  // The values of the finished command (after Status::command).
  std::vector<Dlist> take_command();
  // Why the last command failed (after Status::error); says what and where.
  const std::string& error_message() const;
  // True when the error cannot be recovered from by skipping (e.g. a literal
  // length that does not fit any counter): the session should close.
  bool fatal() const;
  // The leading words of the command that failed (after Status::error): the
  // first one or two top-level strings, if they were complete before the
  // error, each cut to max_tag_bytes.  Cyrus reads the tag and command word
  // before it parses the arguments, so its answer to a malformed command
  // depends on them ("<tag> BAD Replication parse failure in Syncapply").
  const std::vector<std::string>& failed_words() const;

  // The next line is read raw, up to CRLF, as one string value (AUTHENTICATE
  // responses, which are base64 and may be empty).
  void expect_raw_line();

  void set_limits(const ParserLimits& limits);
  // Bytes held for the command being read (for accounting/limits).
  size_t buffered_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace replicad::protocol
