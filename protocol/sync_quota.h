// Quota roots on the wire (spec §3.6, §4.5; Cyrus sync_support.c
// `sync_encode_quota_limits`, `sync_decode_quota_limits`, quota_db.c
// `quota_findroot`).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "protocol/dlist.h"
#include "storage/model.h"
#include "storage/store.h"

namespace replicad::protocol {

// The limit value that means "unlimited" in the always-present LIMIT field
// (Cyrus sends its -1 through a 32-bit unsigned field).
inline constexpr uint32_t kUnlimitedWire = 4294967295u;

// Reads ROOT, the limits and MODSEQ of an APPLY QUOTA kvlist.  Every resource
// starts unlimited; LIMIT sets STORAGE (4294967295 = unlimited); STORAGE,
// MESSAGE, X-ANNOTATION-STORAGE, X-NUM-FOLDERS then override when present.
// nullopt when ROOT is missing.
std::optional<storage::QuotaRoot> decode_quota(const Dlist& kvlist);

// Appends `%(ROOT r LIMIT n [STORAGE n] [MESSAGE n] [X-ANNOTATION-STORAGE n]
// [X-NUM-FOLDERS n] MODSEQ m)`.
void write_quota(std::string& out, const storage::QuotaRoot& quota);

// Cyrus refuses roots that are empty, start with '.' or contain / * % ?.
bool valid_quota_root_name(std::string_view root);

// The quota root governing a mailbox: the mailbox name itself or its nearest
// ancestor that is a root, else the domain root `<domain>!` (quota_findroot).
std::optional<std::string> governing_quota_root(storage::ReadView& view, std::string_view mailbox);

}  // namespace replicad::protocol
