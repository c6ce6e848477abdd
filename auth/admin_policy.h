// Who may replicate: the one predicate every sync command is checked against.
#pragma once

#include <string>
#include <string_view>
#include <unordered_set>

namespace replicad::auth {

class AdminPolicy {
 public:
  // `admins` is the config value: identities separated by spaces (or commas).
  explicit AdminPolicy(std::string_view admins = {});

  // An authenticated session is an admin only if its identity is listed and it
  // did not authorise as somebody else (spec §8: a proxy login is never admin).
  bool is_admin(std::string_view authcid, std::string_view authzid) const;

  bool empty() const { return admins_.empty(); }

 private:
  std::unordered_set<std::string> admins_;
};

}  // namespace replicad::auth
