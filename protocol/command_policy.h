// The admin gate: the one predicate every command of both flavours passes
// through before it runs (the class of bug where an admin-only command is
// reachable by a non-admin cannot hide in a handler that forgot a check).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace replicad::protocol {

enum class Flavour { undecided, csync, imap };

enum class AuthState {
  none,           // not authenticated yet
  user,           // authenticated, not an admin
  admin,          // authenticated replication admin
};

// The sync verbs, the same in both flavours (APPLY = SYNCAPPLY, ...).
enum class SyncVerb { apply, get, restart, restore };

// Upper-cased command word → the denial status text for this state, or
// nullopt when the command may run.  The texts are Cyrus's (spec §1.2, §1.6, §8):
//   CSYNC, not authenticated, APPLY/GET/RESTORE → "NO Please authenticate first"
//   CSYNC, authenticated non-admin, anything    → "NO Permission denied"
//   IMAP, not authenticated, SYNC*              → "BAD Please login first"
//   IMAP, non-admin, SYNC*                      → "BAD Unrecognized command"
std::optional<std::string> deny(Flavour flavour, std::string_view verb, AuthState state);

// Whether a command word is a sync verb, and which.
std::optional<SyncVerb> sync_verb(Flavour flavour, std::string_view verb);

// Whether a first word names a CSYNC command (decides the flavour).
bool is_csync_command(std::string_view verb);

}  // namespace replicad::protocol
