// The per-user and per-session APPLY commands: QUOTA / UNQUOTA, SUB / UNSUB,
// SEEN, UNUSER, ANNOTATION / UNANNOTATION, CAPABILITIES and FORCE (spec
// §3.6-§3.8, §3.10, §3.12-§3.14; Cyrus sync_support.c `sync_apply_quota`,
// `sync_apply_unquota`, `sync_apply_changesub`, `sync_apply_seen`,
// `sync_apply_unuser`, `sync_apply_annotation`, `sync_apply_unannotation`,
// `sync_apply_capabilities`, `sync_apply_force`).

#include <algorithm>

#include "protocol/mailbox_type.h"
#include "protocol/reply_writer.h"
#include "protocol/sync_handlers.h"
#include "protocol/sync_names.h"
#include "protocol/sync_quota.h"
#include "server/log.h"

namespace replicad::protocol::handlers {
namespace {

using storage::Errc;
using storage::Mailbox;
using storage::Status;
using storage::WriteView;

// Store deletes answer not_found for something already absent, which is
// success for every command here.
bool absent_is_fine(const Status& st) { return st.ok() || st.code == Errc::not_found; }

std::optional<std::string> atom_value(const Dlist& value) {
  if (value.is_nil()) return std::nullopt;
  return to_atom(&value);
}

ApplyOutcome set_quota(WriteView& w, const storage::QuotaRoot& wanted) {
  storage::QuotaRoot quota = wanted;
  if (std::optional<storage::QuotaRoot> current = w.quota(wanted.root)) {
    bool same_limits = current->storage == wanted.storage && current->message == wanted.message &&
                       current->annotation_storage == wanted.annotation_storage &&
                       current->num_folders == wanted.num_folders;
    // Cyrus rewrites a root (and takes the master's MODSEQ) only when a
    // limit changed; without a MODSEQ the old one stays.
    if (same_limits) return ApplyOutcome::success();
    if (quota.modseq == 0) quota.modseq = current->modseq;
  }
  if (Status st = w.put_quota(quota); !st) return ApplyOutcome::store_failure(std::move(st));
  return ApplyOutcome::success();
}

struct SeenRequest {
  std::string userid;
  storage::SeenEntry entry;
};

// Everything the replica holds for a user (spec §3.12): subscriptions,
// mailboxes, quota roots, seen state and Sieve scripts.  Cyrus walks only
// the INBOX tree; the user's deleted folders go too, so that nothing of the
// user is reported afterwards.
ApplyOutcome remove_user(WriteView& w, const std::string& userid, const ApplyContext& ctx) {
  const std::vector<std::string> subscriptions = w.subscriptions(userid);
  for (const std::string& name : subscriptions)
    if (Status st = w.remove_subscription(userid, name); !absent_is_fine(st))
      return ApplyOutcome::store_failure(std::move(st));

  std::vector<std::string> mailboxes;
  std::vector<std::string> roots;
  if (std::optional<UserMailboxNames> names = user_mailbox_names(userid)) {
    if (w.mailbox(names->inbox)) mailboxes.push_back(names->inbox);
    for (const std::string& prefix : {names->children, names->deleted}) {
      Status st = w.for_each_mailbox(prefix, [&](const Mailbox& box) {
        mailboxes.push_back(box.name);
        return true;
      });
      if (!st) return ApplyOutcome::store_failure(std::move(st));
    }
    // Children before parents, the INBOX last, as Cyrus deletes them.
    for (auto it = mailboxes.rbegin(); it != mailboxes.rend(); ++it)
      if (Status st = w.delete_mailbox(*it); !absent_is_fine(st))
        return ApplyOutcome::store_failure(std::move(st));

    Status st = w.for_each_quota([&](const storage::QuotaRoot& q) {
      if (q.root == names->inbox || q.root.starts_with(names->children)) roots.push_back(q.root);
      return true;
    });
    if (!st) return ApplyOutcome::store_failure(std::move(st));
    for (const std::string& root : roots)
      if (Status del = w.delete_quota(root); !absent_is_fine(del))
        return ApplyOutcome::store_failure(std::move(del));
  }

  std::vector<std::string> seen;
  Status st = w.for_each_seen(userid, [&](const storage::SeenEntry& e) {
    seen.push_back(e.uniqueid);
    return true;
  });
  if (!st) return ApplyOutcome::store_failure(std::move(st));
  for (const std::string& uniqueid : seen)
    if (Status del = w.delete_seen(userid, uniqueid); !absent_is_fine(del))
      return ApplyOutcome::store_failure(std::move(del));

  std::vector<std::string> scripts;
  st = w.for_each_sieve_script(userid, [&](const storage::SieveScript& script) {
    scripts.push_back(script.name);
    return true;
  });
  if (!st) return ApplyOutcome::store_failure(std::move(st));
  // Deleting the active script deactivates it too.
  for (const std::string& name : scripts)
    if (Status del = w.delete_sieve_script(userid, name); !absent_is_fine(del))
      return ApplyOutcome::store_failure(std::move(del));

  log::emit(log::Level::info, ctx.session_id,
            "unuser {}: removed {} mailboxes, {} subscriptions, {} quota roots, {} seen entries, {} sieve scripts",
            userid, mailboxes.size(), subscriptions.size(), roots.size(), seen.size(), scripts.size());
  return ApplyOutcome::success();
}

struct AnnotationRequest {
  std::string mailbox;
  std::string entry;
  std::string userid;
  std::string value;  // empty: delete
};

ApplyOutcome set_annotation(WriteView& w, const AnnotationRequest& req) {
  std::optional<Mailbox> box = w.mailbox(req.mailbox);
  if (!box || mbtype_is_placeholder(box->mbtype)) return ApplyOutcome::fail(SyncError::mailbox_nonexistent);

  auto& list = box->annotations;
  auto it = std::find_if(list.begin(), list.end(), [&](const storage::Annotation& a) {
    return a.entry == req.entry && a.userid == req.userid;
  });
  if (req.value.empty()) {
    if (it == list.end()) return ApplyOutcome::success();
    list.erase(it);
  } else if (it != list.end()) {
    if (it->value == req.value) return ApplyOutcome::success();
    it->value = req.value;  // no MODSEQ travels with this command: the old one stays
  } else {
    list.push_back({req.entry, req.userid, 0, req.value});
    // Kept in Cyrus's order (entry, then userid), as MAILBOX stores them.
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.entry != b.entry ? a.entry < b.entry : a.userid < b.userid;
    });
  }
  if (Status st = w.put_mailbox(*box); !st) return ApplyOutcome::store_failure(std::move(st));
  return ApplyOutcome::success();
}

}  // namespace

ApplyPlan plan_quota(const Dlist& value, const ApplyContext&) {
  std::optional<storage::QuotaRoot> quota = decode_quota(value);
  if (!quota) return ApplyPlan::reply(SyncError::bad_parameters);
  // Cyrus: IMAP_MAILBOX_BADNAME, which has no string of its own.
  if (!valid_quota_root_name(quota->root)) return ApplyPlan::reply(SyncError::unknown);
  return ApplyPlan::run([quota = std::move(*quota)](WriteView& w) { return set_quota(w, quota); });
}

ApplyPlan plan_unquota(const Dlist& value, const ApplyContext&) {
  std::optional<std::string> root = atom_value(value);
  if (!root) return ApplyPlan::reply(SyncError::bad_parameters);
  if (!valid_quota_root_name(*root)) return ApplyPlan::reply(SyncError::unknown);
  return ApplyPlan::run([root = std::move(*root)](WriteView& w) {
    // Removing a root that is not there is success.
    if (Status st = w.delete_quota(root); !absent_is_fine(st))
      return ApplyOutcome::store_failure(std::move(st));
    return ApplyOutcome::success();
  });
}

ApplyPlan plan_subscription(const Dlist& value, const ApplyContext&, bool subscribe) {
  if (!value.is_kvlist()) return ApplyPlan::reply(SyncError::bad_parameters);
  std::optional<std::string> mailbox = to_atom(value.get("MBOXNAME"));
  std::optional<std::string> userid = to_atom(value.get("USERID"));
  if (!mailbox || !userid) return ApplyPlan::reply(SyncError::bad_parameters);
  // The mailbox need not exist: Cyrus subscribes by force.
  return ApplyPlan::run([mailbox = std::move(*mailbox), userid = std::move(*userid), subscribe](WriteView& w) {
    Status st = subscribe ? w.add_subscription(userid, mailbox) : w.remove_subscription(userid, mailbox);
    if (!absent_is_fine(st) && st.code != Errc::exists) return ApplyOutcome::store_failure(std::move(st));
    return ApplyOutcome::success();
  });
}

ApplyPlan plan_seen(const Dlist& value, const ApplyContext&) {
  if (!value.is_kvlist()) return ApplyPlan::reply(SyncError::bad_parameters);
  std::optional<std::string> userid = to_atom(value.get("USERID"));
  std::optional<std::string> uniqueid = to_atom(value.get("UNIQUEID"));
  std::optional<uint64_t> lastread = to_num64(value.get("LASTREAD"));
  std::optional<uint32_t> lastuid = to_num32(value.get("LASTUID"));
  std::optional<uint64_t> lastchange = to_num64(value.get("LASTCHANGE"));
  std::optional<std::string> seenuids = to_atom(value.get("SEENUIDS"));
  if (!userid || !uniqueid || !lastread || !lastuid || !lastchange || !seenuids)
    return ApplyPlan::reply(SyncError::bad_parameters);

  SeenRequest req{std::move(*userid),
                  {std::move(*uniqueid), *lastread, *lastuid, *lastchange, std::move(*seenuids)}};
  return ApplyPlan::run([req = std::move(req)](WriteView& w) {
    if (Status st = w.put_seen(req.userid, req.entry); !st) return ApplyOutcome::store_failure(std::move(st));
    return ApplyOutcome::success();
  });
}

ApplyPlan plan_unuser(const Dlist& value, const ApplyContext& ctx) {
  std::optional<std::string> userid = value.is_nil() ? std::string() : to_atom(&value);
  if (!userid) return ApplyPlan::reply(SyncError::bad_parameters);
  if (userid->empty()) {
    log::emit(log::Level::warning, ctx.session_id, "ignoring attempt to UNUSER without userid");
    return ApplyPlan::reply(SyncError::ok);
  }
  return ApplyPlan::run([userid = std::move(*userid), ctx](WriteView& w) { return remove_user(w, userid, ctx); });
}

ApplyPlan plan_annotation(const Dlist& value, const ApplyContext& ctx, bool set) {
  if (!value.is_kvlist()) return ApplyPlan::reply(SyncError::bad_parameters);
  std::optional<std::string> mailbox = to_atom(value.get("MBOXNAME"));
  std::optional<std::string> entry = to_atom(value.get("ENTRY"));
  std::optional<std::string> userid = to_atom(value.get("USERID"));
  std::optional<std::string> content = set ? to_buf(value.get("VALUE")) : std::string();
  if (!mailbox || !entry || !userid || !content) return ApplyPlan::reply(SyncError::bad_parameters);

  if (mailbox->empty()) {
    // Server annotations (MBOXNAME "") have no place in this replica's
    // store.  Refusing would make a rolling client replay its log forever,
    // so the change is accepted and dropped, loudly.
    log::emit(log::Level::warning, ctx.session_id,
              "SYNCNOTICE: server annotation not kept entry=<{}> userid=<{}>", *entry, *userid);
    return ApplyPlan::reply(SyncError::ok);
  }
  AnnotationRequest req{std::move(*mailbox), std::move(*entry), std::move(*userid), std::move(*content)};
  return ApplyPlan::run([req = std::move(req)](WriteView& w) { return set_annotation(w, req); });
}

SyncReply apply_capabilities(const Dlist& value, SyncSession& session, const SyncConfig& config) {
  // The answer always carries `* ENABLED (...)`, possibly empty: an OK
  // without it crashes sync_client (spec §1.5).
  std::string data;
  KvWriter enabled(open_line(data, "ENABLED"), KvWriter::Shape::list);
  if (value.is_list()) {
    for (const Dlist& item : value.items) {
      std::optional<std::string> capability = item.is_string() ? to_atom(&item) : std::nullopt;
      if (!capability) continue;
      std::string upper = *capability;
      for (char& c : upper)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
      if (upper == "SIEVE-MAILBOX" && config.sieve_mailbox) {
        session.sieve_mailbox_enabled = true;
        enabled.item_str(*capability);  // echoed as the client spelled it
      }
    }
  }
  enabled.close();
  close_line(data);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply apply_force(SyncSession& session) {
  if (!session.force_mode)
    log::emit(log::Level::notice, session.id, "SYNCNOTICE: enabling force mode");
  session.force_mode = true;
  return make_reply(SyncError::ok);
}

}  // namespace replicad::protocol::handlers
