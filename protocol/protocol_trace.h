// A protocol trace of one session, for looking at what a peer really sends:
// every line both ways as the session sees them (after TLS and DEFLATE),
// timestamped, with credentials redacted and message bodies elided.
//
//   12:00:01.234 C: A01 AUTHENTICATE PLAIN <redacted>
//   12:00:01.240 S: A01 OK Success (no protection)
//   12:00:01.301 C: APPLY MESSAGE (%{default 9f3e... 70042}<70042 bytes>)
//
// Like Cyrus's telemetry logs, tracing is chosen per authenticated identity
// (the session decides, see SessionContext::trace_dir), so lines are kept
// in memory, bounded, until the login: the AUTHENTICATE or LOGIN that
// decides is itself part of the trace, redacted.
//
// Redacted: whatever follows AUTHENTICATE <mechanism> and LOGIN (literals
// included), and every line of a SASL exchange in either direction (until
// the server's final reply: a client line pipelined behind AUTHENTICATE is
// redacted too, which errs on the safe side).
// Elided: literals and file literals larger than kInlineLiteral bytes.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace replicad::protocol {

class ProtocolTrace {
 public:
  static constexpr uint64_t kInlineLiteral = 256;
  static constexpr size_t kMaxBuffered = 64 * 1024;   // before the trace has a file
  static constexpr size_t kMaxLine = 64 * 1024;       // longer lines are cut

  ProtocolTrace() = default;
  ~ProtocolTrace();
  ProtocolTrace(const ProtocolTrace&) = delete;
  ProtocolTrace& operator=(const ProtocolTrace&) = delete;

  void client(std::string_view bytes) { feed(client_, 'C', bytes); }
  void server(std::string_view bytes) { feed(server_, 'S', bytes); }

  // From now on lines go to `path` (created 0600, appended to), beginning
  // with those kept so far.  False with `error` when it cannot be opened.
  bool start(const std::string& path, std::string& error);
  bool writing() const { return file_ != nullptr; }

 private:
  struct Direction {
    std::string physical;        // the line being received, up to its LF
    std::string logical;         // a command with its literals, as it will be shown
    uint64_t literal_left = 0;   // bytes of a literal still to come
    uint64_t literal_size = 0;
    bool literal_shown = false;  // small enough to show (and not redacted)
    bool redact_rest = false;    // the rest of this command is a credential
    bool cut = false;            // the physical line was longer than kMaxLine
  };

  void feed(Direction& d, char who, std::string_view bytes);
  void end_physical_line(Direction& d, char who);
  void emit(char who, std::string_view line);

  Direction client_;
  Direction server_;
  bool in_sasl_ = false;         // between AUTHENTICATE and its final reply
  std::string buffered_;
  size_t dropped_ = 0;           // bytes of lines not kept before start()
  std::FILE* file_ = nullptr;
};

}  // namespace replicad::protocol
