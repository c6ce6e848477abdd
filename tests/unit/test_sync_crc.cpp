// SYNC_CRC and SYNC_CRC_ANNOT: the spec's worked example (§6.4) bit for bit,
// the CRCs a real Cyrus master sent for real mailboxes, zero-as-wildcard,
// and the incremental XOR bookkeeping against a full recompute.
#include <catch2/catch.hpp>

#include "protocol/mailbox_dlist.h"
#include "protocol/sync_crc.h"
#include "storage/guid.h"
#include "sync_test_support.h"

using namespace replicad;
using namespace replicad::protocol;
using storage::MessageRecord;

namespace {

constexpr std::string_view kMessage1 =
    "From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
constexpr std::string_view kMessage2 = "From: a@example.com\r\nSubject: two\r\n\r\nsecond\r\n";

// The two records of spec §6.4.
std::vector<MessageRecord> worked_example() {
  MessageRecord r1;
  r1.uid = 1;
  r1.modseq = 4;
  r1.last_updated = 1700000000;
  r1.system_flags = storage::kFlagSeen;
  r1.keywords = {"$Forwarded"};
  r1.internaldate = 1699999999;
  r1.size = kMessage1.size();
  r1.guid = storage::sha1_of(kMessage1);
  r1.savedate = 1699999999;
  r1.createdmodseq = 3;

  MessageRecord r2;
  r2.uid = 2;
  r2.modseq = 5;
  r2.last_updated = 1700000100;
  r2.internaldate = 1700000050;
  r2.size = kMessage2.size();
  r2.guid = storage::sha1_of(kMessage2);
  r2.savedate = 1700000050;
  r2.createdmodseq = 5;
  return {r1, r2};
}

SyncCrcs crcs_of(const std::vector<MessageRecord>& records) {
  storage::Mailbox box;
  for (const MessageRecord& r : records) replace_record_crcs(box, nullptr, &r);
  return mailbox_crcs(box);
}

// The RECORD list of one APPLY MAILBOX line, decoded as the sync core does.
std::vector<MessageRecord> records_of(std::string_view apply_line) {
  std::vector<Dlist> items = sync_test::parse_command(apply_line, nullptr);
  REQUIRE(items.size() == 3);
  MailboxRequest request;
  REQUIRE(decode_mailbox_request(items[2], request) == SyncError::ok);
  REQUIRE_FALSE(request.records_malformed);
  return request.records;
}

}  // namespace

TEST_CASE("CRC-32 is the standard reflected CRC (zlib)", "[crc]") {
  CHECK(crc32_of("123456789") == 0xCBF43926u);
  CHECK(crc32_of("") == 0u);
}

TEST_CASE("spec 6.4 worked example, bit for bit", "[crc]") {
  CHECK(storage::sha1_of(kMessage1).hex() == "67f117aa6c06fb91b94f331d2e7ec5a686ae2227");
  CHECK(storage::sha1_of(kMessage2).hex() == "181a602319ad3e3dacdb5b5a20ee3e345dd6af8c");
  CHECK(crc32_of("\\seen") == 3201761491u);
  CHECK(crc32_of("$forwarded") == 2528186923u);

  std::vector<MessageRecord> records = worked_example();
  CHECK(record_crc_basic(records[0]) == 691027881u);
  CHECK(record_crc_basic(records[1]) == 2992816851u);
  CHECK(crc32_of("1 /vendor/cmu/cyrus-imapd/savedate  1699999999") == 3355427366u);
  CHECK(crc32_of("2 /vendor/cmu/cyrus-imapd/createdmodseq  5") == 3012730893u);

  SyncCrcs crcs = crcs_of(records);
  CHECK(crcs.basic == 2605907322u);
  CHECK(crcs.annot == 1102911762u);

  SECTION("a shared annotation on UID 2 counts in SYNC_CRC_ANNOT only") {
    records[1].annotations.push_back({"/comment", "", 7, "note"});
    CHECK(crc32_of("2 /comment  note") == 1018578195u);
    SyncCrcs with_note = crcs_of(records);
    CHECK(with_note.basic == 2605907322u);
    CHECK(with_note.annot == 2097896449u);
  }
  SECTION("an expunged record counts in neither") {
    records[1].system_flags |= storage::kFlagExpunged | storage::kFlagDeleted;
    SyncCrcs expunged = crcs_of(records);
    CHECK(expunged.basic == 691027881u);
    CHECK(expunged.annot == 2777230627u);
  }
  SECTION("keywords count case-insensitively, flags in any order") {
    records[0].keywords = {"$FORWARDED"};
    CHECK(crcs_of(records).basic == 2605907322u);
  }
  SECTION("no live records: the initial values") {
    CHECK(crcs_of({}) == SyncCrcs{0, 12345678});
  }
}

TEST_CASE("thrid counts as unpadded lower-case hex", "[crc]") {
  MessageRecord r = worked_example()[1];
  r.savedate = 0;
  r.createdmodseq = 0;
  r.cid = 0x00ab12cd34ef5678ull;
  CHECK(record_crc_annot(r) == crc32_of("2 /vendor/cmu/cyrus-imapd/thrid  ab12cd34ef5678"));
}

TEST_CASE("the CRCs a Cyrus 3.6 master sent for its mailboxes", "[crc][transcript]") {
  // csync-a-initial-user-alice: user.alice.Archive.2023, records as sent.
  const std::string archive2023 =
      "APPLY MAILBOX %(UNIQUEID 59i99me84p107001c2vw7cb0 MBOXNAME user.alice.Archive.2023 SYNC_CRC 151058875 "
      "SYNC_CRC_ANNOT 3449688120 LAST_UID 4 HIGHESTMODSEQ 6 RECENTUID 4 RECENTTIME 1796302674 "
      "LAST_APPENDDATE 1796302674 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1796302675 PARTITION "
      "default ACL \"alice\tlrswipkxtecdan\t\" OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 1 "
      "RECORD (%(UID 1 MODSEQ 2 LAST_UPDATED 1796302674 FLAGS (\\Answered) INTERNALDATE 1628888637 SIZE 3094 "
      "GUID 9c08d39475fd2b63770b3702f1f9c4e60c359ca6 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate "
      "USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" "
      "MODSEQ 0 VALUE 2))) %(UID 2 MODSEQ 3 LAST_UPDATED 1796302674 FLAGS (\\Seen) INTERNALDATE 1606731476 "
      "SIZE 7321 GUID 2818ff492d74ca9a7f15ef0bdb7979e70ab685cc ANNOTATIONS (%(ENTRY "
      "/vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY "
      "/vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 3))) %(UID 3 MODSEQ 4 LAST_UPDATED "
      "1796302674 FLAGS (\\Seen) INTERNALDATE 1605901767 SIZE 6406 GUID "
      "078106381f725ec91875af92ff7f61e47c7b2b1c ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID "
      "\"\" MODSEQ 0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 "
      "VALUE 4))) %(UID 4 MODSEQ 6 LAST_UPDATED 1796302674 FLAGS (\\Flagged \\Seen $Forwarded NonJunk) "
      "INTERNALDATE 1610383315 SIZE 4461 GUID cb107c5c7011dc7f9913f60db8aa0017741a4f8b ANNOTATIONS (%(ENTRY "
      "/vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY "
      "/vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 5)))))\r\n";
  CHECK(crcs_of(records_of(archive2023)) == SyncCrcs{151058875u, 3449688120u});

  // csync-a-initial-user-alice: the INBOX, eight records.
  const std::string inbox =
      "APPLY MAILBOX %(UNIQUEID kgzs2mxlos6ow99sip5my67o MBOXNAME user.alice SYNC_CRC 2761605719 SYNC_C"
      "RC_ANNOT 3244047499 LAST_UID 8 HIGHESTMODSEQ 12 RECENTUID 5 RECENTTIME 1796302674 LAST_APPENDDAT"
      "E 1796302674 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1796302675 PARTITION default ACL \"a"
      "lice\tlrswipkxtecdan\t\" OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 9 ANNOTATIONS "
      "(%(ENTRY /comment USERID \"\" MODSEQ 0 VALUE \"shared comment for alice (seed 42)\") %(ENTRY /commen"
      "t USERID alice MODSEQ 0 VALUE \"private comment of alice\")) RECORD (%(UID 1 MODSEQ 3 LAST_UPDATED"
      " 1796302674 FLAGS (\\Flagged) INTERNALDATE 1604832197 SIZE 2290 GUID 538fb01aed0f6aa1a80d408b9770"
      "2f5e4e528d9f ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796"
      "302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 3))) %(UID 2 MODS"
      "EQ 8 LAST_UPDATED 1796302674 FLAGS (\\Seen $Forwarded NonJunk) INTERNALDATE 1632757814 SIZE 7228 "
      "GUID 31abe54a933ad0a63dea28237193c7abf05af7a5 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/saved"
      "ate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\""
      " MODSEQ 0 VALUE 4))) %(UID 3 MODSEQ 5 LAST_UPDATED 1796302674 FLAGS (\\Seen) INTERNALDATE 1608684"
      "523 SIZE 13620 GUID 4d7f79756d20983bf7e8c684cee3b418bc507ce9 ANNOTATIONS (%(ENTRY /vendor/cmu/cy"
      "rus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdm"
      "odseq USERID \"\" MODSEQ 0 VALUE 5))) %(UID 4 MODSEQ 6 LAST_UPDATED 1796302674 FLAGS () INTERNALDA"
      "TE 1628620032 SIZE 5910 GUID 09aafe5b9df3bd663d39a11e93493b2f24b8acc9 ANNOTATIONS (%(ENTRY /vend"
      "or/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd"
      "/createdmodseq USERID \"\" MODSEQ 0 VALUE 6))) %(UID 5 MODSEQ 7 LAST_UPDATED 1796302674 FLAGS (\\Se"
      "en) INTERNALDATE 1607611661 SIZE 1077179 GUID 2d584791766de0597bb7dbc3b684161c2ec55f22 ANNOTATIO"
      "NS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY /vendo"
      "r/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 7))) %(UID 6 MODSEQ 10 LAST_UPDATED 179"
      "6302674 FLAGS () INTERNALDATE 1796302674 SIZE 118801 GUID ddc4cf242d9df87195fcd327c7ffa71fde9032"
      "2d ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %("
      "ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 10))) %(UID 7 MODSEQ 11 LAS"
      "T_UPDATED 1796302674 FLAGS () INTERNALDATE 1796302674 SIZE 9834 GUID df3c2038500e30a97a36ec49634"
      "f35840dde443e ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 179"
      "6302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 11))) %(UID 8 MO"
      "DSEQ 12 LAST_UPDATED 1796302674 FLAGS () INTERNALDATE 1796302674 SIZE 3931 GUID a5c076740c4465e9"
      "24a48ad0a4da9b7c8882cc8f ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ "
      "0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 12)))"
      "))" "\r\n";
  CHECK(crcs_of(records_of(inbox)) == SyncCrcs{2761605719u, 3244047499u});

  // Expunged records do not count: with every record expunged the
  // mailbox is back at the initial values.
  std::vector<MessageRecord> all_expunged = records_of(inbox);
  for (MessageRecord& r : all_expunged) r.system_flags |= storage::kFlagExpunged;
  CHECK(crcs_of(all_expunged) == SyncCrcs{0, 12345678});
}

TEST_CASE("zero on either side matches anything", "[crc]") {
  CHECK(crc_equal({1, 2}, {1, 2}));
  CHECK(crc_equal({0, 2}, {1, 2}));
  CHECK(crc_equal({1, 0}, {1, 5}));
  CHECK(crc_equal({0, 0}, {7, 9}));
  CHECK_FALSE(crc_equal({1, 2}, {3, 2}));
  CHECK_FALSE(crc_equal({1, 2}, {1, 3}));
}

TEST_CASE("incremental updates equal a full recompute", "[crc]") {
  std::vector<MessageRecord> records = worked_example();
  storage::Mailbox box;
  for (const MessageRecord& r : records) replace_record_crcs(box, nullptr, &r);

  // Flag change, annotation, expunge, then a record removed altogether.
  MessageRecord changed = records[0];
  changed.system_flags |= storage::kFlagFlagged;
  changed.modseq = 9;
  replace_record_crcs(box, &records[0], &changed);
  records[0] = changed;

  MessageRecord annotated = records[1];
  annotated.annotations.push_back({"/comment", "alice", 3, "private"});
  replace_record_crcs(box, &records[1], &annotated);
  records[1] = annotated;
  CHECK(mailbox_crcs(box) == crcs_of(records));

  MessageRecord expunged = records[1];
  expunged.system_flags |= storage::kFlagExpunged;
  replace_record_crcs(box, &records[1], &expunged);
  records[1] = expunged;
  CHECK(mailbox_crcs(box) == crcs_of(records));

  replace_record_crcs(box, &records[0], nullptr);
  records.erase(records.begin());
  CHECK(mailbox_crcs(box) == crcs_of(records));
  CHECK(mailbox_crcs(box) == SyncCrcs{0, 12345678});
}
