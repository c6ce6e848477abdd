// What the load generator sends: one mailbox's worth of new mail at a time,
// in the shape sync_client gives a first sync of it (spec §3.1-3.3, §5.2):
//
//   APPLY RESERVE %(PARTITION default MBOXNAME (<box>) GUID (<guid> ...))
//   APPLY MESSAGE (%{default <guid> <size>}\r\n<bytes> ...)   at most 1024 files each
//   APPLY MAILBOX %(UNIQUEID ... SYNC_CRC ... RECORD (%(UID 1 ...) ...))
//
// Messages are RFC 5322 text of a chosen mean size, each unique (so every
// GUID is new to the replica), with GUIDs that are the SHA-1 of their bytes
// and mailbox CRCs computed by the project's own sync_crc, so the replica
// accepts and stores everything exactly as from the real client.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "storage/guid.h"
#include "storage/model.h"

namespace replicad::bench {

// sync_client never puts more files than this into one APPLY MESSAGE.
inline constexpr size_t kMaxFilesPerMessageCommand = 1024;

struct MailboxBatch {
  storage::Mailbox header;                       // with SYNC_CRC / SYNC_CRC_ANNOT of all records
  std::vector<storage::MessageRecord> records;   // UID 1..n
  std::vector<std::string> bodies;               // bodies[i] belongs to records[i]
  uint64_t body_bytes = 0;
};

class MessageFactory {
 public:
  // `run_id` makes this run's messages differ from any earlier run's, so
  // the replica never finds them already stored.  Sizes spread evenly over
  // [mean/2, 3*mean/2], or are all exactly `mean_size` with `exact`.
  MessageFactory(uint64_t seed, std::string run_id, uint64_t mean_size, bool exact = false);

  // A fresh mailbox `name` owned by `owner` with `count` new messages.
  MailboxBatch make_mailbox(const std::string& owner, const std::string& name, uint32_t count);

 private:
  std::string make_body(const std::string& owner, const std::string& mailbox, uint32_t uid);
  std::string uniqueid();

  std::mt19937_64 rng_;
  std::string run_id_;
  uint64_t mean_size_;
  bool exact_;
  std::string filler_;  // text the bodies are cut from
};

// The arguments after `APPLY ` (the caller adds the verb).
std::string reserve_args(const MailboxBatch& batch);
// One string per APPLY MESSAGE, files [first, first + kMaxFilesPerMessageCommand).
std::string message_args(const MailboxBatch& batch, size_t first);
std::string mailbox_args(const MailboxBatch& batch);

}  // namespace replicad::bench
