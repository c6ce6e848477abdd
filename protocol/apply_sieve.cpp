// APPLY SIEVE / UNSIEVE / ACTIVATE_SIEVE / UNACTIVATE_SIEVE: a user's Sieve
// scripts when SIEVE-MAILBOX is not enabled (spec §3.9; Cyrus sync_support.c
// `sync_apply_sieve`, `sync_apply_unsieve`, `sync_apply_activate_sieve`,
// `sync_apply_unactivate_sieve` and the `sync_sieve_*` functions behind them).
//
// Scripts are stored as given and never compiled or run: this replica has no
// Sieve engine, which is also why it does not offer SIEVE-MAILBOX (§3.15).

#include "protocol/mailbox_type.h"
#include "protocol/sync_handlers.h"
#include "protocol/sync_names.h"
#include "protocol/sync_sieve.h"
#include "server/log.h"
#include "storage/keys.h"

namespace replicad::protocol::handlers {
namespace {

using storage::Errc;
using storage::Status;
using storage::WriteView;

// USERID and FILENAME, which every command but UNACTIVATE_SIEVE carries.
struct SieveTarget {
  std::string userid;
  std::string filename;
};

std::optional<SieveTarget> read_target(const Dlist& value) {
  if (!value.is_kvlist()) return std::nullopt;
  std::optional<std::string> userid = to_atom(value.get("USERID"));
  std::optional<std::string> filename = to_atom(value.get("FILENAME"));
  if (!userid || !filename) return std::nullopt;
  return SieveTarget{std::move(*userid), std::move(*filename)};
}

// A userid and script name the store can key.  Cyrus would fail such a
// request somewhere in its file system code; its answer is "NO Unknown error".
bool storable(const ApplyContext& ctx, std::string_view userid, std::string_view filename) {
  if (storage::keys::owner_item(userid, filename) && filename.size() <= kMaxSieveFileName) return true;
  log::emit(log::Level::error, ctx.session_id, "SYNCERROR: unusable sieve script name userid=<{}> filename=<{}>",
            userid.substr(0, 200), filename.substr(0, 200));
  return false;
}

ApplyOutcome store_failure_unless(Status st) {
  if (st) return ApplyOutcome::success();
  return ApplyOutcome::store_failure(std::move(st));
}

// Cyrus keeps a user's scripts in the user's #sieve folder, which it
// creates on first use and cannot create for a user without an INBOX
// (sieve_ensure_folder): such requests fail there with "NO Unknown error".
// Refusing them here too keeps scripts from outliving, or preceding, the
// user they belong to (APPLY UNUSER removes them with the mailboxes).
bool user_exists(WriteView& w, std::string_view userid) {
  std::optional<UserMailboxNames> names = user_mailbox_names(userid);
  if (!names) return false;
  std::optional<storage::Mailbox> inbox = w.mailbox(names->inbox);
  return inbox && !mbtype_is_placeholder(inbox->mbtype);
}

}  // namespace

ApplyPlan plan_sieve(const Dlist& value, const ApplyContext& ctx) {
  std::optional<SieveTarget> target = read_target(value);
  std::optional<uint64_t> last_update = to_num64(value.get("LAST_UPDATE"));
  std::optional<std::string> content = to_buf(value.get("CONTENT"));
  if (!target || !last_update || !content) return ApplyPlan::reply(SyncError::bad_parameters);

  SieveFileName file = parse_sieve_file_name(target->filename);
  // Cyrus silently accepts, and drops, anything but a script (a .bc file).
  if (file.kind != SieveFileName::Kind::script) return ApplyPlan::reply(SyncError::ok);
  if (!storable(ctx, target->userid, target->filename)) return ApplyPlan::reply(SyncError::unknown);
  if (content->size() > kMaxSieveScriptBytes) {
    log::emit(log::Level::error, ctx.session_id,
              "SYNCERROR: sieve script too large userid=<{}> filename=<{}> size=<{}> limit=<{}>", target->userid,
              target->filename, content->size(), kMaxSieveScriptBytes);
    return ApplyPlan::reply(SyncError::unknown);
  }

  storage::SieveScript script;
  script.name = std::move(file.script);
  script.last_update = *last_update;
  script.content = std::move(*content);
  return ApplyPlan::run([userid = std::move(target->userid), script = std::move(script)](WriteView& w) {
    if (!user_exists(w, userid)) return ApplyOutcome::fail(SyncError::unknown);
    return store_failure_unless(w.put_sieve_script(userid, script));
  });
}

ApplyPlan plan_unsieve(const Dlist& value, const ApplyContext& ctx) {
  std::optional<SieveTarget> target = read_target(value);
  if (!target) return ApplyPlan::reply(SyncError::bad_parameters);

  SieveFileName file = parse_sieve_file_name(target->filename);
  if (file.kind == SieveFileName::Kind::other) return ApplyPlan::reply(SyncError::ok);
  if (!storable(ctx, target->userid, target->filename)) return ApplyPlan::reply(SyncError::unknown);

  if (file.kind == SieveFileName::Kind::bytecode) {
    // The client deletes "<x>.bc" when the master has no active script any
    // more, or another one (sync_do_user_sieve), and never sends the
    // UNACTIVATE_SIEVE that would say so.  Cyrus ignores this, keeps <x>
    // active and gets the same UNSIEVE on every run; deactivating <x> (only
    // if it is the active one) is what the master meant, and ends the loop.
    return ApplyPlan::run([userid = std::move(target->userid), script = std::move(file.script)](WriteView& w) {
      if (w.active_sieve_script(userid) != script) return ApplyOutcome::success();
      return store_failure_unless(w.deactivate_sieve_script(userid));
    });
  }
  return ApplyPlan::run([userid = std::move(target->userid), script = std::move(file.script)](WriteView& w) {
    if (!user_exists(w, userid)) return ApplyOutcome::fail(SyncError::unknown);
    Status st = w.delete_sieve_script(userid, script);
    // Cyrus: the failed lookup is a database error, "NO Unknown error".
    if (st.code == Errc::not_found) return ApplyOutcome::fail(SyncError::unknown);
    return store_failure_unless(std::move(st));
  });
}

ApplyPlan plan_activate_sieve(const Dlist& value, const ApplyContext& ctx) {
  std::optional<SieveTarget> target = read_target(value);
  if (!target) return ApplyPlan::reply(SyncError::bad_parameters);
  std::string script = activated_script_name(target->filename);
  if (!storable(ctx, target->userid, script)) return ApplyPlan::reply(SyncError::unknown);

  return ApplyPlan::run([userid = std::move(target->userid), script = std::move(script)](WriteView& w) {
    if (!user_exists(w, userid)) return ApplyOutcome::fail(SyncError::unknown);
    Status st = w.activate_sieve_script(userid, script);
    if (st.code == Errc::not_found) return ApplyOutcome::fail(SyncError::unknown);
    return store_failure_unless(std::move(st));
  });
}

ApplyPlan plan_unactivate_sieve(const Dlist& value, const ApplyContext&) {
  std::optional<std::string> userid = value.is_kvlist() ? to_atom(value.get("USERID")) : std::nullopt;
  if (!userid) return ApplyPlan::reply(SyncError::bad_parameters);
  return ApplyPlan::run([userid = std::move(*userid)](WriteView& w) {
    Status st = w.deactivate_sieve_script(userid);
    if (st.code == Errc::not_found) return ApplyOutcome::success();  // nothing was active
    return store_failure_unless(std::move(st));
  });
}

}  // namespace replicad::protocol::handlers
