// replicadctl: every command over a store filled through the real Store API,
// verify catching deliberate damage (a rotten body, a wrong CRC, refcount
// drift, a lost body), backup copies that open and verify clean, the status
// file's round trip and the status/metrics reports built on it.
#include <catch2/catch.hpp>
#include <fmt/core.h>
#include <lmdb.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "protocol/sync_crc.h"
#include "protocol/sync_names.h"
#include "server/ctl/commands.h"
#include "server/ctl/value.h"
#include "server/status_file.h"
#include "storage/codec.h"
#include "storage/store.h"
#include "storage/store_reader.h"
#include "test_support.h"

using namespace replicad;
using namespace replicad::storage;
using replicad::ctl::Value;

namespace {

using replicad::testing::Completions;
using replicad::testing::TempDir;

struct Message {
  std::string bytes;
  Guid guid;
};

Message message(const std::string& text) { return {text, sha1_of(text)}; }

MessageRecord record(uint32_t uid, const Message& m, uint32_t flags = kFlagSeen) {
  MessageRecord r;
  r.uid = uid;
  r.modseq = 10 + uid;
  r.last_updated = 1700000000 + uid;
  r.system_flags = flags;
  r.keywords = {"$Forwarded"};
  r.internaldate = 1690000000 + uid;
  r.size = static_cast<uint32_t>(m.bytes.size());
  r.guid = m.guid;
  r.cid = 0xabcdefull + uid;
  r.annotations = {{"/vendor/test/note", "", 3, "note " + std::to_string(uid)}};
  return r;
}

Mailbox mailbox(std::string name, std::string uniqueid, uint32_t last_uid) {
  Mailbox m;
  m.name = std::move(name);
  m.uniqueid = std::move(uniqueid);
  m.last_uid = last_uid;
  m.highestmodseq = 10 + last_uid;
  m.uidvalidity = 1690000000;
  m.partition = "default";
  m.acl = "alice\tlrswipkxtecdan\tanyone\tlrs\t";
  m.options = "P";
  return m;
}

// A store with three users (one in a domain, one with a dot in the name), a
// user whose name extends another's, a shared mailbox and a deleted folder;
// bodies shared between mailboxes; an expunged record whose body is gone.
struct Fixture {
  TempDir dir{"replicad-ctl"};
  Completions completions;
  std::string store_dir = dir.file("store");
  Message hello = message("From: a@example.com\r\nSubject: hello\r\n\r\nhello\r\n");
  Message big = message(std::string(70000, 'x') + "\r\n");
  Message third = message("Subject: third\r\n\r\n3\r\n");
  Message gone = message("Subject: gone\r\n\r\nexpunged long ago\r\n");

  Fixture() {
    auto store = open();
    // user.alice: 3 live records and one expunged record without its body
    add_mailbox(*store, mailbox("user.alice", "uid-alice-inbox", 4),
                {record(1, hello), record(2, big, kFlagSeen | kFlagFlagged), record(3, third, 0),
                 record(4, gone, kFlagDeleted | kFlagExpunged)});
    add_mailbox(*store, mailbox("user.alice.Sent", "uid-alice-sent", 1), {record(1, hello)});
    add_mailbox(*store, mailbox("DELETED.user.alice.Old.65A1B2C3", "uid-alice-old", 1), {record(1, third)});
    add_mailbox(*store, mailbox("user.alicea", "uid-alicea", 1), {record(1, hello)});
    add_mailbox(*store, mailbox("user.john^doe", "uid-john", 0), {});
    add_mailbox(*store, mailbox("example.com!user.jane", "uid-jane", 1), {record(1, big)});
    add_mailbox(*store, mailbox("shared.news", "uid-shared", 1), {record(1, third)});
    store.reset();
  }

  std::unique_ptr<Store> open() {
    StoreOptions o;
    o.directory = store_dir;
    o.map_size = uint64_t{256} << 20;
    o.durable = false;
    Status st;
    auto store = Store::open(o, completions.poster(), st);
    REQUIRE(st.ok());
    return store;
  }

  Status run(Store& store, std::function<Status(WriteView&)> fn) {
    auto result = std::make_shared<std::optional<Status>>();
    store.submit({std::move(fn), [result](Status st) { *result = std::move(st); }});
    REQUIRE(completions.run(1));
    REQUIRE(result->has_value());
    return **result;
  }

  // Adds a mailbox with its records, keeping SYNC_CRC and SYNC_CRC_ANNOT as
  // the sync core does, one record at a time.  Bodies of live records are
  // stored in the same job, as APPLY MAILBOX stores uploads.
  void add_mailbox(Store& store, Mailbox m, const std::vector<MessageRecord>& records) {
    for (const auto& r : records) protocol::replace_record_crcs(m, nullptr, &r);
    REQUIRE(run(store, [&](WriteView& w) {
      Status st = w.put_mailbox(m);
      for (const auto& r : records) {
        if (st && !r.expunged() && !w.has_body(r.guid)) st = put_body(w, r.guid);
        if (st) st = w.put_record(m.uniqueid, r);
      }
      return st;
    }).ok());
  }

  Status put_body(WriteView& w, const Guid& guid) {
    for (const Message* m : {&hello, &big, &third, &gone}) {
      if (m->guid != guid) continue;
      std::string path = dir.file(guid.hex());
      std::ofstream(path, std::ios::binary) << m->bytes;
      return w.put_body_from_file(guid, path, m->bytes.size());
    }
    return Status::error(Errc::not_found, "no such test message");
  }

  std::unique_ptr<StoreReader> reader(const std::string& where = {}) {
    Status st;
    auto r = StoreReader::open(where.empty() ? store_dir : where, st);
    INFO(st.message);
    REQUIRE(r != nullptr);
    return r;
  }

  // Writes or deletes raw bytes in a table, behind the store's back, as a
  // disk or a bug would.
  void poke(const char* table, std::string_view key, std::optional<std::string_view> value) {
    MDB_env* env = nullptr;
    REQUIRE(mdb_env_create(&env) == 0);
    REQUIRE(mdb_env_set_maxdbs(env, 16) == 0);
    REQUIRE(mdb_env_open(env, store_dir.c_str(), 0, 0600) == 0);
    MDB_txn* txn = nullptr;
    REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
    MDB_dbi dbi;
    REQUIRE(mdb_dbi_open(txn, table, 0, &dbi) == 0);
    MDB_val k{key.size(), const_cast<char*>(key.data())};
    if (value) {
      MDB_val v{value->size(), const_cast<char*>(value->data())};
      REQUIRE(mdb_put(txn, dbi, &k, &v, 0) == 0);
    } else {
      REQUIRE(mdb_del(txn, dbi, &k, nullptr) == 0);
    }
    REQUIRE(mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
  }
};

std::vector<std::string> column(const Value& rows, std::string_view key) {
  std::vector<std::string> out;
  for (const Value& row : rows.elements()) {
    const Value* v = row.get(key);
    out.push_back(v == nullptr ? "<absent>" : v->kind() == Value::Kind::string ? v->as_string()
                                                                                : ctl::text_of_scalar({}, *v));
  }
  return out;
}

const Value& row_where(const Value& rows, std::string_view key, std::string_view value) {
  for (const Value& row : rows.elements()) {
    const Value* v = row.get(key);
    if (v != nullptr && v->as_string() == value) return row;
  }
  FAIL("no row with " << key << " = " << value);
  throw std::logic_error("unreachable");
}

uint64_t uint_of(const Value& object, std::string_view key) {
  const Value* v = object.get(key);
  REQUIRE(v != nullptr);
  return v->as_uint();
}

std::vector<std::string> problem_checks(const Value& report) {
  return column(*report.get("problems"), "check");
}

}  // namespace

// ---- naming -----------------------------------------------------------------------

TEST_CASE("mailbox_owner inverts user_mailbox_names", "[ctl][names]") {
  using protocol::mailbox_owner;
  CHECK(mailbox_owner("user.alice") == "alice");
  CHECK(mailbox_owner("user.alice.Sent.2024") == "alice");
  CHECK(mailbox_owner("user.john^doe.Trash") == "john.doe");
  CHECK(mailbox_owner("example.com!user.jane") == "jane@example.com");
  CHECK(mailbox_owner("example.com!DELETED.user.jane.Old.65A1B2C3") == "jane@example.com");
  CHECK(mailbox_owner("DELETED.user.alice.65A1B2C3") == "alice");
  CHECK_FALSE(mailbox_owner("shared.news"));
  CHECK_FALSE(mailbox_owner("user."));
  CHECK_FALSE(mailbox_owner("user"));
  CHECK_FALSE(mailbox_owner("!user.x"));
  CHECK_FALSE(mailbox_owner("DELETED.shared.x"));
  for (std::string user : {"alice", "john.doe", "jane@example.com", "a.b.c@x.y.z"}) {
    auto names = protocol::user_mailbox_names(user);
    REQUIRE(names);
    CHECK(mailbox_owner(names->inbox) == user);
    CHECK(mailbox_owner(names->children + "Drafts") == user);
    CHECK(mailbox_owner(names->deleted + "Drafts.65A1B2C3") == user);
  }
}

// ---- inspection -------------------------------------------------------------------

TEST_CASE("info counts tables, users and mailboxes of the store", "[ctl][info]") {
  Fixture f;
  auto reader = f.reader();
  Value out;
  auto outcome = ctl::info(*reader, out);
  REQUIRE(outcome.exit_code == 0);
  CHECK(uint_of(out, "format_version") == codec::kFormatVersion);
  CHECK(uint_of(out, "users") == 4);  // alice, alicea, john.doe, jane@example.com
  CHECK(uint_of(out, "mailboxes") == 7);
  CHECK(uint_of(out, "shared_mailboxes") == 1);
  CHECK(uint_of(out, "records") == 9);
  CHECK(uint_of(out, "bodies") == 3);
  CHECK(uint_of(out, "file_bytes") > 0);
  CHECK(uint_of(out, "used_bytes") <= uint_of(out, "map_bytes"));
  auto tables = column(*out.get("tables"), "table");
  CHECK(std::find(tables.begin(), tables.end(), "bodyrefs") != tables.end());
  CHECK(std::find(tables.begin(), tables.end(), "records") != tables.end());
  // The text form labels sizes in binary units and makes a table of tables.
  std::string text = ctl::to_text(out);
  CHECK_THAT(text, Catch::Contains("format_version:"));
  CHECK_THAT(text, Catch::Contains("KiB)"));
  CHECK_THAT(text, Catch::Contains("TABLE"));
}

TEST_CASE("users sums mailboxes, messages and sizes per owner", "[ctl][users]") {
  Fixture f;
  auto reader = f.reader();
  Value out;
  REQUIRE(ctl::users(*reader, out).exit_code == 0);
  CHECK(column(out, "user") == std::vector<std::string>{"alice", "alicea", "jane@example.com", "john.doe"});
  const Value& alice = row_where(out, "user", "alice");
  CHECK(uint_of(alice, "mailboxes") == 3);   // INBOX, Sent and the deleted folder
  CHECK(uint_of(alice, "messages") == 5);
  CHECK(uint_of(alice, "expunged") == 1);
  CHECK(uint_of(alice, "size_bytes") ==
        2 * f.hello.bytes.size() + f.big.bytes.size() + 2 * f.third.bytes.size());
  CHECK(uint_of(row_where(out, "user", "john.doe"), "messages") == 0);
}

TEST_CASE("mailboxes lists one user's folders, not a longer name's", "[ctl][mailboxes]") {
  Fixture f;
  auto reader = f.reader();
  Value out;
  REQUIRE(ctl::mailboxes(*reader, "alice", out).exit_code == 0);
  CHECK(column(out, "name") ==
        std::vector<std::string>{"DELETED.user.alice.Old.65A1B2C3", "user.alice", "user.alice.Sent"});
  const Value& inbox = row_where(out, "name", "user.alice");
  CHECK(uint_of(inbox, "messages") == 3);
  CHECK(uint_of(inbox, "expunged") == 1);
  CHECK(inbox.get("uniqueid")->as_string() == "uid-alice-inbox");

  Value all;
  REQUIRE(ctl::mailboxes(*reader, "", all).exit_code == 0);
  CHECK(all.elements().size() == 7);
  CHECK(row_where(all, "name", "shared.news").get("owner")->kind() == Value::Kind::null);

  Value none;
  auto outcome = ctl::mailboxes(*reader, "nobody", none);
  CHECK(outcome.exit_code == ctl::kExitProblems);
  CHECK_THAT(outcome.error, Catch::Contains("nobody"));
}

TEST_CASE("show prints the header and every record, by name or uniqueid", "[ctl][show]") {
  Fixture f;
  auto reader = f.reader();
  Value out;
  REQUIRE(ctl::show(*reader, "user.alice", out).exit_code == 0);
  CHECK(out.get("uniqueid")->as_string() == "uid-alice-inbox");
  CHECK(out.get("owner")->as_string() == "alice");
  CHECK(uint_of(out, "last_uid") == 4);
  const Value& acl = *out.get("acl");
  REQUIRE(acl.elements().size() == 2);
  CHECK(acl.elements()[1].get("identifier")->as_string() == "anyone");
  CHECK(acl.elements()[1].get("rights")->as_string() == "lrs");
  const Value& records = *out.get("records");
  CHECK(column(records, "uid") == std::vector<std::string>{"1", "2", "3", "4"});
  CHECK(column(records, "flags") ==
        std::vector<std::string>{"\\Seen $Forwarded", "\\Flagged \\Seen $Forwarded", "$Forwarded",
                                 "\\Deleted \\Expunged $Forwarded"});
  CHECK(records.elements()[1].get("guid")->as_string() == f.big.guid.hex());

  Value by_uniqueid;
  REQUIRE(ctl::show(*reader, "uid-alice-sent", by_uniqueid).exit_code == 0);
  CHECK(by_uniqueid.get("name")->as_string() == "user.alice.Sent");

  Value missing;
  CHECK(ctl::show(*reader, "user.nobody", missing).exit_code == ctl::kExitProblems);
}

TEST_CASE("cat writes the stored bytes unchanged", "[ctl][cat]") {
  Fixture f;
  auto reader = f.reader();
  std::ostringstream body;
  REQUIRE(ctl::cat(*reader, f.big.guid.hex(), body).exit_code == 0);
  CHECK(body.str() == f.big.bytes);

  std::ostringstream upper;
  std::string hex = f.hello.guid.hex();
  std::transform(hex.begin(), hex.end(), hex.begin(), ::toupper);
  REQUIRE(ctl::cat(*reader, hex, upper).exit_code == 0);
  CHECK(upper.str() == f.hello.bytes);

  std::ostringstream none;
  CHECK(ctl::cat(*reader, f.gone.guid.hex(), none).exit_code == ctl::kExitProblems);
  CHECK(ctl::cat(*reader, "not-a-guid", none).exit_code == ctl::kExitUsage);
  CHECK(none.str().empty());
}

// ---- verify -----------------------------------------------------------------------

TEST_CASE("verify passes an intact store, whole and per user", "[ctl][verify]") {
  Fixture f;
  auto reader = f.reader();
  Value all;
  auto outcome = ctl::verify(*reader, "", all);
  INFO(ctl::to_text(all));
  CHECK(outcome.exit_code == 0);
  CHECK(uint_of(all, "problem_count") == 0);
  CHECK(uint_of(all, "mailboxes") == 7);
  CHECK(uint_of(all, "records") == 9);
  CHECK(uint_of(all, "bodies") == 3);
  CHECK(all.get("clean")->as_bool());

  Value alice;
  REQUIRE(ctl::verify(*reader, "alice", alice).exit_code == 0);
  CHECK(uint_of(alice, "mailboxes") == 3);
  CHECK(uint_of(alice, "bodies") == 3);

  Value nobody;
  CHECK(ctl::verify(*reader, "nobody", nobody).exit_code == ctl::kExitProblems);
}

TEST_CASE("verify finds a body whose bytes changed on disk", "[ctl][verify]") {
  Fixture f;
  std::string rotten = f.big.bytes;
  rotten[1000] = 'y';  // same size, one byte off
  f.poke("bodies", f.big.guid.raw(), rotten);

  auto reader = f.reader();
  for (std::string scope : {"", "alice", "jane@example.com"}) {
    Value out;
    auto outcome = ctl::verify(*reader, scope, out);
    INFO(scope << "\n" << ctl::to_text(out));
    CHECK(outcome.exit_code == ctl::kExitProblems);
    CHECK(problem_checks(out) == std::vector<std::string>{"body_sha1"});
    const Value& p = out.get("problems")->elements().at(0);
    CHECK(p.get("where")->as_string() == f.big.guid.hex());
    CHECK_THAT(p.get("detail")->as_string(), Catch::Contains(sha1_of(rotten).hex()));
  }
  // john.doe uses no body of it
  Value john;
  CHECK(ctl::verify(*reader, "john.doe", john).exit_code == 0);
}

TEST_CASE("verify finds a stored SYNC_CRC that does not match the records", "[ctl][verify]") {
  Fixture f;
  {
    auto store = f.open();
    REQUIRE(f.run(*store, [](WriteView& w) {
      auto m = w.mailbox("user.alice.Sent");
      if (!m) return Status::error(Errc::not_found, "Sent");
      m->sync_crc ^= 0x10;
      m->sync_crc_annot = 0;
      return w.put_mailbox(*m);
    }).ok());
  }
  auto reader = f.reader();
  Value out;
  CHECK(ctl::verify(*reader, "alice", out).exit_code == ctl::kExitProblems);
  CHECK(problem_checks(out) == std::vector<std::string>{"sync_crc", "sync_crc_annot"});
  CHECK(column(*out.get("problems"), "where") == std::vector<std::string>{"user.alice.Sent", "user.alice.Sent"});
  // Other users are not affected.
  Value jane;
  CHECK(ctl::verify(*reader, "jane@example.com", jane).exit_code == 0);
}

TEST_CASE("verify finds refcount drift, a lost body and broken index entries", "[ctl][verify]") {
  Fixture f;
  f.poke("bodyrefs", f.hello.guid.raw(), codec::encode_u64(7));    // really 3
  f.poke("bodies", f.third.guid.raw(), std::nullopt);              // live records use it
  f.poke("uniqueids", "uid-alice-sent", "user.alice.Elsewhere");   // header says user.alice.Sent
  std::string orphan_key = std::string("uid-vanished") + '\0' + std::string("\0\0\0\1", 4);
  MessageRecord orphan = record(1, f.hello);
  f.poke("records", orphan_key, codec::encode(orphan));

  auto reader = f.reader();
  Value out;
  CHECK(ctl::verify(*reader, "", out).exit_code == ctl::kExitProblems);
  INFO(ctl::to_text(out));
  auto checks = problem_checks(out);
  std::sort(checks.begin(), checks.end());
  CHECK(checks == std::vector<std::string>{"index", "index", "missing_body", "missing_body", "missing_body",
                                           "orphan_records", "refcount"});
  const Value& refcount = row_where(*out.get("problems"), "check", "refcount");
  CHECK(refcount.get("where")->as_string() == f.hello.guid.hex());
  // Only records that belong to a mailbox count: the orphan's reference is not one.
  CHECK_THAT(refcount.get("detail")->as_string(), Catch::Contains("stored 7 records 3"));
}

TEST_CASE("verify finds a body no record refers to", "[ctl][verify]") {
  Fixture f;
  Message stray = message("stray\r\n");
  f.poke("bodies", stray.guid.raw(), stray.bytes);
  auto reader = f.reader();
  Value out;
  CHECK(ctl::verify(*reader, "", out).exit_code == ctl::kExitProblems);
  CHECK(problem_checks(out) == std::vector<std::string>{"orphan_body"});
}

// ---- backup -----------------------------------------------------------------------

TEST_CASE("backup writes a compacted copy that opens and verifies clean", "[ctl][backup]") {
  Fixture f;
  auto reader = f.reader();
  std::string dest = f.dir.file("backup");
  Value out;
  auto outcome = ctl::backup(*reader, dest, out);
  INFO(outcome.error);
  REQUIRE(outcome.exit_code == 0);
  CHECK(uint_of(out, "mailboxes") == 7);
  CHECK(uint_of(out, "records") == 9);
  CHECK(uint_of(out, "copy_file_bytes") <= uint_of(out, "source_file_bytes"));

  auto copy = f.reader(dest);
  Value verified;
  CHECK(ctl::verify(*copy, "", verified).exit_code == 0);
  std::ostringstream body;
  REQUIRE(ctl::cat(*copy, f.big.guid.hex(), body).exit_code == 0);
  CHECK(body.str() == f.big.bytes);

  // A second backup never overwrites the first.
  Value again;
  CHECK(ctl::backup(*reader, dest, again).exit_code == ctl::kExitCantCreate);
}

TEST_CASE("a store directory that is missing or empty does not open", "[ctl][backup]") {
  TempDir dir{"replicad-ctl"};
  Status st;
  CHECK(StoreReader::open(dir.file("nowhere"), st) == nullptr);
  CHECK(st.code == Errc::not_found);
  CHECK(StoreReader::open(dir.path(), st) == nullptr);  // no data.mdb: never created read-only
  CHECK_FALSE(std::filesystem::exists(dir.file("data.mdb")));
}

// ---- status file, status and metrics ----------------------------------------------

namespace {

DaemonStatus sample_status() {
  DaemonStatus s;
  s.pid = getpid();
  s.version = "0.1.0";
  s.state = "running";
  s.started_time = 1700000000;
  s.written_time = 1700000100;
  s.interval_ms = 5000;
  s.sessions = 2;
  s.connections = 17;
  s.commands = 40;
  s.applies = 30;
  s.apply_failures = 1;
  s.gets = 10;
  s.messages = 12;
  s.message_bytes = 123456;
  s.ioerrors = 1;
  s.commits = 29;
  s.fsyncs = 29;
  s.apply_rate = 2.5;
  s.last_commit_time = 1700000099;
  s.apply_latency.observe(0.0004);
  s.apply_latency.observe(0.003);
  s.apply_latency.observe(0.003);
  s.apply_latency.observe(99);
  UserActivity alice;
  alice.user = "alice";
  alice.last_apply_time = 1700000099;
  alice.last_success_time = 1700000099;
  alice.last_command = "APPLY MAILBOX";
  alice.last_result = "OK success";
  alice.applies = 20;
  UserActivity odd;
  odd.user = "we ird%=\"name\"@example.com";
  odd.last_command = "APPLY MAILBOX";
  odd.last_result = "NO IMAP_SYNC_CHECKSUM Checksum Failure\nsecond line";
  odd.applies = 3;
  odd.failures = 1;
  odd.last_failure_time = 1700000050;
  s.users = {alice, odd};
  return s;
}

}  // namespace

TEST_CASE("the status file round-trips every field, odd strings included", "[ctl][status]") {
  DaemonStatus s = sample_status();
  DaemonStatus back;
  std::string error;
  REQUIRE(parse_status(format_status(s), back, error));
  CHECK(back == s);
  CHECK(back.users[1].user == "we ird%=\"name\"@example.com");

  TempDir dir{"replicad-ctl"};
  REQUIRE(write_status_file(dir.file("status"), s, error));
  DaemonStatus read;
  REQUIRE(read_status_file(dir.file("status"), read, error));
  CHECK(read == s);
  CHECK_FALSE(std::filesystem::exists(dir.file("status.tmp")));
}

TEST_CASE("the status parser refuses what replicad did not write", "[ctl][status]") {
  DaemonStatus out;
  std::string error;
  CHECK_FALSE(parse_status("", out, error));
  CHECK_FALSE(parse_status("something else 1\n", out, error));
  CHECK_FALSE(parse_status("replicad-status 2\n", out, error));
  CHECK_THAT(error, Catch::Contains("format 2"));
  CHECK_FALSE(parse_status("replicad-status 1\npid twelve\n", out, error));
  CHECK_THAT(error, Catch::Contains("line 2"));
  CHECK_FALSE(parse_status("replicad-status 1\nuser alice applies\n", out, error));
  CHECK_FALSE(parse_status("replicad-status 1\nuser alice%4 applies=1\n", out, error));
  CHECK_FALSE(parse_status("replicad-status 1\nlatency_bucket 7 1\n", out, error));
  // Keys a newer replicad may add are skipped.
  REQUIRE(parse_status("replicad-status 1\nsessions 3\nsomething_new 9\nuser bob applies=2 future=x\n", out, error));
  CHECK(out.sessions == 3);
  REQUIRE(out.users.size() == 1);
  CHECK(out.users[0].applies == 2);
}

TEST_CASE("status reports a running daemon and exits 3 for one that is gone", "[ctl][status]") {
  TempDir dir{"replicad-ctl"};
  DaemonStatus s = sample_status();
  std::string error;
  REQUIRE(write_status_file(dir.file("status"), s, error));

  Value out;
  auto outcome = ctl::status(dir.file("status"), s.written_time + 4, out);
  CHECK(outcome.exit_code == 0);
  CHECK(out.get("state")->as_string() == "running");
  CHECK(uint_of(out, "sessions") == 2);
  CHECK(column(*out.get("users"), "user") == std::vector<std::string>{"alice", "we ird%=\"name\"@example.com"});
  CHECK(uint_of(row_where(*out.get("users"), "user", "alice"), "applies") == 20);

  Value stale;
  CHECK(ctl::status(dir.file("status"), s.written_time + 3600, stale).exit_code == ctl::kExitNotRunning);
  CHECK(stale.get("state")->as_string() == "not reporting");

  s.state = "stopped";
  REQUIRE(write_status_file(dir.file("status"), s, error));
  Value stopped;
  CHECK(ctl::status(dir.file("status"), s.written_time, stopped).exit_code == ctl::kExitNotRunning);
  CHECK(stopped.get("state")->as_string() == "stopped");
  CHECK(uint_of(row_where(*stopped.get("users"), "user", "alice"), "applies") == 20);

  Value none;
  CHECK(ctl::status(dir.file("absent"), 0, none).exit_code == ctl::kExitNotRunning);
}

TEST_CASE("metrics speaks the Prometheus text format", "[ctl][metrics]") {
  Fixture f;
  DaemonStatus s = sample_status();
  std::string error;
  REQUIRE(write_status_file(f.dir.file("status"), s, error));
  auto reader = f.reader();
  std::string text;
  REQUIRE(ctl::metrics(f.dir.file("status"), reader.get(), s.written_time + 1, text).exit_code == 0);
  CHECK_THAT(text, Catch::Contains("# TYPE replicad_up gauge\nreplicad_up 1\n"));
  CHECK_THAT(text, Catch::Contains("replicad_applies_total 30\n"));
  CHECK_THAT(text, Catch::Contains("replicad_errors_total{prefix=\"IOERROR\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE replicad_apply_duration_seconds histogram\n"));
  // Buckets are cumulative, +Inf equals the count.
  CHECK_THAT(text, Catch::Contains("replicad_apply_duration_seconds_bucket{le=\"0.001\"} 1\n"));
  CHECK_THAT(text, Catch::Contains("replicad_apply_duration_seconds_bucket{le=\"0.005\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("replicad_apply_duration_seconds_bucket{le=\"30\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("replicad_apply_duration_seconds_bucket{le=\"+Inf\"} 4\n"));
  CHECK_THAT(text, Catch::Contains("replicad_apply_duration_seconds_count 4\n"));
  CHECK_THAT(text, Catch::Contains("replicad_user_applies_total{user=\"alice\"} 20\n"));
  CHECK_THAT(text, Catch::Contains("replicad_user_applies_total{user=\"we ird%=\\\"name\\\"@example.com\"} 3\n"));
  CHECK_THAT(text, Catch::Contains("replicad_store_entries{table=\"records\"} 9\n"));

  // Every line is a comment or "name[{labels}] value"; every family is typed
  // before its samples.
  std::istringstream lines(text);
  std::string line;
  std::set<std::string> typed;
  const std::regex sample(R"(([a-z_]+)(\{[a-z_]+="([^"\\]|\\.)*"(,[a-z_]+="([^"\\]|\\.)*")*\})? [-+0-9.e]+(Inf)?)");
  while (std::getline(lines, line)) {
    INFO(line);
    if (line.rfind("# TYPE ", 0) == 0) {
      typed.insert(line.substr(7, line.find(' ', 7) - 7));
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    std::smatch m;
    REQUIRE(std::regex_match(line, m, sample));
    std::string name = m[1];
    for (std::string suffix : {"_bucket", "_sum", "_count"})
      if (typed.count(name) == 0 && name.size() > suffix.size() &&
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
        name.resize(name.size() - suffix.size());
    CHECK(typed.count(name) == 1);
  }

  // Without a daemon report there is still the store, and replicad_up 0.
  std::string store_only;
  REQUIRE(ctl::metrics(f.dir.file("absent"), reader.get(), 0, store_only).exit_code == 0);
  CHECK_THAT(store_only, Catch::Contains("replicad_up 0\n"));
  CHECK_THAT(store_only, Catch::Contains("replicad_store_file_bytes "));
  std::string nothing;
  CHECK(ctl::metrics(f.dir.file("absent"), nullptr, 0, nothing).exit_code == ctl::kExitNoInput);
}

// ---- output -----------------------------------------------------------------------

TEST_CASE("JSON output escapes control characters and invalid UTF-8", "[ctl][output]") {
  Value v = Value::object();
  v.set("plain", "Grüße");
  v.set("control", std::string("a\tb\nc\0d\x7f", 8));
  v.set("broken", std::string("\xff\xc3(\xe2\x82", 5));
  v.set("number", uint64_t{18446744073709551615u});
  v.set("negative", int64_t{-3});
  v.set("list", Value::array()).push(true);
  std::string json = ctl::to_json(v);
  CHECK_THAT(json, Catch::Contains("\"plain\": \"Grüße\""));
  CHECK_THAT(json, Catch::Contains("\"control\": \"a\\tb\\nc\\u0000d\\u007f\""));
  CHECK_THAT(json, Catch::Contains("\"broken\": \"\\ufffd\\ufffd(\\ufffd\\ufffd\""));
  CHECK_THAT(json, Catch::Contains("\"number\": 18446744073709551615"));
  CHECK_THAT(json, Catch::Contains("\"negative\": -3"));
  CHECK_THAT(json, Catch::Contains("\"list\": [\n    true\n  ]"));
}

TEST_CASE("text output aligns fields and tables and names sizes and times", "[ctl][output]") {
  Value v = Value::object();
  v.set("name", "x");
  v.set("file_bytes", uint64_t{3} << 20);
  v.set("last_apply_time", int64_t{0});
  v.set("started_time", int64_t{1700000000});
  Value& rows = v.set("rows", Value::array());
  Value& a = rows.push(Value::object());
  a.set("user", "alice");
  a.set("n", 1);
  Value& b = rows.push(Value::object());
  b.set("user", "bob@example.com");
  b.set("n", 22);
  std::string text = ctl::to_text(v);
  CHECK(text ==
        "name:            x\n"
        "file_bytes:      3145728 (3.0 MiB)\n"
        "last_apply_time: never\n"
        "started_time:    2023-11-14 22:13:20Z\n"
        "rows:\n"
        "  USER             N\n"
        "  alice            1\n"
        "  bob@example.com  22\n");
}
