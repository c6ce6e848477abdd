// The two mailbox checksums of the replication protocol (spec §6; Cyrus
// mailbox.c `crc_basic`, `crc_annot`, `crc_virtannot`, `mailbox_crceq`).
//
// Both are XORs of one CRC-32 term per live (not expunged) record, so the
// order of records does not matter and a change to one record is applied by
// XOR-ing its old term out and its new term in.  The sync core keeps
// Mailbox::sync_crc / sync_crc_annot up to date that way; the full
// computation exists for tests and for the self-check after a mismatch.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>

#include "storage/model.h"
#include "storage/store.h"

namespace replicad::protocol {

// Starting values of an empty mailbox (Cyrus CRC_INIT_BASIC / CRC_INIT_ANNOT).
inline constexpr uint32_t kCrcInitBasic = 0;
inline constexpr uint32_t kCrcInitAnnot = 12345678;

struct SyncCrcs {
  uint32_t basic = kCrcInitBasic;
  uint32_t annot = kCrcInitAnnot;

  bool operator==(const SyncCrcs&) const = default;
};

// Standard reflected CRC-32 (zlib crc32), as Cyrus lib/crc32.c computes it.
uint32_t crc32_of(std::string_view bytes);

// A record's term in SYNC_CRC: crc32("<uid> <modseq> <last_updated> (<flagcrc>)
// <internaldate> <guid>"), 0 for an expunged record.
uint32_t record_crc_basic(const storage::MessageRecord& record);
// A record's term in SYNC_CRC_ANNOT: the virtual annotations (thrid, savedate,
// createdmodseq, when non-zero) and every real annotation, each
// crc32("<uid> <entry> <userid> <value>"), XORed; 0 for an expunged record.
uint32_t record_crc_annot(const storage::MessageRecord& record);

// Zero on either side of a value means "don't care" (Cyrus mailbox_crceq).
bool crc_equal(SyncCrcs a, SyncCrcs b);

SyncCrcs mailbox_crcs(const storage::Mailbox& mailbox);

// Moves a mailbox's stored CRCs from `before` to `after` for one record;
// either may be null (record added / removed).
void replace_record_crcs(storage::Mailbox& mailbox, const storage::MessageRecord* before,
                         const storage::MessageRecord* after);

// Recomputes both CRCs from every record of the mailbox (by uniqueid).
storage::Status compute_mailbox_crcs(storage::ReadView& view, std::string_view uniqueid,
                                     SyncCrcs& crcs);

}  // namespace replicad::protocol
