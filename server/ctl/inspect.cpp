// info, users, mailboxes, show, cat: looking at a store without changing it.
#include <fmt/core.h>

#include <set>

#include "protocol/sync_names.h"
#include "server/ctl/census.h"
#include "server/ctl/commands.h"

namespace replicad::ctl {
namespace {

Outcome store_failure(const storage::Status& st) {
  return Outcome::fail(st.code == storage::Errc::corrupt ? kExitProblems : kExitIoError,
                       "cannot read the store: " + st.message);
}

Value mailbox_row(const MailboxCount& m) {
  Value row = Value::object();
  row.set("name", m.mailbox.name);
  row.set("owner", m.owner.empty() ? Value(nullptr) : Value(m.owner));
  row.set("uniqueid", m.mailbox.uniqueid);
  row.set("mbtype", m.mailbox.mbtype);
  row.set("uidvalidity", m.mailbox.uidvalidity);
  row.set("last_uid", m.mailbox.last_uid);
  row.set("highestmodseq", m.mailbox.highestmodseq);
  row.set("messages", m.messages);
  row.set("expunged", m.expunged);
  row.set("size", m.bytes);
  return row;
}

std::string flags_text(const storage::MessageRecord& r) {
  static const std::pair<uint32_t, const char*> names[] = {
      {storage::kFlagAnswered, "\\Answered"}, {storage::kFlagFlagged, "\\Flagged"},
      {storage::kFlagDeleted, "\\Deleted"},   {storage::kFlagDraft, "\\Draft"},
      {storage::kFlagSeen, "\\Seen"},         {storage::kFlagExpunged, "\\Expunged"}};
  std::string out;
  for (const auto& [bit, name] : names) {
    if ((r.system_flags & bit) == 0) continue;
    if (!out.empty()) out += ' ';
    out += name;
  }
  for (const std::string& keyword : r.keywords) {
    if (!out.empty()) out += ' ';
    out += keyword;
  }
  return out;
}

Value annotations(const std::vector<storage::Annotation>& list) {
  Value out = Value::array();
  for (const auto& a : list) {
    Value& v = out.push(Value::object());
    v.set("entry", a.entry);
    v.set("userid", a.userid);
    v.set("modseq", a.modseq);
    v.set("value", a.value);
  }
  return out;
}

// Cyrus ACLs are "id<TAB>rights<TAB>..." pairs.
Value acl_entries(std::string_view acl) {
  Value out = Value::array();
  while (!acl.empty()) {
    size_t tab = acl.find('\t');
    std::string_view id = acl.substr(0, tab);
    std::string_view rights;
    acl = tab == std::string_view::npos ? std::string_view{} : acl.substr(tab + 1);
    if (!acl.empty()) {
      size_t next = acl.find('\t');
      rights = acl.substr(0, next);
      acl = next == std::string_view::npos ? std::string_view{} : acl.substr(next + 1);
    }
    Value& entry = out.push(Value::object());
    entry.set("identifier", id);
    entry.set("rights", rights);
  }
  return out;
}

Value header_report(const storage::Mailbox& m) {
  Value out = Value::object();
  out.set("name", m.name);
  out.set("owner", protocol::mailbox_owner(m.name) ? Value(*protocol::mailbox_owner(m.name)) : Value(nullptr));
  out.set("uniqueid", m.uniqueid);
  out.set("mbtype", m.mbtype);
  out.set("partition", m.partition_nil ? Value(nullptr) : Value(m.partition));
  out.set("uidvalidity", m.uidvalidity);
  out.set("last_uid", m.last_uid);
  out.set("highestmodseq", m.highestmodseq);
  out.set("createdmodseq", m.createdmodseq);
  out.set("foldermodseq", m.foldermodseq);
  out.set("xconvmodseq", m.xconvmodseq);
  out.set("raclmodseq", m.raclmodseq);
  out.set("recentuid", m.recentuid);
  out.set("recent_time", m.recenttime);
  out.set("last_append_time", m.last_appenddate);
  out.set("pop3_last_login_time", m.pop3_last_login);
  out.set("pop3_show_after_time", m.pop3_show_after);
  out.set("options", m.options);
  out.set("sync_crc", m.sync_crc);
  out.set("sync_crc_annot", m.sync_crc_annot);
  out.set("acl", acl_entries(m.acl));
  out.set("annotations", annotations(m.annotations));
  return out;
}

Value record_row(const storage::MessageRecord& r) {
  Value row = Value::object();
  row.set("uid", r.uid);
  row.set("modseq", r.modseq);
  row.set("flags", flags_text(r));
  row.set("internal_time", r.internaldate);
  row.set("last_updated_time", r.last_updated);
  row.set("size", r.size);
  row.set("guid", r.guid.hex());
  row.set("cid", fmt::format("{:016x}", r.cid));
  row.set("save_time", r.savedate);
  row.set("createdmodseq", r.createdmodseq);
  row.set("annotations", annotations(r.annotations));
  return row;
}

}  // namespace

Outcome info(storage::StoreReader& reader, Value& out) {
  storage::StoreInfo si;
  if (storage::Status st = reader.info(si); !st) return store_failure(st);
  storage::Status st;
  auto snap = reader.snapshot(st);
  if (!snap) return store_failure(st);
  // Users are counted from the mailbox headers: cheap next to the records.
  std::set<std::string> owners;
  uint64_t shared = 0;
  st = snap->view().for_each_mailbox("", [&](const storage::Mailbox& m) {
    if (auto owner = protocol::mailbox_owner(m.name)) owners.insert(std::move(*owner));
    else ++shared;
    return true;
  });
  if (!st) return store_failure(st);
  auto entries = [&](std::string_view table) -> uint64_t {
    for (const auto& t : si.tables)
      if (t.name == table) return t.entries;
    return 0;
  };

  out = Value::object();
  out.set("store", si.directory);
  out.set("format_version", si.format_version);
  out.set("file_bytes", si.file_bytes);
  out.set("used_bytes", si.used_bytes);
  out.set("map_bytes", si.map_bytes);
  out.set("page_size", si.page_size);
  out.set("last_txnid", si.last_txnid);
  out.set("readers_in_use", si.readers_in_use);
  out.set("max_readers", si.max_readers);
  out.set("users", static_cast<uint64_t>(owners.size()));
  out.set("mailboxes", entries("mailboxes"));
  out.set("shared_mailboxes", shared);
  out.set("records", entries("records"));
  out.set("bodies", entries("bodies"));
  Value& tables = out.set("tables", Value::array());
  for (const auto& t : si.tables) {
    Value& row = tables.push(Value::object());
    row.set("table", t.name);
    row.set("entries", t.entries);
    row.set("pages", t.pages);
    row.set("size_bytes", t.pages * si.page_size);
  }
  return Outcome::ok();
}

Outcome users(storage::StoreReader& reader, Value& out) {
  storage::Status st;
  auto snap = reader.snapshot(st);
  if (!snap) return store_failure(st);
  std::vector<MailboxCount> boxes;
  if (st = count_mailboxes(snap->view(), {}, boxes); !st) return store_failure(st);
  out = Value::array();
  for (const UserCount& u : count_users(boxes)) {
    Value& row = out.push(Value::object());
    row.set("user", u.user);
    row.set("mailboxes", u.mailboxes);
    row.set("messages", u.messages);
    row.set("expunged", u.expunged);
    row.set("size_bytes", u.bytes);
  }
  return Outcome::ok();
}

Outcome mailboxes(storage::StoreReader& reader, std::string_view user, Value& out) {
  storage::Status st;
  auto snap = reader.snapshot(st);
  if (!snap) return store_failure(st);
  std::vector<MailboxCount> boxes;
  if (st = count_mailboxes(snap->view(), user, boxes); !st) return store_failure(st);
  out = Value::array();
  for (const MailboxCount& m : boxes) out.push(mailbox_row(m));
  if (!user.empty() && boxes.empty())
    return Outcome::fail(kExitProblems, fmt::format("no mailboxes of user '{}'", user));
  return Outcome::ok();
}

Outcome show(storage::StoreReader& reader, std::string_view name, Value& out) {
  storage::Status st;
  auto snap = reader.snapshot(st);
  if (!snap) return store_failure(st);
  storage::ReadView& view = snap->view();
  auto mailbox = view.mailbox(name);
  if (!mailbox) {
    if (auto by_uniqueid = view.name_of_uniqueid(name)) mailbox = view.mailbox(*by_uniqueid);
  }
  if (!mailbox) return Outcome::fail(kExitProblems, fmt::format("no mailbox '{}'", name));
  out = header_report(*mailbox);
  Value& records = out.set("records", Value::array());
  st = view.for_each_record(mailbox->uniqueid, 1, [&](const storage::MessageRecord& r) {
    records.push(record_row(r));
    return true;
  });
  if (!st) return store_failure(st);
  return Outcome::ok();
}

Outcome cat(storage::StoreReader& reader, std::string_view guid_hex, std::ostream& body) {
  auto guid = storage::Guid::from_hex(guid_hex);
  if (!guid) return Outcome::fail(kExitUsage, fmt::format("'{}' is not a GUID (40 hex digits)", guid_hex));
  storage::Status st;
  auto snap = reader.snapshot(st);
  if (!snap) return store_failure(st);
  auto bytes = snap->view().body(*guid);
  if (!bytes) return Outcome::fail(kExitProblems, fmt::format("no message body {}", guid->hex()));
  body.write(bytes->data(), static_cast<std::streamsize>(bytes->size()));
  body.flush();
  if (!body) return Outcome::fail(kExitIoError, "cannot write the message");
  return Outcome::ok();
}

}  // namespace replicad::ctl
