// verify: recompute from the stored records and bodies everything the store
// keeps derived or promised, and report each difference.
//
//   sync_crc / sync_crc_annot  the header values the sync core keeps up to
//                              date incrementally, against a full recount
//                              (sync_client compares them on every run; a
//                              drift makes it resend the whole mailbox)
//   uid / modseq               a record beyond the header's last_uid /
//                              highestmodseq
//   missing_body / size        a live record whose body is gone, or whose
//                              body is not SIZE bytes long
//   body_sha1                  a body whose bytes no longer hash to its GUID
//   refcount / orphan_body     stored reference counts against the records
//   orphan_records / index     records without a mailbox; the uniqueid index
//                              out of step with the headers
//   intermediate               an intermediate mailbox holding records
//
// `verify USER` checks that user's mailboxes and the bodies they use (a body
// shared with other users must have at least this user's references);
// `verify` checks the whole store, reference counts exactly.  One snapshot
// throughout, so a running replicad cannot make it see half a commit.
#include <fmt/core.h>

#include <map>
#include <unordered_map>
#include <unordered_set>

#include "protocol/sync_crc.h"
#include "protocol/sync_names.h"
#include "server/ctl/commands.h"

namespace replicad::ctl {
namespace {

// More problems than this are counted, not listed.
constexpr size_t kMaxListedProblems = 1000;

class Verifier {
 public:
  explicit Verifier(storage::StoreSnapshot& snap) : snap_(snap), view_(snap.view()) {}

  void problem(std::string check, std::string where, std::string detail) {
    ++problem_count_;
    if (listed_.size() < kMaxListedProblems) listed_.push_back({std::move(check), std::move(where), std::move(detail)});
  }

  // One mailbox: header against index, every record against the header and
  // the bodies, the recomputed CRCs against the stored ones.
  storage::Status check_mailbox(const storage::Mailbox& m) {
    ++mailboxes_;
    auto indexed = view_.name_of_uniqueid(m.uniqueid);
    if (!indexed || *indexed != m.name)
      problem("index", m.name,
              fmt::format("uniqueid {} is indexed to {}", m.uniqueid, indexed ? "'" + *indexed + "'" : "nothing"));
    protocol::SyncCrcs computed;
    uint64_t records = 0;
    storage::Status st = view_.for_each_record(m.uniqueid, 1, [&](const storage::MessageRecord& r) {
      ++records;
      check_record(m, r);
      computed.basic ^= protocol::record_crc_basic(r);
      computed.annot ^= protocol::record_crc_annot(r);
      return true;
    });
    if (!st) return st;
    records_ += records;
    if (m.is_intermediate() && records > 0)
      problem("intermediate", m.name, fmt::format("intermediate mailbox holds {} records", records));
    if (m.sync_crc != computed.basic)
      problem("sync_crc", m.name, fmt::format("stored {} computed {}", m.sync_crc, computed.basic));
    if (m.sync_crc_annot != computed.annot)
      problem("sync_crc_annot", m.name, fmt::format("stored {} computed {}", m.sync_crc_annot, computed.annot));
    return storage::Status::success();
  }

  // Bodies: each hashes to its GUID.  With `only`, just those GUIDs.
  storage::Status check_bodies(const std::unordered_map<storage::Guid, uint64_t, storage::GuidHash>* only) {
    auto check = [&](const storage::Guid& guid, std::string_view bytes) {
      ++bodies_;
      body_bytes_ += bytes.size();
      storage::Guid actual = storage::sha1_of(bytes);
      if (actual != guid) problem("body_sha1", guid.hex(), fmt::format("the stored bytes hash to {}", actual.hex()));
    };
    if (only == nullptr) {
      return snap_.for_each_body([&](const storage::Guid& guid, std::string_view bytes) {
        check(guid, bytes);
        if (refs_.count(guid) == 0) problem("orphan_body", guid.hex(), "no record refers to this body");
        return true;
      });
    }
    for (const auto& [guid, count] : *only)
      if (auto bytes = view_.body(guid)) check(guid, *bytes);
    return storage::Status::success();
  }

  // Stored reference counts: equal to the records' (whole store) or at
  // least them (one user's share).
  storage::Status check_refcounts(bool exact) {
    if (!exact) {
      for (const auto& [guid, count] : refs_) {
        uint64_t stored = 0;
        if (storage::Status st = snap_.body_ref_count(guid, stored); !st) return st;
        if (stored < count)
          problem("refcount", guid.hex(), fmt::format("stored {} but this user's records alone hold {}", stored, count));
      }
      return storage::Status::success();
    }
    std::unordered_set<storage::Guid, storage::GuidHash> seen;
    storage::Status st = snap_.for_each_body_ref([&](const storage::Guid& guid, uint64_t stored) {
      seen.insert(guid);
      auto it = refs_.find(guid);
      uint64_t counted = it == refs_.end() ? 0 : it->second;
      if (stored != counted) problem("refcount", guid.hex(), fmt::format("stored {} records {}", stored, counted));
      return true;
    });
    if (!st) return st;
    for (const auto& [guid, count] : refs_)
      if (seen.count(guid) == 0) problem("refcount", guid.hex(), fmt::format("stored none, records {}", count));
    return storage::Status::success();
  }

  // Whole store only: the uniqueid index and records of no mailbox.
  storage::Status check_index_and_orphans(const std::unordered_set<std::string>& uniqueids) {
    storage::Status st = snap_.for_each_uniqueid([&](std::string_view uniqueid, std::string_view name) {
      auto m = view_.mailbox(name);
      if (!m || m->uniqueid != uniqueid)
        problem("index", std::string(name), fmt::format("index entry for uniqueid {} names a mailbox that {}", uniqueid,
                                                        m ? "has uniqueid " + m->uniqueid : "does not exist"));
      return true;
    });
    if (!st) return st;
    std::map<std::string, uint64_t> orphans;
    st = snap_.for_each_record([&](std::string_view uniqueid, const storage::MessageRecord&) {
      if (uniqueids.count(std::string(uniqueid)) == 0) ++orphans[std::string(uniqueid)];
      return true;
    });
    if (!st) return st;
    for (const auto& [uniqueid, count] : orphans)
      problem("orphan_records", uniqueid, fmt::format("{} records of uniqueid {} belong to no mailbox", count, uniqueid));
    return storage::Status::success();
  }

  const std::unordered_map<storage::Guid, uint64_t, storage::GuidHash>& refs() const { return refs_; }

  void report(Value& out) const {
    out.set("mailboxes", mailboxes_);
    out.set("records", records_);
    out.set("bodies", bodies_);
    out.set("body_bytes", body_bytes_);
    out.set("problem_count", problem_count_);
    Value& list = out.set("problems", Value::array());
    for (const auto& p : listed_) {
      Value& row = list.push(Value::object());
      row.set("check", p.check);
      row.set("where", p.where);
      row.set("detail", p.detail);
    }
  }

  uint64_t problem_count() const { return problem_count_; }

 private:
  struct Problem {
    std::string check, where, detail;
  };

  void check_record(const storage::Mailbox& m, const storage::MessageRecord& r) {
    ++refs_[r.guid];
    std::string where = fmt::format("{} UID {}", m.name, r.uid);
    if (r.uid > m.last_uid) problem("uid", where, fmt::format("beyond the mailbox's last_uid {}", m.last_uid));
    if (r.modseq > m.highestmodseq)
      problem("modseq", where, fmt::format("modseq {} beyond highestmodseq {}", r.modseq, m.highestmodseq));
    auto body = view_.body(r.guid);
    if (!body) {
      // An expunged record may outlive its body: it is replicated, never fetched.
      if (!r.expunged()) problem("missing_body", where, fmt::format("no stored body for GUID {}", r.guid.hex()));
      return;
    }
    if (body->size() != r.size)
      problem("size", where, fmt::format("record says {} bytes, body {} has {}", r.size, r.guid.hex(), body->size()));
  }

  storage::StoreSnapshot& snap_;
  storage::ReadView& view_;
  std::unordered_map<storage::Guid, uint64_t, storage::GuidHash> refs_;
  std::vector<Problem> listed_;
  uint64_t problem_count_ = 0;
  uint64_t mailboxes_ = 0, records_ = 0, bodies_ = 0, body_bytes_ = 0;
};

}  // namespace

Outcome verify(storage::StoreReader& reader, std::string_view user, Value& out) {
  storage::Status st;
  auto snap = reader.snapshot(st);
  if (!snap) return Outcome::fail(kExitIoError, "cannot read the store: " + st.message);
  Verifier v(*snap);
  out = Value::object();
  out.set("scope", user.empty() ? std::string("all") : "user " + std::string(user));

  std::optional<protocol::UserMailboxNames> names;
  if (!user.empty()) {
    names = protocol::user_mailbox_names(user);
    if (!names) return Outcome::fail(kExitUsage, fmt::format("'{}' is not a userid", user));
  }
  std::vector<std::string> prefixes = names ? std::vector<std::string>{names->inbox, names->deleted}
                                            : std::vector<std::string>{""};
  std::vector<storage::Mailbox> boxes;
  for (const std::string& prefix : prefixes) {
    st = snap->view().for_each_mailbox(prefix, [&](const storage::Mailbox& m) {
      if (!names || names->owns(m.name)) boxes.push_back(m);
      return true;
    });
    if (!st) break;
  }
  std::unordered_set<std::string> uniqueids;
  for (const storage::Mailbox& m : boxes) {
    if (!st) break;
    uniqueids.insert(m.uniqueid);
    st = v.check_mailbox(m);
  }
  if (st) st = v.check_bodies(names ? &v.refs() : nullptr);
  if (st) st = v.check_refcounts(!names);
  if (st && !names) st = v.check_index_and_orphans(uniqueids);
  // A store that does not even decode is the worst drift of all.
  if (!st && st.code != storage::Errc::corrupt)
    return Outcome::fail(kExitIoError, "cannot read the store: " + st.message);
  if (!st) v.problem("decode", "store", st.message);
  if (names && boxes.empty()) return Outcome::fail(kExitProblems, fmt::format("no mailboxes of user '{}'", user));

  v.report(out);
  out.set("clean", v.problem_count() == 0);
  if (v.problem_count() > 0)
    return Outcome::fail(kExitProblems, fmt::format("verify: {} problem(s) found", v.problem_count()));
  return Outcome::ok();
}

}  // namespace replicad::ctl
