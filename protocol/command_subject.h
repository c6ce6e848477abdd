// Which user a sync command is about, for the daemon's activity report
// (per-user last apply, failures): the owner of the mailbox it names, or the
// userid it carries.
//
//   APPLY MAILBOX %(MBOXNAME user.alice.Sent ...)    -> alice
//   APPLY SUB %(USERID bob MBOXNAME shared.news)     -> bob
//   GET USER jane@example.com                        -> jane@example.com
//   APPLY MESSAGE (...), APPLY RESERVE, shared mailboxes, server annotations -> ""
#pragma once

#include <string>
#include <string_view>

#include "protocol/dlist.h"

namespace replicad::protocol {

// Subjects longer than this are not names Cyrus could have created.
inline constexpr size_t kMaxSubject = 256;

// `verb` is APPLY, GET or RESTORE; `kind` the upper-cased first key.
std::string command_subject(std::string_view verb, std::string_view kind, const Dlist& value);

}  // namespace replicad::protocol
