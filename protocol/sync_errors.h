// The outcome of a sync command, as Cyrus's sync_server reports it.
//
// sync_client recognises an error only by the exact text after "NO " (spec §3,
// Cyrus sync_support.c `sync_response` / `sync_parse_response`), so these
// strings are copied byte for byte -- including Cyrus's quirk of sending
// IMAP_PROTOCOL_BAD_PARAMETERS without any text, which the client therefore
// treats as an unknown refusal.
#pragma once

#include <string_view>

namespace replicad::protocol {

enum class SyncError {
  ok,
  invalid_user,
  mailbox_nonexistent,
  mailbox_locked,
  mailbox_moved,
  mailbox_notsupported,
  sync_checksum,
  sync_changed,
  sync_badsieve,
  protocol_error,
  bad_parameters,
  unknown,  // every other Cyrus error (IOERROR, BADTYPE, EXISTS, ...)
};

// The status line text without tag or CRLF, e.g. "OK success".
std::string_view status_text(SyncError error);

}  // namespace replicad::protocol
