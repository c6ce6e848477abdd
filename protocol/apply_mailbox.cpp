// APPLY MAILBOX / LOCAL_MAILBOX: make the replica's copy of one mailbox equal
// to the master's (spec §3.3.5; Cyrus sync_support.c `sync_apply_mailbox`,
// `sync_mailbox_compare_update`, `sync_append_copyfile`).
//
// The whole command is one write job: every check runs before the first
// write, and any refusal rolls the job back, so a failed MAILBOX leaves the
// replica as it was.  Everything is applied "silently": modseqs, times and
// flags are the master's, the replica never invents a modseq (spec §9.3).

#include <algorithm>
#include <memory>
#include <unordered_map>

#include "protocol/mailbox_dlist.h"
#include "protocol/mailbox_type.h"
#include "protocol/sync_crc.h"
#include "protocol/sync_handlers.h"
#include "server/log.h"

namespace replicad::protocol::handlers {
namespace {

using storage::Mailbox;
using storage::MessageRecord;
using storage::Status;
using storage::WriteView;

using StagedBodies = std::unordered_map<storage::Guid, StagedFile, storage::GuidHash>;

// What the validation pass decided for one RECORD entry.
enum class RecordAction : uint8_t { skip, update, append };

// A fresh mailbox as Cyrus creates it for a MAILBOX it does not have yet:
// the master's identity and folder fields, no records, HIGHESTMODSEQ 0 so
// that every record counts as new (spec §3.3.5 step 5).
Mailbox new_mailbox(const Mailbox& master) {
  Mailbox box;
  box.uniqueid = master.uniqueid;
  box.name = master.name;
  box.mbtype = master.mbtype;
  box.partition = master.partition;
  box.acl = master.acl;
  box.uidvalidity = master.uidvalidity;
  box.createdmodseq = master.createdmodseq;
  box.foldermodseq = master.foldermodseq;
  box.options = master.options;
  return box;
}

// The replica's uniqueid index is one to one, so a uniqueid held under
// another name blocks a create -- unless that entry is only a tombstone,
// which is dropped (Cyrus's tombstones never block either).
SyncError claim_uniqueid(WriteView& w, const Mailbox& master, const ApplyContext& ctx,
                         Status& store) {
  std::optional<std::string> holder = w.name_of_uniqueid(master.uniqueid);
  if (!holder || *holder == master.name) return SyncError::ok;
  std::optional<Mailbox> other = w.mailbox(*holder);
  if (other && !mbtype_is_tombstone(other->mbtype)) {
    log::emit(log::Level::notice, ctx.session_id,
              "SYNCNOTICE: mailbox uniqueid already in use mailbox=<{}> uniqueid=<{}> usedby=<{}>",
              master.name, master.uniqueid, *holder);
    return SyncError::mailbox_moved;
  }
  if (other) store = w.delete_mailbox(*holder);
  return SyncError::ok;
}

// The short form for intermediates and tombstones (step 2): the name entry
// is (re)written with the master's uniqueid, type and modseqs, nothing else.
ApplyOutcome apply_placeholder(WriteView& w, const Mailbox& master, const ApplyContext& ctx) {
  Status store;
  if (SyncError e = claim_uniqueid(w, master, ctx, store); e != SyncError::ok)
    return ApplyOutcome::fail(e);
  if (!store) return ApplyOutcome::store_failure(std::move(store));
  // Whatever held the name is replaced, as Cyrus overwrites the entry.
  if (w.mailbox(master.name))
    if (Status st = w.delete_mailbox(master.name); !st) return ApplyOutcome::store_failure(std::move(st));
  if (Status st = w.put_mailbox(master); !st) return ApplyOutcome::store_failure(std::move(st));
  return ApplyOutcome::success();
}

class MailboxApply {
 public:
  MailboxApply(WriteView& w, const MailboxRequest& request, const StagedBodies& staged,
               const ApplyContext& ctx)
      : w_(w), req_(request), master_(request.header), staged_(staged), ctx_(ctx) {}

  ApplyOutcome run() {
    if (SyncError e = open_or_create(); e != SyncError::ok || !store_) return stop(e);
    if (SyncError e = check_header(); e != SyncError::ok) return stop(e);
    if (SyncError e = validate_records(); e != SyncError::ok || !store_) return stop(e);
    apply_header_start();
    if (!apply_records() || !finish_header()) return stop(SyncError::unknown);
    return check_crcs();
  }

 private:
  template <typename... Args>
  void notice(fmt::format_string<Args...> f, Args&&... args) {
    log::emit(log::Level::notice, ctx_.session_id, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) {
    log::emit(log::Level::error, ctx_.session_id, f, std::forward<Args>(args)...);
  }

  ApplyOutcome stop(SyncError e) {
    if (!store_) return ApplyOutcome::store_failure(std::move(store_));
    return ApplyOutcome::fail(e);
  }
  bool keep(Status st) {
    if (!st && store_) store_ = std::move(st);
    return store_.ok();
  }

  // Step 5: find the mailbox by name, or create it.
  SyncError open_or_create() {
    std::optional<Mailbox> current = w_.mailbox(master_.name);
    // An intermediate or tombstone under this name does not count as the
    // mailbox: a real MAILBOX for it "promotes" the entry.
    if (current && mbtype_is_placeholder(current->mbtype)) {
      if (!keep(w_.delete_mailbox(master_.name))) return SyncError::unknown;
      current.reset();
    }
    if (current && current->uniqueid != master_.uniqueid) {
      if (!ctx_.force_mode && current->last_uid != 0) {
        error("SYNCERROR: mailbox uniqueid changed - retry mailbox=<{}> origuniqueid=<{}> newuniqueid=<{}>",
              master_.name, current->uniqueid, master_.uniqueid);
        return SyncError::mailbox_moved;
      }
      notice("SYNCNOTICE: mailbox uniqueid changed - replacing mailbox=<{}> origuniqueid=<{}> newuniqueid=<{}>",
             master_.name, current->uniqueid, master_.uniqueid);
      if (!keep(w_.delete_mailbox(master_.name))) return SyncError::unknown;
      current.reset();
    }
    if (current) {
      box_ = std::move(*current);
      return SyncError::ok;
    }
    if (SyncError e = claim_uniqueid(w_, master_, ctx_, store_); e != SyncError::ok || !store_) return e;
    box_ = new_mailbox(master_);
    // The header must exist before records can be stored under its uniqueid.
    keep(w_.put_mailbox(box_));
    return SyncError::ok;
  }

  // Steps 6 to 8.
  SyncError check_header() {
    if (req_.since_modseq != 0 &&
        (req_.since_modseq != box_.highestmodseq || !crc_equal(req_.since_crcs, mailbox_crcs(box_)))) {
      notice("SYNCNOTICE: mailbox sync mismatch mailbox=<{}> hms_master=<{}> hms_replica=<{}> "
             "crcs_master=<{}/{}> crcs_replica=<{}/{}>",
             master_.name, req_.since_modseq, box_.highestmodseq, req_.since_crcs.basic,
             req_.since_crcs.annot, box_.sync_crc, box_.sync_crc_annot);
      return SyncError::sync_changed;
    }
    if (box_.mbtype != master_.mbtype) {
      // IMAP_MAILBOX_BADTYPE has no string of its own in Cyrus.
      error("SYNCERROR: invalid mailbox type mailbox=<{}> replica=<{}> master=<{}>", master_.name,
            box_.mbtype, master_.mbtype);
      return SyncError::unknown;
    }
    if (regressed("modseq", master_.highestmodseq, box_.highestmodseq) ||
        regressed("uidvalidity", master_.uidvalidity, box_.uidvalidity) ||
        regressed("last_uid", master_.last_uid, box_.last_uid) ||
        (master_.xconvmodseq != 0 && box_.xconvmodseq != 0 &&
         regressed("xconvmodseq", master_.xconvmodseq, box_.xconvmodseq)))
      return SyncError::sync_checksum;
    if (master_.createdmodseq > box_.createdmodseq && box_.createdmodseq != 0)
      notice("SYNCNOTICE: lower createdmodseq on replica mailbox=<{}> createdmodseq=<{}> "
             "replica_createdmodseq=<{}>",
             master_.name, master_.createdmodseq, box_.createdmodseq);
    return SyncError::ok;
  }

  // The replica being ahead of the master can only be resolved by the
  // client's full update, so it is a checksum failure -- or, in force mode
  // (sync_client -O), just a notice.
  bool regressed(std::string_view what, uint64_t master, uint64_t replica) {
    if (master >= replica) return false;
    if (ctx_.force_mode) {
      notice("forcesync: higher {} on replica {} - {} < {}", what, master_.name, master, replica);
      return false;
    }
    error("higher {} on replica {} - {} < {}", what, master_.name, master, replica);
    return true;
  }

  // Step 9: compare every RECORD with the replica's record of the same UID
  // before anything is written.
  SyncError validate_records() {
    if (req_.records_malformed) {
      error("SYNCERROR: failed to parse uploaded record mailbox=<{}>", master_.name);
      return SyncError::protocol_error;
    }
    actions_.reserve(req_.records.size());
    for (const MessageRecord& rec : req_.records) {
      std::optional<MessageRecord> mine = w_.record(box_.uniqueid, rec.uid);
      if (mine) {
        // Expunged on both sides: nothing left to agree on.
        if (mine->expunged() && rec.expunged()) {
          actions_.push_back(RecordAction::skip);
          continue;
        }
        // Only a split brain gives one UID two messages; the client's full
        // update sorts that out.
        if (mine->guid != rec.guid) {
          notice("SYNCNOTICE: guid mismatch mailbox=<{}> uid=<{}>", master_.name, rec.uid);
          return SyncError::sync_checksum;
        }
        if (mine->modseq > rec.modseq) {
          if (!ctx_.force_mode) {
            notice("SYNCNOTICE: higher modseq on replica mailbox=<{}> uid=<{}> replicamodseq=<{}> "
                   "mastermodseq=<{}>",
                   master_.name, rec.uid, mine->modseq, rec.modseq);
            return SyncError::sync_checksum;
          }
          notice("forcesync: higher modseq on replica {} {} ({} > {})", master_.name, rec.uid,
                 mine->modseq, rec.modseq);
        }
        if (mine->expunged() && !rec.expunged()) {
          notice("SYNCNOTICE: expunged on replica mailbox=<{}> uid=<{}>", master_.name, rec.uid);
          return SyncError::sync_checksum;
        }
        actions_.push_back(RecordAction::update);
      } else if (rec.uid <= box_.last_uid) {
        // The replica had this UID once and lost it: only acceptable if the
        // master has expunged it as well.
        if (!rec.expunged()) {
          notice("SYNCNOTICE: record missing on replica mailbox=<{}> uid=<{}>", master_.name, rec.uid);
          return SyncError::sync_checksum;
        }
        actions_.push_back(RecordAction::skip);
      } else {
        // A new record needs its message: uploaded in this session (MESSAGE)
        // or already stored (what RESERVE found).  An expunged one may come
        // without.  Cyrus's sync_server aborts on a live one without a body;
        // refusing the whole command instead lets the client's next run
        // re-reserve and re-upload.
        if (!rec.expunged() && staged_.find(rec.guid) == staged_.end() && !w_.has_body(rec.guid)) {
          error("SYNCERROR: no message for new record mailbox=<{}> uid=<{}> guid=<{}>", master_.name,
                rec.uid, rec.guid.hex());
          return SyncError::protocol_error;
        }
        actions_.push_back(RecordAction::append);
      }
    }
    return SyncError::ok;
  }

  // Step 10, folder part: the ACL is not versioned, the folder modseq only grows.
  void apply_header_start() {
    box_.acl = master_.acl;
    uint64_t foldermodseq = req_.foldermodseq_sent != 0 ? req_.foldermodseq_sent : master_.highestmodseq;
    box_.foldermodseq = std::max(box_.foldermodseq, foldermodseq);
    box_.annotations = master_.annotations;
  }

  bool apply_records() {
    for (size_t i = 0; i < req_.records.size(); ++i) {
      const MessageRecord& rec = req_.records[i];
      if (actions_[i] == RecordAction::update && !update_record(rec)) return false;
      if (actions_[i] == RecordAction::append && !append_record(rec)) return false;
    }
    return true;
  }

  // An existing record takes every master value except its GUID and SIZE,
  // which are the message's and already agree.
  bool update_record(const MessageRecord& rec) {
    std::optional<MessageRecord> mine = w_.record(box_.uniqueid, rec.uid);
    if (!mine) return keep(Status::error(storage::Errc::corrupt, "record vanished inside the job"));
    MessageRecord next = *mine;
    next.modseq = rec.modseq;
    next.last_updated = rec.last_updated;
    next.internaldate = rec.internaldate;
    next.system_flags = rec.system_flags;  // the expunged state included
    next.keywords = rec.keywords;
    next.cid = rec.cid;
    next.savedate = rec.savedate;
    next.createdmodseq = rec.createdmodseq;
    next.annotations = rec.annotations;
    if (next == *mine) return true;
    if (!keep(w_.put_record(box_.uniqueid, next))) return false;
    replace_record_crcs(box_, &*mine, &next);
    return true;
  }

  bool append_record(const MessageRecord& rec) {
    if (auto staged = staged_.find(rec.guid); staged != staged_.end() && !w_.has_body(rec.guid)) {
      const StagedFile& file = staged->second;
      if (!keep(w_.put_body_from_file(rec.guid, file.path, file.size, file.offset))) return false;
    }
    if (!keep(w_.put_record(box_.uniqueid, rec))) return false;
    replace_record_crcs(box_, nullptr, &rec);
    return true;
  }

  // Step 10, header part: the master's counters, times and options.
  bool finish_header() {
    box_.last_uid = master_.last_uid;
    box_.recentuid = master_.recentuid;
    box_.highestmodseq = master_.highestmodseq;
    box_.recenttime = master_.recenttime;
    box_.last_appenddate = master_.last_appenddate;
    box_.pop3_last_login = master_.pop3_last_login;
    box_.pop3_show_after = master_.pop3_show_after;
    box_.createdmodseq = master_.createdmodseq;
    box_.options = master_.options;
    if (box_.uidvalidity != master_.uidvalidity) {
      notice("{} uidvalidity changed, updating {} => {}", master_.name, box_.uidvalidity,
             master_.uidvalidity);
      box_.uidvalidity = master_.uidvalidity;
    }
    if (master_.xconvmodseq != 0) box_.xconvmodseq = master_.xconvmodseq;
    if (master_.raclmodseq != 0) box_.raclmodseq = master_.raclmodseq;
    return keep(w_.put_mailbox(box_));
  }

  // Step 11.  Before blaming the master, recompute from the records (as
  // Cyrus forces a recalculation); a stored value that drifted is repaired.
  ApplyOutcome check_crcs() {
    if (crc_equal(req_.crcs, mailbox_crcs(box_))) return ApplyOutcome::success();
    SyncCrcs full;
    if (!keep(compute_mailbox_crcs(w_, box_.uniqueid, full))) return stop(SyncError::unknown);
    if (full != mailbox_crcs(box_)) {
      error("SYNCERROR: stored crcs drifted mailbox=<{}> stored=<{}/{}> computed=<{}/{}>", master_.name,
            box_.sync_crc, box_.sync_crc_annot, full.basic, full.annot);
      box_.sync_crc = full.basic;
      box_.sync_crc_annot = full.annot;
      if (!keep(w_.put_mailbox(box_))) return stop(SyncError::unknown);
    }
    if (crc_equal(req_.crcs, full)) return ApplyOutcome::success();
    notice("SYNCNOTICE: checksum mismatch after apply mailbox=<{}> master=<{}/{}> replica=<{}/{}>",
           master_.name, req_.crcs.basic, req_.crcs.annot, full.basic, full.annot);
    ApplyOutcome outcome = ApplyOutcome::fail(SyncError::sync_checksum);
    outcome.keep_changes = true;
    return outcome;
  }

  WriteView& w_;
  const MailboxRequest& req_;
  const Mailbox& master_;
  const StagedBodies& staged_;
  const ApplyContext& ctx_;
  Mailbox box_;
  std::vector<RecordAction> actions_;
  Status store_;
};

}  // namespace

ApplyPlan plan_mailbox(const Dlist& value, const ApplyContext& ctx, const StagingArea* staging) {
  auto request = std::make_shared<MailboxRequest>();
  if (SyncError e = decode_mailbox_request(value, *request); e != SyncError::ok)
    return ApplyPlan::reply(e);
  // Step 3: #sieve travels as a mailbox only once SIEVE-MAILBOX is enabled.
  if (mbtype_is_sieve(request->header.mbtype) && !ctx.sieve_mailbox)
    return ApplyPlan::reply(SyncError::bad_parameters);

  if (request->placeholder)
    return ApplyPlan::run([request, ctx](storage::WriteView& w) {
      return apply_placeholder(w, request->header, ctx);
    });

  if (request->header.partition_nil) {
    request->header.partition = ctx.default_partition;
    request->header.partition_nil = false;
  }
  // The session's staged files, looked up here on the loop thread: the job
  // gets a copy of the paths, and the files stay until the session ends.
  auto staged = std::make_shared<StagedBodies>();
  if (staging != nullptr)
    for (const MessageRecord& rec : request->records)
      if (const StagedFile* file = staging->find(rec.guid)) staged->emplace(rec.guid, *file);

  return ApplyPlan::run([request, staged, ctx](storage::WriteView& w) {
    return MailboxApply(w, *request, *staged, ctx).run();
  });
}

}  // namespace replicad::protocol::handlers
