// The daemon's operations side: which user a command is about, the activity
// it feeds (counters, per-user last apply, latencies), the systemd notify
// datagrams and inherited sockets, and the status reporter on a real loop.
#include <catch2/catch.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <fcntl.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "protocol/command_subject.h"
#include "server/activity.h"
#include "server/status_file.h"
#include "server/status_reporter.h"
#include "server/systemd.h"
#include "test_support.h"

using namespace replicad;
using protocol::Dlist;

namespace {

Dlist kv(std::vector<std::pair<std::string, std::string>> fields) {
  Dlist d = Dlist::kvlist_value();
  for (auto& [k, v] : fields) d.add_string(k, v);
  return d;
}

Dlist list_of(std::vector<std::string> words) {
  Dlist d = Dlist::list_value();
  for (auto& w : words) d.add(Dlist::string_value(w));
  return d;
}

protocol::SyncEvent event(std::string_view verb, std::string_view kind, std::string_view user,
                          std::string_view status, bool committed = false, double seconds = 0.002) {
  protocol::SyncEvent e;
  e.session = "s1";
  e.verb = verb;
  e.kind = kind;
  e.user = user;
  e.status = status;
  e.committed = committed;
  e.elapsed = std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  return e;
}

// An environment variable set for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) ::setenv(name_, old_->c_str(), 1);
    else ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A datagram socket standing in for systemd's notify socket.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& name, bool abstract) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + (abstract ? 1 : 0), name.data(), name.size());
    // abstract: a leading NUL and no terminator; a path: its terminating NUL
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~NotifySocket() { ::close(fd_); }
  std::string receive() {
    char buf[4096];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? std::string("<nothing>") : std::string(buf, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
};

}  // namespace

// ---- command_subject ------------------------------------------------------------------

TEST_CASE("command_subject names the user a sync command is about", "[ops][subject]") {
  using protocol::command_subject;
  CHECK(command_subject("APPLY", "MAILBOX", kv({{"UNIQUEID", "x"}, {"MBOXNAME", "user.alice.Sent"}})) == "alice");
  CHECK(command_subject("APPLY", "MAILBOX", kv({{"MBOXNAME", "example.com!user.jane"}})) == "jane@example.com");
  CHECK(command_subject("APPLY", "MAILBOX", kv({{"MBOXNAME", "shared.news"}})).empty());
  CHECK(command_subject("APPLY", "UNMAILBOX", Dlist::string_value("user.bob.Trash")) == "bob");
  CHECK(command_subject("APPLY", "RENAME", kv({{"OLDMBOXNAME", "user.carol.A"}, {"NEWMBOXNAME", "user.carol.B"}})) ==
        "carol");
  CHECK(command_subject("APPLY", "SUB", kv({{"USERID", "dave"}, {"MBOXNAME", "shared.news"}})) == "dave");
  CHECK(command_subject("APPLY", "UNUSER", Dlist::string_value("erin")) == "erin");
  CHECK(command_subject("APPLY", "QUOTA", kv({{"ROOT", "user.john^doe"}})) == "john.doe");
  CHECK(command_subject("APPLY", "SIEVE", kv({{"USERID", "alice"}, {"FILENAME", "rules"}})) == "alice");
  CHECK(command_subject("GET", "USER", Dlist::string_value("bob")) == "bob");
  CHECK(command_subject("GET", "MAILBOXES", list_of({"user.carol", "user.carol.Sent"})) == "carol");
  CHECK(command_subject("GET", "FULLMAILBOX", Dlist::string_value("user.dave.Drafts")) == "dave");
  // Commands about nobody in particular, and values that do not fit.
  CHECK(command_subject("APPLY", "MESSAGE", Dlist::list_value()).empty());
  CHECK(command_subject("APPLY", "RESERVE", kv({{"PARTITION", "default"}})).empty());
  CHECK(command_subject("APPLY", "MAILBOX", Dlist::string_value("user.alice")).empty());
  CHECK(command_subject("GET", "MAILBOXES", Dlist::list_value()).empty());
  CHECK(command_subject("APPLY", "UNUSER", Dlist::string_value(std::string(300, 'a'))).empty());
  CHECK(command_subject("APPLY", "FROBNICATE", Dlist::string_value("alice")).empty());
}

// ---- Activity -------------------------------------------------------------------------

TEST_CASE("activity counts commands and keeps each user's last apply", "[ops][activity]") {
  int64_t now = 1000;
  Activity activity(100, [&] { return now; });
  activity.on_sync_command(event("GET", "USER", "alice", "OK success"));
  activity.on_sync_command(event("GET", "META", "alice", "NO IMAP_MAILBOX_NONEXISTENT No such mailbox"));
  auto upload = event("APPLY", "MESSAGE", "alice", "OK success");
  upload.messages = 3;
  upload.message_bytes = 3000;
  activity.on_sync_command(upload);
  now = 1010;
  activity.on_sync_command(event("APPLY", "MAILBOX", "alice", "OK success", true, 0.004));
  now = 1020;
  activity.on_sync_command(event("APPLY", "MAILBOX", "bob", "NO IMAP_SYNC_CHECKSUM Checksum Failure"));
  activity.on_sync_command(event("APPLY", "RESERVE", "", "OK success"));

  DaemonStatus s;
  activity.report(s);
  CHECK(s.commands == 6);
  CHECK(s.gets == 2);
  CHECK(s.get_failures == 1);
  CHECK(s.applies == 4);
  CHECK(s.apply_failures == 1);
  CHECK(s.messages == 3);
  CHECK(s.message_bytes == 3000);
  CHECK(s.last_commit_time == 1010);
  CHECK(s.apply_latency.count == 1);
  CHECK(s.apply_latency.counts[2] == 1);  // 4 ms: in the (2.5 ms, 5 ms] bucket
  REQUIRE(s.users.size() == 2);
  const UserActivity& alice = s.users[0];
  CHECK(alice.user == "alice");
  CHECK(alice.applies == 2);
  CHECK(alice.failures == 0);
  CHECK(alice.messages == 3);
  CHECK(alice.last_apply_time == 1010);
  CHECK(alice.last_success_time == 1010);
  CHECK(alice.last_command == "APPLY MAILBOX");
  const UserActivity& bob = s.users[1];
  CHECK(bob.failures == 1);
  CHECK(bob.last_failure_time == 1020);
  CHECK(bob.last_success_time == 0);
  CHECK(bob.last_result == "NO IMAP_SYNC_CHECKSUM Checksum Failure");

  auto interval = activity.take_interval();
  CHECK(interval.total.applies == 4);
  CHECK(interval.users.at("alice").applies == 2);
  CHECK(activity.take_interval().total.applies == 0);
}

TEST_CASE("activity forgets the idlest user beyond its bound, and restores history", "[ops][activity]") {
  int64_t now = 0;
  Activity activity(2, [&] { return now; });
  UserActivity old;
  old.user = "veteran";
  old.applies = 40;
  old.last_apply_time = 5;
  activity.restore({old});
  now = 10;
  activity.on_sync_command(event("APPLY", "MAILBOX", "a", "OK success"));
  now = 20;
  activity.on_sync_command(event("APPLY", "MAILBOX", "b", "OK success"));  // veteran (t=5) goes
  now = 30;
  activity.on_sync_command(event("APPLY", "MAILBOX", "a", "OK success"));
  now = 40;
  activity.on_sync_command(event("APPLY", "MAILBOX", "c", "OK success"));  // b (t=20) goes
  DaemonStatus s;
  activity.report(s);
  REQUIRE(s.users.size() == 2);
  CHECK(s.users[0].user == "a");
  CHECK(s.users[0].applies == 2);
  CHECK(s.users[1].user == "c");

  Activity fresh(10);
  fresh.restore({old});
  DaemonStatus r;
  fresh.report(r);
  REQUIRE(r.users.size() == 1);
  CHECK(r.users[0] == old);
}

// ---- systemd --------------------------------------------------------------------------

TEST_CASE("the notifier sends datagrams to a path or an abstract socket", "[ops][systemd]") {
  testing::TempDir dir{"replicad-ops"};
  for (bool abstract : {false, true}) {
    std::string name = abstract ? "replicad-test-notify-" + std::to_string(::getpid()) : dir.file("notify");
    NotifySocket socket(name, abstract);
    ScopedEnv env("NOTIFY_SOCKET", abstract ? "@" + name : name);
    SystemdNotifier n = SystemdNotifier::from_environment();
    REQUIRE(n.enabled());
    CHECK(n.ready("2 sessions"));
    CHECK(socket.receive() == "READY=1\nSTATUS=2 sessions");
    CHECK(n.status("busy"));
    CHECK(socket.receive() == "STATUS=busy");
    CHECK(n.watchdog());
    CHECK(socket.receive() == "WATCHDOG=1");
    CHECK(n.stopping());
    CHECK(socket.receive() == "STOPPING=1");
    // Moving keeps the one socket.
    SystemdNotifier moved = std::move(n);
    CHECK_FALSE(n.enabled());
    CHECK(moved.reloading());
    CHECK(socket.receive() == "RELOADING=1");
  }
}

TEST_CASE("without systemd the notifier does nothing", "[ops][systemd]") {
  ::unsetenv("NOTIFY_SOCKET");
  SystemdNotifier none = SystemdNotifier::from_environment();
  CHECK_FALSE(none.enabled());
  CHECK_FALSE(none.ready("x"));
  CHECK(none.watchdog_interval().count() == 0);
  {
    ScopedEnv env("NOTIFY_SOCKET", "relative/path");
    CHECK_FALSE(SystemdNotifier::from_environment().enabled());
  }
}

TEST_CASE("the watchdog interval is ours only when WATCHDOG_PID says so", "[ops][systemd]") {
  ScopedEnv socket("NOTIFY_SOCKET", "@replicad-test-watchdog");
  ScopedEnv usec("WATCHDOG_USEC", "3000000");
  {
    ScopedEnv pid("WATCHDOG_PID", std::to_string(::getpid()));
    CHECK(SystemdNotifier::from_environment().watchdog_interval() == std::chrono::seconds(3));
  }
  {
    ScopedEnv pid("WATCHDOG_PID", std::to_string(::getpid() + 1));
    CHECK(SystemdNotifier::from_environment().watchdog_interval().count() == 0);
  }
  ScopedEnv junk("WATCHDOG_USEC", "soon");
  CHECK(SystemdNotifier::from_environment().watchdog_interval().count() == 0);
}

TEST_CASE("inherited sockets are taken only when LISTEN_PID is this process", "[ops][systemd]") {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
  // Put them at 3 and 4, where systemd would; keep what was there.
  int saved3 = ::dup(3);
  int saved4 = ::dup(4);
  REQUIRE(::dup2(fds[0], 3) == 3);
  REQUIRE(::dup2(fds[1], 4) == 4);
  {
    ScopedEnv pid("LISTEN_PID", std::to_string(::getpid() + 1));
    ScopedEnv count("LISTEN_FDS", "2");
    CHECK(take_inherited_sockets().empty());
    CHECK(std::getenv("LISTEN_FDS") == nullptr);  // consumed either way
  }
  {
    ScopedEnv pid("LISTEN_PID", std::to_string(::getpid()));
    ScopedEnv count("LISTEN_FDS", "2");
    ScopedEnv names("LISTEN_FDNAMES", "csync:tls");
    auto sockets = take_inherited_sockets();
    REQUIRE(sockets.size() == 2);
    CHECK(sockets[0].fd == 3);
    CHECK(sockets[0].name == "csync");
    CHECK(sockets[1].fd == 4);
    CHECK(sockets[1].name == "tls");
    CHECK((::fcntl(3, F_GETFD) & FD_CLOEXEC) != 0);
    CHECK(std::getenv("LISTEN_PID") == nullptr);
  }
  ::close(fds[0]);
  ::close(fds[1]);
  if (saved3 >= 0) ::dup2(saved3, 3), ::close(saved3);
  else ::close(3);
  if (saved4 >= 0) ::dup2(saved4, 4), ::close(saved4);
  else ::close(4);
}

// ---- StatusReporter -------------------------------------------------------------------

TEST_CASE("the status reporter writes the status file on start, every interval and at the end", "[ops][status]") {
  testing::TempDir dir{"replicad-ops"};
  std::string path = dir.file("status");
  std::string notify_name = "replicad-test-reporter-" + std::to_string(::getpid());
  NotifySocket socket(notify_name, true);
  ScopedEnv env("NOTIFY_SOCKET", "@" + notify_name);
  SystemdNotifier notifier = SystemdNotifier::from_environment();

  // The previous run's history is picked up.
  DaemonStatus previous;
  previous.state = "stopped";
  UserActivity veteran;
  veteran.user = "veteran";
  veteran.applies = 7;
  previous.users = {veteran};
  std::string error;
  REQUIRE(write_status_file(path, previous, error));

  uv_loop_t loop;
  uv_loop_init(&loop);
  Activity activity;
  storage::StoreStats stats;
  stats.commits = 5;
  stats.syncs = 5;
  StatusReporter reporter(&loop, path, std::chrono::milliseconds(100), "9.9.9", activity,
                          StatusSources{[] { return uint64_t{3}; }, [] { return uint64_t{11}; },
                                        [&] { return stats; }},
                          notifier);
  reporter.restore_history();
  reporter.start();
  DaemonStatus first;
  REQUIRE(read_status_file(path, first, error));
  CHECK(first.state == "running");
  CHECK(first.pid == ::getpid());
  CHECK(first.version == "9.9.9");
  CHECK(first.sessions == 3);
  CHECK(first.connections == 11);
  CHECK(first.commits == 5);
  REQUIRE(first.users.size() == 1);
  CHECK(first.users[0].applies == 7);

  // A couple of intervals go by with an apply in them, then a stop.
  activity.on_sync_command(event("APPLY", "MAILBOX", "alice", "OK success", true));
  uv_timer_t stopper;
  uv_timer_init(&loop, &stopper);
  stopper.data = &reporter;
  uv_timer_start(&stopper, [](uv_timer_t* t) {
    static_cast<StatusReporter*>(t->data)->stop();
    uv_close(reinterpret_cast<uv_handle_t*>(t), nullptr);
  }, 250, 0);
  uv_run(&loop, UV_RUN_DEFAULT);  // ends once the reporter's timers are closed
  DaemonStatus stopping;
  REQUIRE(read_status_file(path, stopping, error));
  CHECK(stopping.state == "stopping");
  CHECK(stopping.applies == 1);
  reporter.write_final();
  DaemonStatus final_status;
  REQUIRE(read_status_file(path, final_status, error));
  CHECK(final_status.state == "stopped");
  CHECK(final_status.users.size() == 2);
  CHECK(uv_loop_close(&loop) == 0);

  // Periodic STATUS= lines reached "systemd".
  std::string message = socket.receive();
  CHECK_THAT(message, Catch::StartsWith("STATUS=3 sessions, last commit "));
}
