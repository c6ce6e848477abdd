// Counting what a store holds, per mailbox and per user, from one snapshot:
// the shared ground of `info`, `users` and `mailboxes`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.h"

namespace replicad::ctl {

struct MailboxCount {
  storage::Mailbox mailbox;   // the header as stored
  std::string owner;          // userid, empty for a shared mailbox
  uint64_t messages = 0;      // live records
  uint64_t expunged = 0;      // records kept for replication only
  uint64_t bytes = 0;         // sizes of the live records
};

struct UserCount {
  std::string user;
  uint64_t mailboxes = 0;
  uint64_t messages = 0;
  uint64_t expunged = 0;
  uint64_t bytes = 0;
};

// Mailboxes in name order with their record counts; with `user` set, only
// that user's (INBOX, folders, deleted folders).
storage::Status count_mailboxes(storage::ReadView& view, std::string_view user, std::vector<MailboxCount>& out);

// The same grouped by owner, in userid order; shared mailboxes are left out.
std::vector<UserCount> count_users(const std::vector<MailboxCount>& mailboxes);

}  // namespace replicad::ctl
