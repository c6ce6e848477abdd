#include "session_harness.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>

namespace replicad::testing {
namespace {

// libsasl2 keeps process-wide state: one sasldb for the whole test binary.
const std::filesystem::path& sasl_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("replicad-session-sasl-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// The library is initialised without a mech_list, so that every installed
// mechanism is loaded; each world's connections then choose theirs.
auth::SaslConfig library_config() {
  auth::SaslConfig c;
  c.servername = "unit";
  c.options = {{"pwcheck_method", "auxprop"},
               {"auxprop_plugin", "sasldb"},
               {"sasldb_path", (sasl_dir() / "sasldb2").string()}};
  c.allow_plaintext = true;
  return c;
}

auth::SaslConfig sasl_config() {
  auth::SaslConfig c = library_config();
  c.options["mech_list"] = "PLAIN LOGIN";
  return c;
}

void ensure_accounts() {
  static bool done = [] {
    auto c = library_config();
    std::string error;
    REQUIRE(auth::sasl_library_init(c, error));
    REQUIRE(auth::set_password(c, "admin", "adminpw", error));
    REQUIRE(auth::set_password(c, "alice", "alicepw", error));
    return true;
  }();
  (void)done;
}

}  // namespace

SessionWorld::SessionWorld() {
  static std::atomic<int> counter{0};
  ensure_accounts();
  dir = std::filesystem::temp_directory_path() /
        ("replicad-session-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "store");
  storage::StoreOptions options;
  options.directory = (dir / "store").string();
  options.map_size = uint64_t{256} << 20;
  options.durable = false;
  storage::Status status;
  store = storage::Store::open(options, [this](std::function<void()> fn) { completions.post(std::move(fn)); }, status);
  REQUIRE(store);
  sync = std::make_unique<protocol::SyncCore>(*store, protocol::SyncConfig{});

  context.servername = "unit";
  context.version = "test";
  context.sasl = sasl_config();
  context.admins = auth::AdminPolicy("admin");
  context.sync = sync.get();
  context.staging_root = (dir / "staging").string();
  context.failed_auth_delay = std::chrono::milliseconds(0);
}

SessionWorld::~SessionWorld() {
  store->shutdown();
  completions.run_until([] { return false; }, std::chrono::milliseconds(0));
  store.reset();
  std::filesystem::remove_all(dir);
}

std::shared_ptr<protocol::Session> SessionWorld::open(FakeOutput& out, std::string id, unsigned implicit_tls_ssf) {
  auth::ConnectionInfo info;
  info.local = "127.0.0.1;2005";
  info.remote = "127.0.0.1;40000";
  info.tls_ssf = implicit_tls_ssf;
  auto s = std::make_shared<protocol::Session>(context, out, std::move(id), info);
  s->start();
  return s;
}

void SessionWorld::feed(protocol::Session& s, FakeOutput& out, std::string_view input, bool byte_at_a_time) {
  auto settle = [&] {
    for (int i = 0; i < 100; ++i) {
      out.fire_timers();
      if (!s.busy()) break;
      completions.run_until([&] { return !s.busy() || !out.timers.empty(); });
    }
  };
  if (byte_at_a_time) {
    for (char c : input) {
      s.on_input(std::string_view(&c, 1));
      settle();
    }
  } else {
    s.on_input(input);
    settle();
  }
}

}  // namespace replicad::testing
