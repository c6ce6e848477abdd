#include "fuzz_world.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "auth/password_store.h"
#include "auth/sasl_server.h"
#include "fuzz_support.h"
#include "server/log.h"

namespace replicad::fuzz {

void DiscardingOutput::send(std::string_view bytes) {
  if (bytes.empty()) return;
  bytes_sent += bytes.size();
  // A reply ends in CRLF; the data lines before it may hold literals, so
  // only the last two bytes of everything sent so far matter.
  ends_mid_line = !(bytes.back() == '\n' && (bytes.size() >= 2 ? bytes[bytes.size() - 2] : last_byte) == '\r');
  last_byte = bytes.back();
}

void DiscardingOutput::fire_timers() {
  while (!timers.empty()) {
    auto pending = std::move(timers);
    timers.clear();
    for (auto& fn : pending) fn();
  }
}

FuzzWorld& FuzzWorld::get() {
  // Never destroyed before exit: libFuzzer may exit from any thread, and the
  // temporary directory is removed by the atexit hook below.
  static FuzzWorld* world = new FuzzWorld();
  return *world;
}

FuzzWorld::FuzzWorld() {
  // The session logs every command at info; that much stderr would drown
  // libFuzzer's own output.  REPLICAD_FUZZ_LOG=debug shows it all.
  const char* verbose = std::getenv("REPLICAD_FUZZ_LOG");
  log::set_level(verbose != nullptr && std::string_view(verbose) == "debug" ? log::Level::debug : log::Level::error);

  dir_ = std::filesystem::temp_directory_path() / ("replicad-fuzz-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_ / "store");
  static std::filesystem::path cleanup_dir = dir_;
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(cleanup_dir, ec);
  });

  auth::SaslConfig sasl;
  sasl.servername = "fuzz";
  sasl.options = {{"pwcheck_method", "auxprop"},
                  {"auxprop_plugin", "sasldb"},
                  {"sasldb_path", (dir_ / "sasldb2").string()},
                  {"mech_list", "PLAIN LOGIN CRAM-MD5 DIGEST-MD5 SCRAM-SHA-1 SCRAM-SHA-256"}};
  sasl.allow_plaintext = true;
  std::string error;
  FUZZ_CHECK(auth::sasl_library_init(sasl, error), "libsasl2: " + error);
  FUZZ_CHECK(auth::set_password(sasl, "admin", "adminpw", error), "sasldb: " + error);
  FUZZ_CHECK(auth::set_password(sasl, "alice", "alicepw", error), "sasldb: " + error);

  storage::StoreOptions options;
  options.directory = (dir_ / "store").string();
  options.map_size = uint64_t{1} << 30;
  options.durable = false;
  storage::Status status;
  store_ = storage::Store::open(options, [this](std::function<void()> fn) { post(std::move(fn)); }, status);
  FUZZ_CHECK(store_ != nullptr, "store: " + status.message);
  sync_ = std::make_unique<protocol::SyncCore>(*store_, protocol::SyncConfig{});

  context.servername = "fuzz";
  context.version = "fuzz";
  context.sasl = sasl;
  context.admins = auth::AdminPolicy("admin");
  context.sync = sync_.get();
  context.staging_root = (dir_ / "staging").string();
  context.failed_auth_delay = std::chrono::milliseconds(0);
  // Real limits, except that one upload may not exceed what an input can
  // hold anyway: a huge announced size must still be refused or skipped.
  context.max_message_size = 1u << 20;
}

FuzzWorld::~FuzzWorld() = default;

void FuzzWorld::post(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(mutex_);
  completions_.push_back(std::move(fn));
  cv_.notify_all();
}

bool FuzzWorld::run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    std::function<void()> fn;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (!cv_.wait_until(lock, deadline, [&] { return !completions_.empty(); })) return done();
      fn = std::move(completions_.front());
      completions_.pop_front();
    }
    fn();
  }
  return true;
}

std::shared_ptr<protocol::Session> FuzzWorld::open(DiscardingOutput& out) {
  auth::ConnectionInfo info;
  info.local = "127.0.0.1;2005";
  info.remote = "127.0.0.1;40000";
  auto s = std::make_shared<protocol::Session>(context, out, "fz" + std::to_string(++sessions_), info);
  s->start();
  return s;
}

bool FuzzWorld::settle(protocol::Session& s, DiscardingOutput& out) {
  // A command in flight ends by a store completion or a timer; either may
  // start the next pending command, which may need another of either.
  for (int rounds = 0; rounds < 10000; ++rounds) {
    out.fire_timers();
    if (!s.busy()) return true;
    if (!run_until([&] { return !s.busy() || !out.timers.empty(); }, std::chrono::seconds(20))) return false;
  }
  return !s.busy();
}

void FuzzWorld::close(std::shared_ptr<protocol::Session> s) {
  s->on_disconnect();
  s.reset();
  // Completions of jobs the session left behind hold only weak references;
  // run them so the queue starts empty for the next input.
  run_until([this] {
    std::lock_guard<std::mutex> lock(mutex_);
    return completions_.empty();
  }, std::chrono::milliseconds(0));
}

std::string csync_admin_login() {
  return "AUTHENTICATE PLAIN " + auth::base64_encode(std::string("\0admin\0adminpw", 14)) + "\r\n";
}

std::string imap_admin_login() {
  return "A01 AUTHENTICATE PLAIN " + auth::base64_encode(std::string("\0admin\0adminpw", 14)) + "\r\n";
}

}  // namespace replicad::fuzz
