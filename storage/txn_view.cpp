#include "storage/txn_view.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "server/log.h"
#include "storage/codec.h"
#include "storage/keys.h"

namespace replicad::storage {
namespace {

// Keys may hold NUL (composite keys) or arbitrary bytes; keep log lines readable.
std::string printable(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (c == 0) {
      out += "\\0";
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

Status corrupt_value(std::string_view what, std::string_view key) {
  std::string message = fmt::format("corrupt {} value at key '{}'", what, printable(key));
  log::error("IOERROR: {}", message);
  return Status::error(Errc::corrupt, std::move(message));
}

// A key the caller built from bad input (empty, NUL inside an identifier,
// longer than LMDB allows).  Nothing can be stored under it.
Status unusable_key(std::string_view what, std::string_view key) {
  return Status::error(Errc::io_error, fmt::format("unusable {} key '{}'", what, printable(key)));
}

Status file_error(std::string_view what, const std::string& path, int err) {
  std::string message = fmt::format("{} {}: {}", what, path, std::strerror(err));
  log::error("IOERROR: {}", message);
  return Status::error(err == ENOSPC ? Errc::map_full : Errc::io_error, std::move(message));
}

// Reads exactly `size` bytes of `fd`, from `offset` on, into `dest`.  0 on
// success, else errno (EIO when the file turns out shorter than it claimed).
int read_exactly(int fd, char* dest, uint64_t size, uint64_t offset) {
  uint64_t done = 0;
  while (done < size) {
    // Chunks of at most 1 GiB: read(2) transfers at most ~2 GiB at a time anyway.
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(size - done, uint64_t{1} << 30));
    ssize_t n = pread(fd, dest + done, chunk, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;
    done += static_cast<uint64_t>(n);
  }
  return 0;
}

class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

// ---- primitives --------------------------------------------------------------

Status TxnView::checked(int rc, std::string_view what) {
  Status st = mdb_status(rc, what);
  // NOTFOUND and KEYEXIST are answers; anything else may have set LMDB's
  // MDB_TXN_ERROR on this transaction.
  if (!st && st.code != Errc::not_found && st.code != Errc::exists && !txn_failure_) txn_failure_ = st;
  return st;
}

Status TxnView::get(MDB_dbi dbi, std::string_view key, std::string_view& value, std::string_view what) {
  // No such key can exist; asking LMDB would only produce MDB_BAD_VALSIZE.
  if (!keys::usable_simple(key)) return Status::error(Errc::not_found, std::string(what) + ": not found");
  MDB_val k = to_val(key);
  MDB_val v;
  int rc = mdb_get(txn_, dbi, &k, &v);
  if (rc != MDB_SUCCESS) return checked(rc, what);
  value = to_view(v);
  return Status::success();
}

template <typename T>
Status TxnView::get_decoded(MDB_dbi dbi, std::string_view key, T& out, std::string_view what) {
  std::string_view bytes;
  if (Status st = get(dbi, key, bytes, what); !st) return st;
  if (!codec::decode(bytes, out)) return corrupt_value(what, key);
  return Status::success();
}

template <typename T>
std::optional<T> TxnView::find_decoded(MDB_dbi dbi, std::string_view key, std::string_view what) {
  T out;
  if (!get_decoded(dbi, key, out, what)) return std::nullopt;
  return out;
}

template <typename Visitor>
Status TxnView::scan(MDB_dbi dbi, std::string_view prefix, std::string_view from, std::string_view what,
                     Visitor&& visit) {
  if (from.size() > keys::kMaxKeySize) return Status::success();  // no key can match
  Cursor cursor;
  if (Status st = checked(cursor.open(txn_, dbi), what); !st) return st;
  MDB_val key = to_val(from);
  MDB_val value;
  int rc = mdb_cursor_get(cursor.get(), &key, &value, from.empty() ? MDB_FIRST : MDB_SET_RANGE);
  for (; rc == MDB_SUCCESS; rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) {
    std::string_view k = to_view(key);
    if (!k.starts_with(prefix)) return Status::success();
    switch (visit(k, to_view(value))) {
      case Visit::next:
        continue;
      case Visit::stop:
        return Status::success();
      case Visit::corrupt:
        return corrupt_value(what, k);
    }
  }
  if (rc == MDB_NOTFOUND) return Status::success();
  return checked(rc, what);
}

Status TxnView::put(MDB_dbi dbi, std::string_view key, std::string_view value, std::string_view what) {
  if (!keys::usable_simple(key)) return unusable_key(what, key);
  MDB_val k = to_val(key);
  MDB_val v = to_val(value);
  return checked(mdb_put(txn_, dbi, &k, &v, 0), what);
}

Status TxnView::del(MDB_dbi dbi, std::string_view key, std::string_view what) {
  if (!keys::usable_simple(key)) return Status::error(Errc::not_found, std::string(what) + ": not found");
  MDB_val k = to_val(key);
  return checked(mdb_del(txn_, dbi, &k, nullptr), what);
}

// ---- reads -------------------------------------------------------------------

std::optional<Mailbox> TxnView::mailbox(std::string_view name) {
  return find_decoded<Mailbox>(t_.mailboxes, name, "mailbox");
}

std::optional<std::string> TxnView::name_of_uniqueid(std::string_view uniqueid) {
  std::string_view name;
  if (!get(t_.uniqueids, uniqueid, name, "uniqueid")) return std::nullopt;
  return std::string(name);
}

Status TxnView::for_each_mailbox(std::string_view prefix, const std::function<bool(const Mailbox&)>& fn) {
  Mailbox m;
  return scan(t_.mailboxes, prefix, prefix, "mailbox", [&](std::string_view, std::string_view value) {
    if (!codec::decode(value, m)) return Visit::corrupt;
    return fn(m) ? Visit::next : Visit::stop;
  });
}

Status TxnView::for_each_mailbox_name(std::string_view prefix,
                                      const std::function<bool(std::string_view)>& fn) {
  return scan(t_.mailboxes, prefix, prefix, "mailbox",
              [&](std::string_view name, std::string_view) { return fn(name) ? Visit::next : Visit::stop; });
}

std::optional<MessageRecord> TxnView::record(std::string_view uniqueid, uint32_t uid) {
  auto key = keys::record(uniqueid, uid);
  if (!key) return std::nullopt;
  return find_decoded<MessageRecord>(t_.records, *key, "record");
}

Status TxnView::for_each_record(std::string_view uniqueid, uint32_t first_uid,
                                const std::function<bool(const MessageRecord&)>& fn) {
  auto prefix = keys::owner_prefix(uniqueid);
  auto from = keys::record(uniqueid, first_uid);
  if (!prefix || !from) return Status::success();  // such a mailbox has no records
  MessageRecord rec;
  return scan(t_.records, *prefix, *from, "record", [&](std::string_view key, std::string_view value) {
    auto uid = keys::record_uid(key, prefix->size());
    if (!uid || !codec::decode(value, rec) || rec.uid != *uid) return Visit::corrupt;
    return fn(rec) ? Visit::next : Visit::stop;
  });
}

bool TxnView::has_body(const Guid& guid) { return body(guid).has_value(); }

std::optional<std::string_view> TxnView::body(const Guid& guid) {
  std::string_view bytes;
  if (!get(t_.bodies, guid.raw(), bytes, "body")) return std::nullopt;
  return bytes;
}

std::optional<QuotaRoot> TxnView::quota(std::string_view root) {
  return find_decoded<QuotaRoot>(t_.quotas, root, "quota");
}

Status TxnView::for_each_quota(const std::function<bool(const QuotaRoot&)>& fn) {
  QuotaRoot q;
  return scan(t_.quotas, {}, {}, "quota", [&](std::string_view, std::string_view value) {
    if (!codec::decode(value, q)) return Visit::corrupt;
    return fn(q) ? Visit::next : Visit::stop;
  });
}

std::vector<std::string> TxnView::subscriptions(std::string_view userid) {
  std::vector<std::string> names;
  auto prefix = keys::owner_prefix(userid);
  if (!prefix) return names;
  // A read error ends the list early; it has been logged as IOERROR.
  (void)scan(t_.subs, *prefix, *prefix, "subscription", [&](std::string_view key, std::string_view) {
    names.emplace_back(key.substr(prefix->size()));
    return Visit::next;
  });
  return names;
}

std::optional<SeenEntry> TxnView::seen(std::string_view userid, std::string_view uniqueid) {
  auto key = keys::owner_item(userid, uniqueid);
  if (!key) return std::nullopt;
  return find_decoded<SeenEntry>(t_.seen, *key, "seen");
}

Status TxnView::for_each_seen(std::string_view userid, const std::function<bool(const SeenEntry&)>& fn) {
  auto prefix = keys::owner_prefix(userid);
  if (!prefix) return Status::success();
  SeenEntry s;
  return scan(t_.seen, *prefix, *prefix, "seen", [&](std::string_view, std::string_view value) {
    if (!codec::decode(value, s)) return Visit::corrupt;
    return fn(s) ? Visit::next : Visit::stop;
  });
}

// ---- mailboxes ---------------------------------------------------------------

Status TxnView::put_mailbox(const Mailbox& m) {
  if (!keys::usable_simple(m.name)) return unusable_key("mailbox", m.name);
  // Its records' keys must be formable too, or the mailbox could never hold any.
  if (!keys::record(m.uniqueid, 0)) return unusable_key("uniqueid", m.uniqueid);

  Mailbox existing;
  Status st = get_decoded(t_.mailboxes, m.name, existing, "mailbox");
  if (st && existing.uniqueid != m.uniqueid)
    return Status::error(Errc::exists, fmt::format("mailbox {} has uniqueid {}, not {}", m.name,
                                                   existing.uniqueid, m.uniqueid));
  if (!st && st.code != Errc::not_found) return st;

  std::string_view holder;
  st = get(t_.uniqueids, m.uniqueid, holder, "uniqueid");
  if (st && holder != m.name) {
    // The index entry counts only if its mailbox really exists; a stale one
    // (there should be none) is simply replaced.
    std::string_view header;
    Status held = get(t_.mailboxes, holder, header, "mailbox");
    if (held)
      return Status::error(Errc::exists,
                           fmt::format("uniqueid {} belongs to mailbox {}", m.uniqueid, holder));
    if (held.code != Errc::not_found) return held;
  } else if (!st && st.code != Errc::not_found) {
    return st;
  }

  if (st = put(t_.mailboxes, m.name, codec::encode(m), "mailbox"); !st) return st;
  return put(t_.uniqueids, m.uniqueid, m.name, "uniqueid");
}

Status TxnView::delete_mailbox(std::string_view name) {
  Mailbox m;
  if (Status st = get_decoded(t_.mailboxes, name, m, "mailbox"); !st) return st;

  auto prefix = keys::owner_prefix(m.uniqueid);
  if (!prefix) return corrupt_value("mailbox", name);  // put_mailbox never stores such a uniqueid
  // Delete the first remaining record until none is left.  Re-seeking each
  // time keeps the loop obviously correct under deletion, at O(log n) a step.
  for (;;) {
    Cursor cursor;
    if (Status st = checked(cursor.open(txn_, t_.records), "record"); !st) return st;
    MDB_val key = to_val(*prefix);
    MDB_val value;
    int rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_SET_RANGE);
    if (rc == MDB_NOTFOUND || (rc == MDB_SUCCESS && !to_view(key).starts_with(*prefix))) break;
    if (rc != MDB_SUCCESS) return checked(rc, "record");
    MessageRecord rec;
    if (!codec::decode(to_view(value), rec)) return corrupt_value("record", to_view(key));
    if (Status st = checked(mdb_cursor_del(cursor.get(), 0), "delete record"); !st) return st;
    if (Status st = drop_ref(rec.guid); !st) return st;
  }

  std::string_view holder;
  Status st = get(t_.uniqueids, m.uniqueid, holder, "uniqueid");
  if (st && holder == name) st = del(t_.uniqueids, m.uniqueid, "uniqueid");
  if (!st && st.code != Errc::not_found) return st;
  return del(t_.mailboxes, name, "mailbox");
}

Status TxnView::rename_mailbox(std::string_view old_name, std::string_view new_name) {
  Mailbox m;
  if (Status st = get_decoded(t_.mailboxes, old_name, m, "mailbox"); !st) return st;
  if (old_name == new_name) return Status::success();
  if (!keys::usable_simple(new_name)) return unusable_key("mailbox", new_name);

  std::string_view taken;
  Status st = get(t_.mailboxes, new_name, taken, "mailbox");
  if (st) return Status::error(Errc::exists, fmt::format("mailbox {} exists", new_name));
  if (st.code != Errc::not_found) return st;

  m.name = std::string(new_name);
  if (st = put(t_.mailboxes, new_name, codec::encode(m), "mailbox"); !st) return st;
  if (st = del(t_.mailboxes, old_name, "mailbox"); !st) return st;
  return put(t_.uniqueids, m.uniqueid, new_name, "uniqueid");
}

// ---- records and body references ---------------------------------------------

Status TxnView::put_record(std::string_view uniqueid, const MessageRecord& rec) {
  std::string_view owner;
  if (Status st = get(t_.uniqueids, uniqueid, owner, "uniqueid"); !st) {
    if (st.code == Errc::not_found)
      return Status::error(Errc::not_found, fmt::format("no mailbox has uniqueid {}", uniqueid));
    return st;
  }
  // Only an expunged record may lack its message (the master may have
  // cleaned up the file before the record replicated).
  if (!rec.expunged() && !has_body(rec.guid))
    return Status::error(Errc::not_found, fmt::format("body {} of uid {} is missing", rec.guid.hex(), rec.uid));

  auto key = keys::record(uniqueid, rec.uid);
  if (!key) return unusable_key("record", uniqueid);
  MessageRecord old;
  Status st = get_decoded(t_.records, *key, old, "record");
  if (!st && st.code != Errc::not_found) return st;
  bool replacing = st.ok();

  if (!replacing || old.guid != rec.guid) {
    if (st = add_ref(rec.guid); !st) return st;
    if (replacing) {
      if (st = drop_ref(old.guid); !st) return st;
    }
  }
  return put(t_.records, *key, codec::encode(rec), "record");
}

Status TxnView::delete_record(std::string_view uniqueid, uint32_t uid) {
  auto key = keys::record(uniqueid, uid);
  if (!key) return Status::error(Errc::not_found, "record: not found");
  MessageRecord old;
  if (Status st = get_decoded(t_.records, *key, old, "record"); !st) return st;
  if (Status st = del(t_.records, *key, "record"); !st) return st;
  return drop_ref(old.guid);
}

Status TxnView::ref_count(const Guid& guid, uint64_t& count) {
  count = 0;
  std::string_view bytes;
  Status st = get(t_.bodyrefs, guid.raw(), bytes, "body refcount");
  if (st.code == Errc::not_found) return Status::success();  // absent means zero
  if (!st) return st;
  if (!codec::decode_u64(bytes, count)) return corrupt_value("body refcount", guid.hex());
  return Status::success();
}

Status TxnView::add_ref(const Guid& guid) {
  uint64_t count = 0;
  if (Status st = ref_count(guid, count); !st) return st;
  return put(t_.bodyrefs, guid.raw(), codec::encode_u64(count + 1), "body refcount");
}

Status TxnView::drop_ref(const Guid& guid) {
  uint64_t count = 0;
  if (Status st = ref_count(guid, count); !st) return st;
  if (count == 0) {
    // A record exists whose reference was never counted: the tables disagree.
    return corrupt_value("body refcount (underflow)", guid.hex());
  }
  if (count > 1) return put(t_.bodyrefs, guid.raw(), codec::encode_u64(count - 1), "body refcount");
  maybe_unreferenced_.insert(guid);
  return del(t_.bodyrefs, guid.raw(), "body refcount");
}

Status TxnView::put_body_from_file(const Guid& guid, const std::string& path, uint64_t size, uint64_t offset) {
  if (has_body(guid)) return Status::success();  // single instance

  FileDescriptor fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return file_error("open staged file", path, errno);
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return file_error("stat staged file", path, errno);
  // (A session's uploads share one staging file: the message is a region of it.)
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (offset > file_size || size > file_size - offset) {
    std::string message =
        fmt::format("staged file {} has {} bytes, expected {} at offset {}", path, st.st_size, size, offset);
    log::error("IOERROR: {}", message);
    return Status::error(Errc::io_error, std::move(message));
  }
  if (size > SIZE_MAX) return Status::error(Errc::map_full, "body larger than the address space");

  // Let LMDB allocate the value and read the file straight into it: no
  // intermediate copy of a possibly large message.
  MDB_val key = to_val(guid.raw());
  MDB_val value{static_cast<size_t>(size), nullptr};
  if (Status put_st = checked(mdb_put(txn_, t_.bodies, &key, &value, MDB_RESERVE), "store body"); !put_st)
    return put_st;
  if (int err = read_exactly(fd.get(), static_cast<char*>(value.mv_data), size, offset); err != 0) {
    // Never leave a half-filled body behind, even if the job ignores this.
    (void)del(t_.bodies, guid.raw(), "body");
    return file_error("read staged file", path, err);
  }
  ++bodies_written_;
  maybe_unreferenced_.insert(guid);  // until a record takes a reference
  return Status::success();
}

Status TxnView::collect_unreferenced_bodies() {
  for (const Guid& guid : maybe_unreferenced_) {
    uint64_t count = 0;
    if (Status st = ref_count(guid, count); !st) return st;
    if (count > 0) continue;
    Status st = del(t_.bodies, guid.raw(), "body");
    if (st) {
      ++bodies_deleted_;
    } else if (st.code != Errc::not_found) {  // expunged-only GUIDs have no body
      return st;
    }
  }
  maybe_unreferenced_.clear();
  return Status::success();
}

// ---- quotas, subscriptions, seen ---------------------------------------------

Status TxnView::put_quota(const QuotaRoot& q) {
  return put(t_.quotas, q.root, codec::encode(q), "quota");
}

Status TxnView::delete_quota(std::string_view root) { return del(t_.quotas, root, "quota"); }

Status TxnView::add_subscription(std::string_view userid, std::string_view mailbox) {
  auto key = keys::owner_item(userid, mailbox);
  if (!key || mailbox.empty()) return unusable_key("subscription", userid);
  return put(t_.subs, *key, {}, "subscription");
}

Status TxnView::remove_subscription(std::string_view userid, std::string_view mailbox) {
  auto key = keys::owner_item(userid, mailbox);
  if (!key || mailbox.empty()) return Status::success();  // cannot have been subscribed
  Status st = del(t_.subs, *key, "subscription");
  return st.code == Errc::not_found ? Status::success() : st;
}

Status TxnView::put_seen(std::string_view userid, const SeenEntry& s) {
  auto key = keys::owner_item(userid, s.uniqueid);
  if (!key || s.uniqueid.empty()) return unusable_key("seen", userid);
  return put(t_.seen, *key, codec::encode(s), "seen");
}

Status TxnView::delete_seen(std::string_view userid, std::string_view uniqueid) {
  auto key = keys::owner_item(userid, uniqueid);
  if (!key || uniqueid.empty()) return Status::error(Errc::not_found, "seen: not found");
  return del(t_.seen, *key, "seen");
}

// ---- Sieve scripts -------------------------------------------------------------

std::optional<SieveScript> TxnView::sieve_script(std::string_view userid, std::string_view name) {
  auto key = keys::owner_item(userid, name);
  if (!key || name.empty()) return std::nullopt;
  return find_decoded<SieveScript>(t_.sieve, *key, "sieve script");
}

Status TxnView::for_each_sieve_script(std::string_view userid,
                                      const std::function<bool(const SieveScript&)>& fn) {
  auto prefix = keys::owner_prefix(userid);
  if (!prefix) return Status::success();
  SieveScript script;
  return scan(t_.sieve, *prefix, *prefix, "sieve script", [&](std::string_view key, std::string_view value) {
    if (!codec::decode(value, script) || key.substr(prefix->size()) != script.name) return Visit::corrupt;
    return fn(script) ? Visit::next : Visit::stop;
  });
}

std::optional<std::string> TxnView::active_sieve_script(std::string_view userid) {
  std::string_view name;
  if (!keys::usable_owner(userid) || !get(t_.sieve_active, userid, name, "active sieve script"))
    return std::nullopt;
  return std::string(name);
}

Status TxnView::put_sieve_script(std::string_view userid, const SieveScript& script) {
  auto key = keys::owner_item(userid, script.name);
  if (!key || script.name.empty()) return unusable_key("sieve script", userid);
  SieveScript stored = script;
  // The GUID is what GET USER reports and the client compares (spec §4.1):
  // derived here, so it always is the SHA-1 of exactly these bytes.
  stored.guid = sha1_of(stored.content);
  return put(t_.sieve, *key, codec::encode(stored), "sieve script");
}

Status TxnView::delete_sieve_script(std::string_view userid, std::string_view name) {
  auto key = keys::owner_item(userid, name);
  if (!key || name.empty()) return Status::error(Errc::not_found, "sieve script: not found");
  if (Status st = del(t_.sieve, *key, "sieve script"); !st) return st;
  if (active_sieve_script(userid) == name) return deactivate_sieve_script(userid);
  return Status::success();
}

Status TxnView::activate_sieve_script(std::string_view userid, std::string_view name) {
  auto key = keys::owner_item(userid, name);
  if (!key || name.empty()) return Status::error(Errc::not_found, "sieve script: not found");
  std::string_view stored;
  if (Status st = get(t_.sieve, *key, stored, "sieve script"); !st) return st;
  return put(t_.sieve_active, userid, name, "active sieve script");
}

Status TxnView::deactivate_sieve_script(std::string_view userid) {
  if (!keys::usable_owner(userid)) return Status::error(Errc::not_found, "active sieve script: not found");
  return del(t_.sieve_active, userid, "active sieve script");
}

}  // namespace replicad::storage
