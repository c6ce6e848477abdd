// Expiry of delayed-delete mailboxes (spec §3.4, §9.5): which names carry a
// deletion time, what a run removes (records and bodies no one else uses
// with them, virtual domains included), batching, the running guard, the
// settings, and the housekeeping timer on a real libuv loop.
#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <uv.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "protocol/deleted_expiry.h"
#include "server/config.h"
#include "server/housekeeping.h"
#include "server/loop_executor.h"
#include "server/settings.h"
#include "storage/guid.h"
#include "sync_test_support.h"

using namespace replicad;
using protocol::deleted_mailbox_time;
using protocol::DeletedExpiry;
using protocol::ExpiryReport;
using storage::Status;
using storage::WriteView;
using sync_test::SyncHarness;

namespace {

constexpr uint64_t kNow = 0x6B200000;
constexpr uint64_t kDay = 24 * 3600;

std::string deleted_name(std::string_view prefix, uint64_t deleted_at) {
  return fmt::format("{}.{:X}", prefix, deleted_at);
}

// Puts a mailbox with one record per body straight into the store.
Status add_mailbox(WriteView& w, const std::string& dir, const std::string& name, const std::string& uniqueid,
                   const std::vector<std::string>& bodies) {
  storage::Mailbox box;
  box.uniqueid = uniqueid;
  box.name = name;
  box.partition = "default";
  box.last_uid = static_cast<uint32_t>(bodies.size());
  if (Status st = w.put_mailbox(box); !st) return st;
  uint32_t uid = 0;
  for (const std::string& body : bodies) {
    storage::Guid guid = storage::sha1_of(body);
    std::string path = fmt::format("{}/{}", dir, guid.hex());
    std::ofstream(path, std::ios::binary) << body;
    if (Status st = w.put_body_from_file(guid, path, body.size()); !st) return st;
    storage::MessageRecord rec;
    rec.uid = ++uid;
    rec.guid = guid;
    rec.size = static_cast<uint32_t>(body.size());
    if (Status st = w.put_record(uniqueid, rec); !st) return st;
  }
  return Status::success();
}

std::optional<ExpiryReport> expire(SyncHarness& h, DeletedExpiry& expiry, uint64_t now) {
  std::optional<ExpiryReport> report;
  expiry.run(now, [&](const ExpiryReport& r) { report = r; });
  REQUIRE(h.complete_until([&] { return report.has_value(); }));
  return report;
}

bool exists(SyncHarness& h, const std::string& name) {
  return h.read([&](storage::ReadView& v) { return v.mailbox(name).has_value(); });
}

bool has_body(SyncHarness& h, std::string_view body) {
  return h.read([&](storage::ReadView& v) { return v.has_body(storage::sha1_of(body)); });
}

}  // namespace

TEST_CASE("a DELETED name carries its deletion time as a hex last component", "[expiry]") {
  CHECK(deleted_mailbox_time("DELETED.user.alice.Projects.6B116701") == 0x6B116701u);
  CHECK(deleted_mailbox_time("DELETED.user.alice.6B116701") == 0x6B116701u);  // a deleted INBOX
  CHECK(deleted_mailbox_time("example.com!DELETED.user.jane.Work.6B1175F8") == 0x6B1175F8u);
  CHECK(deleted_mailbox_time("DELETED.shared.news.6b116701") == 0x6B116701u);
  CHECK(deleted_mailbox_time("DELETED.user.a.My Projects.0") == 0u);
  CHECK_FALSE(deleted_mailbox_time("user.alice.Projects.6B116701"));
  CHECK_FALSE(deleted_mailbox_time("user.DELETED.x.6B116701"));
  CHECK_FALSE(deleted_mailbox_time("DELETED.user.alice.Projects"));
  CHECK_FALSE(deleted_mailbox_time("DELETED.6B116701"));  // no name before the time
  CHECK_FALSE(deleted_mailbox_time("example.com!DELETED.6B116701"));
  CHECK_FALSE(deleted_mailbox_time("DELETED.user.alice.6B11670G"));
  CHECK_FALSE(deleted_mailbox_time("DELETED.user.alice.12345678901234567"));
  CHECK_FALSE(deleted_mailbox_time("DELETED.user.alice."));
}

TEST_CASE("expired DELETED mailboxes go with their records and the bodies no one else uses", "[expiry]") {
  SyncHarness h;
  const std::string dir = h.dir();
  const std::string old_at = deleted_name("DELETED.user.bob.Old", kNow - 8 * kDay);
  const std::string empty_at = deleted_name("DELETED.user.bob.Empty", kNow - 30 * kDay);
  const std::string recent = deleted_name("DELETED.user.bob.Recent", kNow - 6 * kDay);
  const std::string jane = deleted_name("example.com!DELETED.user.jane.Work", kNow - 7 * kDay);
  const std::string future = deleted_name("DELETED.user.bob.Future", kNow + kDay);
  h.write([&](WriteView& w) {
    Status st = add_mailbox(w, dir, "user.bob", "bob-inbox", {"shared body\r\n", "inbox only\r\n"});
    if (st) st = add_mailbox(w, dir, old_at, "bob-old", {"shared body\r\n", "old only\r\n", "old only\r\n"});
    if (st) st = add_mailbox(w, dir, empty_at, "bob-empty", {});
    if (st) st = add_mailbox(w, dir, recent, "bob-recent", {"recent only\r\n"});
    if (st) st = add_mailbox(w, dir, jane, "jane-work", {"jane only\r\n"});
    if (st) st = add_mailbox(w, dir, future, "bob-future", {"future only\r\n"});
    // A name in the DELETED hierarchy without a time is not Cyrus's: kept.
    if (st) st = add_mailbox(w, dir, "DELETED.user.bob.NoTime", "bob-notime", {});
    return st;
  });

  DeletedExpiry expiry(h.store(), 7 * kDay);
  std::optional<ExpiryReport> report = expire(h, expiry, kNow);
  REQUIRE(report);
  CHECK(report->mailboxes == 3);  // Old, Empty and jane's Work (exactly 7 days)
  CHECK(report->records == 4);
  CHECK(report->failed == 0);
  CHECK_FALSE(expiry.running());

  CHECK_FALSE(exists(h, old_at));
  CHECK_FALSE(exists(h, empty_at));
  CHECK_FALSE(exists(h, jane));
  for (const std::string& kept : {std::string("user.bob"), recent, future, std::string("DELETED.user.bob.NoTime")})
    CHECK(exists(h, kept));
  CHECK_FALSE(h.read([](storage::ReadView& v) { return v.name_of_uniqueid("bob-old").has_value(); }));
  CHECK_FALSE(h.read([](storage::ReadView& v) { return v.record("bob-old", 1).has_value(); }));

  CHECK(has_body(h, "shared body\r\n"));  // the INBOX still uses it
  CHECK(has_body(h, "inbox only\r\n"));
  CHECK_FALSE(has_body(h, "old only\r\n"));
  CHECK_FALSE(has_body(h, "jane only\r\n"));
  CHECK(has_body(h, "recent only\r\n"));

  SECTION("a later run finds what has aged since, and nothing twice") {
    report = expire(h, expiry, kNow + kDay);
    CHECK(report->mailboxes == 1);  // Recent
    CHECK_FALSE(exists(h, recent));
    CHECK_FALSE(has_body(h, "recent only\r\n"));
    report = expire(h, expiry, kNow + kDay);
    CHECK(report->mailboxes == 0);
  }
  SECTION("GET USER no longer reports them") {
    std::string user = h.run("GET USER bob\r\n");
    CHECK(user.find("MBOXNAME user.bob ") != std::string::npos);
    CHECK(user.find("MBOXNAME " + recent + " ") != std::string::npos);
    CHECK(user.find(old_at) == std::string::npos);
  }
}

TEST_CASE("many expired mailboxes are removed in bounded write jobs", "[expiry]") {
  SyncHarness h;
  const size_t count = 2 * DeletedExpiry::kBatch + 5;
  h.write([&](WriteView& w) {
    for (size_t i = 0; i < count; ++i) {
      Status st = add_mailbox(w, h.dir(), deleted_name(fmt::format("DELETED.user.u{}", i), kNow - 10 * kDay),
                              fmt::format("uid-{}", i), {fmt::format("body {}\r\n", i)});
      if (!st) return st;
    }
    return Status::success();
  });
  uint64_t jobs_before = h.store().stats().jobs;
  DeletedExpiry expiry(h.store(), kDay);
  std::optional<ExpiryReport> report = expire(h, expiry, kNow);
  CHECK(report->mailboxes == count);
  CHECK(report->records == count);
  CHECK(h.store().stats().jobs - jobs_before == 3);
  CHECK(h.read([](storage::ReadView& v) {
    size_t left = 0;
    REQUIRE(v.for_each_mailbox("", [&](const storage::Mailbox&) { return ++left, true; }).ok());
    return left;
  }) == 0);
}

TEST_CASE("a run asked for while one is in flight is skipped", "[expiry]") {
  SyncHarness h;
  h.write([&](WriteView& w) {
    return add_mailbox(w, h.dir(), deleted_name("DELETED.user.bob.Old", kNow - 10 * kDay), "bob-old", {"x\r\n"});
  });
  DeletedExpiry expiry(h.store(), kDay);
  int first = 0;
  int second = 0;
  expiry.run(kNow, [&](const ExpiryReport& r) { first += static_cast<int>(r.mailboxes) + 1; });
  CHECK(expiry.running());
  expiry.run(kNow, [&](const ExpiryReport&) { ++second; });
  REQUIRE(h.complete_until([&] { return first > 0; }));
  CHECK(first == 2);
  CHECK(second == 0);
  CHECK_FALSE(expiry.running());
  // Nothing to do: the answer comes at once, without a write job.
  uint64_t jobs = h.store().stats().jobs;
  bool done = false;
  expiry.run(kNow, [&](const ExpiryReport& r) { done = r.mailboxes == 0; });
  CHECK(done);
  CHECK(h.store().stats().jobs == jobs);
}

TEST_CASE("deleted_expire and deleted_expire_period in replicad.conf", "[expiry][settings]") {
  auto read = [](const std::string& text, bool& fatal, std::vector<Config::Problem>& problems) {
    Config config;
    REQUIRE(config.load_text("admins: admin\n" + text));
    return read_settings(config, problems, fatal);
  };
  bool fatal = false;
  std::vector<Config::Problem> problems;
  Settings s = read("", fatal, problems);
  CHECK(s.deleted_expire == std::chrono::hours(7 * 24));
  CHECK(s.deleted_expire_period == std::chrono::hours(1));
  CHECK(problems.empty());

  s = read("deleted_expire: 3d\ndeleted_expire_period: 10m\n", fatal, problems);
  CHECK_FALSE(fatal);
  CHECK(problems.empty());
  CHECK(s.deleted_expire == std::chrono::hours(72));
  CHECK(s.deleted_expire_period == std::chrono::minutes(10));

  s = read("deleted_expire: 0\ndeleted_expire_period: 0\n", fatal, problems);
  CHECK_FALSE(fatal);  // expiry off: the period does not matter
  CHECK(s.deleted_expire.count() == 0);

  problems.clear();
  read("deleted_expire: 1d\ndeleted_expire_period: 0\n", fatal, problems);
  CHECK(fatal);
  REQUIRE(!problems.empty());
  CHECK(problems.back().message.find("deleted_expire_period") != std::string::npos);
}

TEST_CASE("housekeeping expires on the event loop, through the writer, and stops cleanly", "[expiry][loop]") {
  testing::TempDir dir;
  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  std::optional<LoopExecutor> executor;
  executor.emplace(&loop);
  storage::StoreOptions options;
  options.directory = dir.file("store");
  options.durable = false;
  options.map_size = uint64_t{1} << 28;
  storage::Status status;
  auto store = storage::Store::open(options, [&](std::function<void()> fn) { executor->post(std::move(fn)); }, status);
  REQUIRE(store);

  // Deleted (by its name) an hour ago; the age is a minute.
  const std::string gone = deleted_name("DELETED.user.bob.Old", static_cast<uint64_t>(std::time(nullptr)) - 3600);
  bool written = false;
  store->submit({[&](WriteView& w) { return add_mailbox(w, dir.path(), gone, "bob-old", {"old\r\n"}); },
                 [&](Status st) { written = st.ok(); }});

  Housekeeping housekeeping(&loop, *store, std::chrono::minutes(1), std::chrono::milliseconds(200));
  housekeeping.start();
  // Polls the store; stops everything once the mailbox is gone (or after 10 s).
  struct Watch {
    uv_timer_t timer{};
    std::function<void()> tick;
  } watch;
  int ticks = 0;
  bool removed = false;
  watch.tick = [&] {
    auto txn = store->begin_read();
    removed = written && txn && !txn->view().mailbox(gone).has_value();
    if (!removed && ++ticks < 200) return;
    uv_timer_stop(&watch.timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&watch.timer), nullptr);
    housekeeping.stop();
    store->shutdown();
    executor->close();
  };
  uv_timer_init(&loop, &watch.timer);
  watch.timer.data = &watch;
  uv_timer_start(&watch.timer, [](uv_timer_t* t) { static_cast<Watch*>(t->data)->tick(); }, 50, 50);

  uv_run(&loop, UV_RUN_DEFAULT);  // returns only once every handle is closed
  CHECK(written);
  CHECK(removed);
  CHECK(uv_loop_close(&loop) == 0);
}
