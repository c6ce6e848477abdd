// The sync core's dispatcher: picks the handler for an APPLY / GET kind,
// runs write handlers as one store write job each, and turns the outcome
// into Cyrus's reply text (spec §3, §4; Cyrus sync_support.c `sync_apply`,
// `sync_get`, `sync_restore`).

#include "protocol/sync_core.h"

#include "protocol/command_subject.h"
#include "protocol/sync_handlers.h"
#include "server/log.h"

namespace replicad::protocol {
namespace {

using handlers::ApplyContext;
using handlers::ApplyOutcome;
using handlers::ApplyPlan;
using handlers::make_reply;

SyncReply unknown_kind(const SyncSession& session, std::string_view verb, std::string_view kind) {
  log::emit(log::Level::error, session.id, "SYNCERROR: unknown command command=<{} {}>", verb, kind);
  return make_reply(SyncError::protocol_error);
}

// The store could not give a read snapshot (its reader table is full): the
// command fails as a whole and the client retries on its next run.
SyncReply no_snapshot(const std::string& session_id) {
  log::emit(log::Level::error, session_id, "IOERROR: no read snapshot of the store available");
  return make_reply(SyncError::unknown);
}

// APPLY kinds that never run a store job: only these can be OK without a commit.
bool writes_nothing(std::string_view kind) {
  return kind == "MESSAGE" || kind == "RESERVE" || kind == "CAPABILITIES" || kind == "FORCE";
}

}  // namespace

SyncCore::SyncCore(storage::Store& store, SyncConfig config) : store_(store), config_(std::move(config)) {}

SyncCore::Done SyncCore::observed(SyncSession& session, std::string_view verb, std::string_view kind,
                                  const Dlist& value, Done done) {
  if (config_.observer == nullptr) return done;
  std::string user = command_subject(verb, kind, value);
  if (!user.empty()) session.current_user = user;
  else if (verb == "APPLY" && (kind == "MESSAGE" || kind == "RESERVE")) user = session.current_user;
  uint64_t messages = 0;
  uint64_t bytes = 0;
  if (verb == "APPLY" && kind == "MESSAGE" && value.is_list()) {
    for (const Dlist& item : value.items) {
      if (!item.is_file()) continue;
      ++messages;
      bytes += item.file.size;
    }
  }
  return [observer = config_.observer, session_id = session.id, verb = std::string(verb), kind = std::string(kind),
          user = std::move(user), messages, bytes, start = std::chrono::steady_clock::now(),
          done = std::move(done)](SyncReply reply) mutable {
    SyncEvent event;
    event.session = session_id;
    event.verb = verb;
    event.kind = kind;
    event.user = user;
    event.status = reply.status;
    bool ok = reply.status.rfind("OK", 0) == 0;
    event.committed = ok && verb == "APPLY" && !writes_nothing(kind);
    event.elapsed = std::chrono::steady_clock::now() - start;
    event.messages = messages;
    event.message_bytes = bytes;
    observer->on_sync_command(event);
    done(std::move(reply));
  };
}

void SyncCore::apply(const std::shared_ptr<SyncSession>& session, std::string_view kind, Dlist value,
                     Done done) {
  SyncSession& s = *session;
  done = observed(s, "APPLY", kind, value, std::move(done));
  // Commands that only touch the session (and, for RESERVE, read the store).
  if (kind == "MESSAGE") return done(handlers::apply_message(value, s));
  if (kind == "RESERVE") {
    std::unique_ptr<storage::ReadTxn> txn = store_.begin_read();
    if (!txn) return done(no_snapshot(s.id));
    return done(handlers::apply_reserve(txn->view(), value, s));
  }
  if (kind == "CAPABILITIES") return done(handlers::apply_capabilities(value, s, config_));
  if (kind == "FORCE") return done(handlers::apply_force(s));

  const ApplyContext ctx{s.id, s.force_mode, s.sieve_mailbox_enabled, config_.default_partition};
  ApplyPlan plan;
  if (kind == "MAILBOX" || kind == "LOCAL_MAILBOX")
    plan = handlers::plan_mailbox(value, ctx, s.staging.get());
  else if (kind == "UNMAILBOX" || kind == "LOCAL_UNMAILBOX")
    plan = handlers::plan_unmailbox(value, ctx);
  else if (kind == "RENAME" || kind == "LOCAL_RENAME")
    plan = handlers::plan_rename(value, ctx);
  else if (kind == "EXPUNGE")
    plan = handlers::plan_expunge(value, ctx);
  else if (kind == "QUOTA")
    plan = handlers::plan_quota(value, ctx);
  else if (kind == "UNQUOTA")
    plan = handlers::plan_unquota(value, ctx);
  else if (kind == "SUB" || kind == "UNSUB")
    plan = handlers::plan_subscription(value, ctx, kind == "SUB");
  else if (kind == "SEEN")
    plan = handlers::plan_seen(value, ctx);
  else if (kind == "UNUSER" || kind == "LOCAL_UNUSER")
    plan = handlers::plan_unuser(value, ctx);
  else if (kind == "ANNOTATION" || kind == "UNANNOTATION")
    plan = handlers::plan_annotation(value, ctx, kind == "ANNOTATION");
  else if (kind == "SIEVE")
    plan = handlers::plan_sieve(value, ctx);
  else if (kind == "UNSIEVE")
    plan = handlers::plan_unsieve(value, ctx);
  else if (kind == "ACTIVATE_SIEVE")
    plan = handlers::plan_activate_sieve(value, ctx);
  else if (kind == "UNACTIVATE_SIEVE")
    plan = handlers::plan_unactivate_sieve(value, ctx);
  else {
    return done(unknown_kind(s, "APPLY", kind));
  }
  if (plan.answer) return done(std::move(*plan.answer));

  // The work runs on the writer thread; its outcome travels to `done` on the
  // loop thread through this shared slot (the store orders the two).
  auto outcome = std::make_shared<ApplyOutcome>();
  storage::WriteJob job;
  job.apply = [work = std::move(plan.work), outcome](storage::WriteView& w) -> storage::Status {
    *outcome = work(w);
    if (!outcome->store) return outcome->store;
    if (outcome->error != SyncError::ok && !outcome->keep_changes)
      return storage::Status::error(storage::Errc::aborted, std::string(status_text(outcome->error)));
    return storage::Status::success();
  };
  // The session is held until the job is complete: its staged files are
  // read by the job.  It is released here, on the loop thread.
  job.done = [outcome, session = session, done = std::move(done)](storage::Status status) mutable {
    SyncReply reply;
    bool refused = status.code == storage::Errc::aborted && outcome->store.ok() &&
                   outcome->error != SyncError::ok;
    if (status.ok() || refused) {
      reply = make_reply(outcome->error, status.ok() ? std::move(outcome->data) : std::string());
    } else {
      log::emit(log::Level::error, session->id, "IOERROR: store write failed: {}", status.message);
      reply = make_reply(SyncError::unknown);
    }
    session.reset();
    done(std::move(reply));
  };
  store_.submit(std::move(job));
}

void SyncCore::get(const std::shared_ptr<SyncSession>& session, std::string_view kind, const Dlist& value,
                   Done done) {
  done = observed(*session, "GET", kind, value, std::move(done));
  const handlers::GetContext ctx{session->id, session->sieve_mailbox_enabled};
  using Handler = SyncReply (*)(storage::ReadView&, const Dlist&, const handlers::GetContext&);
  Handler handler = nullptr;
  if (kind == "USER") handler = handlers::get_user;
  else if (kind == "META") handler = handlers::get_meta;
  else if (kind == "MAILBOXES") handler = handlers::get_mailboxes;
  else if (kind == "UNIQUEIDS") handler = handlers::get_uniqueids;
  else if (kind == "FULLMAILBOX") handler = handlers::get_fullmailbox;
  else if (kind == "QUOTA") handler = handlers::get_quota;
  else if (kind == "FETCH") handler = handlers::get_fetch;
  else if (kind == "ANNOTATION") handler = handlers::get_annotation;
  else if (kind == "FETCH_SIEVE") handler = handlers::get_fetch_sieve;
  else return done(unknown_kind(*session, "GET", kind));

  std::unique_ptr<storage::ReadTxn> txn = store_.begin_read();
  if (!txn) return done(no_snapshot(session->id));
  done(handler(txn->view(), value, ctx));
}

void SyncCore::restore(const std::shared_ptr<SyncSession>& session, std::string_view kind, Dlist value, Done done) {
  done = observed(*session, "RESTORE", kind, value, std::move(done));
  // RESTORE is Cyrus's backup tool's path, never sync_client's (spec §3.16).
  log::emit(log::Level::error, session->id, "SYNCERROR: RESTORE is not supported command=<RESTORE {}>", kind);
  done(make_reply(SyncError::protocol_error));
}

void SyncCore::restart(SyncSession& session) {
  if (session.staging != nullptr) session.staging->clear();
}

}  // namespace replicad::protocol
