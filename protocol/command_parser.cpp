// The command reader as an explicit state machine (see command_parser.h).
//
// One byte at a time, `step` looks at the current state and either consumes
// the byte or hands it on to the next state (an atom ends at the byte that
// follows it, which then belongs to whatever comes next).  Nesting lives in an
// explicit stack of open lists, so no input can make the parser recurse.
//
// After the first error the command is "failed": nothing more is built or
// limited, and the reader only keeps enough structure to find the end of the
// line without losing step with the client — literal and file literal bytes
// are skipped by count, quoted strings are followed, and (as Cyrus eatline
// does) the next LF ends the command whatever the nesting depth.
#include "protocol/command_parser.h"

#include <fmt/core.h>

#include <algorithm>
#include <limits>
#include <utility>

namespace replicad::protocol {

ParserLimits preauth_limits() {
  ParserLimits limits;
  // An AUTHENTICATE response is one base64 line; 16 KiB leaves room for a
  // Kerberos ticket (GSSAPI), far beyond PLAIN/SCRAM's few hundred bytes.
  limits.max_line_bytes = 16u << 10;
  limits.max_literal = 8u << 10;
  limits.max_file_literal = 0;  // no uploads before authentication
  limits.max_depth = 4;
  limits.max_items = 256;
  limits.max_tag_bytes = 64;
  return limits;
}

namespace {

// Cyrus reads literal lengths with getint32 (imapparse.c): larger is refused.
constexpr uint64_t kMaxCyrusLiteral = 2147483647;

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

// isspace() in the C locale: what Cyrus's next_nonspace skips.
bool is_white(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

// Atoms (and \Flags) run up to white space, a parenthesis or a double quote
// (Cyrus getxstring); `{`, `%`, `\`, `*`, `[`... may all appear inside.
bool ends_atom(char c) { return is_white(c) || c == '(' || c == ')' || c == '"'; }

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Error messages go back to the peer on one line: client bytes quoted in
// them are cut short and anything unprintable (a literal key may hold CR LF)
// becomes '?', so a message can never break the reply framing.
std::string shown(std::string_view client_bytes) {
  constexpr size_t kMaxShown = 64;
  std::string out(client_bytes.substr(0, kMaxShown));
  for (char& c : out)
    if (c < 0x20 || c > 0x7E) c = '?';
  if (client_bytes.size() > kMaxShown) out += "...";
  return out;
}

std::string printable(std::string text) {
  for (char& c : text)
    if (c < 0x20 || c > 0x7E) c = '?';
  return text;
}

}  // namespace

struct CommandParser::Impl {
  enum class State : uint8_t {
    between,         // white space, the first byte of a value, ')' or the end of the line
    atom,            // an atom or \Flag
    quoted,          // inside "..."
    quoted_escape,   // after a backslash inside "..."
    percent,         // after '%': '(' or '{' must follow
    literal_length,  // after '{': decimal digits, then '+' or '}'
    literal_close,   // after '+': '}'
    literal_cr,      // after '}': CR LF or a bare LF
    literal_lf,      // after that CR
    literal_body,    // the literal's bytes, counted
    file_token,      // the start of a file literal's partition or GUID
    file_space,      // the single space after the partition or the GUID
    file_size,       // decimal digits, then '}'
    file_cr,         // after '}': optional CR
    file_lf,         // LF, then the bytes
    file_body,       // the file's bytes, counted, streamed to the sink
    raw_line,        // an AUTHENTICATE response: everything up to LF
  };
  // Where a finished string goes.
  enum class Slot : uint8_t { value, key, file_partition, file_guid };
  enum class Token : uint8_t { atom, flag, quoted, literal };

  struct Frame {
    Dlist container;                 // the list or kvlist being filled
    std::optional<std::string> key;  // kvlist: a key whose value comes next
  };

  Impl(ParserLimits parser_limits, FileSink* file_sink)
      : limits(parser_limits), sink(file_sink) {}

  // ---- kept across commands
  ParserLimits limits;
  FileSink* sink;
  bool raw_next = false;
  std::vector<Dlist> ready;      // the last complete command
  std::string message;           // the last error
  bool message_fatal = false;
  std::vector<std::string> failed_head;  // the last failed command's first words
  Status result = Status::need_more;

  // ---- the command being read (reset() clears all of it)
  State state = State::between;
  bool failed = false;
  std::string first_error;
  std::vector<Dlist> top;        // finished top-level values
  std::vector<std::string> head; // copies of the first (at most two) top-level strings
  std::vector<Frame> stack;      // open lists and kvlists, innermost last
  std::vector<FileRef> files;    // finished file literals, discarded if the command fails
  uint64_t offset = 0;           // bytes of this command so far, literals included
  size_t line_bytes = 0;         // the same without literal bytes
  size_t items = 0;
  size_t held = 0;               // string bytes held in memory

  // ---- the token being read
  Slot slot = Slot::value;
  Token kind = Token::atom;
  std::string token;
  size_t token_limit = kNoLimit;
  uint64_t number = 0;           // literal length or file size
  bool have_digits = false;
  bool synchronising = false;
  uint64_t remaining = 0;        // literal / file bytes still to come
  FileRef file;
  bool file_open = false;        // the sink accepted the file being read

  void reset() {
    state = raw_next ? State::raw_line : State::between;
    failed = false;
    first_error.clear();
    top = {};
    head.clear();
    stack = {};
    files.clear();
    offset = 0;
    line_bytes = 0;
    items = 0;
    held = 0;
    slot = Slot::value;
    kind = Token::atom;
    token = {};
    token_limit = kNoLimit;
    number = 0;
    have_digits = false;
    synchronising = false;
    remaining = 0;
    file = {};
    file_open = false;
  }

  Outcome feed(std::string_view in) {
    result = Status::need_more;
    size_t pos = 0;
    while (result == Status::need_more) {
      if (state == State::literal_body || state == State::file_body) {
        // Checked before looking for input: a {0} literal or an empty file
        // ends without another byte.
        if (remaining == 0) {
          if (state == State::literal_body)
            end_literal();
          else
            end_file();
          continue;
        }
        if (pos == in.size()) break;
        auto n = static_cast<size_t>(std::min<uint64_t>(remaining, in.size() - pos));
        body_bytes(in.substr(pos, n));
        pos += n;
        offset += n;
        remaining -= n;
        continue;
      }
      if (pos == in.size()) break;
      if (size_t run = bulk_run(in.substr(pos)); run != 0) {
        pos += run;
        account(run);
        continue;
      }
      if (!step(in[pos])) continue;  // the byte is handed to the new state
      ++pos;
      // A finished or failed command has been reset already; its last byte
      // must not be counted against the next one.
      if (result == Status::need_more || result == Status::continuation) account(1);
    }
    return {result, pos};
  }

  void account(size_t n) {
    offset += n;
    line_bytes += n;
    if (line_bytes > limits.max_line_bytes)
      fail(fmt::format("command longer than {} bytes (literals not counted)", limits.max_line_bytes));
  }

  // The plain bytes of an atom, quoted string or raw line, taken in one go
  // (APPLY MAILBOX lines run to megabytes).  Returns 0 to let step() decide.
  size_t bulk_run(std::string_view in) {
    size_t n = 0;
    switch (state) {
      case State::atom:
        while (n < in.size() && !ends_atom(in[n])) ++n;
        break;
      case State::quoted:
        while (n < in.size() && in[n] != '"' && in[n] != '\\' && in[n] != '\r' && in[n] != '\n') ++n;
        break;
      case State::raw_line:
        while (n < in.size() && in[n] != '\n') ++n;
        break;
      default:
        return 0;
    }
    if (!failed) {
      // Stay byte-exact at the limits: the byte that crosses one goes through step().
      if (token_limit != kNoLimit) return 0;
      size_t budget = limits.max_line_bytes > line_bytes ? limits.max_line_bytes - line_bytes : 0;
      n = std::min(n, budget);
      token.append(in.substr(0, n));
      held += n;
    }
    return n;
  }

  // Consumes `c` (true) or leaves it for the state it switched to (false).
  bool step(char c) {
    switch (state) {
      case State::between: return between(c);
      case State::atom:
        if (ends_atom(c)) {
          finish_token();
          return false;
        }
        append(c);
        return true;
      case State::quoted:
        if (c == '"') {
          finish_token();
          return true;
        }
        if (c == '\\') {
          state = State::quoted_escape;
          return true;
        }
        if (c == '\r' || c == '\n') return unterminated_quote();
        append(c);
        return true;
      case State::quoted_escape:
        // Cyrus would take an escaped CR or LF into the string; refusing it
        // keeps "LF always ends a broken line" true, which resync relies on.
        if (c == '\r' || c == '\n') return unterminated_quote();
        append(c);
        state = State::quoted;
        return true;
      case State::percent: return percent(c);
      case State::literal_length:
        if (is_digit(c)) return add_digit(c, "literal length");
        if (have_digits && c == '+') {
          synchronising = false;
          state = State::literal_close;
          return true;
        }
        if (have_digits && c == '}') {
          synchronising = true;
          state = State::literal_cr;
          return true;
        }
        return bad_literal_header();
      case State::literal_close:
        if (c != '}') return bad_literal_header();
        state = State::literal_cr;
        return true;
      case State::literal_cr:
        if (c == '\r') {
          state = State::literal_lf;
          return true;
        }
        if (c != '\n') return bad_literal_header();
        start_literal_body();
        return true;
      case State::literal_lf:
        if (c != '\n') return bad_literal_header();
        start_literal_body();
        return true;
      case State::file_token:
        if (c == '"') {
          begin_token(slot, Token::quoted);
          state = State::quoted;
          return true;
        }
        if (ends_atom(c) || c == '{' || c == '}') return bad_file_header();
        begin_token(slot, Token::atom);
        state = State::atom;
        return false;
      case State::file_space:
        // Cyrus wants exactly one space between the header's parts.
        if (c != ' ') return bad_file_header();
        if (slot == Slot::file_partition) {
          slot = Slot::file_guid;
          state = State::file_token;
        } else {
          number = 0;
          have_digits = false;
          state = State::file_size;
        }
        return true;
      case State::file_size:
        if (is_digit(c)) return add_digit(c, "file literal size");
        if (!have_digits || c != '}') return bad_file_header();
        state = State::file_cr;
        return true;
      case State::file_cr:
        // Cyrus accepts `}` LF as well as `}` CR LF here (dlist_parse).
        if (c == '\r') {
          state = State::file_lf;
          return true;
        }
        if (c != '\n') return bad_file_header();
        start_file_body();
        return true;
      case State::file_lf:
        if (c != '\n') return bad_file_header();
        start_file_body();
        return true;
      case State::raw_line:
        if (c == '\n') {
          end_raw_line();
          return true;
        }
        append(c);
        return true;
      case State::literal_body:
      case State::file_body:
        break;  // feed() streams these
    }
    return true;
  }

  bool between(char c) {
    if (c == '\n' && (failed || stack.empty())) {
      account(1);  // the LF belongs to the line it ends
      end_command();
      return true;
    }
    // Inside parentheses CR and LF are white space, as in Cyrus; at depth 0 a
    // CR is too, so both CRLF and a bare LF end a line.
    if (is_white(c)) return true;
    if (failed) return skip_between(c);
    if (c == ')') {
      close_frame();
      return true;
    }
    const Slot next = expecting_key() ? Slot::key : Slot::value;
    switch (c) {
      case '(':
      case '%':
        if (next == Slot::key) {
          fail(fmt::format("a kvlist key expected, found '{}'", c));
          return false;
        }
        if (c == '(') {
          open_frame(Dlist::Type::list);
        } else {
          state = State::percent;
        }
        return true;
      case '{':
        begin_token(next, Token::literal);
        start_literal_header();
        return true;
      case '"':
        begin_token(next, Token::quoted);
        state = State::quoted;
        return true;
      default:
        begin_token(next, c == '\\' ? Token::flag : Token::atom);
        state = State::atom;
        return false;
    }
  }

  // The failed command's bytes: follow the token structure (so literal bytes
  // are skipped by count) but build nothing.
  bool skip_between(char c) {
    slot = Slot::value;
    switch (c) {
      case '(':
      case ')':
        return true;
      case '%':
        state = State::percent;
        return true;
      case '{':
        start_literal_header();
        return true;
      case '"':
        state = State::quoted;
        return true;
      default:
        state = State::atom;
        return false;
    }
  }

  bool percent(char c) {
    if (c == '(') {
      if (!failed) open_frame(Dlist::Type::kvlist);
      state = State::between;
      return true;
    }
    if (c == '{') {
      file = {};
      slot = Slot::file_partition;
      state = State::file_token;
      return true;
    }
    if (!failed) fail("'%' must be followed by '(' or '{'");
    state = State::between;
    return false;
  }

  bool expecting_key() const {
    return !stack.empty() && stack.back().container.is_kvlist() && !stack.back().key;
  }

  void begin_token(Slot where, Token what) {
    slot = where;
    kind = what;
    token.clear();
    // Only the first word of a line is bounded by max_tag_bytes.
    token_limit = where == Slot::value && stack.empty() && top.empty() ? limits.max_tag_bytes : kNoLimit;
  }

  void append(char c) {
    if (failed) return;
    if (token.size() >= token_limit) {
      fail(fmt::format("first word longer than {} bytes", limits.max_tag_bytes));
      return;
    }
    token += c;
    ++held;
  }

  void finish_token() {
    state = State::between;
    switch (slot) {
      case Slot::value:
        if (!failed) complete_value(string_value(std::exchange(token, {})));
        return;
      case Slot::key:
        if (!failed) stack.back().key = std::exchange(token, {});
        return;
      case Slot::file_partition:
        file.partition = std::exchange(token, {});
        state = State::file_space;
        return;
      case Slot::file_guid:
        file.guid_hex = std::exchange(token, {});
        state = State::file_space;
        return;
    }
  }

  Dlist string_value(std::string bytes) const {
    // Only a bare NIL is null; "NIL" and {3}NIL are the string (spec §2.2).
    if (kind == Token::atom && bytes == "NIL") return Dlist::nil_value();
    Dlist v = Dlist::string_value(std::move(bytes));
    v.raw_flag = kind == Token::flag;
    return v;
  }

  bool unterminated_quote() {
    if (!failed) fail("CR or LF inside a quoted string");
    state = State::between;  // which then ends the line at the LF
    return false;
  }

  void open_frame(Dlist::Type type) {
    state = State::between;
    if (stack.size() >= limits.max_depth) {
      fail(fmt::format("lists nested deeper than {}", limits.max_depth));
      return;
    }
    Frame frame;
    frame.container.type = type;
    stack.push_back(std::move(frame));
  }

  void close_frame() {
    if (stack.empty()) {
      fail("')' without '('");
      return;
    }
    Frame& frame = stack.back();
    if (frame.key) {
      fail(fmt::format("kvlist key {} has no value", shown(*frame.key)));
      return;
    }
    Dlist done = std::move(frame.container);
    stack.pop_back();
    complete_value(std::move(done));
  }

  void complete_value(Dlist v) {
    if (++items > limits.max_items) {
      fail(fmt::format("more than {} values", limits.max_items));
      return;
    }
    if (stack.empty()) {
      // Kept apart from `top`, which a failure frees: the session answers a
      // malformed command according to its tag and command word.
      if (head.size() == top.size() && head.size() < 2 && v.is_string())
        head.push_back(v.str.substr(0, limits.max_tag_bytes));
      top.push_back(std::move(v));
      return;
    }
    Frame& frame = stack.back();
    if (frame.container.is_kvlist()) {
      v.name = std::move(*frame.key);
      frame.key.reset();
    }
    frame.container.items.push_back(std::move(v));
  }

  // ---- literals

  void start_literal_header() {
    number = 0;
    have_digits = false;
    state = State::literal_length;
  }

  bool add_digit(char c, std::string_view what) {
    auto digit = static_cast<uint64_t>(c - '0');
    if (number > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      // Nobody can count the bytes that follow: the stream is lost.
      fatal_error(fmt::format("{} does not fit 64 bits", what));
      return true;
    }
    number = number * 10 + digit;
    have_digits = true;
    return true;
  }

  bool bad_literal_header() {
    if (!failed) fail("malformed literal header (want {N} or {N+} then CRLF)");
    state = State::between;
    return false;
  }

  void start_literal_body() {
    if (!failed) {
      if (number > kMaxCyrusLiteral)
        fail(fmt::format("literal of {} bytes (Cyrus's limit is {})", number, kMaxCyrusLiteral));
      else if (number > limits.max_literal)
        fail(fmt::format("literal of {} bytes exceeds the limit of {}", number, limits.max_literal));
      else if (number > token_limit)
        fail(fmt::format("first word longer than {} bytes", limits.max_tag_bytes));
    }
    if (synchronising) {
      // The peer sends a {N} literal's bytes only after "+ go ahead".  A
      // literal we refuse, or one inside a command that failed already, gets
      // no go-ahead, so its bytes never come: the command ends right here.
      if (failed) {
        end_command();
        return;
      }
      result = Status::continuation;
    }
    remaining = number;
    state = State::literal_body;
    if (!failed) token.reserve(static_cast<size_t>(std::min<uint64_t>(number, 64u << 10)));
  }

  void end_literal() {
    // The string ends with the count; the next byte is not examined here.
    finish_token();
  }

  // ---- file literals

  bool bad_file_header() {
    if (!failed) fail("malformed file literal header (want %{partition guid size} then CRLF)");
    state = State::between;
    return false;
  }

  void start_file_body() {
    file.size = number;
    remaining = number;
    state = State::file_body;
    if (failed) return;  // skipped by count
    if (limits.max_file_literal == 0 || sink == nullptr) {
      fail("file literals are not accepted here");
    } else if (number > limits.max_file_literal) {
      fail(fmt::format("file literal of {} bytes exceeds the limit of {}", number,
                       limits.max_file_literal));
    } else {
      std::string reason;
      if (sink->begin(file.partition, file.guid_hex, number, reason))
        file_open = true;
      else
        fail(fmt::format("file literal {} refused: {}", shown(file.guid_hex), reason));
    }
    // A refused file is still read to its end: the client sends the bytes
    // regardless, and the next command starts after them.
  }

  void body_bytes(std::string_view bytes) {
    if (state == State::literal_body) {
      if (!failed) {
        token.append(bytes);
        held += bytes.size();
      }
      return;
    }
    if (!file_open) return;
    std::string reason;
    if (!sink->write(std::span<const char>(bytes.data(), bytes.size()), reason)) {
      fail(fmt::format("file literal {} not stored: {}", shown(file.guid_hex), reason));
      sink->discard(file);
      file_open = false;
    }
  }

  void end_file() {
    state = State::between;
    if (!file_open) return;
    file_open = false;
    sink->finish(file);
    files.push_back(file);
    Dlist v;
    v.type = Dlist::Type::file;
    v.file = file;
    complete_value(std::move(v));
  }

  // ---- ends

  void end_raw_line() {
    account(1);
    raw_next = false;
    if (!failed) {
      if (!token.empty() && token.back() == '\r') token.pop_back();
      top.push_back(Dlist::string_value(std::exchange(token, {})));
    }
    end_command();
  }

  void end_command() {
    if (failed) {
      drop_files();
      message = std::move(first_error);
      message_fatal = false;
      failed_head = std::move(head);
      result = Status::error;
    } else {
      ready = std::move(top);
      result = Status::command;
    }
    reset();
  }

  void fail(std::string what) {
    if (failed) return;
    failed = true;
    first_error = printable(fmt::format("{} at offset {}{}", what, offset, where()));
    // Nothing more is built for this command: free what it holds.
    top = {};
    stack = {};
    token = {};
    held = 0;
  }

  void fatal_error(const std::string& what) {
    if (file_open) sink->discard(file);
    drop_files();
    message = printable(fmt::format("{} at offset {}", what, offset));
    message_fatal = true;
    failed_head = std::move(head);
    result = Status::error;
    reset();
  }

  void drop_files() {
    for (const FileRef& f : files) sink->discard(f);
    files.clear();
  }

  // "RECORD[3].FLAGS[1]": the keys and list positions leading to the error.
  std::string where() const {
    std::string path;
    for (const Frame& frame : stack) {
      if (frame.container.is_kvlist()) {
        if (!frame.key) continue;
        if (!path.empty()) path += '.';
        path += shown(*frame.key);
      } else {
        path += fmt::format("[{}]", frame.container.items.size());
      }
    }
    return path.empty() ? std::string() : " in " + path;
  }
};

CommandParser::CommandParser(ParserLimits limits, FileSink* sink)
    : impl_(std::make_unique<Impl>(limits, sink)) {}

// The sink is not called from here: the session may already have destroyed it,
// and its own clean-up removes any half-received file.
CommandParser::~CommandParser() = default;

CommandParser::Outcome CommandParser::feed(std::string_view input) { return impl_->feed(input); }

std::vector<Dlist> CommandParser::take_command() { return std::exchange(impl_->ready, {}); }

const std::string& CommandParser::error_message() const { return impl_->message; }

bool CommandParser::fatal() const { return impl_->message_fatal; }

const std::vector<std::string>& CommandParser::failed_words() const { return impl_->failed_head; }

void CommandParser::expect_raw_line() {
  impl_->raw_next = true;
  // Between commands the switch happens now; otherwise when this one ends.
  if (impl_->state == Impl::State::between && impl_->offset == 0) impl_->state = Impl::State::raw_line;
}

void CommandParser::set_limits(const ParserLimits& limits) { impl_->limits = limits; }

size_t CommandParser::buffered_bytes() const { return impl_->held; }

}  // namespace replicad::protocol
