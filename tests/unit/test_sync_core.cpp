// The sync core end to end: wire text in, through the real command parser,
// SyncCore and a real LMDB store, Cyrus's exact reply text out.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <map>
#include <string>
#include <vector>

#include "protocol/mailbox_dlist.h"
#include "protocol/mailbox_type.h"
#include "protocol/sync_names.h"
#include "protocol/sync_crc.h"
#include "storage/guid.h"
#include "sync_test_support.h"

using namespace replicad;
using namespace replicad::protocol;
using sync_test::SyncHarness;

namespace {

// ---- transcript excerpts (shared/peer/transcripts, Cyrus 3.6.1-Debian) ----

// csync-a-initial-user-alice: the master's MAILBOX for user.alice.Archive.
const std::string kArchiveApply =
      "APPLY MAILBOX %(UNIQUEID 3kh4znpjibcg1zjuw2ej5gzc MBOXNAME user.alice.Archive SYNC_CRC 396731485"
      "7 SYNC_CRC_ANNOT 3404977185 LAST_UID 4 HIGHESTMODSEQ 8 RECENTUID 4 RECENTTIME 1796302674 LAST_AP"
      "PENDDATE 1796302674 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1796302675 PARTITION default"
      " ACL \"alice\tlrswipkxtecdan\t\" OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 2 ANNOT"
      "ATIONS (%(ENTRY /specialuse USERID alice MODSEQ 0 VALUE {8+}\r\n\\Archive)) RECORD (%(UID 1 MODSEQ "
      "3 LAST_UPDATED 1796302674 FLAGS (\\Seen) INTERNALDATE 1627464504 SIZE 5778 GUID 1232258e95e7f2a98"
      "31aa391a88fa3164380da07 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0"
      " VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 3))) %"
      "(UID 2 MODSEQ 4 LAST_UPDATED 1796302674 FLAGS () INTERNALDATE 1603653020 SIZE 1256 GUID ad5fa4fc"
      "69e1de3e59af0776a0cff1bae4025380 ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\""
      " MODSEQ 0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VAL"
      "UE 4))) %(UID 3 MODSEQ 7 LAST_UPDATED 1796302674 FLAGS (\\Seen $Label1 $Forwarded NonJunk) INTERN"
      "ALDATE 1615700267 SIZE 26951 GUID 7826cc26304ceb79447fcc056f2bf9cc9b61a4ec ANNOTATIONS (%(ENTRY "
      "/vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY /vendor/cmu/cyrus-"
      "imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 5))) %(UID 4 MODSEQ 8 LAST_UPDATED 1796302674 FLAGS"
      " (\\Answered) INTERNALDATE 1627064677 SIZE 5087 GUID bec98ec70a1deecf5cf0ae5e1082334ee95d3c32 ANN"
      "OTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302674) %(ENTRY "
      "/vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 6)))))\r\n"
;

// csync-b-noop-user-alice: what the Cyrus replica reported for it afterwards.
const std::string kArchiveGet =
      "* MAILBOX %(UNIQUEID 3kh4znpjibcg1zjuw2ej5gzc MBOXNAME user.alice.Archive SYNC_CRC 3967314857 SY"
      "NC_CRC_ANNOT 3404977185 LAST_UID 4 HIGHESTMODSEQ 8 RECENTUID 4 RECENTTIME 1796302674 LAST_APPEND"
      "DATE 1796302674 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1796302675 PARTITION default ACL"
      " \"alice\tlrswipkxtecdan\t\" OPTIONS P QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 2 ANNOTATIO"
      "NS (%(ENTRY /specialuse USERID alice MODSEQ 0 VALUE {8}\r\n\\Archive)))\r\n"
;

// The record sizes of that mailbox (GUIDs are SHA-1s of bodies the
// transcript does not show; CRCs do not depend on the bytes).
const std::vector<std::pair<std::string, size_t>> kArchiveBodies = {
    {"1232258e95e7f2a9831aa391a88fa3164380da07", 5778},
    {"ad5fa4fc69e1de3e59af0776a0cff1bae4025380", 1256},
    {"7826cc26304ceb79447fcc056f2bf9cc9b61a4ec", 26951},
    {"bec98ec70a1deecf5cf0ae5e1082334ee95d3c32", 5087},
};

void stage_archive_bodies(SyncHarness& h) {
  for (const auto& [hex, size] : kArchiveBodies) h.stage(*storage::Guid::from_hex(hex), std::string(size, 'x'));
}

// ---- building requests ----------------------------------------------------

struct Message {
  uint32_t uid = 0;
  uint64_t modseq = 0;
  std::string flags;         // as on the wire, e.g. "\\Seen $Forwarded"
  std::string body;
  uint64_t savedate = 0;
  uint64_t createdmodseq = 0;
  std::string annotations;   // extra annotation kvlists, wire text
  uint64_t last_updated = 1700000000;
  uint64_t internaldate = 1690000000;

  storage::Guid guid() const { return storage::sha1_of(body); }
};

std::string record_text(const Message& m) {
  std::string annots = m.annotations;
  if (m.savedate != 0)
    annots += fmt::format("{}%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE {})",
                          annots.empty() ? "" : " ", m.savedate);
  if (m.createdmodseq != 0)
    annots += fmt::format("{}%(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE {})",
                          annots.empty() ? "" : " ", m.createdmodseq);
  return fmt::format("%(UID {} MODSEQ {} LAST_UPDATED {} FLAGS ({}) INTERNALDATE {} SIZE {} GUID {}{})", m.uid,
                     m.modseq, m.last_updated, m.flags, m.internaldate, m.body.size(), m.guid().hex(),
                     annots.empty() ? "" : " ANNOTATIONS (" + annots + ")");
}

struct Folder {
  std::string uniqueid = "u1b2c3d4e5f6g7h8i9j0k1l2";
  std::string name = "user.bob";
  uint32_t last_uid = 0;
  uint64_t highestmodseq = 0;
  uint32_t uidvalidity = 1700000000;
  uint64_t foldermodseq = 1;
  std::string acl = "bob\tlrswipkxtecdan\t";
  std::string extra;  // more header fields, wire text with a leading space
};

// The master's CRCs of a set of records, as the client computes them.
SyncCrcs crcs_of(const std::vector<Message>& all) {
  std::string cmd = "APPLY MAILBOX %(UNIQUEID x MBOXNAME x HIGHESTMODSEQ 1 RECORD (";
  for (const Message& m : all) cmd += record_text(m) + " ";
  cmd += ") PARTITION p LAST_UID 0 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 "
         "UIDVALIDITY 1 ACL \"\" OPTIONS \"\")\r\n";
  std::vector<Dlist> items = sync_test::parse_command(cmd, nullptr);
  MailboxRequest request;
  REQUIRE(decode_mailbox_request(items[2], request) == SyncError::ok);
  storage::Mailbox box;
  for (const auto& r : request.records) replace_record_crcs(box, nullptr, &r);
  return mailbox_crcs(box);
}

// APPLY MAILBOX with `sent` as RECORD and the CRCs of `state` (the
// master's whole mailbox); `since` adds SINCE_* for a delta.
std::string mailbox_cmd(const Folder& f, const std::vector<Message>& sent, std::optional<SyncCrcs> crcs,
                        std::string since = {}) {
  std::string records;
  for (const Message& m : sent) records += (records.empty() ? "" : " ") + record_text(m);
  std::string crc_text = crcs ? fmt::format(" SYNC_CRC {} SYNC_CRC_ANNOT {}", crcs->basic, crcs->annot) : "";
  return fmt::format(
      "APPLY MAILBOX %(UNIQUEID {} MBOXNAME {}{} LAST_UID {} HIGHESTMODSEQ {} RECENTUID {} RECENTTIME 1700000001 "
      "LAST_APPENDDATE 1700000002 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY {} PARTITION default ACL \"{}\" "
      "OPTIONS P CREATEDMODSEQ 1 FOLDERMODSEQ {}{}{} RECORD ({}))\r\n",
      f.uniqueid, f.name, crc_text, f.last_uid, f.highestmodseq, f.last_uid, f.uidvalidity, f.acl,
      f.foldermodseq, f.extra, since, records);
}

std::string message_cmd(const std::vector<Message>& msgs) {
  std::string cmd = "APPLY MESSAGE (";
  for (size_t i = 0; i < msgs.size(); ++i)
    cmd += fmt::format("{}%{{default {} {}}}\r\n{}", i ? " " : "", msgs[i].guid().hex(), msgs[i].body.size(),
                       msgs[i].body);
  return cmd + ")\r\n";
}

std::string get_user(SyncHarness& h, std::string_view user) { return h.run(fmt::format("GET USER {}\r\n", user)); }

// The replica's stored CRCs and a full recompute from its records.
std::pair<SyncCrcs, SyncCrcs> stored_and_recomputed(SyncHarness& h, const std::string& name) {
  return h.read([&](storage::ReadView& view) {
    std::optional<storage::Mailbox> box = view.mailbox(name);
    REQUIRE(box);
    SyncCrcs full;
    REQUIRE(compute_mailbox_crcs(view, box->uniqueid, full).ok());
    return std::make_pair(mailbox_crcs(*box), full);
  });
}

const std::string kOk = "OK success\r\n";

// Three messages of user.bob, the way a first sync sends them.
struct BobFixture {
  SyncHarness h;
  Folder folder;
  std::vector<Message> msgs;

  BobFixture() {
    msgs = {
        {1, 3, "\\Seen", "From: a@example.com\r\n\r\none\r\n", 1700000000, 3},
        {2, 4, "\\Flagged $Forwarded", "From: b@example.com\r\n\r\ntwo\r\n", 1700000000, 4},
        {3, 5, "", "From: c@example.com\r\n\r\nthree\r\n", 1700000000, 5},
    };
    folder.last_uid = 3;
    folder.highestmodseq = 5;
  }
  void initial_sync() {
    REQUIRE(h.run_staged(message_cmd(msgs)) == kOk);
    REQUIRE(h.run(mailbox_cmd(folder, msgs, crcs_of(msgs))) == kOk);
  }
};

}  // namespace

// ---------------------------------------------------------------------------

TEST_CASE("a first MAILBOX from a transcript is reported back exactly as Cyrus did", "[mailbox][transcript]") {
  SyncConfig config;
  SyncHarness h(config);
  stage_archive_bodies(h);
  // The QUOTAROOT field of MAILBOX is advisory; roots come from QUOTA.
  REQUIRE(h.run("APPLY QUOTA %(ROOT user.alice LIMIT 4000000 STORAGE 4000000 MESSAGE 900000 MODSEQ 54)\r\n") == kOk);
  REQUIRE(h.run(kArchiveApply) == kOk);

  SECTION("GET MAILBOXES gives the line the Cyrus replica gave") {
    CHECK(h.run("GET MAILBOXES (user.alice.Archive)\r\n") == kArchiveGet + kOk);
  }
  SECTION("GET FULLMAILBOX gives back what the master sent, records included") {
    // The master's own line, as a replica writes it: "* " instead of
    // "APPLY ", and a {N} literal where the client wrote {N+}.
    std::string expected = "* " + kArchiveApply.substr(6);
    expected.replace(expected.find("{8+}"), 4, "{8}");
    CHECK(h.run("GET FULLMAILBOX user.alice.Archive\r\n") == expected + kOk);
  }
  SECTION("GET USER lists it and its quota root") {
    CHECK(get_user(h, "alice") ==
          kArchiveGet + "* QUOTA %(ROOT user.alice LIMIT 4000000 STORAGE 4000000 MESSAGE 900000 MODSEQ 54)\r\n" + kOk);
  }
  SECTION("the same MAILBOX again changes nothing and succeeds") {
    CHECK(h.run(kArchiveApply) == kOk);
    CHECK(h.run("GET MAILBOXES (user.alice.Archive)\r\n") == kArchiveGet + kOk);
  }
  auto [stored, full] = stored_and_recomputed(h, "user.alice.Archive");
  CHECK(stored == full);
  CHECK(stored == SyncCrcs{3967314857u, 3404977185u});
}

TEST_CASE("MESSAGE then MAILBOX: uploads verified and used, GET FETCH returns them", "[mailbox][message]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  auto [stored, full] = stored_and_recomputed(h, "user.bob");
  CHECK(stored == full);
  CHECK(stored == crcs_of(f.msgs));

  const Message& m2 = f.msgs[1];
  std::string fetch = fmt::format(
      "GET FETCH %(MBOXNAME user.bob PARTITION p2 UNIQUEID {} GUID {} UID 2)\r\n", f.folder.uniqueid, m2.guid().hex());
  CHECK(h.run(fetch) == fmt::format("* MESSAGE %{{p2 {} {}}}\r\n{}\r\n", m2.guid().hex(), m2.body.size(), m2.body) + kOk);

  SECTION("a GUID that is not the record's message gives MESSAGE NIL") {
    std::string wrong = fmt::format("GET FETCH %(MBOXNAME user.bob PARTITION default UNIQUEID {} GUID {} UID 2)\r\n",
                                    f.folder.uniqueid, f.msgs[0].guid().hex());
    CHECK(h.run(wrong) == "* MESSAGE NIL\r\n" + kOk);
  }
  SECTION("an unknown UID is NONEXISTENT") {
    std::string missing = fmt::format("GET FETCH %(MBOXNAME user.bob PARTITION default UNIQUEID {} GUID {} UID 9)\r\n",
                                      f.folder.uniqueid, m2.guid().hex());
    CHECK(h.run(missing) == "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  }
  SECTION("missing fields are BAD_PARAMETERS") {
    CHECK(h.run("GET FETCH %(MBOXNAME user.bob UID 2)\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  }
}

TEST_CASE("GET FULLMAILBOX lists every record with flags in Cyrus order", "[mailbox]") {
  BobFixture f;
  f.msgs[0].flags = "\\seen \\DRAFT \\Answered keyWord \\Deleted \\Flagged $x KEYWORD \\Recent";
  f.initial_sync();
  std::string full = f.h.run("GET FULLMAILBOX user.bob\r\n");
  // System flags case-insensitive and reordered, \Recent dropped, keywords
  // keep their first spelling and order, duplicates (any case) dropped.
  CHECK(full.find("FLAGS (\\Deleted \\Answered \\Flagged \\Draft \\Seen keyWord $x)") != std::string::npos);
  CHECK(full.find("RECORD (%(UID 1 MODSEQ 3 LAST_UPDATED 1700000000 FLAGS (") != std::string::npos);
  CHECK(full.find("%(UID 3 MODSEQ 5 LAST_UPDATED 1700000000 FLAGS () INTERNALDATE 1690000000 SIZE") !=
        std::string::npos);
  CHECK(full.find("ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1700000000) "
                  "%(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 5))))") !=
        std::string::npos);
  CHECK(f.h.run("GET FULLMAILBOX user.nobody\r\n") == "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
}

TEST_CASE("incremental MAILBOX with SINCE_*: flag change, expunge, new message", "[mailbox][incremental]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  SyncCrcs before = crcs_of(f.msgs);
  std::string since = fmt::format(" SINCE_MODSEQ 5 SINCE_CRC {} SINCE_CRC_ANNOT {}", before.basic, before.annot);

  std::vector<Message> state = f.msgs;
  state[0].flags = "\\Seen \\Answered";
  state[0].modseq = 6;
  state[1].flags = "\\Deleted \\Expunged";
  state[1].modseq = 7;
  Message m4{4, 8, "$Label1", "From: d@example.com\r\n\r\nfour\r\n", 1700000100, 8};
  m4.annotations = "%(ENTRY /comment USERID \"\" MODSEQ 8 VALUE \"a note\")";
  state.push_back(m4);
  Folder folder = f.folder;
  folder.last_uid = 4;
  folder.highestmodseq = 8;

  REQUIRE(h.run_staged(message_cmd({m4})) == kOk);
  std::vector<Message> delta = {state[0], state[1], m4};

  SECTION("applied when the replica is where the client thinks") {
    CHECK(h.run(mailbox_cmd(folder, delta, crcs_of(state), since)) == kOk);
    auto [stored, full] = stored_and_recomputed(h, "user.bob");
    CHECK(stored == full);
    CHECK(stored == crcs_of(state));
    std::string user = get_user(h, "bob");
    CHECK(user.find("LAST_UID 4 HIGHESTMODSEQ 8 ") != std::string::npos);
    std::string full_text = h.run("GET FULLMAILBOX user.bob\r\n");
    CHECK(full_text.find("%(UID 2 MODSEQ 7 LAST_UPDATED 1700000000 FLAGS (\\Deleted \\Expunged)") != std::string::npos);
    CHECK(full_text.find("%(ENTRY /comment USERID \"\" MODSEQ 8 VALUE \"a note\")") != std::string::npos);
  }
  SECTION("IMAP_SYNC_CHANGED when the replica moved on, and nothing changes") {
    std::string user_before = get_user(h, "bob");
    std::string stale = fmt::format(" SINCE_MODSEQ 4 SINCE_CRC {} SINCE_CRC_ANNOT {}", before.basic, before.annot);
    CHECK(h.run(mailbox_cmd(folder, delta, crcs_of(state), stale)) ==
          "NO IMAP_SYNC_CHANGED Changed since last sync\r\n");
    std::string wrong_crc = fmt::format(" SINCE_MODSEQ 5 SINCE_CRC {} SINCE_CRC_ANNOT {}", before.basic ^ 1, before.annot);
    CHECK(h.run(mailbox_cmd(folder, delta, crcs_of(state), wrong_crc)) ==
          "NO IMAP_SYNC_CHANGED Changed since last sync\r\n");
    CHECK(get_user(h, "bob") == user_before);
    // Zero CRCs on the master's side are wildcards.
    CHECK(h.run(mailbox_cmd(folder, delta, crcs_of(state), " SINCE_MODSEQ 5 SINCE_CRC 0 SINCE_CRC_ANNOT 0")) == kOk);
  }
  SECTION("a CRC mismatch after applying is reported but, as in Cyrus, kept") {
    SyncCrcs wrong = crcs_of(state);
    wrong.basic ^= 0x5a5a;
    CHECK(h.run(mailbox_cmd(folder, delta, wrong, since)) == "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
    CHECK(get_user(h, "bob").find("LAST_UID 4 HIGHESTMODSEQ 8 ") != std::string::npos);
    auto [stored, full] = stored_and_recomputed(h, "user.bob");
    CHECK(stored == full);
  }
}

TEST_CASE("stored CRCs that drifted are recomputed before the master is blamed", "[mailbox][crc]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  h.write([](storage::WriteView& w) {
    std::optional<storage::Mailbox> box = w.mailbox("user.bob");
    box->sync_crc ^= 0xdead;
    return w.put_mailbox(*box);
  });
  auto [drifted, full] = stored_and_recomputed(h, "user.bob");
  REQUIRE(drifted != full);
  // The master's CRCs agree with the records: OK, and the stored value is repaired.
  CHECK(h.run(mailbox_cmd(f.folder, {}, crcs_of(f.msgs))) == kOk);
  auto [repaired, again] = stored_and_recomputed(h, "user.bob");
  CHECK(repaired == again);
  CHECK(repaired == crcs_of(f.msgs));
}

TEST_CASE("CHECKSUM when the replica is ahead or disagrees; force mode lets most through", "[mailbox][checksum]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  const std::string checksum = "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n";
  std::string user_before = get_user(h, "bob");

  Folder lower = f.folder;
  SECTION("lower HIGHESTMODSEQ") {
    lower.highestmodseq = 4;
    CHECK(h.run(mailbox_cmd(lower, {}, std::nullopt)) == checksum);
    h.run("APPLY FORCE %()\r\n");
    CHECK(h.run(mailbox_cmd(lower, {}, std::nullopt)) == kOk);
    CHECK(get_user(h, "bob").find("HIGHESTMODSEQ 4 ") != std::string::npos);
    return;
  }
  SECTION("lower UIDVALIDITY") {
    lower.uidvalidity -= 1;
    CHECK(h.run(mailbox_cmd(lower, {}, std::nullopt)) == checksum);
  }
  SECTION("lower LAST_UID") {
    lower.last_uid = 2;
    CHECK(h.run(mailbox_cmd(lower, {}, std::nullopt)) == checksum);
  }
  SECTION("a record with a lower modseq than the replica's") {
    Message old = f.msgs[2];
    old.modseq = 4;
    CHECK(h.run(mailbox_cmd(f.folder, {old}, std::nullopt)) == checksum);
    h.run("APPLY FORCE %()\r\n");
    CHECK(h.run(mailbox_cmd(f.folder, {old}, std::nullopt)) == kOk);
    CHECK(h.run("GET FULLMAILBOX user.bob\r\n").find("%(UID 3 MODSEQ 4 ") != std::string::npos);
    return;
  }
  SECTION("another message under the same UID") {
    Message other = f.msgs[2];
    other.body = "From: x@example.com\r\n\r\nsplit brain\r\n";
    other.modseq = 9;
    h.stage(other.guid(), other.body);
    CHECK(h.run(mailbox_cmd(f.folder, {other}, std::nullopt)) == checksum);
  }
  SECTION("expunged on the replica but alive on the master") {
    Message gone = f.msgs[2];
    gone.flags = "\\Expunged";
    gone.modseq = 6;
    Folder next = f.folder;
    next.highestmodseq = 6;
    REQUIRE(h.run(mailbox_cmd(next, {gone}, std::nullopt)) == kOk);
    user_before = get_user(h, "bob");
    Message back = f.msgs[2];
    back.modseq = 7;
    next.highestmodseq = 7;
    CHECK(h.run(mailbox_cmd(next, {back}, std::nullopt)) == checksum);
  }
  SECTION("a UID the replica never had, below its LAST_UID") {
    Folder more = f.folder;
    more.last_uid = 5;
    more.highestmodseq = 7;
    REQUIRE(h.run(mailbox_cmd(more, {}, std::nullopt)) == kOk);
    user_before = get_user(h, "bob");
    Message hole{4, 7, "", "From: e@example.com\r\n\r\nhole\r\n"};
    h.stage(hole.guid(), hole.body);
    CHECK(h.run(mailbox_cmd(more, {hole}, std::nullopt)) == checksum);
    // ... unless the master has expunged it too: then it is skipped.
    hole.flags = "\\Expunged";
    CHECK(h.run(mailbox_cmd(more, {hole}, std::nullopt)) == kOk);
    CHECK(h.run("GET FULLMAILBOX user.bob\r\n").find("%(UID 4 ") == std::string::npos);
  }
  CHECK(get_user(h, "bob") == user_before);
}

TEST_CASE("a new live record without its message: PROTOCOL_ERROR and nothing changed", "[mailbox]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  std::string before = get_user(h, "bob");
  std::string full_before = h.run("GET FULLMAILBOX user.bob\r\n");

  Message unsent{4, 6, "\\Seen", "From: z@example.com\r\n\r\nnever uploaded\r\n"};
  Message flagged = f.msgs[0];
  flagged.flags = "\\Flagged";
  flagged.modseq = 6;
  Folder next = f.folder;
  next.last_uid = 4;
  next.highestmodseq = 6;
  CHECK(h.run(mailbox_cmd(next, {flagged, unsent}, std::nullopt)) == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
  CHECK(get_user(h, "bob") == before);
  CHECK(h.run("GET FULLMAILBOX user.bob\r\n") == full_before);

  SECTION("an expunged one may come without: stored without a body") {
    unsent.flags = "\\Deleted \\Expunged";
    CHECK(h.run(mailbox_cmd(next, {flagged, unsent}, std::nullopt)) == kOk);
    CHECK(h.run("GET FULLMAILBOX user.bob\r\n").find("%(UID 4 MODSEQ 6 LAST_UPDATED 1700000000 FLAGS (\\Deleted "
                                                     "\\Expunged)") != std::string::npos);
    std::string fetch = fmt::format("GET FETCH %(MBOXNAME user.bob PARTITION default UNIQUEID {} GUID {} UID 4)\r\n",
                                    f.folder.uniqueid, unsent.guid().hex());
    CHECK(h.run(fetch) == "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  }
  SECTION("a message already stored (another folder) needs no upload: RESERVE finds it") {
    std::string reserve = fmt::format("APPLY RESERVE %(PARTITION default MBOXNAME (user.bob) GUID ({} {}))\r\n",
                                      f.msgs[1].guid().hex(), unsent.guid().hex());
    CHECK(h.run(reserve) == fmt::format("* MISSING ({})\r\n", unsent.guid().hex()) + kOk);
    Folder copy;
    copy.uniqueid = "copy0000000000000000000a";
    copy.name = "user.bob.Copy";
    copy.last_uid = 1;
    copy.highestmodseq = 2;
    Message same = f.msgs[1];
    same.uid = 1;
    same.modseq = 2;
    CHECK(h.run(mailbox_cmd(copy, {same}, crcs_of({same}))) == kOk);
  }
}

TEST_CASE("RESERVE answers MISSING only for what the store lacks", "[reserve]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  std::string all_there = fmt::format("APPLY RESERVE %(PARTITION default MBOXNAME (user.bob user.gone) GUID ({} {}))\r\n",
                                      f.msgs[0].guid().hex(), f.msgs[2].guid().hex());
  CHECK(h.run(all_there) == kOk);
  CHECK(h.session().staging->reserved(f.msgs[0].guid()));
  CHECK(h.run("APPLY RESERVE %(PARTITION default MBOXNAME () GUID (0123456789012345678901234567890123456789))\r\n") ==
        "* MISSING (0123456789012345678901234567890123456789)\r\n" + kOk);
  CHECK(h.run("APPLY RESERVE %(PARTITION default MBOXNAME () GUID (nothex))\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  CHECK(h.run("APPLY RESERVE %(PARTITION default GUID ())\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  h.run("RESTART\r\n");
  CHECK_FALSE(h.session().staging->reserved(f.msgs[0].guid()));
}

TEST_CASE("MESSAGE: a file whose bytes do not hash to its GUID is refused", "[message]") {
  SyncHarness h;
  std::string body = "From: a@example.com\r\n\r\nhello\r\n";
  std::string forged = fmt::format("APPLY MESSAGE (%{{default {} {}}}\r\n{})\r\n",
                                   storage::sha1_of("something else").hex(), body.size(), body);
  CHECK(h.run_staged(forged) == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
  CHECK(h.session().staging->staged_count() == 0);
  // NIL members (the master's own copy was damaged) are skipped.
  std::string with_nil = fmt::format("APPLY MESSAGE (NIL %{{default {} {}}}\r\n{})\r\n", storage::sha1_of(body).hex(),
                                     body.size(), body);
  CHECK(h.run_staged(with_nil) == kOk);
  CHECK(h.session().staging->find(storage::sha1_of(body)) != nullptr);
}

TEST_CASE("MOVED: a uniqueid held by another name, or a name held by another uniqueid", "[mailbox][moved]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  const std::string moved = "NO IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid\r\n";

  Folder elsewhere = f.folder;
  elsewhere.name = "user.bob.Elsewhere";
  CHECK(h.run(mailbox_cmd(elsewhere, {}, std::nullopt)) == moved);

  Folder replaced = f.folder;
  replaced.uniqueid = "another0000000000000000x";
  CHECK(h.run(mailbox_cmd(replaced, {}, std::nullopt)) == moved);

  SECTION("an empty mailbox (LAST_UID 0) is replaced") {
    Folder empty;
    empty.uniqueid = "empty00000000000000000aa";
    empty.name = "user.bob.Empty";
    empty.highestmodseq = 1;
    REQUIRE(h.run(mailbox_cmd(empty, {}, std::nullopt)) == kOk);
    empty.uniqueid = "empty00000000000000000bb";
    CHECK(h.run(mailbox_cmd(empty, {}, std::nullopt)) == kOk);
    CHECK(h.run("GET MAILBOXES (user.bob.Empty)\r\n").find("UNIQUEID empty00000000000000000bb") != std::string::npos);
  }
  SECTION("force mode replaces a mailbox with messages") {
    h.run("APPLY FORCE %()\r\n");
    replaced.highestmodseq = 1;
    replaced.last_uid = 0;
    CHECK(h.run(mailbox_cmd(replaced, {}, std::nullopt)) == kOk);
    CHECK(h.run("GET FULLMAILBOX user.bob\r\n").find("RECORD ()") != std::string::npos);
  }
}

TEST_CASE("MAILBOX header checks: required fields, type, #sieve without SIEVE-MAILBOX", "[mailbox]") {
  SyncHarness h;
  CHECK(h.run("APPLY MAILBOX %(MBOXNAME user.x HIGHESTMODSEQ 1)\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  CHECK(h.run("APPLY MAILBOX %(UNIQUEID a MBOXNAME user.x HIGHESTMODSEQ 1 LAST_UID 0)\r\n") ==
        "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  Folder sieve;
  sieve.name = "user.bob.#sieve";
  sieve.extra = "";
  std::string cmd = mailbox_cmd(sieve, {}, std::nullopt);
  cmd.insert(cmd.find(" LAST_UID"), " MBOXTYPE f");
  CHECK(h.run(cmd) == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");

  Folder plain;
  plain.highestmodseq = 1;
  REQUIRE(h.run(mailbox_cmd(plain, {}, std::nullopt)) == kOk);
  std::string calendar = mailbox_cmd(plain, {}, std::nullopt);
  calendar.insert(calendar.find(" LAST_UID"), " MBOXTYPE c");
  CHECK(h.run(calendar) == "NO Unknown error\r\n");
  std::string bogus = mailbox_cmd(plain, {}, std::nullopt);
  bogus.insert(bogus.find(" LAST_UID"), " MBOXTYPE eq");
  CHECK(h.run(bogus) == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  Folder too_long;
  too_long.name = "user.bob." + std::string(490, 'x');
  CHECK(h.run(mailbox_cmd(too_long, {}, std::nullopt)) == "NO Unknown error\r\n");
  CHECK(h.run(fmt::format("APPLY RENAME %(OLDMBOXNAME user.bob NEWMBOXNAME {} PARTITION default)\r\n", too_long.name)) ==
        "NO Unknown error\r\n");
  CHECK(h.run("APPLY MAILBOX %(UNIQUEID a MBOXNAME user.x HIGHESTMODSEQ 1 PARTITION p LAST_UID 0 RECENTUID 0 "
              "RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 UIDVALIDITY 1 ACL \"\" OPTIONS \"\" "
              "RECORD (%(UID 1)))\r\n") == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
}

TEST_CASE("intermediates: the short APPLY form and the GET form Cyrus reports", "[mailbox][intermediate]") {
  SyncHarness h;
  // tomb-e-intermediate-new / tomb-f-intermediate-user-mode.
  CHECK(h.run("APPLY MAILBOX %(UNIQUEID liibok8kex7io4nd9sizbwlv MBOXNAME user.carol.q1 MBOXTYPE ei HIGHESTMODSEQ 1 "
              "CREATEDMODSEQ 1 FOLDERMODSEQ 1)\r\n") == kOk);
  const std::string line =
      "* MAILBOX %(UNIQUEID liibok8kex7io4nd9sizbwlv MBOXNAME user.carol.q1 MBOXTYPE ei SYNC_CRC 0 LAST_UID 0 "
      "HIGHESTMODSEQ 0 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 0 "
      "PARTITION NIL ACL \"\" OPTIONS \"\" CREATEDMODSEQ 1 FOLDERMODSEQ 1)\r\n";
  CHECK(h.run("GET MAILBOXES (user.carol.q1)\r\n") == line + kOk);
  // Only intermediates: the user does not "exist", so no quota/meta lines.
  h.run("APPLY SUB %(USERID carol MBOXNAME user.carol)\r\n");
  CHECK(get_user(h, "carol") == line + kOk);
  CHECK(h.run("GET FULLMAILBOX user.carol.q1\r\n") == "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");

  SECTION("a real MAILBOX for the name promotes it") {
    Folder real;
    real.uniqueid = "liibok8kex7io4nd9sizbwlv";
    real.name = "user.carol.q1";
    real.highestmodseq = 3;
    CHECK(h.run(mailbox_cmd(real, {}, std::nullopt)) == kOk);
    CHECK(h.run("GET MAILBOXES (user.carol.q1)\r\n").find("MBOXTYPE") == std::string::npos);
    CHECK(get_user(h, "carol").find("* LSUB (user.carol)\r\n") != std::string::npos);
  }
  SECTION("tombstones are kept but never reported") {
    CHECK(h.run("APPLY MAILBOX %(UNIQUEID tomb0000000000000000000a MBOXNAME user.carol.t MBOXTYPE ed HIGHESTMODSEQ 4)\r\n") ==
          kOk);
    CHECK(h.run("GET MAILBOXES (user.carol.t)\r\n") == kOk);
    CHECK(h.run("APPLY UNMAILBOX user.carol.t\r\n") == "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  }
}

TEST_CASE("RENAME keeps records and uniqueid; INBOX only into DELETED", "[rename]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  std::string full_before = h.run("GET FULLMAILBOX user.bob\r\n");

  CHECK(h.run("APPLY RENAME %(OLDMBOXNAME user.bob NEWMBOXNAME user.bob.Inbox2 PARTITION default)\r\n") ==
        "NO IMAP_MAILBOX_NOTSUPPORTED Operation is not supported on mailbox\r\n");
  CHECK(h.run("APPLY RENAME %(OLDMBOXNAME user.bob NEWMBOXNAME DELETED.user.bob.6B116758 PARTITION default "
              "UIDVALIDITY 1700000000)\r\n") == kOk);
  std::string moved = h.run("GET MAILBOXES (DELETED.user.bob.6B116758 user.bob)\r\n");
  // Cyrus gives a renamed mailbox its HIGHESTMODSEQ as FOLDERMODSEQ.
  CHECK(moved.find("MBOXNAME DELETED.user.bob.6B116758 SYNC_CRC") != std::string::npos);
  CHECK(moved.find("FOLDERMODSEQ 5)") != std::string::npos);
  CHECK(moved.find("MBOXNAME user.bob ") == std::string::npos);
  std::string full_after = h.run("GET FULLMAILBOX DELETED.user.bob.6B116758\r\n");
  CHECK(full_after.substr(full_after.find("RECORD")) == full_before.substr(full_before.find("RECORD")));
  // Deleted folders still belong to the user, without a quota root.
  CHECK(get_user(h, "bob").find("MBOXNAME DELETED.user.bob.6B116758") != std::string::npos);

  CHECK(h.run("APPLY RENAME %(OLDMBOXNAME user.nope NEWMBOXNAME user.nope2 PARTITION default)\r\n") ==
        "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  CHECK(h.run("APPLY RENAME %(OLDMBOXNAME user.bob)\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");

  SECTION("same name: a partition move, refused without a partition (Cyrus: NO Unknown error)") {
    const std::string name = "DELETED.user.bob.6B116758";
    CHECK(h.run(fmt::format("APPLY RENAME %(OLDMBOXNAME {0} NEWMBOXNAME {0} PARTITION NIL UIDVALIDITY 1)\r\n", name)) ==
          "NO Unknown error\r\n");
    CHECK(h.run(fmt::format("APPLY RENAME %(OLDMBOXNAME {0} NEWMBOXNAME {0} PARTITION default)\r\n", name)) ==
          "NO Unknown error\r\n");
    CHECK(h.run(fmt::format("APPLY RENAME %(OLDMBOXNAME {0} NEWMBOXNAME {0} PARTITION other)\r\n", name)) == kOk);
    CHECK(h.run(fmt::format("GET MAILBOXES ({})\r\n", name)).find("PARTITION other ACL") != std::string::npos);
  }
  SECTION("onto an existing mailbox: refused") {
    Folder other;
    other.uniqueid = "other0000000000000000000";
    other.name = "user.bob.Other";
    other.highestmodseq = 1;
    REQUIRE(h.run(mailbox_cmd(other, {}, std::nullopt)) == kOk);
    CHECK(h.run("APPLY RENAME %(OLDMBOXNAME user.bob.Other NEWMBOXNAME DELETED.user.bob.6B116758 PARTITION default)\r\n") ==
          "NO Unknown error\r\n");
  }
}

TEST_CASE("UNMAILBOX deletes; a folder with children leaves an intermediate", "[unmailbox]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  Folder child;
  child.uniqueid = "child000000000000000000a";
  child.name = "user.bob.Sub.Child";
  child.highestmodseq = 2;
  Folder parent;
  parent.uniqueid = "parent00000000000000000a";
  parent.name = "user.bob.Sub";
  parent.highestmodseq = 9;
  parent.uidvalidity = 1234;
  REQUIRE(h.run(mailbox_cmd(parent, {}, std::nullopt)) == kOk);
  REQUIRE(h.run(mailbox_cmd(child, {}, std::nullopt)) == kOk);

  CHECK(h.run("APPLY UNMAILBOX user.bob.Sub\r\n") == kOk);
  CHECK(h.run("GET MAILBOXES (user.bob.Sub)\r\n") ==
        "* MAILBOX %(UNIQUEID parent00000000000000000a MBOXNAME user.bob.Sub MBOXTYPE ei SYNC_CRC 0 LAST_UID 0 "
        "HIGHESTMODSEQ 0 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 "
        "UIDVALIDITY 1234 PARTITION NIL ACL \"\" OPTIONS \"\" CREATEDMODSEQ 1 FOLDERMODSEQ 9)\r\n" + kOk);
  CHECK(h.run("APPLY UNMAILBOX user.bob.Sub.Child\r\n") == kOk);
  CHECK(h.run("GET MAILBOXES (user.bob.Sub.Child)\r\n") == kOk);
  CHECK(h.run("APPLY UNMAILBOX user.bob.Sub\r\n") == kOk);
  CHECK(h.run("GET MAILBOXES (user.bob.Sub)\r\n") == kOk);
  CHECK(h.run("APPLY UNMAILBOX user.bob.Sub\r\n") == "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");

  // The messages of a deleted mailbox go with it.
  CHECK(h.run("APPLY UNMAILBOX user.bob\r\n") == kOk);
  std::string reserve = fmt::format("APPLY RESERVE %(PARTITION default MBOXNAME () GUID ({}))\r\n", f.msgs[0].guid().hex());
  CHECK(h.run(reserve) == fmt::format("* MISSING ({})\r\n", f.msgs[0].guid().hex()) + kOk);
  CHECK(get_user(h, "bob") == kOk);
}

TEST_CASE("EXPUNGE marks records expunged without touching modseqs", "[expunge]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  CHECK(h.run(fmt::format("APPLY EXPUNGE %(MBOXNAME user.bob UNIQUEID {} UID (2 3 77))\r\n", f.folder.uniqueid)) == kOk);
  std::string full = h.run("GET FULLMAILBOX user.bob\r\n");
  CHECK(full.find("%(UID 2 MODSEQ 4 LAST_UPDATED 1700000000 FLAGS (\\Flagged \\Expunged $Forwarded)") != std::string::npos);
  CHECK(full.find("HIGHESTMODSEQ 5 ") != std::string::npos);
  std::vector<Message> live = {f.msgs[0]};
  auto [stored, recomputed] = stored_and_recomputed(h, "user.bob");
  CHECK(stored == recomputed);
  CHECK(stored == crcs_of(live));
  CHECK(h.run("APPLY EXPUNGE %(MBOXNAME user.bob UNIQUEID wrong UID (1))\r\n") ==
        "NO IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid\r\n");
  CHECK(h.run("APPLY EXPUNGE %(MBOXNAME user.none UNIQUEID x UID (1))\r\n") ==
        "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
}

TEST_CASE("QUOTA limits round-trip, 4294967295 = unlimited", "[quota]") {
  SyncHarness h;
  CHECK(h.run("APPLY QUOTA %(ROOT user.alice LIMIT 4000000 STORAGE 4000000 MESSAGE 900000 MODSEQ 54)\r\n") == kOk);
  CHECK(h.run("GET QUOTA user.alice\r\n") ==
        "* QUOTA %(ROOT user.alice LIMIT 4000000 STORAGE 4000000 MESSAGE 900000 MODSEQ 54)\r\n" + kOk);

  CHECK(h.run("APPLY QUOTA %(ROOT user.bob LIMIT 4294967295 MESSAGE 10 X-ANNOTATION-STORAGE 20 X-NUM-FOLDERS 30 "
              "MODSEQ 7)\r\n") == kOk);
  CHECK(h.run("GET QUOTA user.bob\r\n") ==
        "* QUOTA %(ROOT user.bob LIMIT 4294967295 MESSAGE 10 X-ANNOTATION-STORAGE 20 X-NUM-FOLDERS 30 MODSEQ 7)\r\n" + kOk);
  CHECK(h.read([](storage::ReadView& v) { return v.quota("user.bob")->storage; }) == -1);

  // Only LIMIT: the storage limit; unchanged limits keep the old MODSEQ.
  CHECK(h.run("APPLY QUOTA %(ROOT example.com! LIMIT 500000 STORAGE 500000 MODSEQ 0)\r\n") == kOk);
  CHECK(h.run("APPLY QUOTA %(ROOT example.com! LIMIT 500000 MODSEQ 99)\r\n") == kOk);
  CHECK(h.run("GET QUOTA example.com!\r\n") == "* QUOTA %(ROOT example.com! LIMIT 500000 STORAGE 500000 MODSEQ 0)\r\n" + kOk);

  CHECK(h.run("APPLY UNQUOTA user.bob\r\n") == kOk);
  CHECK(h.run("APPLY UNQUOTA user.bob\r\n") == kOk);
  CHECK(h.run("GET QUOTA user.bob\r\n") == kOk);
  CHECK(h.run("APPLY QUOTA %(LIMIT 5)\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  CHECK(h.run("APPLY QUOTA %(ROOT .bad LIMIT 5)\r\n") == "NO Unknown error\r\n");
}

TEST_CASE("virtual domains: names, domain quota roots, deleted folders", "[names][quota]") {
  SyncHarness h;
  REQUIRE(h.run("APPLY QUOTA %(ROOT example.com! LIMIT 500000 STORAGE 500000 MODSEQ 0)\r\n") == kOk);
  Folder inbox;
  inbox.uniqueid = "jane00000000000000000000";
  inbox.name = "example.com!user.jane";
  inbox.highestmodseq = 1;
  inbox.acl = "jane@example.com\tlrswipkxtecdan\t";
  Folder deleted = inbox;
  deleted.uniqueid = "jane00000000000000000001";
  deleted.name = "example.com!DELETED.user.jane.Work.6B1175F8";
  Folder stranger = inbox;
  stranger.uniqueid = "janet0000000000000000000";
  stranger.name = "example.com!user.janet";
  for (const Folder* f : {&inbox, &deleted, &stranger}) REQUIRE(h.run(mailbox_cmd(*f, {}, std::nullopt)) == kOk);
  REQUIRE(h.run("APPLY SUB %(USERID jane@example.com MBOXNAME example.com!user.jane)\r\n") == kOk);

  std::string user = get_user(h, "jane@example.com");
  CHECK(user.find("MBOXNAME example.com!user.jane SYNC_CRC 0 SYNC_CRC_ANNOT 12345678 ") != std::string::npos);
  CHECK(user.find("MBOXNAME example.com!DELETED.user.jane.Work.6B1175F8 ") != std::string::npos);
  CHECK(user.find("example.com!user.janet") == std::string::npos);
  CHECK(user.find("QUOTAROOT example.com! CREATEDMODSEQ") != std::string::npos);
  CHECK(user.find("* QUOTA %(ROOT example.com! LIMIT 500000 STORAGE 500000 MODSEQ 0)\r\n"
                  "* LSUB (example.com!user.jane)\r\nOK success\r\n") != std::string::npos);
}

TEST_CASE("SUB, UNSUB, SEEN and GET META; GET USER of an unknown user", "[meta]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  CHECK(h.run("APPLY SUB %(USERID bob MBOXNAME user.bob.Sent)\r\n") == kOk);
  CHECK(h.run("APPLY SUB %(USERID bob MBOXNAME user.bob)\r\n") == kOk);
  CHECK(h.run("APPLY SUB %(USERID bob MBOXNAME user.bob)\r\n") == kOk);
  CHECK(h.run("APPLY UNSUB %(USERID bob MBOXNAME user.bob.Gone)\r\n") == kOk);
  CHECK(h.run("APPLY SEEN %(USERID bob UNIQUEID 75kpj6x6s0eragss0bgs080e LASTREAD 1796302677 LASTUID 3 "
              "LASTCHANGE 1796302463 SEENUIDS 1:3)\r\n") == kOk);
  CHECK(h.run("APPLY SEEN %(USERID bob UNIQUEID 75kpj6x6s0eragss0bgs080e LASTREAD 1)\r\n") ==
        "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  const std::string meta =
      "* SEEN %(UNIQUEID 75kpj6x6s0eragss0bgs080e LASTREAD 1796302677 LASTUID 3 LASTCHANGE 1796302463 SEENUIDS 1:3)\r\n"
      "* LSUB (user.bob user.bob.Sent)\r\n";
  CHECK(h.run("GET META bob\r\n") == meta + kOk);
  CHECK(get_user(h, "bob").ends_with(meta + kOk));
  CHECK(h.run("APPLY UNSUB %(USERID bob MBOXNAME user.bob.Sent)\r\n") == kOk);
  CHECK(h.run("GET META bob\r\n").find("* LSUB (user.bob)\r\n") != std::string::npos);

  CHECK(get_user(h, "nobody") == kOk);
  CHECK(h.run("GET META nobody\r\n") == kOk);
  CHECK(h.run("GET MAILBOXES (user.nobody user.nobody.x)\r\n") == kOk);
  CHECK(h.run("GET UNIQUEIDS (unknown " + f.folder.uniqueid + ")\r\n").find("MBOXNAME user.bob ") != std::string::npos);
}

TEST_CASE("UNUSER removes mailboxes, subscriptions and quota roots of the user only", "[unuser]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  Folder sub;
  sub.uniqueid = "bobsub000000000000000000";
  sub.name = "user.bob.Sub";
  sub.highestmodseq = 1;
  Folder bobby = sub;
  bobby.uniqueid = "bobby0000000000000000000";
  bobby.name = "user.bobby";
  for (const Folder* x : {&sub, &bobby}) REQUIRE(h.run(mailbox_cmd(*x, {}, std::nullopt)) == kOk);
  REQUIRE(h.run("APPLY RENAME %(OLDMBOXNAME user.bob.Sub NEWMBOXNAME DELETED.user.bob.Sub.6B000000 PARTITION default)\r\n") == kOk);
  REQUIRE(h.run("APPLY QUOTA %(ROOT user.bob LIMIT 100 MODSEQ 1)\r\n") == kOk);
  REQUIRE(h.run("APPLY QUOTA %(ROOT user.bobby LIMIT 100 MODSEQ 1)\r\n") == kOk);
  REQUIRE(h.run("APPLY SUB %(USERID bob MBOXNAME user.bob)\r\n") == kOk);

  CHECK(h.run("APPLY UNUSER bob\r\n") == kOk);
  CHECK(get_user(h, "bob") == kOk);
  CHECK(h.run("GET META bob\r\n") == kOk);
  CHECK(h.run("GET QUOTA user.bob\r\n") == kOk);
  CHECK(h.run("GET QUOTA user.bobby\r\n") != kOk);
  CHECK(get_user(h, "bobby").find("MBOXNAME user.bobby ") != std::string::npos);
  // Nothing left: still success, as is an empty userid.
  CHECK(h.run("APPLY UNUSER bob\r\n") == kOk);
  CHECK(h.run("APPLY UNUSER \"\"\r\n") == kOk);
}

TEST_CASE("ANNOTATION / UNANNOTATION and GET ANNOTATION on mailbox annotations", "[annotation]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  CHECK(h.run("APPLY ANNOTATION %(MBOXNAME user.bob ENTRY /comment USERID \"\" VALUE \"hello\")\r\n") == kOk);
  CHECK(h.run("APPLY ANNOTATION %(MBOXNAME user.bob ENTRY /comment USERID bob VALUE mine)\r\n") == kOk);
  CHECK(h.run("APPLY ANNOTATION %(MBOXNAME user.bob ENTRY /a USERID bob VALUE {2+}\r\n\\x)\r\n") == kOk);
  CHECK(h.run("GET ANNOTATION user.bob\r\n") ==
        "* ANNOTATION %(MBOXNAME user.bob ENTRY /a USERID bob VALUE {2}\r\n\\x)\r\n"
        "* ANNOTATION %(MBOXNAME user.bob ENTRY /comment USERID \"\" VALUE hello)\r\n"
        "* ANNOTATION %(MBOXNAME user.bob ENTRY /comment USERID bob VALUE mine)\r\n" + kOk);
  CHECK(h.run("APPLY UNANNOTATION %(MBOXNAME user.bob ENTRY /comment USERID bob)\r\n") == kOk);
  CHECK(h.run("APPLY UNANNOTATION %(MBOXNAME user.bob ENTRY /a USERID bob)\r\n") == kOk);
  CHECK(h.run("GET ANNOTATION user.bob\r\n") ==
        "* ANNOTATION %(MBOXNAME user.bob ENTRY /comment USERID \"\" VALUE hello)\r\n" + kOk);
  CHECK(get_user(h, "bob").find("ANNOTATIONS (%(ENTRY /comment USERID \"\" MODSEQ 0 VALUE hello))") != std::string::npos);
  CHECK(h.run("APPLY ANNOTATION %(MBOXNAME user.none ENTRY /c USERID \"\" VALUE x)\r\n") ==
        "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  CHECK(h.run("GET ANNOTATION user.none\r\n") == kOk);
  // MAILBOX replaces the whole set with the master's list.
  CHECK(h.run(mailbox_cmd(f.folder, {}, std::nullopt)) == kOk);
  CHECK(h.run("GET ANNOTATION user.bob\r\n") == kOk);
}

TEST_CASE("CAPABILITIES always answers * ENABLED; FORCE; unknown kinds", "[session]") {
  SECTION("SIEVE-MAILBOX enabled when configured") {
    SyncConfig config;
    config.sieve_mailbox = true;
    SyncHarness h(config);
    CHECK(h.run("APPLY CAPABILITIES (SIEVE-MAILBOX)\r\n") == "* ENABLED (SIEVE-MAILBOX)\r\n" + kOk);
    CHECK(h.session().sieve_mailbox_enabled);
  }
  SECTION("not configured: an empty list, never a bare OK") {
    SyncHarness h;
    CHECK(h.run("APPLY CAPABILITIES (SIEVE-MAILBOX FOO)\r\n") == "* ENABLED ()\r\n" + kOk);
    CHECK_FALSE(h.session().sieve_mailbox_enabled);
  }
  SyncHarness h;
  CHECK(h.run("APPLY FORCE %()\r\n") == kOk);
  CHECK(h.session().force_mode);
  CHECK(h.run("APPLY FOO bar\r\n") == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
  CHECK(h.run("GET FOO bar\r\n") == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
}

// Relies on WriteView::delete_seen, added to the store contract for UNUSER.
TEST_CASE("UNUSER also removes the user's seen state", "[unuser]") {
  BobFixture f;
  f.initial_sync();
  SyncHarness& h = f.h;
  REQUIRE(h.run("APPLY SEEN %(USERID bob UNIQUEID x1 LASTREAD 1 LASTUID 1 LASTCHANGE 1 SEENUIDS 1)\r\n") == kOk);
  REQUIRE(h.run("APPLY SEEN %(USERID bobby UNIQUEID x1 LASTREAD 1 LASTUID 1 LASTCHANGE 1 SEENUIDS 1)\r\n") == kOk);
  CHECK(h.run("APPLY UNUSER bob\r\n") == kOk);
  CHECK(h.run("GET META bob\r\n") == kOk);
  CHECK(h.run("GET META bobby\r\n") != kOk);
}

TEST_CASE("userids map to Cyrus internal names", "[names]") {
  auto alice = user_mailbox_names("alice");
  REQUIRE(alice);
  CHECK(alice->inbox == "user.alice");
  CHECK(alice->deleted == "DELETED.user.alice.");
  auto jane = user_mailbox_names("jane@example.com");
  REQUIRE(jane);
  CHECK(jane->inbox == "example.com!user.jane");
  CHECK(jane->deleted == "example.com!DELETED.user.jane.");
  // Split at the last '@'; a '.' in the local part is written '^'.
  CHECK(user_mailbox_names("john.doe@x@example.org")->inbox == "example.org!user.john^doe@x");
  CHECK(user_mailbox_names("john.doe")->children == "user.john^doe.");
  CHECK_FALSE(user_mailbox_names(""));
  CHECK_FALSE(user_mailbox_names("@example.com"));
  CHECK_FALSE(user_mailbox_names("jane@"));

  CHECK(alice->owns("user.alice"));
  CHECK(alice->owns("user.alice.Sent"));
  CHECK(alice->owns("DELETED.user.alice.6B116701"));
  CHECK(alice->owns("DELETED.user.alice.Projects.6B116701"));
  CHECK_FALSE(alice->owns("user.alicex"));
  CHECK_FALSE(alice->owns("DELETED.user.alicex.1"));
  CHECK(is_deleted_name("example.com!DELETED.user.jane.Work.6B1175F8"));
  CHECK_FALSE(is_deleted_name("user.DELETED.x"));
  CHECK(is_user_inbox("example.com!user.jane"));
  CHECK_FALSE(is_user_inbox("user.jane.Sent"));
  CHECK_FALSE(is_user_inbox("shared.news"));
}

TEST_CASE("MBOXTYPE letters in Cyrus's canonical form", "[names]") {
  CHECK(canonical_mbtype("") == "");
  CHECK(canonical_mbtype("e") == "");
  CHECK(canonical_mbtype("el") == "");
  CHECK(canonical_mbtype("f") == "f");
  CHECK(canonical_mbtype("ie") == std::nullopt);  // the kind always comes first
  CHECK(canonical_mbtype("i") == "ei");           // a legacy entry without its kind
  CHECK(canonical_mbtype("eid") == "edi");
  CHECK(canonical_mbtype("c") == "c");
  CHECK(canonical_mbtype("ex") == std::nullopt);
  CHECK(mbtype_is_placeholder("ei"));
  CHECK(mbtype_is_placeholder("ed"));
  CHECK_FALSE(mbtype_is_placeholder("c"));
  CHECK(mbtype_is_sieve("f"));
}

TEST_CASE("a user with a dot in the name", "[names]") {
  SyncHarness h;
  Folder inbox;
  inbox.name = "user.john^doe";
  inbox.highestmodseq = 1;
  REQUIRE(h.run(mailbox_cmd(inbox, {}, std::nullopt)) == kOk);
  CHECK(get_user(h, "john.doe").find("MBOXNAME user.john^doe SYNC_CRC") != std::string::npos);
}
