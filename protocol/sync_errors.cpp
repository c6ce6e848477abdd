#include "protocol/sync_errors.h"

namespace replicad::protocol {

std::string_view status_text(SyncError error) {
  switch (error) {
    case SyncError::ok: return "OK success";
    case SyncError::invalid_user: return "NO IMAP_INVALID_USER No Such User";
    case SyncError::mailbox_nonexistent: return "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox";
    case SyncError::mailbox_locked: return "NO IMAP_MAILBOX_LOCKED Mailbox locked";
    case SyncError::mailbox_moved:
      return "NO IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid";
    case SyncError::mailbox_notsupported:
      return "NO IMAP_MAILBOX_NOTSUPPORTED Operation is not supported on mailbox";
    case SyncError::sync_checksum: return "NO IMAP_SYNC_CHECKSUM Checksum Failure";
    case SyncError::sync_changed: return "NO IMAP_SYNC_CHANGED Changed since last sync";
    case SyncError::sync_badsieve: return "NO IMAP_SYNC_BADSIEVE Sieve script compilation failure";
    case SyncError::protocol_error: return "NO IMAP_PROTOCOL_ERROR Protocol error";
    // Cyrus sends the bare code here; the client then sees "remote denied".
    case SyncError::bad_parameters: return "NO IMAP_PROTOCOL_BAD_PARAMETERS";
    case SyncError::unknown: return "NO Unknown error";
  }
  return "NO Unknown error";
}

}  // namespace replicad::protocol
