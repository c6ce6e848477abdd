#include "auth/admin_policy.h"

namespace replicad::auth {
namespace {

// Cyrus splits `admins` on white space (global.c global_authisa); commas are
// accepted too because operators write lists that way.
bool is_separator(char c) {
  return c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

AdminPolicy::AdminPolicy(std::string_view admins) {
  size_t i = 0;
  while (i < admins.size()) {
    while (i < admins.size() && is_separator(admins[i])) ++i;
    const size_t begin = i;
    while (i < admins.size() && !is_separator(admins[i])) ++i;
    if (i > begin) admins_.emplace(admins.substr(begin, i - begin));
  }
}

bool AdminPolicy::is_admin(std::string_view authcid, std::string_view authzid) const {
  if (authcid.empty()) return false;
  // A login as somebody else is never an admin session (spec §8), even when
  // the one who logged in is an admin.
  if (!authzid.empty() && authzid != authcid) return false;
  // Identities compare case-sensitively, as in Cyrus.
  return admins_.count(std::string(authcid)) != 0;
}

}  // namespace replicad::auth
