// The process-wide surroundings of the session fuzz targets: a sasldb with
// an admin and a non-admin account, an LMDB store (durable=false) in a
// temporary directory, the sync core, and the session context — all made
// once per process, because libsasl2 is process-global and opening a store
// per input would leave nothing for the fuzzer's time budget.
//
// The store keeps what earlier inputs wrote, so an input may meet mailboxes
// a previous one created: state a real replica has too.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/session.h"
#include "protocol/sync_core.h"
#include "storage/store.h"

namespace replicad::fuzz {

// Everything the session writes is discarded; the rest is recorded so the
// target can check the session's state after each input.
class DiscardingOutput : public protocol::SessionOutput {
 public:
  void send(std::string_view bytes) override;
  void close() override { closed = true; }
  void set_reading(bool on) override { reading = on; }
  void after(std::chrono::milliseconds, std::function<void()> fn) override { timers.push_back(std::move(fn)); }
  // No TLS in the fuzz world (tls_available is off, so STARTTLS is refused
  // before this is reached).  COMPRESS succeeds: the input is then taken as
  // what the inflater would hand up, so fuzzing goes on behind it.
  bool start_tls() override { return false; }
  bool start_compress() override { return true; }
  // Fires pending timers (the failed-login pause) at once.
  void fire_timers();

  bool closed = false;
  bool reading = true;
  bool ends_mid_line = false;    // the last byte sent was not the LF of a CRLF
  char last_byte = '\n';
  uint64_t bytes_sent = 0;
  std::vector<std::function<void()>> timers;
};

class FuzzWorld {
 public:
  static FuzzWorld& get();

  // A new session, greeted.  `id` names its staging directory.
  std::shared_ptr<protocol::Session> open(DiscardingOutput& out);
  // Feeds bytes, nothing else.
  void feed(protocol::Session& s, std::string_view bytes) { s.on_input(bytes); }
  // Fires timers and runs store completions until no command is in flight.
  // Returns false if the session is still busy after a generous wait (a hang).
  bool settle(protocol::Session& s, DiscardingOutput& out);
  // Ends a session as a dropped connection does, then lets anything it left
  // in flight finish.
  void close(std::shared_ptr<protocol::Session> s);

  protocol::SessionContext context;

 private:
  FuzzWorld();
  ~FuzzWorld();
  void post(std::function<void()> fn);
  // Runs completions until `done` holds or `timeout` passes.
  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds timeout);

  std::filesystem::path dir_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> completions_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<protocol::SyncCore> sync_;
  uint64_t sessions_ = 0;
};

// The scripted logins: what sync_client sends for admin/adminpw.
std::string csync_admin_login();
std::string imap_admin_login();

}  // namespace replicad::fuzz
