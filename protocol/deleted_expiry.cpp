#include "protocol/deleted_expiry.h"

#include <string>
#include <vector>

#include "protocol/sync_names.h"
#include "server/log.h"

namespace replicad::protocol {
namespace {

using storage::Status;

// "%X" of a time_t: 1 to 16 hex digits (8 for any date this century).
std::optional<uint64_t> parse_hex_time(std::string_view digits) {
  if (digits.empty() || digits.size() > 16) return std::nullopt;
  uint64_t value = 0;
  for (char c : digits) {
    int nibble;
    if (c >= '0' && c <= '9') nibble = c - '0';
    else if (c >= 'A' && c <= 'F') nibble = c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') nibble = c - 'a' + 10;
    else return std::nullopt;
    value = value << 4 | static_cast<uint64_t>(nibble);
  }
  return value;
}

struct BatchResult {
  size_t mailboxes = 0;
  uint64_t records = 0;
};

// One write job's work: remove the mailboxes of `names` that still exist.
Status remove_batch(storage::WriteView& w, const std::vector<std::string>& names, BatchResult& result) {
  result = {};  // a job may be applied again after a rollback
  for (const std::string& name : names) {
    std::optional<storage::Mailbox> box = w.mailbox(name);
    if (!box) continue;  // renamed back or removed meanwhile
    uint64_t records = 0;
    Status st = w.for_each_record(box->uniqueid, 0, [&](const storage::MessageRecord&) {
      ++records;
      return true;
    });
    if (!st) return st;
    // Records go with it, and with them every body reference; bodies left
    // without one are deleted when the job ends.
    if (st = w.delete_mailbox(name); !st) return st;
    ++result.mailboxes;
    result.records += records;
  }
  return Status::success();
}

}  // namespace

std::optional<uint64_t> deleted_mailbox_time(std::string_view mailbox) {
  if (!is_deleted_name(mailbox)) return std::nullopt;
  size_t dot = mailbox.rfind('.');
  std::string_view before = mailbox.substr(0, dot);
  // DELETED.<at least one component>.<hex>
  if (before.find('.') == std::string_view::npos || before.ends_with(kDeletedPrefix)) return std::nullopt;
  return parse_hex_time(mailbox.substr(dot + 1));
}

DeletedExpiry::DeletedExpiry(storage::Store& store, uint64_t max_age_seconds, std::string log_id)
    : store_(store), max_age_(max_age_seconds), log_id_(std::move(log_id)) {}

void DeletedExpiry::run(uint64_t now, std::function<void(const ExpiryReport&)> done) {
  if (*running_) return;

  std::vector<std::string> expired;
  {
    std::unique_ptr<storage::ReadTxn> txn = store_.begin_read();
    if (!txn) {
      log::emit(log::Level::error, log_id_, "IOERROR: deleted_expire: no read snapshot of the store");
      if (done) done(ExpiryReport{});
      return;
    }
    // Every name, not only the "DELETED." prefix: each virtual domain has a
    // deleted hierarchy of its own ("example.com!DELETED.").  Names only,
    // so the walk stays cheap for any number of mailboxes.
    Status st = txn->view().for_each_mailbox_name("", [&](std::string_view name) {
      std::optional<uint64_t> deleted_at = deleted_mailbox_time(name);
      if (deleted_at && *deleted_at <= now && now - *deleted_at >= max_age_) expired.emplace_back(name);
      return true;
    });
    if (!st)
      log::emit(log::Level::error, log_id_, "IOERROR: deleted_expire: reading mailbox names: {}", st.message);
  }
  if (expired.empty()) {
    if (done) done(ExpiryReport{});
    return;
  }

  struct Run {
    ExpiryReport report;
    size_t pending = 0;
    std::function<void(const ExpiryReport&)> done;
  };
  auto state = std::make_shared<Run>();
  state->done = std::move(done);
  state->pending = (expired.size() + kBatch - 1) / kBatch;
  *running_ = true;
  log::emit(log::Level::info, log_id_, "deleted_expire: {} deleted mailboxes are older than {}s", expired.size(),
            max_age_);

  for (size_t first = 0; first < expired.size(); first += kBatch) {
    auto names = std::make_shared<std::vector<std::string>>(
        expired.begin() + static_cast<std::ptrdiff_t>(first),
        expired.begin() + static_cast<std::ptrdiff_t>(std::min(first + kBatch, expired.size())));
    auto result = std::make_shared<BatchResult>();
    storage::WriteJob job;
    job.apply = [names, result](storage::WriteView& w) { return remove_batch(w, *names, *result); };
    job.done = [state, names, result, running = running_, log_id = log_id_](Status st) {
      if (st) {
        state->report.mailboxes += result->mailboxes;
        state->report.records += result->records;
      } else {
        state->report.failed += names->size();
        log::emit(log::Level::error, log_id, "IOERROR: deleted_expire: removing {} ... failed: {}",
                  names->front(), st.message);
      }
      if (--state->pending > 0) return;
      *running = false;
      const ExpiryReport& r = state->report;
      log::emit(r.failed ? log::Level::warning : log::Level::notice, log_id,
                "deleted_expire: removed {} deleted mailboxes with {} records{}", r.mailboxes, r.records,
                r.failed ? fmt::format(", {} left for the next run after errors", r.failed) : std::string());
      if (state->done) state->done(r);
    };
    store_.submit(std::move(job));
  }
}

}  // namespace replicad::protocol
