// The handlers behind SyncCore (sync_core.cpp dispatches to them), grouped
// one file per family: apply_mailbox.cpp, apply_reserve_message.cpp,
// apply_folders.cpp, apply_user_state.cpp, apply_sieve.cpp, get_handlers.cpp.
//
// Threads: everything here is called on the loop thread except ApplyWork,
// which runs on the store's writer thread inside one write job.  So a write
// handler reads the request and the session on the loop thread ("plan") and
// hands over work that owns copies of everything it needs: the job never
// touches the session.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "protocol/dlist.h"
#include "protocol/staging.h"
#include "protocol/sync_core.h"
#include "protocol/sync_errors.h"
#include "storage/store.h"

namespace replicad::protocol::handlers {

// The session state a write job depends on, fixed when the command arrives.
struct ApplyContext {
  std::string session_id;
  bool force_mode = false;
  bool sieve_mailbox = false;
  std::string default_partition;
};

// What one write job decided.
struct ApplyOutcome {
  SyncError error = SyncError::ok;
  std::string data;            // data lines of the reply, if any
  // Every error rolls the job back, except a CRC mismatch found after
  // applying: Cyrus keeps those changes (spec §3.3.5 step 11).
  bool keep_changes = false;
  storage::Status store;       // a store failure: rolled back, answered "NO Unknown error"

  static ApplyOutcome success() { return {}; }
  static ApplyOutcome fail(SyncError error) { return {error, {}, false, {}}; }
  static ApplyOutcome store_failure(storage::Status status) {
    return {SyncError::unknown, {}, false, std::move(status)};
  }
};

using ApplyWork = std::function<ApplyOutcome(storage::WriteView&)>;

// A write handler's answer: either the reply right away (the request is
// malformed, nothing to store) or the work for one write job.
struct ApplyPlan {
  std::optional<SyncReply> answer;
  ApplyWork work;

  static ApplyPlan reply(SyncError error) {
    return {SyncReply{{}, std::string(status_text(error))}, {}};
  }
  static ApplyPlan run(ApplyWork work) { return {std::nullopt, std::move(work)}; }
};

inline SyncReply make_reply(SyncError error, std::string data = {}) {
  return {std::move(data), std::string(status_text(error))};
}

// ---- APPLY, run as write jobs -------------------------------------------
ApplyPlan plan_mailbox(const Dlist& value, const ApplyContext& ctx, const StagingArea* staging);
ApplyPlan plan_unmailbox(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_rename(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_expunge(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_quota(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_unquota(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_subscription(const Dlist& value, const ApplyContext& ctx, bool subscribe);
ApplyPlan plan_seen(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_unuser(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_annotation(const Dlist& value, const ApplyContext& ctx, bool set);
ApplyPlan plan_sieve(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_unsieve(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_activate_sieve(const Dlist& value, const ApplyContext& ctx);
ApplyPlan plan_unactivate_sieve(const Dlist& value, const ApplyContext& ctx);

// ---- APPLY that need no write job ---------------------------------------
// RESERVE reads the store and pins GUIDs in the session's staging.
SyncReply apply_reserve(storage::ReadView& view, const Dlist& value, SyncSession& session);
// MESSAGE keeps verified uploads in the session's staging.
SyncReply apply_message(const Dlist& value, SyncSession& session);
SyncReply apply_capabilities(const Dlist& value, SyncSession& session, const SyncConfig& config);
SyncReply apply_force(SyncSession& session);

// ---- GET, on a read snapshot ----------------------------------------------
struct GetContext {
  std::string session_id;
  bool sieve_mailbox = false;
};

SyncReply get_user(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_meta(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_mailboxes(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_uniqueids(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_fullmailbox(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_quota(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_fetch(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_annotation(storage::ReadView& view, const Dlist& value, const GetContext& ctx);
SyncReply get_fetch_sieve(storage::ReadView& view, const Dlist& value, const GetContext& ctx);

}  // namespace replicad::protocol::handlers
