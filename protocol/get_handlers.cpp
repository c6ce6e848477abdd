// GET USER, META, MAILBOXES, UNIQUEIDS, FULLMAILBOX, QUOTA, FETCH, ANNOTATION
// and FETCH_SIEVE (spec §4; Cyrus sync_support.c `sync_get_*`,
// `sync_mailbox_byentry`, `user_meta`, `print_quota`).
//
// They read one snapshot and answer from the stored headers; only
// FULLMAILBOX walks records.  The CRCs reported are the ones kept up to date
// while applying, so GET USER stays cheap for large mailboxes.

#include <algorithm>

#include "protocol/dlist_writer.h"
#include "protocol/mailbox_dlist.h"
#include "protocol/mailbox_type.h"
#include "protocol/reply_writer.h"
#include "protocol/sync_handlers.h"
#include "protocol/sync_names.h"
#include "protocol/sync_quota.h"
#include "protocol/sync_sieve.h"
#include "server/log.h"

namespace replicad::protocol::handlers {
namespace {

using storage::Mailbox;
using storage::ReadView;

std::optional<std::string> atom_value(const Dlist& value) {
  if (value.is_nil() || !value.is_string()) return std::nullopt;
  return to_atom(&value);
}

// Cyrus's mailboxes.db orders names with its hierarchy separator mapped
// below every printable character, so a folder's children come right after
// it (user.a, user.a.b, user.a-c).  Sorting the same way reproduces its
// listing order; the client itself does not depend on it.
bool cyrus_name_order(const Mailbox& a, const Mailbox& b) {
  auto key = [](char c) { return c == '.' ? '\x1f' : c; };
  return std::lexicographical_compare(a.name.begin(), a.name.end(), b.name.begin(), b.name.end(),
                                      [&](char x, char y) { return static_cast<unsigned char>(key(x)) <
                                                                   static_cast<unsigned char>(key(y)); });
}

class MailboxLines {
 public:
  MailboxLines(ReadView& view, std::string& out, bool sieve_mailbox)
      : view_(view), out_(out), sieve_mailbox_(sieve_mailbox) {}

  // One `* MAILBOX` line the way sync_mailbox_byentry writes it; nothing
  // for tombstones and, unless SIEVE-MAILBOX is on, the #sieve folder.
  void add(const Mailbox& box) {
    if (mbtype_is_tombstone(box.mbtype)) return;
    if (mbtype_is_sieve(box.mbtype) && !sieve_mailbox_) return;
    std::optional<std::string> root;
    if (!box.is_intermediate()) {
      real_mailbox_seen_ = true;
      root = governing_quota_root(view_, box.name);
      if (root && std::find(roots_.begin(), roots_.end(), *root) == roots_.end()) roots_.push_back(*root);
    }
    KvWriter kv(open_line(out_, "MAILBOX"));
    write_mailbox_fields(kv, box, root);
    kv.close();
    close_line(out_);
  }

  // Whether any real (not intermediate) mailbox was listed: Cyrus's test
  // for "the user exists".
  bool real_mailbox_seen() const { return real_mailbox_seen_; }
  // The quota roots of the listed mailboxes, in first-seen order.
  const std::vector<std::string>& quota_roots() const { return roots_; }

 private:
  ReadView& view_;
  std::string& out_;
  bool sieve_mailbox_;
  bool real_mailbox_seen_ = false;
  std::vector<std::string> roots_;
};

void write_quota_line(std::string& out, const storage::QuotaRoot& quota) {
  write_quota(open_line(out, "QUOTA"), quota);
  close_line(out);
}

// SEEN lines, the LSUB line and, unless SIEVE-MAILBOX is enabled (scripts
// then travel as the #sieve mailbox), the SIEVE lines of a user (Cyrus
// user_meta).
storage::Status write_user_meta(ReadView& view, std::string_view userid, bool sieve_mailbox, std::string& out) {
  storage::Status st = view.for_each_seen(userid, [&](const storage::SeenEntry& seen) {
    KvWriter kv(open_line(out, "SEEN"));
    kv.str("UNIQUEID", seen.uniqueid);
    kv.num("LASTREAD", seen.lastread);
    kv.num("LASTUID", seen.lastuid);
    kv.num("LASTCHANGE", seen.lastchange);
    kv.str("SEENUIDS", seen.seenuids);
    kv.close();
    close_line(out);
    return true;
  });
  if (!st) return st;

  std::vector<std::string> subscriptions = view.subscriptions(userid);
  if (!subscriptions.empty()) {
    KvWriter list(open_line(out, "LSUB"), KvWriter::Shape::list);
    for (const std::string& name : subscriptions) list.item_str(name);
    list.close();
    close_line(out);
  }
  if (!sieve_mailbox) st = write_sieve_lines(view, userid, out);
  return st;
}

SyncReply read_failure(const GetContext& ctx, const storage::Status& st) {
  log::emit(log::Level::error, ctx.session_id, "IOERROR: reading the store: {}", st.message);
  return make_reply(SyncError::unknown);
}

}  // namespace

SyncReply get_user(ReadView& view, const Dlist& value, const GetContext& ctx) {
  std::optional<std::string> userid = atom_value(value);
  if (!userid) return make_reply(SyncError::bad_parameters);
  std::optional<UserMailboxNames> names = user_mailbox_names(*userid);
  if (!names) return make_reply(SyncError::ok);  // no such user: an empty answer

  // The INBOX, its folders, then the user's deleted folders.
  std::vector<Mailbox> boxes;
  if (std::optional<Mailbox> inbox = view.mailbox(names->inbox)) boxes.push_back(std::move(*inbox));
  for (const std::string& prefix : {names->children, names->deleted}) {
    size_t first = boxes.size();
    storage::Status st = view.for_each_mailbox(prefix, [&](const Mailbox& box) {
      boxes.push_back(box);
      return true;
    });
    if (!st) return read_failure(ctx, st);
    std::sort(boxes.begin() + static_cast<std::ptrdiff_t>(first), boxes.end(), cyrus_name_order);
  }

  std::string data;
  MailboxLines lines(view, data, ctx.sieve_mailbox);
  for (const Mailbox& box : boxes) lines.add(box);
  for (const std::string& root : lines.quota_roots())
    if (std::optional<storage::QuotaRoot> quota = view.quota(root)) write_quota_line(data, *quota);
  // Seen state and subscriptions only for a user that really exists.
  if (lines.real_mailbox_seen())
    if (storage::Status st = write_user_meta(view, *userid, ctx.sieve_mailbox, data); !st)
      return read_failure(ctx, st);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_meta(ReadView& view, const Dlist& value, const GetContext& ctx) {
  std::optional<std::string> userid = atom_value(value);
  if (!userid) return make_reply(SyncError::bad_parameters);
  std::string data;
  if (storage::Status st = write_user_meta(view, *userid, ctx.sieve_mailbox, data); !st) return read_failure(ctx, st);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_mailboxes(ReadView& view, const Dlist& value, const GetContext& ctx) {
  std::string data;
  MailboxLines lines(view, data, ctx.sieve_mailbox);
  // Names that do not exist are skipped silently.
  if (value.is_list())
    for (const Dlist& item : value.items)
      if (std::optional<std::string> name = atom_value(item))
        if (std::optional<Mailbox> box = view.mailbox(*name)) lines.add(*box);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_uniqueids(ReadView& view, const Dlist& value, const GetContext& ctx) {
  std::string data;
  MailboxLines lines(view, data, ctx.sieve_mailbox);
  if (value.is_list())
    for (const Dlist& item : value.items)
      if (std::optional<std::string> uniqueid = atom_value(item))
        if (std::optional<std::string> name = view.name_of_uniqueid(*uniqueid))
          if (std::optional<Mailbox> box = view.mailbox(*name)) lines.add(*box);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_fullmailbox(ReadView& view, const Dlist& value, const GetContext& ctx) {
  std::optional<std::string> name = atom_value(value);
  if (!name) return make_reply(SyncError::bad_parameters);
  std::optional<Mailbox> box = view.mailbox(*name);
  if (!box || mbtype_is_placeholder(box->mbtype)) return make_reply(SyncError::mailbox_nonexistent);

  std::string data;
  KvWriter kv(open_line(data, "MAILBOX"));
  write_mailbox_fields(kv, *box, governing_quota_root(view, box->name));
  {
    // Every record in UID order, expunged ones included (spec §4.4).
    KvWriter records(kv.key("RECORD"), KvWriter::Shape::list);
    storage::Status st = view.for_each_record(box->uniqueid, 1, [&](const storage::MessageRecord& r) {
      write_record(records.item(), r);
      return true;
    });
    if (!st) return read_failure(ctx, st);
    records.close();
  }
  kv.close();
  close_line(data);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_quota(ReadView& view, const Dlist& value, const GetContext&) {
  std::optional<std::string> root = atom_value(value);
  if (!root) return make_reply(SyncError::bad_parameters);
  std::string data;
  if (std::optional<storage::QuotaRoot> quota = view.quota(*root)) write_quota_line(data, *quota);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_fetch(ReadView& view, const Dlist& value, const GetContext& ctx) {
  if (!value.is_kvlist()) return make_reply(SyncError::bad_parameters);
  std::optional<std::string> name = to_atom(value.get("MBOXNAME"));
  std::optional<std::string> partition = to_atom(value.get("PARTITION"));
  std::optional<std::string> uniqueid = to_atom(value.get("UNIQUEID"));
  std::optional<std::string> guid_text = to_atom(value.get("GUID"));
  std::optional<uint32_t> uid = to_num32(value.get("UID"));
  std::optional<storage::Guid> guid = guid_text ? storage::Guid::from_hex(*guid_text) : std::nullopt;
  if (!name || !partition || !uniqueid || !guid || !uid) return make_reply(SyncError::bad_parameters);

  // Cyrus finds the file by uniqueid and UID (its storage layout), so that
  // is what decides here too.
  std::optional<storage::MessageRecord> record = view.record(*uniqueid, *uid);
  std::optional<std::string_view> body = record ? view.body(record->guid) : std::nullopt;
  if (!body) return make_reply(SyncError::mailbox_nonexistent);

  std::string data;
  open_line(data, "MESSAGE");
  // The file goes out only if it really is the message asked for; the
  // client stages it under the partition it named, so that is echoed.
  if (storage::sha1_of(*body) == *guid) {
    write_file(data, *partition, guid->hex(), *body);
  } else {
    log::emit(log::Level::error, ctx.session_id, "IOERROR: GUID mismatch guid=<{}> mailbox=<{}> uid=<{}>",
              guid->hex(), *name, *uid);
    data += "NIL";
  }
  close_line(data);
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_annotation(ReadView& view, const Dlist& value, const GetContext&) {
  std::optional<std::string> name = atom_value(value);
  if (!name) return make_reply(SyncError::bad_parameters);
  std::string data;
  // Server annotations (name "") are not kept; an unknown mailbox has none.
  std::optional<Mailbox> box = name->empty() ? std::nullopt : view.mailbox(*name);
  if (box && !mbtype_is_placeholder(box->mbtype)) {
    for (const storage::Annotation& a : box->annotations) {
      KvWriter kv(open_line(data, "ANNOTATION"));
      kv.str("MBOXNAME", box->name);
      kv.str("ENTRY", a.entry);
      kv.str("USERID", a.userid);
      kv.str("VALUE", a.value);
      kv.close();
      close_line(data);
    }
  }
  return make_reply(SyncError::ok, std::move(data));
}

SyncReply get_fetch_sieve(ReadView& view, const Dlist& value, const GetContext&) {
  if (!value.is_kvlist()) return make_reply(SyncError::bad_parameters);
  std::optional<std::string> userid = to_atom(value.get("USERID"));
  std::optional<std::string> filename = to_atom(value.get("FILENAME"));
  if (!userid || !filename) return make_reply(SyncError::bad_parameters);

  SieveFileName file = parse_sieve_file_name(*filename);
  std::optional<storage::SieveScript> script =
      file.kind == SieveFileName::Kind::script ? view.sieve_script(*userid, file.script) : std::nullopt;
  if (!script) return make_reply(SyncError::mailbox_nonexistent);

  std::string data;
  KvWriter kv(open_line(data, "SIEVE"));
  kv.str("USERID", *userid);
  kv.str("FILENAME", *filename);
  kv.str("CONTENT", script->content);
  kv.close();
  close_line(data);
  return make_reply(SyncError::ok, std::move(data));
}

}  // namespace replicad::protocol::handlers
