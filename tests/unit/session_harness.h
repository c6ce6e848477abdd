// A session wired to real parts (SASL with a sasldb, the LMDB store, the sync
// core) but no sockets: bytes in, bytes out, completions drained by hand.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "auth/password_store.h"
#include "protocol/session.h"
#include "storage/store.h"

namespace replicad::testing {

// Completions from the store's writer thread, run on the test's thread.
class CompletionQueue {
 public:
  void post(std::function<void()> fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(std::move(fn));
    cv_.notify_all();
  }
  // Runs completions until `done()` holds or the timeout passes.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      std::function<void()> fn;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!cv_.wait_until(lock, deadline, [&] { return !queue_.empty(); })) return done();
        fn = std::move(queue_.front());
        queue_.pop_front();
      }
      fn();
    }
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

class FakeOutput : public protocol::SessionOutput {
 public:
  void send(std::string_view bytes) override { written += bytes; }
  void close() override { closed = true; }
  void set_reading(bool on) override { reading = on; }
  void after(std::chrono::milliseconds, std::function<void()> fn) override { timers.push_back(std::move(fn)); }
  // The transport switches: recorded with how much had been written before
  // them, so a test can check that the OK line went out first.
  bool start_tls() override {
    tls_started_at = written.size();
    return tls_possible;
  }
  bool start_compress() override {
    compress_started_at = written.size();
    return compress_possible;
  }
  // Fires the pending timers (the failed-login pause) at once.
  void fire_timers() {
    auto t = std::move(timers);
    timers.clear();
    for (auto& fn : t) fn();
  }
  std::string take() {
    std::string out;
    out.swap(written);
    return out;
  }

  std::string written;
  bool tls_possible = true;
  bool compress_possible = true;
  std::optional<size_t> tls_started_at;
  std::optional<size_t> compress_started_at;
  bool closed = false;
  bool reading = true;
  std::vector<std::function<void()>> timers;
};

// One data directory with a store, a sync core and sasldb accounts
// admin/adminpw (admin) and alice/alicepw (not an admin).
class SessionWorld {
 public:
  SessionWorld();
  ~SessionWorld();

  // `implicit_tls_ssf` > 0: the session starts on a listen_tls port, after
  // a handshake of that strength.
  std::shared_ptr<protocol::Session> open(FakeOutput& out, std::string id = "t1", unsigned implicit_tls_ssf = 0);
  // Feeds `input`, then runs store completions until no command is in flight.
  void feed(protocol::Session& s, FakeOutput& out, std::string_view input, bool byte_at_a_time = false);

  protocol::SessionContext context;
  CompletionQueue completions;
  std::filesystem::path dir;
  std::unique_ptr<storage::Store> store;
  std::unique_ptr<protocol::SyncCore> sync;
};

}  // namespace replicad::testing
