// The LMDB store: codec, tables and invariants, body reference counts, the
// group-committing writer thread, map-full handling and reopening.
#include <catch2/catch.hpp>
#include <fmt/core.h>
#include <lmdb.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

#include "storage/codec.h"
#include "storage/keys.h"
#include "storage/store.h"
#include "test_support.h"

using namespace replicad::storage;
using namespace std::chrono_literals;

namespace {

// ---- fixtures ----------------------------------------------------------------

using replicad::testing::Completions;
using replicad::testing::TempDir;

struct Harness {
  TempDir dir;
  Completions completions;
  std::unique_ptr<Store> store;

  explicit Harness(uint64_t map_size = uint64_t{1} << 30, bool durable = false) { open(map_size, durable); }

  StoreOptions options(uint64_t map_size, bool durable) const {
    StoreOptions o;
    o.directory = dir.file("db");
    o.map_size = map_size;
    o.durable = durable;
    return o;
  }
  void open(uint64_t map_size = uint64_t{1} << 30, bool durable = false) {
    Status st;
    store = Store::open(options(map_size, durable), completions.poster(), st);
    REQUIRE(st.ok());
    REQUIRE(store != nullptr);
  }
  void close() { store.reset(); }

  // Submits one job and waits for its completion.
  Status apply(std::function<Status(WriteView&)> fn) {
    auto result = std::make_shared<std::optional<Status>>();
    store->submit({std::move(fn), [result](Status st) { *result = std::move(st); }});
    REQUIRE(completions.run(1));
    REQUIRE(result->has_value());
    return **result;
  }

  std::unique_ptr<ReadTxn> read() {
    auto txn = store->begin_read();
    REQUIRE(txn != nullptr);
    return txn;
  }

  // A staged message file, as the staging area would leave it.
  std::string stage(const std::string& name, const std::string& bytes) {
    std::string path = dir.file(name);
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
};

Annotation annotation(std::string entry, std::string userid, uint64_t modseq, std::string value) {
  return {std::move(entry), std::move(userid), modseq, std::move(value)};
}

Mailbox sample_mailbox(std::string name, std::string uniqueid) {
  Mailbox m;
  m.uniqueid = std::move(uniqueid);
  m.name = std::move(name);
  m.mbtype = "";
  m.last_uid = 9;
  m.highestmodseq = 19;
  m.recentuid = 3;
  m.recenttime = 1796302463;
  m.last_appenddate = 1796302464;
  m.pop3_last_login = 5;
  m.pop3_show_after = 6;
  m.xconvmodseq = 7;
  m.raclmodseq = 8;
  m.uidvalidity = 1796302460;
  m.partition = "default";
  m.acl = "alice\tlrswipkxtecdan\t";
  m.options = "P";
  m.createdmodseq = 1;
  m.foldermodseq = 2;
  m.annotations = {annotation("/specialuse", "alice", 0, "\\Archive"),
                   annotation("/comment", "", 4, std::string("nul\0inside\0", 11))};
  m.sync_crc = 80602754;
  m.sync_crc_annot = 4182951670u;
  return m;
}

MessageRecord sample_record(uint32_t uid, const Guid& guid, uint32_t flags = kFlagSeen) {
  MessageRecord r;
  r.uid = uid;
  r.modseq = 100 + uid;
  r.last_updated = 1796302463;
  r.system_flags = flags;
  r.keywords = {"$Forwarded", "NonJunk"};
  r.internaldate = 1630265022;
  r.size = 5558;
  r.guid = guid;
  r.cid = 0x1122334455667788ull;
  r.savedate = 1796302463;
  r.createdmodseq = 3;
  r.annotations = {annotation("/vendor/x", "bob", 9, std::string("a\0b", 3))};
  return r;
}

std::vector<std::string> mailbox_names(ReadView& view, std::string_view prefix) {
  std::vector<std::string> names;
  REQUIRE(view.for_each_mailbox(prefix, [&](const Mailbox& m) {
    names.push_back(m.name);
    return true;
  }).ok());
  return names;
}

std::vector<uint32_t> record_uids(ReadView& view, std::string_view uniqueid, uint32_t first_uid = 0) {
  std::vector<uint32_t> uids;
  REQUIRE(view.for_each_record(uniqueid, first_uid, [&](const MessageRecord& r) {
    uids.push_back(r.uid);
    return true;
  }).ok());
  return uids;
}

// Writes raw bytes under `key` in a table, behind the store's back.
void poke(const std::string& dir, const char* table, std::string_view key, std::string_view value) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
  REQUIRE(mdb_env_open(env, dir.c_str(), 0, 0600) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi;
  REQUIRE(mdb_dbi_open(txn, table, 0, &dbi) == 0);
  MDB_val k{key.size(), const_cast<char*>(key.data())};
  MDB_val v{value.size(), const_cast<char*>(value.data())};
  REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

const Guid kGuidA = sha1_of("message A\r\n");
const Guid kGuidB = sha1_of("message B\r\n");

}  // namespace

// ---- codec ---------------------------------------------------------------------

TEST_CASE("codec round-trips every struct, NUL bytes included", "[store][codec]") {
  Mailbox m = sample_mailbox("user.alice.Archive", "na3m3mje6iqmb6wiucj34l0u");
  m.mbtype = "i";
  m.partition_nil = true;
  Mailbox m2;
  REQUIRE(codec::decode(codec::encode(m), m2).ok());
  CHECK(m2 == m);
  CHECK(m2.annotations[1].value.size() == 11);

  MessageRecord r = sample_record(7, kGuidA, kFlagDeleted | kFlagExpunged);
  MessageRecord r2;
  REQUIRE(codec::decode(codec::encode(r), r2).ok());
  CHECK(r2 == r);

  QuotaRoot q{"user.alice", -1, 1000, 0, 7, 42};
  QuotaRoot q2;
  REQUIRE(codec::decode(codec::encode(q), q2).ok());
  CHECK(q2 == q);

  SeenEntry s{"e6lx9la4n0dlltzj3j4o1w3a", 1796302463, 9, 1796302464, "1:5,7"};
  SeenEntry s2;
  REQUIRE(codec::decode(codec::encode(s), s2).ok());
  CHECK(s2 == s);

  // Default-constructed values (empty strings and lists) survive too.
  Mailbox empty_m;
  REQUIRE(codec::decode(codec::encode(Mailbox{}), empty_m).ok());
  CHECK(empty_m == Mailbox{});
  MessageRecord empty_r;
  REQUIRE(codec::decode(codec::encode(MessageRecord{}), empty_r).ok());
  CHECK(empty_r == MessageRecord{});
}

TEST_CASE("codec layout is pinned: version byte, little endian, u32-prefixed strings", "[store][codec]") {
  SeenEntry s{"ab", 0x0102030405060708ull, 0x0a0b0c0d, 1, ""};
  const std::string expected(
      "\x01"                                  // layout version
      "\x02\x00\x00\x00" "ab"                 // uniqueid
      "\x08\x07\x06\x05\x04\x03\x02\x01"      // lastread
      "\x0d\x0c\x0b\x0a"                      // lastuid
      "\x01\x00\x00\x00\x00\x00\x00\x00"      // lastchange
      "\x00\x00\x00\x00",                     // seenuids (empty)
      1 + 4 + 2 + 8 + 4 + 8 + 4);
  CHECK(codec::encode(s) == expected);
  CHECK(codec::encode_u64(1) == std::string("\x01\0\0\0\0\0\0\0", 8));
}

TEST_CASE("codec turns damaged input into corrupt, never a crash", "[store][codec]") {
  const std::string mailbox = codec::encode(sample_mailbox("user.bob", "u1"));
  const std::string record = codec::encode(sample_record(1, kGuidB));

  SECTION("every truncation") {
    for (size_t n = 0; n < mailbox.size(); ++n) {
      Mailbox out;
      CHECK(codec::decode(std::string_view(mailbox).substr(0, n), out).code == Errc::corrupt);
    }
    for (size_t n = 0; n < record.size(); ++n) {
      MessageRecord out;
      CHECK(codec::decode(std::string_view(record).substr(0, n), out).code == Errc::corrupt);
    }
  }
  SECTION("trailing bytes, unknown version, bad bool, absurd counts") {
    Mailbox out;
    CHECK(codec::decode(mailbox + "x", out).code == Errc::corrupt);
    std::string wrong_version = mailbox;
    wrong_version[0] = 2;
    CHECK(codec::decode(wrong_version, out).code == Errc::corrupt);

    // partition_nil sits right after the partition string.
    Mailbox m = sample_mailbox("a", "b");
    m.partition = "P";
    std::string bytes = codec::encode(m);
    size_t nil_at = bytes.find(std::string("\x01\x00\x00\x00P", 5)) + 5;
    REQUIRE(bytes[nil_at] == 0);
    bytes[nil_at] = 2;
    CHECK(codec::decode(bytes, out).code == Errc::corrupt);

    // A keyword count of 2^32-1 must be refused before anything is allocated.
    MessageRecord r;
    std::string huge = record;
    size_t count_at = 1 + 4 + 8 + 8 + 4;  // version, uid, modseq, last_updated, flags
    for (size_t i = 0; i < 4; ++i) huge[count_at + i] = '\xff';
    CHECK(codec::decode(huge, r).code == Errc::corrupt);
  }
  SECTION("random damage decodes or is refused") {
    std::mt19937 rng(12345);
    for (int i = 0; i < 5000; ++i) {
      std::string bytes = record;
      int flips = 1 + static_cast<int>(rng() % 4);
      for (int f = 0; f < flips; ++f) bytes[rng() % bytes.size()] = static_cast<char>(rng());
      MessageRecord out;
      Status st = codec::decode(bytes, out);
      CHECK((st.ok() || st.code == Errc::corrupt));
    }
  }
  SECTION("bare integers") {
    uint64_t v = 0;
    CHECK(codec::decode_u64("1234567", v).code == Errc::corrupt);
    CHECK(codec::decode_u64("123456789", v).code == Errc::corrupt);
    REQUIRE(codec::decode_u64(codec::encode_u64(~uint64_t{0} - 1), v).ok());
    CHECK(v == ~uint64_t{0} - 1);
  }
}

TEST_CASE("record keys order by uid and keep mailboxes apart", "[store][keys]") {
  CHECK(*keys::record("abc", 255) < *keys::record("abc", 256));
  CHECK(*keys::record("abc", 0xffffffff) < *keys::owner_prefix("abcd"));
  CHECK(keys::record_uid(*keys::record("abc", 0x01020304), 4) == 0x01020304u);
  CHECK_FALSE(keys::record("", 1));
  CHECK_FALSE(keys::record(std::string("a\0b", 3), 1));
  CHECK_FALSE(keys::record(std::string(507, 'u'), 1));
  CHECK(keys::record(std::string(506, 'u'), 1));
}

// ---- tables ----------------------------------------------------------------------

TEST_CASE("every struct round-trips through the store and survives reopening", "[store]") {
  Harness h;
  Mailbox m = sample_mailbox("user.alice", "uid-alice");
  std::string body = std::string("message A\r\n");
  std::string staged = h.stage("a", body);
  QuotaRoot q{"user.alice", 1024, -1, -1, 3, 77};
  SeenEntry seen{"uid-bob-inbox", 11, 12, 13, "1:3"};
  MessageRecord r = sample_record(1, kGuidA);

  REQUIRE(h.apply([&](WriteView& w) {
    if (Status st = w.put_mailbox(m); !st) return st;
    if (Status st = w.put_body_from_file(kGuidA, staged, body.size()); !st) return st;
    if (Status st = w.put_record(m.uniqueid, r); !st) return st;
    if (Status st = w.put_quota(q); !st) return st;
    if (Status st = w.add_subscription("alice", "user.bob.Shared"); !st) return st;
    return w.put_seen("alice", seen);
  }).ok());

  auto check = [&] {
    auto txn = h.read();
    ReadView& v = txn->view();
    CHECK(v.mailbox("user.alice") == m);
    CHECK(v.name_of_uniqueid("uid-alice") == std::optional<std::string>("user.alice"));
    CHECK(v.record("uid-alice", 1) == r);
    CHECK(v.body(kGuidA) == std::optional<std::string_view>(body));
    CHECK(v.quota("user.alice") == q);
    CHECK(v.subscriptions("alice") == std::vector<std::string>{"user.bob.Shared"});
    CHECK(v.seen("alice", "uid-bob-inbox") == seen);
    CHECK_FALSE(v.mailbox("user.nobody"));
    CHECK_FALSE(v.record("uid-alice", 2));
  };
  check();
  h.close();
  h.open();
  check();
}

TEST_CASE("mailboxes iterate by prefix in name order", "[store]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) {
    for (const char* name : {"user.bob", "user.alice.Sent", "user.alicex", "user.alice", "shared.x", "user.alice.A"})
      if (Status st = w.put_mailbox(sample_mailbox(name, std::string("u-") + name)); !st) return st;
    return Status::success();
  }).ok());

  auto txn = h.read();
  ReadView& v = txn->view();
  CHECK(mailbox_names(v, "") ==
        std::vector<std::string>{"shared.x", "user.alice", "user.alice.A", "user.alice.Sent", "user.alicex", "user.bob"});
  CHECK(mailbox_names(v, "user.alice") ==
        std::vector<std::string>{"user.alice", "user.alice.A", "user.alice.Sent", "user.alicex"});
  CHECK(mailbox_names(v, "user.alice.") == std::vector<std::string>{"user.alice.A", "user.alice.Sent"});
  CHECK(mailbox_names(v, "user.carol").empty());
  CHECK(mailbox_names(v, std::string(600, 'x')).empty());

  int seen = 0;
  REQUIRE(v.for_each_mailbox("user.", [&](const Mailbox&) { return ++seen < 2; }).ok());
  CHECK(seen == 2);
}

TEST_CASE("mailbox names alone iterate in the same order, without decoding headers", "[store]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) {
    for (const char* name : {"user.bob", "DELETED.user.a.1", "example.com!DELETED.user.j.2", "user.alice"})
      if (Status st = w.put_mailbox(sample_mailbox(name, std::string("u-") + name)); !st) return st;
    return Status::success();
  }).ok());
  std::string dir = h.dir.file("db");
  h.close();
  poke(dir, "mailboxes", "user.broken", "\x01not a mailbox");  // names never look at the value
  h.open();
  auto names = [&](std::string_view prefix, size_t stop_after = 100) {
    std::vector<std::string> out;
    REQUIRE(h.read()->view().for_each_mailbox_name(prefix, [&](std::string_view name) {
      out.emplace_back(name);
      return out.size() < stop_after;
    }).ok());
    return out;
  };
  CHECK(names("") == std::vector<std::string>{"DELETED.user.a.1", "example.com!DELETED.user.j.2", "user.alice",
                                             "user.bob", "user.broken"});
  CHECK(names("user.b") == std::vector<std::string>{"user.bob", "user.broken"});
  CHECK(names("", 2).size() == 2);
  CHECK(names("zzz").empty());
}

TEST_CASE("records iterate by uid within their own mailbox only", "[store]") {
  Harness h;
  std::string staged = h.stage("a", "message A\r\n");
  REQUIRE(h.apply([&](WriteView& w) {
    if (Status st = w.put_mailbox(sample_mailbox("user.a", "abc")); !st) return st;
    if (Status st = w.put_mailbox(sample_mailbox("user.b", "abcd")); !st) return st;
    if (Status st = w.put_body_from_file(kGuidA, staged, 11); !st) return st;
    for (uint32_t uid : {65536u, 2u, 256u, 1u, 255u, 0xffffffffu})
      if (Status st = w.put_record("abc", sample_record(uid, kGuidA)); !st) return st;
    for (uint32_t uid : {3u, 100u})
      if (Status st = w.put_record("abcd", sample_record(uid, kGuidA)); !st) return st;
    return Status::success();
  }).ok());

  auto txn = h.read();
  ReadView& v = txn->view();
  CHECK(record_uids(v, "abc") == std::vector<uint32_t>{1, 2, 255, 256, 65536, 0xffffffff});
  CHECK(record_uids(v, "abc", 256) == std::vector<uint32_t>{256, 65536, 0xffffffff});
  CHECK(record_uids(v, "abc", 257) == std::vector<uint32_t>{65536, 0xffffffff});
  CHECK(record_uids(v, "abcd") == std::vector<uint32_t>{3, 100});
  CHECK(record_uids(v, "ab").empty());
  CHECK(record_uids(v, "nope").empty());

  int visited = 0;
  REQUIRE(v.for_each_record("abc", 0, [&](const MessageRecord&) { return ++visited < 3; }).ok());
  CHECK(visited == 3);
}

TEST_CASE("rename keeps the records and moves the uniqueid index", "[store]") {
  Harness h;
  std::string staged = h.stage("a", "message A\r\n");
  REQUIRE(h.apply([&](WriteView& w) {
    if (Status st = w.put_mailbox(sample_mailbox("user.alice.Old", "u-old")); !st) return st;
    if (Status st = w.put_mailbox(sample_mailbox("user.alice.Other", "u-other")); !st) return st;
    if (Status st = w.put_body_from_file(kGuidA, staged, 11); !st) return st;
    for (uint32_t uid = 1; uid <= 3; ++uid)
      if (Status st = w.put_record("u-old", sample_record(uid, kGuidA)); !st) return st;
    return Status::success();
  }).ok());

  REQUIRE(h.apply([](WriteView& w) { return w.rename_mailbox("user.alice.Old", "user.alice.New"); }).ok());
  {
    auto txn = h.read();
    ReadView& v = txn->view();
    CHECK_FALSE(v.mailbox("user.alice.Old"));
    auto renamed = v.mailbox("user.alice.New");
    REQUIRE(renamed);
    CHECK(renamed->name == "user.alice.New");
    CHECK(renamed->uniqueid == "u-old");
    CHECK(v.name_of_uniqueid("u-old") == std::optional<std::string>("user.alice.New"));
    CHECK(record_uids(v, "u-old") == std::vector<uint32_t>{1, 2, 3});
    CHECK(v.has_body(kGuidA));
  }

  CHECK(h.apply([](WriteView& w) { return w.rename_mailbox("user.alice.New", "user.alice.Other"); }).code ==
        Errc::exists);
  CHECK(h.apply([](WriteView& w) { return w.rename_mailbox("user.alice.Gone", "user.alice.X"); }).code ==
        Errc::not_found);
  auto txn = h.read();
  CHECK(txn->view().mailbox("user.alice.New"));
  CHECK(txn->view().mailbox("user.alice.Other")->uniqueid == "u-other");
}

TEST_CASE("mailbox names and uniqueids stay one to one", "[store]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) { return w.put_mailbox(sample_mailbox("user.a", "u1")); }).ok());
  // Same name, same uniqueid: an update.
  Mailbox updated = sample_mailbox("user.a", "u1");
  updated.highestmodseq = 99;
  REQUIRE(h.apply([&](WriteView& w) { return w.put_mailbox(updated); }).ok());
  // The name under another uniqueid, or the uniqueid under another name.
  CHECK(h.apply([](WriteView& w) { return w.put_mailbox(sample_mailbox("user.a", "u2")); }).code == Errc::exists);
  CHECK(h.apply([](WriteView& w) { return w.put_mailbox(sample_mailbox("user.b", "u1")); }).code == Errc::exists);
  // Records need a mailbox.
  CHECK(h.apply([](WriteView& w) {
    return w.put_record("u-none", sample_record(1, kGuidA, kFlagExpunged));
  }).code == Errc::not_found);
  // Keys that cannot exist.
  CHECK(h.apply([](WriteView& w) { return w.put_mailbox(sample_mailbox("", "u3")); }).code == Errc::io_error);
  CHECK(h.apply([](WriteView& w) {
    return w.put_mailbox(sample_mailbox("user.c", std::string("u\0x", 3)));
  }).code == Errc::io_error);

  auto txn = h.read();
  CHECK(txn->view().mailbox("user.a")->highestmodseq == 99);
  CHECK_FALSE(txn->view().mailbox("user.b"));
  CHECK(txn->view().name_of_uniqueid("u1") == std::optional<std::string>("user.a"));
  CHECK_FALSE(txn->view().name_of_uniqueid("u2"));
}

// ---- bodies and references --------------------------------------------------------

TEST_CASE("bodies are shared by GUID and live exactly as long as their records", "[store][bodies]") {
  Harness h;
  std::string a = h.stage("a", "message A\r\n");
  std::string b = h.stage("b", "message B\r\n");
  REQUIRE(h.apply([&](WriteView& w) {
    if (Status st = w.put_mailbox(sample_mailbox("user.alice", "ua")); !st) return st;
    if (Status st = w.put_mailbox(sample_mailbox("user.bob", "ub")); !st) return st;
    if (Status st = w.put_body_from_file(kGuidA, a, 11); !st) return st;
    if (Status st = w.put_body_from_file(kGuidB, b, 11); !st) return st;
    // A is in both mailboxes (and twice in alice's); B only in alice's.
    if (Status st = w.put_record("ua", sample_record(1, kGuidA)); !st) return st;
    if (Status st = w.put_record("ua", sample_record(2, kGuidA)); !st) return st;
    if (Status st = w.put_record("ua", sample_record(3, kGuidB)); !st) return st;
    return w.put_record("ub", sample_record(1, kGuidA));
  }).ok());
  CHECK(h.store->stats().bodies_written == 2);

  SECTION("deleting a mailbox drops what no one else references") {
    REQUIRE(h.apply([](WriteView& w) { return w.delete_mailbox("user.alice"); }).ok());
    auto txn = h.read();
    ReadView& v = txn->view();
    CHECK_FALSE(v.mailbox("user.alice"));
    CHECK_FALSE(v.name_of_uniqueid("ua"));
    CHECK(record_uids(v, "ua").empty());
    CHECK(v.has_body(kGuidA));  // bob still has it
    CHECK_FALSE(v.has_body(kGuidB));
    CHECK(h.store->stats().bodies_deleted == 1);
    CHECK(record_uids(v, "ub") == std::vector<uint32_t>{1});
  }
  SECTION("the last reference, wherever it is, takes the body with it") {
    REQUIRE(h.apply([](WriteView& w) { return w.delete_record("ub", 1); }).ok());
    REQUIRE(h.apply([](WriteView& w) { return w.delete_record("ua", 1); }).ok());
    CHECK(h.read()->view().has_body(kGuidA));
    REQUIRE(h.apply([](WriteView& w) { return w.delete_record("ua", 2); }).ok());
    CHECK_FALSE(h.read()->view().has_body(kGuidA));
    CHECK(h.apply([](WriteView& w) { return w.delete_record("ua", 2); }).code == Errc::not_found);
  }
  SECTION("replacing a record's GUID moves its reference") {
    REQUIRE(h.apply([](WriteView& w) { return w.put_record("ua", sample_record(3, kGuidA)); }).ok());
    auto txn = h.read();
    CHECK_FALSE(txn->view().has_body(kGuidB));
    CHECK(txn->view().record("ua", 3)->guid == kGuidA);
  }
  SECTION("rewriting a record with the same GUID keeps the count") {
    MessageRecord r = sample_record(3, kGuidB, kFlagSeen | kFlagFlagged);
    REQUIRE(h.apply([&](WriteView& w) { return w.put_record("ua", r); }).ok());
    REQUIRE(h.apply([](WriteView& w) { return w.delete_record("ua", 3); }).ok());
    CHECK_FALSE(h.read()->view().has_body(kGuidB));
  }
}

TEST_CASE("deleting a large mailbox drops every record across many pages", "[store][bodies]") {
  Harness h;
  std::string a = h.stage("a", "message A\r\n");
  constexpr uint32_t kRecords = 3000;
  REQUIRE(h.apply([&](WriteView& w) {
    if (Status st = w.put_mailbox(sample_mailbox("user.big", "big")); !st) return st;
    if (Status st = w.put_mailbox(sample_mailbox("user.big2", "big2")); !st) return st;  // sorts right after
    if (Status st = w.put_body_from_file(kGuidA, a, 11); !st) return st;
    for (uint32_t uid = 1; uid <= kRecords; ++uid)
      if (Status st = w.put_record("big", sample_record(uid, kGuidA)); !st) return st;
    return w.put_record("big2", sample_record(1, kGuidA));
  }).ok());
  REQUIRE(record_uids(h.read()->view(), "big").size() == kRecords);

  REQUIRE(h.apply([](WriteView& w) { return w.delete_mailbox("user.big"); }).ok());
  CHECK(record_uids(h.read()->view(), "big").empty());
  CHECK(record_uids(h.read()->view(), "big2") == std::vector<uint32_t>{1});
  CHECK(h.read()->view().has_body(kGuidA));
  REQUIRE(h.apply([](WriteView& w) { return w.delete_mailbox("user.big2"); }).ok());
  CHECK_FALSE(h.read()->view().has_body(kGuidA));
  CHECK(h.apply([](WriteView& w) { return w.delete_mailbox("user.big2"); }).code == Errc::not_found);
}

TEST_CASE("only expunged records may lack their body", "[store][bodies]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) { return w.put_mailbox(sample_mailbox("user.alice", "ua")); }).ok());

  MessageRecord expunged = sample_record(4, kGuidB, kFlagDeleted | kFlagExpunged);
  REQUIRE(h.apply([&](WriteView& w) { return w.put_record("ua", expunged); }).ok());
  CHECK(h.read()->view().record("ua", 4) == expunged);

  // A live record without its body fails, and takes the rest of its job along.
  Status st = h.apply([](WriteView& w) {
    if (Status s = w.put_mailbox(sample_mailbox("user.alice.New", "un")); !s) return s;
    return w.put_record("un", sample_record(1, kGuidA));
  });
  CHECK(st.code == Errc::not_found);
  CHECK_FALSE(h.read()->view().mailbox("user.alice.New"));

  // The body arriving later is kept: the expunged record holds a reference.
  std::string b = h.stage("b", "message B\r\n");
  REQUIRE(h.apply([&](WriteView& w) { return w.put_body_from_file(kGuidB, b, 11); }).ok());
  CHECK(h.read()->view().has_body(kGuidB));
  REQUIRE(h.apply([](WriteView& w) { return w.delete_mailbox("user.alice"); }).ok());
  CHECK_FALSE(h.read()->view().has_body(kGuidB));
}

TEST_CASE("put_body_from_file stores once, checks the size, and drops unused bodies", "[store][bodies]") {
  Harness h;
  std::string a = h.stage("a", "message A\r\n");

  SECTION("a body no record takes is gone when its job ends") {
    REQUIRE(h.apply([&](WriteView& w) {
      if (Status st = w.put_body_from_file(kGuidA, a, 11); !st) return st;
      // Within the job it is there.
      return w.has_body(kGuidA) ? Status::success() : Status::error(Errc::not_found, "missing");
    }).ok());
    CHECK_FALSE(h.read()->view().has_body(kGuidA));
    CHECK(h.store->stats().bodies_written == 1);
    CHECK(h.store->stats().bodies_deleted == 1);
  }
  SECTION("single instance") {
    REQUIRE(h.apply([&](WriteView& w) {
      if (Status st = w.put_mailbox(sample_mailbox("user.a", "ua")); !st) return st;
      if (Status st = w.put_body_from_file(kGuidA, a, 11); !st) return st;
      if (Status st = w.put_body_from_file(kGuidA, a, 11); !st) return st;
      return w.put_record("ua", sample_record(1, kGuidA));
    }).ok());
    REQUIRE(h.apply([&](WriteView& w) { return w.put_body_from_file(kGuidA, a, 11); }).ok());
    CHECK(h.store->stats().bodies_written == 1);
    CHECK(h.read()->view().has_body(kGuidA));
  }
  SECTION("wrong size or missing file") {
    CHECK(h.apply([&](WriteView& w) { return w.put_body_from_file(kGuidA, a, 12); }).code == Errc::io_error);
    CHECK(h.apply([&](WriteView& w) {
      return w.put_body_from_file(kGuidA, h.dir.file("absent"), 11);
    }).code == Errc::io_error);
    CHECK_FALSE(h.read()->view().has_body(kGuidA));
  }
  SECTION("an empty message is a body too") {
    Guid empty = sha1_of("");
    std::string e = h.stage("empty", "");
    REQUIRE(h.apply([&](WriteView& w) {
      if (Status st = w.put_mailbox(sample_mailbox("user.a", "ua")); !st) return st;
      if (Status st = w.put_body_from_file(empty, e, 0); !st) return st;
      return w.put_record("ua", sample_record(1, empty));
    }).ok());
    CHECK(h.read()->view().body(empty) == std::optional<std::string_view>(""));
  }
  SECTION("a region of a staging file that several uploads share") {
    std::string spool = h.stage("spool", "first\r\nmessage A\r\nlast\r\n");  // A at 7..18 of 24
    REQUIRE(h.apply([&](WriteView& w) {
      if (Status st = w.put_mailbox(sample_mailbox("user.a", "ua")); !st) return st;
      if (Status st = w.put_body_from_file(kGuidA, spool, 11, 7); !st) return st;
      return w.put_record("ua", sample_record(1, kGuidA));
    }).ok());
    CHECK(h.read()->view().body(kGuidA) == std::optional<std::string_view>("message A\r\n"));
    // A region reaching past the end of the file, or starting there, is refused.
    CHECK(h.apply([&](WriteView& w) { return w.put_body_from_file(kGuidB, spool, 11, 20); }).code ==
          Errc::io_error);
    CHECK(h.apply([&](WriteView& w) { return w.put_body_from_file(kGuidB, spool, 1, 30); }).code ==
          Errc::io_error);
    CHECK_FALSE(h.read()->view().has_body(kGuidB));
  }
}

// ---- users' tables ----------------------------------------------------------------

TEST_CASE("quotas, subscriptions and seen state", "[store]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) {
    for (const char* root : {"user.bob", "user.alice"})
      if (Status st = w.put_quota(QuotaRoot{root, 10, 20, 30, 40, 50}); !st) return st;
    for (const char* mbox : {"user.zed", "user.alice", "user.alice.Sent"})
      if (Status st = w.add_subscription("alice", mbox); !st) return st;
    if (Status st = w.add_subscription("alice", "user.zed"); !st) return st;  // again: no-op
    if (Status st = w.add_subscription("al", "user.al"); !st) return st;
    if (Status st = w.put_seen("alice", SeenEntry{"u2", 1, 2, 3, "1:2"}); !st) return st;
    if (Status st = w.put_seen("alice", SeenEntry{"u1", 4, 5, 6, ""}); !st) return st;
    return w.put_seen("al", SeenEntry{"u9", 7, 8, 9, "4"});
  }).ok());

  {
    auto txn = h.read();
    ReadView& v = txn->view();
    std::vector<std::string> roots;
    REQUIRE(v.for_each_quota([&](const QuotaRoot& q) {
      roots.push_back(q.root);
      return true;
    }).ok());
    CHECK(roots == std::vector<std::string>{"user.alice", "user.bob"});
    CHECK(v.subscriptions("alice") == std::vector<std::string>{"user.alice", "user.alice.Sent", "user.zed"});
    CHECK(v.subscriptions("al") == std::vector<std::string>{"user.al"});
    CHECK(v.subscriptions("nobody").empty());
    std::vector<std::string> seen;
    REQUIRE(v.for_each_seen("alice", [&](const SeenEntry& s) {
      seen.push_back(s.uniqueid);
      return true;
    }).ok());
    CHECK(seen == std::vector<std::string>{"u1", "u2"});
    CHECK(v.seen("al", "u9")->seenuids == "4");
  }

  REQUIRE(h.apply([](WriteView& w) {
    if (Status st = w.delete_seen("alice", "u2"); !st) return st;
    if (Status st = w.remove_subscription("alice", "user.zed"); !st) return st;
    if (Status st = w.remove_subscription("alice", "user.never"); !st) return st;  // idempotent
    return w.delete_quota("user.bob");
  }).ok());
  CHECK(h.apply([](WriteView& w) { return w.delete_quota("user.bob"); }).code == Errc::not_found);
  CHECK(h.apply([](WriteView& w) { return w.delete_seen("alice", "u2"); }).code == Errc::not_found);
  auto txn = h.read();
  CHECK_FALSE(txn->view().seen("alice", "u2"));
  CHECK(txn->view().seen("alice", "u1"));
  CHECK(txn->view().seen("al", "u9"));
  CHECK(txn->view().subscriptions("alice") == std::vector<std::string>{"user.alice", "user.alice.Sent"});
  CHECK_FALSE(txn->view().quota("user.bob"));
  CHECK(txn->view().quota("user.alice"));
}

TEST_CASE("Sieve scripts: GUID from the bytes, name order, one active script per user", "[store][sieve]") {
  Harness h;
  const std::string odd("keep;\0\r\n\xff", 10);
  SieveScript stale{"b", 7, kGuidA, odd};  // a caller's GUID is not believed
  REQUIRE(h.apply([&](WriteView& w) {
    if (Status st = w.put_sieve_script("frank", stale); !st) return st;
    if (Status st = w.put_sieve_script("frank", SieveScript{"a", 5, {}, "keep;\n"}); !st) return st;
    if (Status st = w.put_sieve_script("frankie", SieveScript{"c", 6, {}, ""}); !st) return st;
    return w.activate_sieve_script("frank", "b");
  }).ok());

  auto list = [&](std::string_view user) {
    auto txn = h.read();
    std::vector<SieveScript> out;
    REQUIRE(txn->view().for_each_sieve_script(user, [&](const SieveScript& s) {
      out.push_back(s);
      return true;
    }).ok());
    return out;
  };
  std::vector<SieveScript> frank = list("frank");
  REQUIRE(frank.size() == 2);
  CHECK(frank[0] == SieveScript{"a", 5, sha1_of("keep;\n"), "keep;\n"});
  CHECK(frank[1] == SieveScript{"b", 7, sha1_of(odd), odd});
  CHECK(list("frankie").size() == 1);
  CHECK(list("fran").empty());
  {
    auto txn = h.read();
    CHECK(txn->view().active_sieve_script("frank") == std::optional<std::string>("b"));
    CHECK_FALSE(txn->view().active_sieve_script("frankie"));
    CHECK(txn->view().sieve_script("frankie", "c")->guid == sha1_of(""));
    CHECK_FALSE(txn->view().sieve_script("frank", "c"));
  }

  SECTION("activating a missing script fails and changes nothing") {
    CHECK(h.apply([](WriteView& w) { return w.activate_sieve_script("frank", "zzz"); }).code == Errc::not_found);
    CHECK(h.read()->view().active_sieve_script("frank") == std::optional<std::string>("b"));
  }
  SECTION("replacing the active script keeps it active; activating another moves the mark") {
    REQUIRE(h.apply([](WriteView& w) { return w.put_sieve_script("frank", SieveScript{"b", 8, {}, "stop;"}); }).ok());
    CHECK(h.read()->view().active_sieve_script("frank") == std::optional<std::string>("b"));
    CHECK(h.read()->view().sieve_script("frank", "b")->guid == sha1_of("stop;"));
    REQUIRE(h.apply([](WriteView& w) { return w.activate_sieve_script("frank", "a"); }).ok());
    CHECK(h.read()->view().active_sieve_script("frank") == std::optional<std::string>("a"));
  }
  SECTION("deleting the active script deactivates; deleting another does not") {
    REQUIRE(h.apply([](WriteView& w) { return w.delete_sieve_script("frank", "a"); }).ok());
    CHECK(h.read()->view().active_sieve_script("frank") == std::optional<std::string>("b"));
    REQUIRE(h.apply([](WriteView& w) { return w.delete_sieve_script("frank", "b"); }).ok());
    CHECK_FALSE(h.read()->view().active_sieve_script("frank"));
    CHECK(list("frank").empty());
    CHECK(h.apply([](WriteView& w) { return w.delete_sieve_script("frank", "b"); }).code == Errc::not_found);
    CHECK(h.apply([](WriteView& w) { return w.deactivate_sieve_script("frank"); }).code == Errc::not_found);
  }
  SECTION("deactivation keeps the scripts") {
    REQUIRE(h.apply([](WriteView& w) { return w.deactivate_sieve_script("frank"); }).ok());
    CHECK_FALSE(h.read()->view().active_sieve_script("frank"));
    CHECK(list("frank").size() == 2);
  }
  SECTION("unusable names are refused") {
    CHECK_FALSE(h.apply([](WriteView& w) { return w.put_sieve_script("", SieveScript{"a", 1, {}, ""}); }).ok());
    CHECK_FALSE(h.apply([](WriteView& w) { return w.put_sieve_script("frank", SieveScript{"", 1, {}, ""}); }).ok());
    CHECK_FALSE(h.apply([](WriteView& w) {
      return w.put_sieve_script("frank", SieveScript{std::string(600, 'n'), 1, {}, ""});
    }).ok());
  }
  SECTION("they survive reopening") {
    h.close();
    h.open();
    CHECK(list("frank") == frank);
    CHECK(h.read()->view().active_sieve_script("frank") == std::optional<std::string>("b"));
  }
}

TEST_CASE("a Sieve script that does not decode, or sits under another name, is corrupt", "[store][sieve]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) { return w.put_sieve_script("frank", SieveScript{"a", 1, {}, "keep;"}); }).ok());
  std::string dir = h.dir.file("db");
  h.close();
  std::string misfiled = codec::encode(SieveScript{"other", 1, sha1_of("x"), "x"});
  poke(dir, "sieve", std::string("frank\0b", 7), misfiled);
  poke(dir, "sieve", std::string("frank\0c", 7), "\x01garbage");
  h.open();
  auto txn = h.read();
  CHECK(txn->view().for_each_sieve_script("frank", [](const SieveScript&) { return true; }).code == Errc::corrupt);
  CHECK_FALSE(txn->view().sieve_script("frank", "c"));
  CHECK(txn->view().sieve_script("frank", "a"));

  SieveScript round;
  SieveScript s{"n", 3, sha1_of("x"), std::string("a\0b", 3)};
  REQUIRE(codec::decode(codec::encode(s), round).ok());
  CHECK(round == s);
  std::string bytes = codec::encode(s);
  for (size_t n = 0; n < bytes.size(); ++n)
    CHECK(codec::decode(std::string_view(bytes).substr(0, n), round).code == Errc::corrupt);
}

// ---- transactions -------------------------------------------------------------------

TEST_CASE("read snapshots are isolated and several can be held by one thread", "[store][txn]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) { return w.put_quota(QuotaRoot{"one"}); }).ok());
  auto before = h.read();
  REQUIRE(h.apply([](WriteView& w) { return w.put_quota(QuotaRoot{"two"}); }).ok());
  auto after = h.read();
  CHECK(before->view().quota("one"));
  CHECK_FALSE(before->view().quota("two"));
  CHECK(after->view().quota("two"));

  // A snapshot may be used from another thread (MDB_NOTLS).
  bool seen_elsewhere = false;
  std::thread([&] { seen_elsewhere = after->view().quota("two").has_value(); }).join();
  CHECK(seen_elsewhere);
}

TEST_CASE("a full reader table yields no snapshot rather than a broken one", "[store][txn]") {
  TempDir dir;
  StoreOptions o;
  o.directory = dir.file("db");
  o.map_size = uint64_t{1} << 24;
  o.max_readers = 2;
  Completions completions;
  Status st;
  auto store = Store::open(o, completions.poster(), st);
  REQUIRE(st.ok());
  auto first = store->begin_read();
  auto second = store->begin_read();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(store->begin_read() == nullptr);
  second.reset();
  CHECK(store->begin_read() != nullptr);
}

TEST_CASE("a failing job leaves no trace and does not disturb its neighbours", "[store][txn]") {
  Harness h;
  // Hold the writer so that the next jobs queue up and run as one batch.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::optional<Status>> results(5);
  h.store->submit({[released](WriteView&) {
                     released.wait();
                     return Status::success();
                   },
                   {}});
  auto done = [&](size_t i) { return [&results, i](Status st) { results[i] = std::move(st); }; };
  h.store->submit({[](WriteView& w) { return w.put_quota(QuotaRoot{"before"}); }, done(0)});
  h.store->submit({[](WriteView& w) {
                     (void)w.put_quota(QuotaRoot{"aborted"});
                     (void)w.put_mailbox(sample_mailbox("user.aborted", "ux"));
                     return Status::error(Errc::aborted, "changed its mind");
                   },
                   done(1)});
  h.store->submit({[](WriteView& w) -> Status {
                     (void)w.put_quota(QuotaRoot{"threw"});
                     throw std::runtime_error("boom");
                   },
                   done(2)});
  h.store->submit({[](WriteView& w) { return w.put_quota(QuotaRoot{"after"}); }, done(3)});
  h.store->submit({[](WriteView& w) { return w.delete_quota("never-there"); }, done(4)});
  release.set_value();
  REQUIRE(h.completions.run(5));

  CHECK(results[0]->ok());
  CHECK(results[1]->code == Errc::aborted);
  CHECK(results[2]->code == Errc::io_error);
  CHECK(results[3]->ok());
  CHECK(results[4]->code == Errc::not_found);
  auto txn = h.read();
  CHECK(txn->view().quota("before"));
  CHECK(txn->view().quota("after"));
  CHECK_FALSE(txn->view().quota("aborted"));
  CHECK_FALSE(txn->view().mailbox("user.aborted"));
  CHECK_FALSE(txn->view().name_of_uniqueid("ux"));
  CHECK_FALSE(txn->view().quota("threw"));
  // The blocker's commit (unless the writer had not picked it up yet), then
  // one for the whole batch.
  CHECK(h.store->stats().commits <= 2);
}

TEST_CASE("group commit: many jobs from many threads share few commits", "[store][txn]") {
  Harness h(uint64_t{1} << 30, /*durable=*/true);
  constexpr int kThreads = 4;
  constexpr int kJobsPerThread = 50;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  h.store->submit({[released](WriteView&) {
                     released.wait();
                     return Status::success();
                   },
                   {}});

  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobsPerThread; ++i) {
        std::string root = fmt::format("t{}-{}", t, i);
        bool poisoned = i == kJobsPerThread / 2;  // one failing job in the middle of each thread's run
        h.store->submit({[root, poisoned](WriteView& w) {
                           if (Status st = w.put_quota(QuotaRoot{root}); !st) return st;
                           return poisoned ? Status::error(Errc::aborted, "test") : Status::success();
                         },
                         [&, poisoned](Status st) { (st.ok() && !poisoned ? ok : failed)++; }});
      }
    });
  }
  for (auto& t : threads) t.join();
  release.set_value();
  REQUIRE(h.completions.run(kThreads * kJobsPerThread));

  CHECK(ok == kThreads * (kJobsPerThread - 1));
  CHECK(failed == kThreads);
  StoreStats stats = h.store->stats();
  CHECK(stats.jobs == kThreads * kJobsPerThread + 1);
  CHECK(stats.commits <= 2);
  CHECK(stats.syncs == stats.commits);
  CHECK(stats.commits < stats.jobs);

  auto txn = h.read();
  int stored = 0;
  REQUIRE(txn->view().for_each_quota([&](const QuotaRoot&) { return ++stored, true; }).ok());
  CHECK(stored == kThreads * (kJobsPerThread - 1));
  CHECK_FALSE(txn->view().quota(fmt::format("t0-{}", kJobsPerThread / 2)));
  CHECK(txn->view().quota(fmt::format("t0-{}", kJobsPerThread / 2 + 1)));
}

TEST_CASE("a full map fails only the job that filled it", "[store][txn]") {
  // 1 MiB of map, a 2 MiB message.
  Harness h(uint64_t{1} << 20);
  std::string big = h.stage("big", std::string(2u << 20, 'x'));
  Guid big_guid = sha1_of(std::string(2u << 20, 'x'));

  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::vector<std::optional<Status>> results(4);
  auto done = [&](size_t i) { return [&results, i](Status st) { results[i] = std::move(st); }; };
  h.store->submit({[released](WriteView&) {
                     released.wait();
                     return Status::success();
                   },
                   {}});
  h.store->submit({[](WriteView& w) { return w.put_quota(QuotaRoot{"before"}); }, done(0)});
  h.store->submit({[&](WriteView& w) { return w.put_body_from_file(big_guid, big, 2u << 20); }, done(1)});
  // Ignores the failure and claims success: must still be rolled back.
  h.store->submit({[&](WriteView& w) {
                     (void)w.put_quota(QuotaRoot{"careless"});
                     (void)w.put_body_from_file(big_guid, big, 2u << 20);
                     return Status::success();
                   },
                   done(2)});
  h.store->submit({[](WriteView& w) { return w.put_quota(QuotaRoot{"after"}); }, done(3)});
  release.set_value();
  REQUIRE(h.completions.run(4));

  CHECK(results[0]->ok());
  CHECK(results[1]->code == Errc::map_full);
  CHECK(results[2]->code == Errc::map_full);
  CHECK(results[3]->ok());
  {
    auto txn = h.read();
    CHECK(txn->view().quota("before"));
    CHECK(txn->view().quota("after"));
    CHECK_FALSE(txn->view().quota("careless"));
    CHECK_FALSE(txn->view().has_body(big_guid));
  }
  // Still usable afterwards, and after reopening.
  REQUIRE(h.apply([](WriteView& w) { return w.put_quota(QuotaRoot{"later"}); }).ok());
  h.close();
  h.open(uint64_t{1} << 20);
  CHECK(h.read()->view().quota("later"));
}

TEST_CASE("shutdown finishes pending jobs; later jobs are refused", "[store][txn]") {
  Harness h(uint64_t{1} << 30, /*durable=*/true);
  constexpr int kJobs = 100;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  h.store->submit({[released](WriteView&) {
                     released.wait();
                     return Status::success();
                   },
                   {}});
  int ok = 0;
  for (int i = 0; i < kJobs; ++i)
    h.store->submit({[i](WriteView& w) { return w.put_quota(QuotaRoot{fmt::format("q{:03}", i)}); },
                     [&ok](Status st) { ok += st.ok(); }});

  std::thread stopper([&] { h.store->shutdown(); });
  std::this_thread::sleep_for(20ms);
  release.set_value();
  stopper.join();
  // Every completion was posted before shutdown() returned.
  CHECK(h.completions.pending() == kJobs);
  REQUIRE(h.completions.run(kJobs));
  CHECK(ok == kJobs);

  std::optional<Status> refused;
  h.store->submit({[](WriteView& w) { return w.put_quota(QuotaRoot{"late"}); },
                   [&](Status st) { refused = st; }});
  REQUIRE(h.completions.run(1));
  CHECK(refused->code == Errc::aborted);
  h.store->shutdown();  // idempotent

  h.close();
  h.open();
  int stored = 0;
  REQUIRE(h.read()->view().for_each_quota([&](const QuotaRoot&) { return ++stored, true; }).ok());
  CHECK(stored == kJobs);
  CHECK_FALSE(h.read()->view().quota("late"));
}

// ---- damaged or foreign databases -----------------------------------------------------

TEST_CASE("a stored value that does not decode is reported, not trusted", "[store]") {
  Harness h;
  REQUIRE(h.apply([](WriteView& w) {
    if (Status st = w.put_mailbox(sample_mailbox("user.a", "ua")); !st) return st;
    return w.put_mailbox(sample_mailbox("user.c", "uc"));
  }).ok());
  h.close();
  poke(h.dir.file("db"), "mailboxes", "user.b", "garbage");
  h.open();

  auto txn = h.read();
  CHECK_FALSE(txn->view().mailbox("user.b"));
  CHECK(txn->view().mailbox("user.a"));
  std::vector<std::string> names;
  Status st = txn->view().for_each_mailbox("user.", [&](const Mailbox& m) {
    names.push_back(m.name);
    return true;
  });
  CHECK(st.code == Errc::corrupt);
  CHECK(names == std::vector<std::string>{"user.a"});
}

TEST_CASE("a database of another format version is refused", "[store]") {
  Harness h;
  h.close();
  poke(h.dir.file("db"), "meta", "format", codec::encode_u32(codec::kFormatVersion + 1));
  Status st;
  auto store = Store::open(h.options(uint64_t{1} << 30, false), h.completions.poster(), st);
  CHECK(store == nullptr);
  CHECK(st.code == Errc::corrupt);
}

TEST_CASE("the store directory is created private", "[store]") {
  TempDir dir;
  StoreOptions o;
  o.directory = dir.file("fresh/er/");
  o.map_size = uint64_t{1} << 24;
  Completions completions;
  Status st;
  auto store = Store::open(o, completions.poster(), st);
  REQUIRE(st.ok());
  for (const char* created : {"fresh", "fresh/er"}) {
    auto perms = std::filesystem::status(dir.file(created)).permissions();
    CHECK((perms & std::filesystem::perms::all) == std::filesystem::perms::owner_all);
  }

  std::string not_a_dir = dir.file("file");
  std::ofstream(not_a_dir) << "x";
  o.directory = not_a_dir;
  CHECK(Store::open(o, completions.poster(), st) == nullptr);
  CHECK(st.code == Errc::io_error);
}
