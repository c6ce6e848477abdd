#include "protocol/mailbox_dlist.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <string_view>

#include "protocol/dlist_writer.h"
#include "protocol/mailbox_type.h"
#include "protocol/sync_names.h"

namespace replicad::protocol {
namespace {

constexpr std::string_view kThrid = "/vendor/cmu/cyrus-imapd/thrid";
constexpr std::string_view kSavedate = "/vendor/cmu/cyrus-imapd/savedate";
constexpr std::string_view kCreatedModseq = "/vendor/cmu/cyrus-imapd/createdmodseq";

// A mailbox holds at most 128 keywords in Cyrus; a record can never carry more.
constexpr size_t kMaxKeywords = 128;

// An atom that must be present; NIL reads as the empty string (Cyrus hands
// its callers a NULL there, which they treat like "").
std::optional<std::string> atom_field(const Dlist& kv, std::string_view key) {
  return to_atom(kv.get(key));
}

bool ascii_iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

struct SystemFlagName {
  std::string_view name;  // as written on the wire
  uint32_t bit;
};
// The order sync_print_flags writes them in; \Expunged sits between \Draft and \Seen.
constexpr SystemFlagName kSystemFlags[] = {
    {"\\Deleted", storage::kFlagDeleted},   {"\\Answered", storage::kFlagAnswered},
    {"\\Flagged", storage::kFlagFlagged},   {"\\Draft", storage::kFlagDraft},
    {"\\Expunged", storage::kFlagExpunged}, {"\\Seen", storage::kFlagSeen},
};

// Cyrus sync_getflags: system flags match case-insensitively, unknown ones
// (e.g. \Recent) are ignored; keywords keep their spelling but one keyword
// set twice in different case is still one flag.
bool decode_flags(const Dlist& list, storage::MessageRecord& record) {
  for (const Dlist& item : list.items) {
    if (item.is_nil()) continue;
    if (!item.is_string()) return false;
    const std::string& flag = item.str;
    if (flag.empty()) return false;
    if (flag[0] == '\\') {
      for (const SystemFlagName& f : kSystemFlags)
        if (ascii_iequal(flag, f.name)) record.system_flags |= f.bit;
      continue;
    }
    bool seen = std::any_of(record.keywords.begin(), record.keywords.end(),
                            [&](const std::string& k) { return ascii_iequal(k, flag); });
    if (seen) continue;
    if (record.keywords.size() == kMaxKeywords) return false;
    record.keywords.push_back(flag);
  }
  return true;
}

void write_annotation(KvWriter& list, std::string_view entry, std::string_view userid,
                      uint64_t modseq, std::string_view value) {
  KvWriter kv(list.item());
  kv.str("ENTRY", entry);
  kv.str("USERID", userid);
  kv.num("MODSEQ", modseq);
  kv.str("VALUE", value);
  kv.close();
}

}  // namespace

std::string canonical_options(std::string_view letters) {
  std::string out;
  for (char option : {'P', 'S', 'D', 'A'})
    if (letters.find(option) != std::string_view::npos) out.push_back(option);
  return out;
}

bool decode_annotations(const Dlist& list, std::vector<storage::Annotation>& out,
                        storage::MessageRecord* record) {
  out.clear();
  for (const Dlist& item : list.items) {
    if (!item.is_kvlist()) return false;
    std::optional<std::string> entry = atom_field(item, "ENTRY");
    std::optional<std::string> userid = atom_field(item, "USERID");
    std::optional<uint64_t> modseq = to_num64(item.get("MODSEQ"));
    std::optional<std::string> value = to_buf(item.get("VALUE"));
    if (!entry || !userid || !modseq || !value) return false;

    if (record != nullptr) {
      // The virtual annotations are record fields (spec §3.3.4).  A value
      // that does not convert leaves the field zero, as Cyrus's parse does.
      Dlist value_item = Dlist::string_value(*value);
      if (*entry == kThrid) {
        record->cid = to_hex64(&value_item).value_or(0);
        continue;
      }
      if (*entry == kSavedate) {
        record->savedate = to_num64(&value_item).value_or(0);
        continue;
      }
      if (*entry == kCreatedModseq) {
        record->createdmodseq = to_num64(&value_item).value_or(0);
        continue;
      }
    }
    // An empty value is how Cyrus deletes an annotation: it does not exist.
    if (value->empty()) continue;
    out.push_back({std::move(*entry), std::move(*userid), *modseq, std::move(*value)});
  }
  // Cyrus keeps annotations ordered by entry, then userid (its database key
  // order), and writes them out in that order.  Of two values for the same
  // key the later one in that order is the one it ends up storing.
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    if (a.entry != b.entry) return a.entry < b.entry;
    if (a.userid != b.userid) return a.userid < b.userid;
    return a.value < b.value;
  });
  auto last_of_key = [](const auto& a, const auto& b) { return a.entry == b.entry && a.userid == b.userid; };
  std::vector<storage::Annotation> unique;
  unique.reserve(out.size());
  for (size_t i = 0; i < out.size(); ++i)
    if (i + 1 == out.size() || !last_of_key(out[i], out[i + 1])) unique.push_back(std::move(out[i]));
  out = std::move(unique);
  return true;
}

std::optional<storage::MessageRecord> decode_record(const Dlist& kv) {
  if (!kv.is_kvlist()) return std::nullopt;
  std::optional<uint32_t> uid = to_num32(kv.get("UID"));
  std::optional<uint64_t> modseq = to_num64(kv.get("MODSEQ"));
  std::optional<uint64_t> last_updated = to_num64(kv.get("LAST_UPDATED"));
  const Dlist* flags = kv.get("FLAGS");
  std::optional<uint64_t> internaldate = to_num64(kv.get("INTERNALDATE"));
  std::optional<uint32_t> size = to_num32(kv.get("SIZE"));
  std::optional<storage::Guid> guid = to_guid(kv.get("GUID"));
  if (!uid || !modseq || !last_updated || flags == nullptr || !flags->is_list() || !internaldate ||
      !size || !guid)
    return std::nullopt;

  storage::MessageRecord record;
  record.uid = *uid;
  record.modseq = *modseq;
  record.last_updated = *last_updated;
  record.internaldate = *internaldate;
  record.size = *size;
  record.guid = *guid;
  if (!decode_flags(*flags, record)) return std::nullopt;
  // The ANNOTATIONS list is optional; something else under that key is ignored.
  if (const Dlist* annots = kv.get("ANNOTATIONS"); annots != nullptr && annots->is_list())
    if (!decode_annotations(*annots, record.annotations, &record)) return std::nullopt;
  return record;
}

SyncError decode_mailbox_request(const Dlist& kv, MailboxRequest& request) {
  if (!kv.is_kvlist()) return SyncError::bad_parameters;
  storage::Mailbox& h = request.header;

  std::optional<std::string> uniqueid = atom_field(kv, "UNIQUEID");
  std::optional<std::string> name = atom_field(kv, "MBOXNAME");
  std::optional<uint64_t> highestmodseq = to_num64(kv.get("HIGHESTMODSEQ"));
  if (!uniqueid || uniqueid->empty() || !name || name->empty() || !highestmodseq)
    return SyncError::bad_parameters;
  // A name Cyrus could not create (IMAP_MAILBOX_BADNAME, no string of its own).
  if (!acceptable_mailbox_name(*name) || uniqueid->size() > kMaxUniqueid) return SyncError::unknown;
  h.uniqueid = std::move(*uniqueid);
  h.name = std::move(*name);
  h.createdmodseq = to_num64(kv.get("CREATEDMODSEQ")).value_or(0);

  if (const Dlist* type = kv.get("MBOXTYPE"); type != nullptr && !type->is_nil()) {
    std::optional<std::string> letters = to_atom(type);
    std::optional<std::string> canonical = letters ? canonical_mbtype(*letters) : std::nullopt;
    if (!canonical) return SyncError::bad_parameters;
    h.mbtype = std::move(*canonical);
  }

  if (mbtype_is_placeholder(h.mbtype)) {
    // The short form: the master's folder modseq travels as HIGHESTMODSEQ.
    request.placeholder = true;
    h.foldermodseq = *highestmodseq;
    h.partition_nil = true;
    return SyncError::ok;
  }
  h.highestmodseq = *highestmodseq;

  const Dlist* partition = kv.get("PARTITION");
  std::optional<std::string> partition_name = to_atom(partition);
  std::optional<uint32_t> last_uid = to_num32(kv.get("LAST_UID"));
  std::optional<uint32_t> recentuid = to_num32(kv.get("RECENTUID"));
  std::optional<uint64_t> recenttime = to_num64(kv.get("RECENTTIME"));
  std::optional<uint64_t> last_appenddate = to_num64(kv.get("LAST_APPENDDATE"));
  std::optional<uint64_t> pop3_last_login = to_num64(kv.get("POP3_LAST_LOGIN"));
  std::optional<uint32_t> uidvalidity = to_num32(kv.get("UIDVALIDITY"));
  std::optional<std::string> acl = atom_field(kv, "ACL");
  std::optional<std::string> options = atom_field(kv, "OPTIONS");
  const Dlist* records = kv.get("RECORD");
  if (!partition_name || !last_uid || !recentuid || !recenttime || !last_appenddate ||
      !pop3_last_login || !uidvalidity || !acl || !options || records == nullptr ||
      !records->is_list())
    return SyncError::bad_parameters;

  h.partition = std::move(*partition_name);
  h.partition_nil = partition->is_nil();
  h.last_uid = *last_uid;
  h.recentuid = *recentuid;
  h.recenttime = *recenttime;
  h.last_appenddate = *last_appenddate;
  h.pop3_last_login = *pop3_last_login;
  h.uidvalidity = *uidvalidity;
  h.acl = std::move(*acl);
  h.options = canonical_options(*options);
  h.pop3_show_after = to_num64(kv.get("POP3_SHOW_AFTER")).value_or(0);
  h.xconvmodseq = to_num64(kv.get("XCONVMODSEQ")).value_or(0);
  h.raclmodseq = to_num64(kv.get("RACLMODSEQ")).value_or(0);
  request.foldermodseq_sent = to_num64(kv.get("FOLDERMODSEQ")).value_or(0);
  h.foldermodseq = request.foldermodseq_sent;

  request.crcs = {to_num32(kv.get("SYNC_CRC")).value_or(0),
                  to_num32(kv.get("SYNC_CRC_ANNOT")).value_or(0)};
  request.since_modseq = to_num64(kv.get("SINCE_MODSEQ")).value_or(0);
  request.since_crcs = {to_num32(kv.get("SINCE_CRC")).value_or(0),
                        to_num32(kv.get("SINCE_CRC_ANNOT")).value_or(0)};

  // Mailbox annotations are optional; an absent list means "none".  A
  // malformed entry is refused rather than half-applied.
  if (const Dlist* annots = kv.get("ANNOTATIONS"); annots != nullptr && annots->is_list())
    if (!decode_annotations(*annots, h.annotations, nullptr)) return SyncError::bad_parameters;

  request.records.reserve(records->items.size());
  for (const Dlist& item : records->items) {
    std::optional<storage::MessageRecord> record = decode_record(item);
    // Records must come in ascending UID order (Cyrus merges them against
    // its own records on that assumption).
    if (!record || (!request.records.empty() && record->uid <= request.records.back().uid)) {
      request.records_malformed = true;
      request.records.clear();
      break;
    }
    request.records.push_back(std::move(*record));
  }
  return SyncError::ok;
}

void write_mailbox_fields(KvWriter& kv, const storage::Mailbox& m,
                          const std::optional<std::string>& quotaroot) {
  kv.str("UNIQUEID", m.uniqueid);
  kv.str("MBOXNAME", m.name);
  if (!m.mbtype.empty()) kv.str("MBOXTYPE", m.mbtype);

  if (m.is_intermediate()) {
    // Cyrus's placeholder answer (sync_mailbox_byentry): zeros where an
    // old client needs a value, no SYNC_CRC_ANNOT, no QUOTAROOT, and the
    // modseqs always written.
    kv.num("SYNC_CRC", 0);
    kv.num("LAST_UID", 0);
    kv.num("HIGHESTMODSEQ", 0);
    kv.num("RECENTUID", 0);
    kv.num("RECENTTIME", 0);
    kv.num("LAST_APPENDDATE", 0);
    kv.num("POP3_LAST_LOGIN", 0);
    kv.num("POP3_SHOW_AFTER", 0);
    kv.num("UIDVALIDITY", m.uidvalidity);
    if (m.partition_nil || m.partition.empty()) kv.nil("PARTITION");
    else kv.str("PARTITION", m.partition);
    kv.str("ACL", m.acl);
    kv.str("OPTIONS", "");
    kv.num("CREATEDMODSEQ", m.createdmodseq);
    kv.num("FOLDERMODSEQ", m.foldermodseq);
    return;
  }

  kv.num("SYNC_CRC", m.sync_crc);
  kv.num("SYNC_CRC_ANNOT", m.sync_crc_annot);
  kv.num("LAST_UID", m.last_uid);
  kv.num("HIGHESTMODSEQ", m.highestmodseq);
  kv.num("RECENTUID", m.recentuid);
  kv.num("RECENTTIME", m.recenttime);
  kv.num("LAST_APPENDDATE", m.last_appenddate);
  kv.num("POP3_LAST_LOGIN", m.pop3_last_login);
  kv.num("POP3_SHOW_AFTER", m.pop3_show_after);
  if (m.xconvmodseq != 0) kv.num("XCONVMODSEQ", m.xconvmodseq);
  if (m.raclmodseq != 0) kv.num("RACLMODSEQ", m.raclmodseq);
  kv.num("UIDVALIDITY", m.uidvalidity);
  if (m.partition_nil) kv.nil("PARTITION");
  else kv.str("PARTITION", m.partition);
  kv.str("ACL", m.acl);
  kv.str("OPTIONS", m.options);
  if (quotaroot) kv.str("QUOTAROOT", *quotaroot);
  if (m.createdmodseq != 0) kv.num("CREATEDMODSEQ", m.createdmodseq);
  if (m.foldermodseq != 0) kv.num("FOLDERMODSEQ", m.foldermodseq);
  if (!m.annotations.empty()) {
    KvWriter list(kv.key("ANNOTATIONS"), KvWriter::Shape::list);
    for (const storage::Annotation& a : m.annotations)
      write_annotation(list, a.entry, a.userid, a.modseq, a.value);
    list.close();
  }
}

void write_record(std::string& out, const storage::MessageRecord& r) {
  KvWriter kv(out);
  kv.num("UID", r.uid);
  kv.num("MODSEQ", r.modseq);
  kv.num("LAST_UPDATED", r.last_updated);
  {
    KvWriter flags(kv.key("FLAGS"), KvWriter::Shape::list);
    for (const SystemFlagName& f : kSystemFlags)
      if (r.system_flags & f.bit) flags.item_flag(f.name);
    // Cyrus writes keywords raw too, in the mailbox's keyword order, which is
    // the order the master sent them in.
    for (const std::string& keyword : r.keywords) flags.item_flag(keyword);
    flags.close();
  }
  kv.num("INTERNALDATE", r.internaldate);
  kv.num("SIZE", r.size);
  kv.key("GUID") += r.guid.hex();

  bool any = !r.annotations.empty() || r.cid != 0 || r.savedate != 0 || r.createdmodseq != 0;
  if (!any) {
    kv.close();
    return;
  }
  KvWriter list(kv.key("ANNOTATIONS"), KvWriter::Shape::list);
  for (const storage::Annotation& a : r.annotations)
    write_annotation(list, a.entry, a.userid, a.modseq, a.value);
  // The virtual annotations follow the real ones, always shared and MODSEQ 0;
  // thrid as 16 hex digits, savedate through Cyrus's 32-bit number field.
  if (r.cid != 0) write_annotation(list, kThrid, "", 0, fmt::format("{:016x}", r.cid));
  if (r.savedate != 0)
    write_annotation(list, kSavedate, "", 0, fmt::format("{}", static_cast<uint32_t>(r.savedate)));
  if (r.createdmodseq != 0)
    write_annotation(list, kCreatedModseq, "", 0, fmt::format("{}", r.createdmodseq));
  list.close();
  kv.close();
}

}  // namespace replicad::protocol
