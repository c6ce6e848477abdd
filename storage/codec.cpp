#include "storage/codec.h"

#include <cstring>
#include <type_traits>
#include <vector>

namespace replicad::storage::codec {
namespace {

// Layout versions of the individual structs.  A decoder meeting any other
// version reports corruption rather than guessing.
constexpr uint8_t kMailboxLayout = 1;
constexpr uint8_t kRecordLayout = 1;
constexpr uint8_t kQuotaLayout = 1;
constexpr uint8_t kSeenLayout = 1;
constexpr uint8_t kSieveLayout = 1;

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  template <typename T>
  void integer(T value) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    U u = static_cast<U>(value);
    for (size_t i = 0; i < sizeof(T); ++i) {
      out_.push_back(static_cast<char>(u & 0xff));
      if constexpr (sizeof(T) > 1) u >>= 8;
    }
  }
  void boolean(bool value) { integer<uint8_t>(value ? 1 : 0); }
  void string(std::string_view s) {
    integer(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void guid(const Guid& g) { out_.append(g.raw()); }
  void annotations(const std::vector<Annotation>& list) {
    integer(static_cast<uint32_t>(list.size()));
    for (const Annotation& a : list) {
      string(a.entry);
      string(a.userid);
      integer(a.modseq);
      string(a.value);
    }
  }
  void strings(const std::vector<std::string>& list) {
    integer(static_cast<uint32_t>(list.size()));
    for (const std::string& s : list) string(s);
  }

 private:
  std::string& out_;
};

// Reads fields in order; the first failure sticks, so a decoder reads every
// field unconditionally and checks once at the end.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  bool at_end() const { return pos_ == in_.size(); }

  template <typename T>
  void integer(T& value) {
    static_assert(std::is_integral_v<T>);
    using U = std::make_unsigned_t<T>;
    value = 0;
    if (!take(sizeof(T))) return;
    U u = 0;
    for (size_t i = sizeof(T); i-- > 0;) {
      if constexpr (sizeof(T) > 1) u <<= 8;
      u |= static_cast<uint8_t>(in_[pos_ - sizeof(T) + i]);
    }
    value = static_cast<T>(u);
  }
  void boolean(bool& value) {
    uint8_t b = 0;
    integer(b);
    if (b > 1) ok_ = false;
    value = b == 1;
  }
  void string(std::string& s) {
    uint32_t len = 0;
    integer(len);
    s.clear();
    if (!take(len)) return;
    s.assign(in_.substr(pos_ - len, len));
  }
  void guid(Guid& g) {
    if (!take(g.bytes.size())) return;
    std::memcpy(g.bytes.data(), in_.data() + pos_ - g.bytes.size(), g.bytes.size());
  }
  void annotations(std::vector<Annotation>& list) {
    // Smallest encoded annotation: three empty strings and a modseq.
    uint32_t count = 0;
    integer(count);
    list.clear();
    if (!plausible_count(count, 3 * sizeof(uint32_t) + sizeof(uint64_t))) return;
    list.resize(count);
    for (Annotation& a : list) {
      string(a.entry);
      string(a.userid);
      integer(a.modseq);
      string(a.value);
    }
  }
  void strings(std::vector<std::string>& list) {
    uint32_t count = 0;
    integer(count);
    list.clear();
    if (!plausible_count(count, sizeof(uint32_t))) return;
    list.resize(count);
    for (std::string& s : list) string(s);
  }

 private:
  bool take(size_t n) {
    if (!ok_ || n > in_.size() - pos_) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }
  // A count is believed only if the remaining bytes could hold that many
  // elements, so a damaged count never makes us allocate gigabytes.
  bool plausible_count(uint32_t count, size_t min_element_size) {
    if (ok_ && count <= (in_.size() - pos_) / min_element_size) return true;
    ok_ = false;
    return false;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Status finish(const Reader& r, const char* what) {
  if (r.ok() && r.at_end()) return Status::success();
  return Status::error(Errc::corrupt, std::string("undecodable ") + what);
}

bool layout_is(Reader& r, uint8_t expected) {
  uint8_t layout = 0;
  r.integer(layout);
  return r.ok() && layout == expected;
}

}  // namespace

std::string encode(const Mailbox& m) {
  std::string out;
  out.reserve(160 + m.uniqueid.size() + m.name.size() + m.acl.size());
  Writer w(out);
  w.integer(kMailboxLayout);
  w.string(m.uniqueid);
  w.string(m.name);
  w.string(m.mbtype);
  w.integer(m.last_uid);
  w.integer(m.highestmodseq);
  w.integer(m.recentuid);
  w.integer(m.recenttime);
  w.integer(m.last_appenddate);
  w.integer(m.pop3_last_login);
  w.integer(m.pop3_show_after);
  w.integer(m.xconvmodseq);
  w.integer(m.raclmodseq);
  w.integer(m.uidvalidity);
  w.string(m.partition);
  w.boolean(m.partition_nil);
  w.string(m.acl);
  w.string(m.options);
  w.integer(m.createdmodseq);
  w.integer(m.foldermodseq);
  w.annotations(m.annotations);
  w.integer(m.sync_crc);
  w.integer(m.sync_crc_annot);
  return out;
}

Status decode(std::string_view bytes, Mailbox& m) {
  Reader r(bytes);
  if (!layout_is(r, kMailboxLayout)) return Status::error(Errc::corrupt, "unknown mailbox layout");
  r.string(m.uniqueid);
  r.string(m.name);
  r.string(m.mbtype);
  r.integer(m.last_uid);
  r.integer(m.highestmodseq);
  r.integer(m.recentuid);
  r.integer(m.recenttime);
  r.integer(m.last_appenddate);
  r.integer(m.pop3_last_login);
  r.integer(m.pop3_show_after);
  r.integer(m.xconvmodseq);
  r.integer(m.raclmodseq);
  r.integer(m.uidvalidity);
  r.string(m.partition);
  r.boolean(m.partition_nil);
  r.string(m.acl);
  r.string(m.options);
  r.integer(m.createdmodseq);
  r.integer(m.foldermodseq);
  r.annotations(m.annotations);
  r.integer(m.sync_crc);
  r.integer(m.sync_crc_annot);
  return finish(r, "mailbox");
}

std::string encode(const MessageRecord& rec) {
  std::string out;
  out.reserve(128);
  Writer w(out);
  w.integer(kRecordLayout);
  w.integer(rec.uid);
  w.integer(rec.modseq);
  w.integer(rec.last_updated);
  w.integer(rec.system_flags);
  w.strings(rec.keywords);
  w.integer(rec.internaldate);
  w.integer(rec.size);
  w.guid(rec.guid);
  w.integer(rec.cid);
  w.integer(rec.savedate);
  w.integer(rec.createdmodseq);
  w.annotations(rec.annotations);
  return out;
}

Status decode(std::string_view bytes, MessageRecord& rec) {
  Reader r(bytes);
  if (!layout_is(r, kRecordLayout)) return Status::error(Errc::corrupt, "unknown record layout");
  r.integer(rec.uid);
  r.integer(rec.modseq);
  r.integer(rec.last_updated);
  r.integer(rec.system_flags);
  r.strings(rec.keywords);
  r.integer(rec.internaldate);
  r.integer(rec.size);
  r.guid(rec.guid);
  r.integer(rec.cid);
  r.integer(rec.savedate);
  r.integer(rec.createdmodseq);
  r.annotations(rec.annotations);
  return finish(r, "record");
}

std::string encode(const QuotaRoot& q) {
  std::string out;
  Writer w(out);
  w.integer(kQuotaLayout);
  w.string(q.root);
  w.integer(q.storage);
  w.integer(q.message);
  w.integer(q.annotation_storage);
  w.integer(q.num_folders);
  w.integer(q.modseq);
  return out;
}

Status decode(std::string_view bytes, QuotaRoot& q) {
  Reader r(bytes);
  if (!layout_is(r, kQuotaLayout)) return Status::error(Errc::corrupt, "unknown quota layout");
  r.string(q.root);
  r.integer(q.storage);
  r.integer(q.message);
  r.integer(q.annotation_storage);
  r.integer(q.num_folders);
  r.integer(q.modseq);
  return finish(r, "quota");
}

std::string encode(const SeenEntry& s) {
  std::string out;
  Writer w(out);
  w.integer(kSeenLayout);
  w.string(s.uniqueid);
  w.integer(s.lastread);
  w.integer(s.lastuid);
  w.integer(s.lastchange);
  w.string(s.seenuids);
  return out;
}

Status decode(std::string_view bytes, SeenEntry& s) {
  Reader r(bytes);
  if (!layout_is(r, kSeenLayout)) return Status::error(Errc::corrupt, "unknown seen layout");
  r.string(s.uniqueid);
  r.integer(s.lastread);
  r.integer(s.lastuid);
  r.integer(s.lastchange);
  r.string(s.seenuids);
  return finish(r, "seen entry");
}

std::string encode(const SieveScript& s) {
  std::string out;
  out.reserve(1 + 4 + s.name.size() + 8 + 20 + 4 + s.content.size());
  Writer w(out);
  w.integer(kSieveLayout);
  w.string(s.name);
  w.integer(s.last_update);
  w.guid(s.guid);
  w.string(s.content);
  return out;
}

Status decode(std::string_view bytes, SieveScript& s) {
  Reader r(bytes);
  if (!layout_is(r, kSieveLayout)) return Status::error(Errc::corrupt, "unknown sieve script layout");
  r.string(s.name);
  r.integer(s.last_update);
  r.guid(s.guid);
  r.string(s.content);
  return finish(r, "sieve script");
}

std::string encode_u64(uint64_t value) {
  std::string out;
  Writer(out).integer(value);
  return out;
}

Status decode_u64(std::string_view bytes, uint64_t& out) {
  Reader r(bytes);
  r.integer(out);
  return finish(r, "u64");
}

std::string encode_u32(uint32_t value) {
  std::string out;
  Writer(out).integer(value);
  return out;
}

Status decode_u32(std::string_view bytes, uint32_t& out) {
  Reader r(bytes);
  r.integer(out);
  return finish(r, "u32");
}

}  // namespace replicad::storage::codec
