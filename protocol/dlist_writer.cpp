#include "protocol/dlist_writer.h"

#include <fmt/core.h>

namespace replicad::protocol {
namespace {

// Cyrus writes anything of 1024 bytes or more as a literal (prot.c MAXQSTRING).
constexpr size_t kMaxShortString = 1024;

// Cyrus imparse_isnatom: the bytes a bare atom may hold.  0x1F is let through
// (Cyrus tests `< 0x1f`); keeping that quirk makes our bytes equal Cyrus's.
bool atom_byte(unsigned char c) {
  if (c >= 0x80 || c < 0x1F || c == 0x7F) return false;
  switch (c) {
    case ' ': case '{': case '(': case ')': case '"': case '%': case '*': case '\\':
      return false;
    default:
      return true;
  }
}

// Cyrus isQCHAR plus prot_printmap's NUL test: what may stand between quotes.
// Controls such as TAB are fine (ACL strings carry raw TABs, spec §2.3).
bool quoted_byte(unsigned char c) {
  return !(c >= 0x80 || c == '\r' || c == '\n' || c == '"' || c == '%' || c == '\\' || c == '\0');
}

bool all_bytes(std::string_view value, bool (*allowed)(unsigned char)) {
  for (char c : value)
    if (!allowed(static_cast<unsigned char>(c))) return false;
  return true;
}

// A flag is written raw only when our own reader would give back the same
// string: one token (no white space, parentheses or quotes), not starting a
// literal, kvlist or quoted string, and not the bare word NIL.  Cyrus writes
// flags raw unconditionally; with keyword names from its own IMAP parser the
// two never differ.
bool raw_flag_safe(std::string_view flag) {
  if (flag.empty() || flag == "NIL") return false;
  if (flag.front() == '{' || flag.front() == '%') return false;
  for (char c : flag) {
    switch (c) {
      case ' ': case '\t': case '\r': case '\n': case '\v': case '\f':
      case '(': case ')': case '"': case '\0':
        return false;
      default:
        break;
    }
  }
  return true;
}

void write_literal(std::string& out, std::string_view value) {
  // `{N}`, never `{N+}`: Debian's sync_client rejects non-synchronising
  // literals in replies (spec §0.3), and it never waits for "+ go ahead".
  out += fmt::format("{{{}}}\r\n", value.size());
  out.append(value);
}

void write_file_header(std::string& out, std::string_view partition, std::string_view guid_hex,
                       uint64_t size) {
  out += "%{";
  write_astring(out, partition);
  out += ' ';
  write_astring(out, guid_hex);
  out += fmt::format(" {}}}\r\n", size);
}

}  // namespace

void write_astring(std::string& out, std::string_view value) {
  if (value.empty()) {
    out += "\"\"";
  } else if (value.size() < kMaxShortString && value != "NIL" && all_bytes(value, atom_byte)) {
    out.append(value);
  } else if (value.size() < kMaxShortString && all_bytes(value, quoted_byte)) {
    out += '"';
    out.append(value);
    out += '"';
  } else {
    write_literal(out, value);
  }
}

void write_flag(std::string& out, std::string_view flag) {
  if (raw_flag_safe(flag))
    out.append(flag);
  else
    write_astring(out, flag);
}

void write_value(std::string& out, const Dlist& value) {
  switch (value.type) {
    case Dlist::Type::nil:
      out += "NIL";
      return;
    case Dlist::Type::string:
      if (value.raw_flag)
        write_flag(out, value.str);
      else
        write_astring(out, value.str);
      return;
    case Dlist::Type::list:
      out += '(';
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (i != 0) out += ' ';
        write_value(out, value.items[i]);
      }
      out += ')';
      return;
    case Dlist::Type::kvlist:
      out += "%(";
      for (size_t i = 0; i < value.items.size(); ++i) {
        if (i != 0) out += ' ';
        write_astring(out, value.items[i].name);
        out += ' ';
        write_value(out, value.items[i]);
      }
      out += ')';
      return;
    case Dlist::Type::file:
      // Header only: the bytes live in a file or the store, and the caller
      // appends exactly `size` of them (or uses write_file).
      write_file_header(out, value.file.partition, value.file.guid_hex, value.file.size);
      return;
  }
}

void write_file(std::string& out, std::string_view partition, std::string_view guid_hex,
                std::string_view bytes) {
  write_file_header(out, partition, guid_hex, bytes.size());
  out.append(bytes);
}

std::string format_item(std::string_view name, const Dlist& value) {
  std::string out;
  write_astring(out, name);
  out += ' ';
  write_value(out, value);
  return out;
}

}  // namespace replicad::protocol
