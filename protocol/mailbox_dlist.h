// The MAILBOX kvlist in both directions (spec §3.3, §4.4, §4.6; Cyrus
// sync_support.c `sync_apply_mailbox` field reading, `parse_upload`,
// `sync_getflags`, `decode_annotations`, and on the way out
// `sync_prepare_dlists`, `sync_print_flags`, `encode_annotations`,
// `sync_mailbox_byentry`).
//
// The master compares what the replica reports with its own values byte for
// byte (spec §4.7), so the encoder writes the fields in Cyrus's order and
// form, and the decoder keeps every value exactly as the master sent it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "protocol/dlist.h"
#include "protocol/reply_writer.h"
#include "protocol/sync_crc.h"
#include "protocol/sync_errors.h"
#include "storage/model.h"

namespace replicad::protocol {

// One decoded APPLY MAILBOX / LOCAL_MAILBOX.
struct MailboxRequest {
  // The master's header fields in the form they are stored in.  For the
  // short intermediate/tombstone form only uniqueid, name, mbtype,
  // createdmodseq and foldermodseq (= the request's HIGHESTMODSEQ) are set.
  storage::Mailbox header;
  bool placeholder = false;          // MBOXTYPE contains 'i' or 'd' (spec §3.3.5 step 2)
  uint64_t foldermodseq_sent = 0;    // FOLDERMODSEQ as sent, 0 when absent
  SyncCrcs crcs{0, 0};               // SYNC_CRC / SYNC_CRC_ANNOT; 0 = not checked
  uint64_t since_modseq = 0;         // SINCE_MODSEQ; 0 = not a delta
  SyncCrcs since_crcs{0, 0};
  std::vector<storage::MessageRecord> records;
  // A RECORD entry that does not parse.  Cyrus reports it only once the
  // header checks have passed (as IMAP_PROTOCOL_ERROR), so it is kept here.
  bool records_malformed = false;
};

// Reads the request; bad_parameters when a required field is missing or does
// not convert (spec §3.3.5 steps 1 and 4), unknown for a name Cyrus would
// refuse to create, ok otherwise.
SyncError decode_mailbox_request(const Dlist& kvlist, MailboxRequest& request);

// One RECORD entry; nullopt if a required field is missing or malformed.
std::optional<storage::MessageRecord> decode_record(const Dlist& kvlist);

// A list of annotation kvlists.  Empty values are deletions and are dropped;
// the result is sorted by (entry, userid), one value each.  With `record`,
// the three virtual annotations are moved into its fields instead.
bool decode_annotations(const Dlist& list, std::vector<storage::Annotation>& out,
                        storage::MessageRecord* record);

// OPTIONS letters kept in Cyrus's canonical order (P S D A); others dropped.
std::string canonical_options(std::string_view letters);

// Writes the fields of `%(...)` for a mailbox as a Cyrus replica reports it
// in GET USER / MAILBOXES / FULLMAILBOX: the full form, or the short form
// for an intermediate.  The caller opens and closes the kvlist (and adds
// RECORD for FULLMAILBOX).
void write_mailbox_fields(KvWriter& kv, const storage::Mailbox& mailbox,
                          const std::optional<std::string>& quotaroot);

// Appends one record as `%(UID ... GUID ... [ANNOTATIONS (...)])`.
void write_record(std::string& out, const storage::MessageRecord& record);

}  // namespace replicad::protocol
