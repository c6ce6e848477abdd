// The sync core: APPLY, GET and RESTART, written once for both framings.
//
// The session (CSYNC untagged or IMAP tagged) parses a command, checks that
// the peer is an authenticated admin, and hands the sub-command here; the
// reply comes back as data lines plus one status text, which the session
// frames (adds the tag in IMAP) and sends.  APPLY changes run as one WriteJob
// on the store's writer thread and complete only once durable; GETs read a
// snapshot directly.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "protocol/dlist.h"
#include "protocol/staging.h"
#include "storage/store.h"

namespace replicad::protocol {

// What one APPLY/GET/RESTORE did, reported when its reply is ready (on the
// loop thread), for the daemon's activity report and metrics.
struct SyncEvent {
  std::string_view session;
  std::string_view verb;        // APPLY, GET, RESTORE
  std::string_view kind;        // MAILBOX, USER, ...
  std::string_view user;        // whom it was about (protocol/command_subject.h), may be empty
  std::string_view status;      // the reply status: "OK success", "NO IMAP_SYNC_CHECKSUM ..."
  bool committed = false;       // an APPLY whose changes are now durable in the store
  std::chrono::steady_clock::duration elapsed{};  // dispatch to reply (for writes: to durable commit)
  uint64_t messages = 0;        // APPLY MESSAGE: files uploaded, and their bytes
  uint64_t message_bytes = 0;
};

class SyncObserver {
 public:
  virtual ~SyncObserver() = default;
  virtual void on_sync_command(const SyncEvent& event) = 0;
};

struct SyncConfig {
  // Advertise/enable SIEVE-MAILBOX (spec §3.15 recommends not to).
  bool sieve_mailbox = false;
  // Name of the default partition reported for new mailboxes when none is given.
  std::string default_partition = "default";
  // Told about every command once it is answered; may be null.
  SyncObserver* observer = nullptr;
};

// What one connection's sync commands share (spec §9.4).
struct SyncSession {
  std::string id;                       // session id for logs
  std::unique_ptr<StagingArea> staging; // uploads and reservations
  bool sieve_mailbox_enabled = false;   // APPLY CAPABILITIES (SIEVE-MAILBOX)
  bool force_mode = false;              // APPLY FORCE (sync_client -O)
  // The user the session's last command was about: uploads (APPLY MESSAGE)
  // name nobody and are counted for the user sync_client is busy with.
  std::string current_user;
};

struct SyncReply {
  std::string data;    // zero or more complete data lines "* NAME value\r\n"
  std::string status;  // "OK success", "NO IMAP_SYNC_CHECKSUM Checksum Failure", ... (no CRLF, no tag)
};

class SyncCore {
 public:
  using Done = std::function<void(SyncReply)>;

  SyncCore(storage::Store& store, SyncConfig config);

  // `kind` is the first key after APPLY/GET, already upper-cased (MAILBOX,
  // RESERVE, USER, ...).  `done` runs exactly once, on the loop thread; it
  // may run before apply()/get() return.  The session must keep `session`
  // alive and send nothing else until `done` has run.
  void apply(const std::shared_ptr<SyncSession>& session, std::string_view kind, Dlist value, Done done);
  void get(const std::shared_ptr<SyncSession>& session, std::string_view kind, const Dlist& value, Done done);
  // RESTORE is Cyrus's backup-restore path, not used by sync_client (spec §3.16).
  void restore(const std::shared_ptr<SyncSession>& session, std::string_view kind, Dlist value, Done done);
  // RESTART: drop staged uploads and reservations (spec §5.1).
  void restart(SyncSession& session);

 private:
  // Wraps `done` so that the observer hears about the command once it is
  // answered; `done` itself when there is no observer.
  Done observed(SyncSession& session, std::string_view verb, std::string_view kind, const Dlist& value, Done done);

  storage::Store& store_;
  SyncConfig config_;
};

}  // namespace replicad::protocol
