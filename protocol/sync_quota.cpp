#include "protocol/sync_quota.h"

#include "protocol/reply_writer.h"

namespace replicad::protocol {
namespace {

struct Resource {
  std::string_view name;
  int64_t storage::QuotaRoot::*limit;
};
// Cyrus quota_names order, which is also the order they are written in.
constexpr Resource kResources[] = {
    {"STORAGE", &storage::QuotaRoot::storage},
    {"MESSAGE", &storage::QuotaRoot::message},
    {"X-ANNOTATION-STORAGE", &storage::QuotaRoot::annotation_storage},
    {"X-NUM-FOLDERS", &storage::QuotaRoot::num_folders},
};

}  // namespace

std::optional<storage::QuotaRoot> decode_quota(const Dlist& kvlist) {
  if (!kvlist.is_kvlist()) return std::nullopt;
  std::optional<std::string> root = to_atom(kvlist.get("ROOT"));
  if (!root || kvlist.get("ROOT")->is_nil()) return std::nullopt;

  storage::QuotaRoot quota;
  quota.root = std::move(*root);
  // Backwards compatibility: LIMIT always carries the storage limit.
  if (std::optional<uint32_t> limit = to_num32(kvlist.get("LIMIT")))
    quota.storage = *limit == kUnlimitedWire ? -1 : int64_t{*limit};
  // A named resource is only sent when it has a limit, so no "unlimited"
  // value is decoded here (Cyrus does not either).
  for (const Resource& r : kResources)
    if (std::optional<uint32_t> limit = to_num32(kvlist.get(r.name))) quota.*r.limit = *limit;
  quota.modseq = to_num64(kvlist.get("MODSEQ")).value_or(0);
  return quota;
}

void write_quota(std::string& out, const storage::QuotaRoot& quota) {
  KvWriter kv(out);
  kv.str("ROOT", quota.root);
  // Cyrus writes the limits as 32-bit numbers; -1 becomes 4294967295.
  kv.num("LIMIT", static_cast<uint32_t>(quota.storage));
  for (const Resource& r : kResources)
    if (quota.*r.limit >= 0) kv.num(r.name, static_cast<uint32_t>(quota.*r.limit));
  kv.num("MODSEQ", quota.modseq);
  kv.close();
}

bool valid_quota_root_name(std::string_view root) {
  return !root.empty() && root[0] != '.' && root.find_first_of("/*%?") == std::string_view::npos;
}

std::optional<std::string> governing_quota_root(storage::ReadView& view, std::string_view mailbox) {
  size_t bang = mailbox.find('!');
  size_t local_start = bang == std::string_view::npos ? 0 : bang + 1;
  std::string_view candidate = mailbox;
  // Walk up the hierarchy inside the domain: a.b.c, a.b, a.
  while (candidate.size() > local_start) {
    if (view.quota(candidate)) return std::string(candidate);
    size_t dot = candidate.rfind('.');
    if (dot == std::string_view::npos || dot < local_start) break;
    candidate = candidate.substr(0, dot);
  }
  if (bang != std::string_view::npos) {
    std::string_view domain_root = mailbox.substr(0, bang + 1);
    if (view.quota(domain_root)) return std::string(domain_root);
  }
  return std::nullopt;
}

}  // namespace replicad::protocol
