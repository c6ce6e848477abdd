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

std::optional<std::string> mailbox_owner(std::string_view mailbox) {
  auto [domain, rest] = split_domain(mailbox);
  if (domain == "!") return std::nullopt;  // an empty domain names nobody
  if (is_deleted_name(mailbox)) rest.remove_prefix(kDeletedPrefix.size() + 1);
  if (!rest.starts_with(kUserPrefix)) return std::nullopt;
  std::string_view escaped = rest.substr(kUserPrefix.size());
  escaped = escaped.substr(0, escaped.find('.'));
  if (escaped.empty()) return std::nullopt;
  std::string userid;
  userid.reserve(escaped.size() + domain.size());
  for (char c : escaped) userid.push_back(c == '^' ? '.' : c);
  if (!domain.empty()) {
    userid.push_back('@');
    userid.append(domain.substr(0, domain.size() - 1));  // without the '!'
  }
  return userid;
}

}  // namespace replicad::protocol
