// APPLY UNMAILBOX / LOCAL_UNMAILBOX, RENAME / LOCAL_RENAME and EXPUNGE: the
// folder-level changes (spec §3.4, §3.5, §3.11; Cyrus sync_support.c
// `sync_apply_unmailbox`, `sync_apply_rename`, `sync_apply_expunge`, and
// mboxlist.c `mboxlist_deletemailbox`, `mboxlist_renamemailbox`).

#include "protocol/mailbox_type.h"
#include "protocol/sync_crc.h"
#include "protocol/sync_handlers.h"
#include "protocol/sync_names.h"
#include "server/log.h"

namespace replicad::protocol::handlers {
namespace {

using storage::Mailbox;
using storage::Status;
using storage::WriteView;

// A name entry that holds a real mailbox (tombstones do not count).
std::optional<Mailbox> live_entry(WriteView& w, std::string_view name) {
  std::optional<Mailbox> box = w.mailbox(name);
  if (box && mbtype_is_tombstone(box->mbtype)) return std::nullopt;
  return box;
}

bool has_children(WriteView& w, std::string_view name, Status& status) {
  bool found = false;
  status = w.for_each_mailbox(std::string(name) + '.', [&](const Mailbox& child) {
    found = !mbtype_is_tombstone(child.mbtype);
    return !found;
  });
  return found;
}

// What a forced delete leaves behind when the folder has children: an
// intermediate with the old identity (mboxlist_deletemailbox).
Mailbox intermediate_for(const Mailbox& gone) {
  Mailbox inter;
  inter.uniqueid = gone.uniqueid;
  inter.name = gone.name;
  inter.mbtype = "ei";
  inter.uidvalidity = gone.uidvalidity;
  inter.createdmodseq = gone.createdmodseq;
  inter.foldermodseq = gone.highestmodseq;  // a silent delete does not bump it
  inter.partition_nil = true;
  return inter;
}

ApplyOutcome unmailbox(WriteView& w, const std::string& name) {
  std::optional<Mailbox> box = live_entry(w, name);
  if (!box) return ApplyOutcome::fail(SyncError::mailbox_nonexistent);

  Status status;
  bool leave_intermediate =
      !box->is_intermediate() && !is_deleted_name(name) && has_children(w, name, status);
  if (!status) return ApplyOutcome::store_failure(std::move(status));
  if (Status st = w.delete_mailbox(name); !st) return ApplyOutcome::store_failure(std::move(st));
  if (leave_intermediate)
    if (Status st = w.put_mailbox(intermediate_for(*box)); !st)
      return ApplyOutcome::store_failure(std::move(st));
  return ApplyOutcome::success();
}

struct RenameRequest {
  std::string old_name;
  std::string new_name;
  std::optional<std::string> partition;  // nullopt: PARTITION NIL
};

ApplyOutcome rename(WriteView& w, const RenameRequest& req, const ApplyContext& ctx) {
  std::optional<Mailbox> box = live_entry(w, req.old_name);
  if (!box) return ApplyOutcome::fail(SyncError::mailbox_nonexistent);

  if (req.old_name == req.new_name) {
    // A partition move.  Cyrus refuses one without a partition (observed for
    // PARTITION NIL, spec §3.5) or to the partition it is already on.
    if (box->is_intermediate()) return ApplyOutcome::success();
    if (!req.partition || *req.partition == box->partition)
      return ApplyOutcome::fail(SyncError::unknown);
    box->partition = *req.partition;
    box->partition_nil = false;
    if (Status st = w.put_mailbox(*box); !st) return ApplyOutcome::store_failure(std::move(st));
    return ApplyOutcome::success();
  }

  // A user's INBOX may only move into the deleted hierarchy (no allowusermoves).
  if (!box->is_intermediate() && is_user_inbox(req.old_name) && !is_deleted_name(req.new_name)) {
    log::emit(log::Level::notice, ctx.session_id, "SYNCNOTICE: refused INBOX rename {} -> {}",
              req.old_name, req.new_name);
    return ApplyOutcome::fail(SyncError::mailbox_notsupported);
  }
  // The target may only be held by a placeholder, which the rename replaces.
  if (std::optional<Mailbox> target = w.mailbox(req.new_name)) {
    if (!mbtype_is_placeholder(target->mbtype)) return ApplyOutcome::fail(SyncError::unknown);
    if (Status st = w.delete_mailbox(req.new_name); !st) return ApplyOutcome::store_failure(std::move(st));
  }
  if (Status st = w.rename_mailbox(req.old_name, req.new_name); !st)
    return ApplyOutcome::store_failure(std::move(st));

  // The mailbox keeps its uniqueid, records and UIDVALIDITY.  Cyrus gives a
  // renamed mailbox its HIGHESTMODSEQ as folder modseq; the partition named
  // by the master is taken over at once (Cyrus would need a second,
  // same-name RENAME for it).  An intermediate just changes its name.
  box->name = req.new_name;
  if (!box->is_intermediate()) {
    box->foldermodseq = box->highestmodseq;
    if (req.partition) box->partition = *req.partition;
  }
  if (Status st = w.put_mailbox(*box); !st) return ApplyOutcome::store_failure(std::move(st));
  return ApplyOutcome::success();
}

struct ExpungeRequest {
  std::string name;
  std::string uniqueid;
  std::vector<uint32_t> uids;
};

ApplyOutcome expunge(WriteView& w, const ExpungeRequest& req) {
  std::optional<Mailbox> box = live_entry(w, req.name);
  if (!box || box->is_intermediate()) return ApplyOutcome::fail(SyncError::mailbox_nonexistent);
  // Never expunge in the wrong mailbox.
  if (box->uniqueid != req.uniqueid) return ApplyOutcome::fail(SyncError::mailbox_moved);

  bool changed = false;
  for (uint32_t uid : req.uids) {
    std::optional<storage::MessageRecord> record = w.record(box->uniqueid, uid);
    if (!record || record->expunged()) continue;  // unknown UIDs are skipped
    storage::MessageRecord next = *record;
    // Silent: the modseq stays, so the next sync agrees (spec §3.11).
    next.system_flags |= storage::kFlagExpunged;
    if (Status st = w.put_record(box->uniqueid, next); !st) return ApplyOutcome::store_failure(std::move(st));
    replace_record_crcs(*box, &*record, &next);
    changed = true;
  }
  if (changed)
    if (Status st = w.put_mailbox(*box); !st) return ApplyOutcome::store_failure(std::move(st));
  return ApplyOutcome::success();
}

}  // namespace

ApplyPlan plan_unmailbox(const Dlist& value, const ApplyContext&) {
  std::optional<std::string> name = to_atom(&value);
  if (!name || value.is_nil() || name->empty()) return ApplyPlan::reply(SyncError::bad_parameters);
  return ApplyPlan::run([name = std::move(*name)](WriteView& w) { return unmailbox(w, name); });
}

ApplyPlan plan_rename(const Dlist& value, const ApplyContext& ctx) {
  if (!value.is_kvlist()) return ApplyPlan::reply(SyncError::bad_parameters);
  std::optional<std::string> old_name = to_atom(value.get("OLDMBOXNAME"));
  std::optional<std::string> new_name = to_atom(value.get("NEWMBOXNAME"));
  const Dlist* partition = value.get("PARTITION");
  std::optional<std::string> partition_name = to_atom(partition);
  if (!old_name || old_name->empty() || !new_name || new_name->empty() || !partition_name)
    return ApplyPlan::reply(SyncError::bad_parameters);
  if (!acceptable_mailbox_name(*new_name)) return ApplyPlan::reply(SyncError::unknown);
  // UIDVALIDITY is optional and, with uniqueid-based storage, not used.

  RenameRequest req{std::move(*old_name), std::move(*new_name),
                    partition->is_nil() ? std::nullopt : std::make_optional(std::move(*partition_name))};
  return ApplyPlan::run([req = std::move(req), ctx](WriteView& w) { return rename(w, req, ctx); });
}

ApplyPlan plan_expunge(const Dlist& value, const ApplyContext&) {
  if (!value.is_kvlist()) return ApplyPlan::reply(SyncError::bad_parameters);
  std::optional<std::string> name = to_atom(value.get("MBOXNAME"));
  std::optional<std::string> uniqueid = to_atom(value.get("UNIQUEID"));
  const Dlist* uids = value.get("UID");
  if (!name || !uniqueid || uids == nullptr || !uids->is_list())
    return ApplyPlan::reply(SyncError::bad_parameters);

  ExpungeRequest req{std::move(*name), std::move(*uniqueid), {}};
  req.uids.reserve(uids->items.size());
  for (const Dlist& item : uids->items)
    if (std::optional<uint32_t> uid = to_num32(&item)) req.uids.push_back(*uid);
  return ApplyPlan::run([req = std::move(req)](WriteView& w) { return expunge(w, req); });
}

}  // namespace replicad::protocol::handlers
