// The replica's data model: what Cyrus keeps per mailbox, per message record,
// per user.  Field names follow the wire (spec §3.3.1, §3.3.2) so a reader can
// map them one to one; every value is stored exactly as the master sent it,
// because the client compares them byte for byte on the next run (spec §4.7).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "storage/guid.h"

namespace replicad::storage {

// One mailbox-level or per-message annotation (spec §3.3.4).  `userid` empty
// means the shared value.
struct Annotation {
  std::string entry;
  std::string userid;
  uint64_t modseq = 0;
  std::string value;  // raw bytes, may contain NUL

  bool operator==(const Annotation&) const = default;
};

// System flags of a record as a bit set.  Expunged is Cyrus's pseudo-flag for
// a record that is gone but still replicated.
enum SystemFlag : uint32_t {
  kFlagAnswered = 1u << 0,
  kFlagFlagged = 1u << 1,
  kFlagDeleted = 1u << 2,
  kFlagDraft = 1u << 3,
  kFlagSeen = 1u << 4,
  kFlagExpunged = 1u << 5,
};

struct MessageRecord {
  uint32_t uid = 0;
  uint64_t modseq = 0;
  uint64_t last_updated = 0;   // times are kept as the unsigned wire value
  uint32_t system_flags = 0;   // SystemFlag bits
  std::vector<std::string> keywords;  // user flags, in the order the master sent them
  uint64_t internaldate = 0;
  uint32_t size = 0;
  Guid guid;
  // The three "virtual annotations" that are really record fields (spec §3.3.4).
  uint64_t cid = 0;            // /vendor/cmu/cyrus-imapd/thrid
  uint64_t savedate = 0;       // /vendor/cmu/cyrus-imapd/savedate
  uint64_t createdmodseq = 0;  // /vendor/cmu/cyrus-imapd/createdmodseq
  std::vector<Annotation> annotations;  // real per-message annotations only

  bool expunged() const { return (system_flags & kFlagExpunged) != 0; }
  bool operator==(const MessageRecord&) const = default;
};

// A mailbox header.  Intermediates (mbtype contains 'i') keep only uniqueid,
// name, mbtype, createdmodseq and foldermodseq (spec §3.3.5 step 2, §4.6).
struct Mailbox {
  std::string uniqueid;
  std::string name;          // internal name, e.g. user.alice.Sent
  std::string mbtype;        // MBOXTYPE letters; empty for a plain e-mail folder
  uint32_t last_uid = 0;
  uint64_t highestmodseq = 0;
  uint32_t recentuid = 0;
  uint64_t recenttime = 0;
  uint64_t last_appenddate = 0;
  uint64_t pop3_last_login = 0;
  uint64_t pop3_show_after = 0;
  uint64_t xconvmodseq = 0;
  uint64_t raclmodseq = 0;
  uint32_t uidvalidity = 0;
  std::string partition;     // empty + partition_nil for intermediates
  bool partition_nil = false;
  std::string acl;           // verbatim: id<TAB>rights<TAB>...
  std::string options;       // OPTIONS letters as sent (P, S, D, A)
  uint64_t createdmodseq = 0;
  uint64_t foldermodseq = 0;
  std::vector<Annotation> annotations;  // mailbox-level annotations

  // Kept up to date by the sync core whenever it changes records (both are
  // XORs of per-record terms, spec §6), so GET USER never scans records.
  uint32_t sync_crc = 0;
  uint32_t sync_crc_annot = 12345678;

  bool is_intermediate() const { return mbtype.find('i') != std::string::npos; }
  bool operator==(const Mailbox&) const = default;
};

// A quota root (spec §3.6).  A limit of -1 means "no limit on this resource".
struct QuotaRoot {
  std::string root;
  int64_t storage = -1;               // KiB
  int64_t message = -1;               // count
  int64_t annotation_storage = -1;    // KiB (X-ANNOTATION-STORAGE)
  int64_t num_folders = -1;           // count (X-NUM-FOLDERS)
  uint64_t modseq = 0;

  bool operator==(const QuotaRoot&) const = default;
};

// Per-user \Seen state on a mailbox the user does not own (spec §3.7).
struct SeenEntry {
  std::string uniqueid;
  uint64_t lastread = 0;
  uint32_t lastuid = 0;
  uint64_t lastchange = 0;
  std::string seenuids;  // IMAP sequence set, possibly empty

  bool operator==(const SeenEntry&) const = default;
};

// A user's Sieve script as the master sent it (APPLY SIEVE, spec §3.9).
// Without SIEVE-MAILBOX Cyrus replicates scripts as per-user data, not as
// messages of a #sieve mailbox; which script is active is kept per user
// beside them (at most one).
struct SieveScript {
  std::string name;          // without Cyrus's ".script" suffix
  uint64_t last_update = 0;  // the master's LAST_UPDATE, as sent
  Guid guid;                 // SHA-1 of content: set by the store, never by callers
  std::string content;       // the script bytes, exactly as sent (any bytes)

  bool operator==(const SieveScript&) const = default;
};

}  // namespace replicad::storage
