#include "server/ctl/census.h"

#include <algorithm>
#include <map>
#include <optional>

#include "protocol/sync_names.h"

namespace replicad::ctl {
namespace {

storage::Status count_records(storage::ReadView& view, MailboxCount& count) {
  return view.for_each_record(count.mailbox.uniqueid, 1, [&](const storage::MessageRecord& record) {
    if (record.expunged()) {
      ++count.expunged;
    } else {
      ++count.messages;
      count.bytes += record.size;
    }
    return true;
  });
}

}  // namespace

storage::Status count_mailboxes(storage::ReadView& view, std::string_view user, std::vector<MailboxCount>& out) {
  out.clear();
  std::vector<std::string> prefixes{""};
  std::optional<protocol::UserMailboxNames> names;
  if (!user.empty()) {
    names = protocol::user_mailbox_names(user);
    if (!names) return storage::Status::success();  // a userid that names no mailbox owns none
    prefixes = {names->inbox, names->deleted};
  }
  for (const std::string& prefix : prefixes) {
    storage::Status st = view.for_each_mailbox(prefix, [&](const storage::Mailbox& mailbox) {
      // "user.alice" is also a prefix of "user.alicea": keep what the user owns.
      if (names && !names->owns(mailbox.name)) return true;
      MailboxCount count;
      count.mailbox = mailbox;
      count.owner = protocol::mailbox_owner(mailbox.name).value_or("");
      out.push_back(std::move(count));
      return true;
    });
    if (!st) return st;
  }
  for (MailboxCount& count : out)
    if (storage::Status st = count_records(view, count); !st) return st;
  std::sort(out.begin(), out.end(),
            [](const MailboxCount& a, const MailboxCount& b) { return a.mailbox.name < b.mailbox.name; });
  return storage::Status::success();
}

std::vector<UserCount> count_users(const std::vector<MailboxCount>& mailboxes) {
  std::map<std::string, UserCount> users;
  for (const MailboxCount& m : mailboxes) {
    if (m.owner.empty()) continue;
    UserCount& u = users[m.owner];
    u.user = m.owner;
    ++u.mailboxes;
    u.messages += m.messages;
    u.expunged += m.expunged;
    u.bytes += m.bytes;
  }
  std::vector<UserCount> out;
  out.reserve(users.size());
  for (auto& [name, count] : users) out.push_back(std::move(count));
  return out;
}

}  // namespace replicad::ctl
