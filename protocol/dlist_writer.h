// Writes dlist values the way Cyrus's own replica does (spec §2.3): atoms when
// the bytes allow it, quoted strings when they fit, `{N}` literals otherwise
// (never `{N+}`: Debian's sync_client refuses those in replies, spec §0.3).
#pragma once

#include <string>
#include <string_view>

#include "protocol/dlist.h"

namespace replicad::protocol {

// Appends the wire form of a string value (atom / "quoted" / {N}\r\n literal).
void write_astring(std::string& out, std::string_view value);
// Appends a flag name raw (`\Seen` is written without quotes, spec §2.3).
void write_flag(std::string& out, std::string_view flag);
// Appends a whole value: NIL, string, (list), %(kvlist) or %{file} header.
// File values are written as `%{partition guid size}\r\n` followed by the
// bytes in `body`, which the caller must supply via write_file instead.
void write_value(std::string& out, const Dlist& value);
// Appends `%{partition guid size}\r\n<bytes>` (GET FETCH).
void write_file(std::string& out, std::string_view partition, std::string_view guid_hex,
                std::string_view bytes);
// Convenience: the wire form of one data line item `NAME value` (no "* ", no CRLF).
std::string format_item(std::string_view name, const Dlist& value);

}  // namespace replicad::protocol
