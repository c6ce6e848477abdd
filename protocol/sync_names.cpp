#include "protocol/sync_names.h"

namespace replicad::protocol {
namespace {

constexpr std::string_view kUserPrefix = "user.";

// Splits "<domain>!<rest>" into the domain prefix (with '!') and the rest.
std::pair<std::string_view, std::string_view> split_domain(std::string_view mailbox) {
  size_t bang = mailbox.find('!');
  if (bang == std::string_view::npos) return {{}, mailbox};
  return {mailbox.substr(0, bang + 1), mailbox.substr(bang + 1)};
}

}  // namespace

bool UserMailboxNames::owns(std::string_view mailbox) const {
  return mailbox == inbox || mailbox.starts_with(children) || mailbox.starts_with(deleted);
}

std::optional<UserMailboxNames> user_mailbox_names(std::string_view userid) {
  std::string_view local = userid;
  std::string domain;
  size_t at = userid.rfind('@');
  if (at != std::string_view::npos) {
    local = userid.substr(0, at);
    std::string_view dom = userid.substr(at + 1);
    if (dom.empty()) return std::nullopt;
    domain.assign(dom);
    domain.push_back('!');
  }
  if (local.empty()) return std::nullopt;

  std::string escaped;
  escaped.reserve(local.size());
  for (char c : local) escaped.push_back(c == '.' ? '^' : c);

  UserMailboxNames names;
  names.inbox = domain + std::string(kUserPrefix) + escaped;
  names.children = names.inbox + '.';
  names.deleted = domain + std::string(kDeletedPrefix) + '.' + std::string(kUserPrefix) + escaped + '.';
  return names;
}

bool is_deleted_name(std::string_view mailbox) {
  std::string_view rest = split_domain(mailbox).second;
  return rest.size() > kDeletedPrefix.size() && rest.starts_with(kDeletedPrefix) &&
         rest[kDeletedPrefix.size()] == '.';
}

bool is_user_inbox(std::string_view mailbox) {
  std::string_view rest = split_domain(mailbox).second;
  if (!rest.starts_with(kUserPrefix)) return false;
  std::string_view local = rest.substr(kUserPrefix.size());
  return !local.empty() && local.find('.') == std::string_view::npos;
}

}  // namespace replicad::protocol
