#include "protocol/sync_crc.h"

#include <fmt/format.h>
#include <zlib.h>

#include <string>

namespace replicad::protocol {
namespace {

constexpr std::string_view kAnnotNs = "/vendor/cmu/cyrus-imapd/";

// Cyrus lower-cases flag names (ASCII only) before hashing them, so that a
// keyword's spelling does not change the checksum.
uint32_t crc32_lowercase(std::string_view name) {
  std::string lower(name);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return crc32_of(lower);
}

uint32_t flag_crc(const storage::MessageRecord& record) {
  // The names Cyrus hashes for system flags: lower case, with the backslash.
  static const uint32_t deleted = crc32_of("\\deleted");
  static const uint32_t answered = crc32_of("\\answered");
  static const uint32_t flagged = crc32_of("\\flagged");
  static const uint32_t draft = crc32_of("\\draft");
  static const uint32_t seen = crc32_of("\\seen");

  uint32_t crc = 0;
  if (record.system_flags & storage::kFlagDeleted) crc ^= deleted;
  if (record.system_flags & storage::kFlagAnswered) crc ^= answered;
  if (record.system_flags & storage::kFlagFlagged) crc ^= flagged;
  if (record.system_flags & storage::kFlagDraft) crc ^= draft;
  if (record.system_flags & storage::kFlagSeen) crc ^= seen;
  for (const std::string& keyword : record.keywords) crc ^= crc32_lowercase(keyword);
  return crc;
}

// crc32("<uid> <entry> <userid> " + value): the userid of a shared value is
// empty, which leaves two spaces in a row (spec §6.2).
uint32_t annotation_crc(uint32_t uid, std::string_view entry, std::string_view userid,
                        std::string_view value) {
  std::string text = fmt::format("{} {} {} ", uid, entry, userid);
  text.append(value);
  return crc32_of(text);
}

}  // namespace

uint32_t crc32_of(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

uint32_t record_crc_basic(const storage::MessageRecord& record) {
  if (record.expunged()) return 0;
  // Cyrus prints the two times as signed time_t; the wire keeps them unsigned.
  return crc32_of(fmt::format("{} {} {} ({}) {} {}", record.uid, record.modseq,
                              static_cast<int64_t>(record.last_updated), flag_crc(record),
                              static_cast<int64_t>(record.internaldate), record.guid.hex()));
}

uint32_t record_crc_annot(const storage::MessageRecord& record) {
  if (record.expunged()) return 0;
  uint32_t crc = 0;
  // The virtual annotations are record fields; thrid is hashed as unpadded
  // lower-case hex although its wire form is padded to 16 digits.
  if (record.cid != 0)
    crc ^= annotation_crc(record.uid, fmt::format("{}thrid", kAnnotNs), "",
                          fmt::format("{:x}", record.cid));
  if (record.savedate != 0)
    crc ^= annotation_crc(record.uid, fmt::format("{}savedate", kAnnotNs), "",
                          fmt::format("{}", static_cast<int64_t>(record.savedate)));
  if (record.createdmodseq != 0)
    crc ^= annotation_crc(record.uid, fmt::format("{}createdmodseq", kAnnotNs), "",
                          fmt::format("{}", record.createdmodseq));
  for (const storage::Annotation& a : record.annotations)
    crc ^= annotation_crc(record.uid, a.entry, a.userid, a.value);
  return crc;
}

bool crc_equal(SyncCrcs a, SyncCrcs b) {
  if (a.basic != 0 && b.basic != 0 && a.basic != b.basic) return false;
  if (a.annot != 0 && b.annot != 0 && a.annot != b.annot) return false;
  return true;
}

SyncCrcs mailbox_crcs(const storage::Mailbox& mailbox) {
  return {mailbox.sync_crc, mailbox.sync_crc_annot};
}

void replace_record_crcs(storage::Mailbox& mailbox, const storage::MessageRecord* before,
                         const storage::MessageRecord* after) {
  if (before != nullptr) {
    mailbox.sync_crc ^= record_crc_basic(*before);
    mailbox.sync_crc_annot ^= record_crc_annot(*before);
  }
  if (after != nullptr) {
    mailbox.sync_crc ^= record_crc_basic(*after);
    mailbox.sync_crc_annot ^= record_crc_annot(*after);
  }
}

storage::Status compute_mailbox_crcs(storage::ReadView& view, std::string_view uniqueid,
                                     SyncCrcs& crcs) {
  crcs = SyncCrcs{};
  return view.for_each_record(uniqueid, 1, [&](const storage::MessageRecord& record) {
    crcs.basic ^= record_crc_basic(record);
    crcs.annot ^= record_crc_annot(record);
    return true;
  });
}

}  // namespace replicad::protocol
