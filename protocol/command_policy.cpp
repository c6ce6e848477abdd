#include "protocol/command_policy.h"

#include <array>

namespace replicad::protocol {
namespace {

constexpr std::array<std::string_view, 9> kCsyncCommands = {
    "AUTHENTICATE", "STARTTLS", "COMPRESS", "NOOP", "EXIT", "RESTART", "APPLY", "GET", "RESTORE"};

}  // namespace

bool is_csync_command(std::string_view verb) {
  for (std::string_view c : kCsyncCommands)
    if (c == verb) return true;
  return false;
}

std::optional<SyncVerb> sync_verb(Flavour flavour, std::string_view verb) {
  if (flavour == Flavour::imap) {
    if (verb.substr(0, 4) != "SYNC") return std::nullopt;
    verb.remove_prefix(4);
  }
  if (verb == "APPLY") return SyncVerb::apply;
  if (verb == "GET") return SyncVerb::get;
  if (verb == "RESTART") return SyncVerb::restart;
  if (verb == "RESTORE") return SyncVerb::restore;
  return std::nullopt;
}

std::optional<std::string> deny(Flavour flavour, std::string_view verb, AuthState state) {
  if (state == AuthState::admin) return std::nullopt;

  if (flavour == Flavour::imap) {
    // imapd hides the sync commands from everyone but admins: before login
    // they need a login, after a non-admin login they do not exist.
    auto sync = sync_verb(flavour, verb);
    if (!sync) return std::nullopt;
    if (state == AuthState::none) return std::string("BAD Please login first");
    return std::string("BAD Unrecognized command");
  }

  // CSYNC (and a first command before the flavour is known, which is CSYNC
  // when it names a CSYNC verb).
  if (state == AuthState::user) {
    // sync_server lets a non-admin log in, then refuses every command,
    // EXIT and NOOP included (observed, spec §1.2).
    return std::string("NO Permission denied");
  }
  // Not authenticated: RESTART is allowed as in Cyrus (it only drops staged
  // uploads, of which an unauthenticated session has none).
  auto sync = sync_verb(Flavour::csync, verb);
  if (sync && *sync != SyncVerb::restart) return std::string("NO Please authenticate first");
  return std::nullopt;
}

}  // namespace replicad::protocol
