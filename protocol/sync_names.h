// Cyrus internal mailbox names of a user (spec §9.1; Cyrus mboxname.c
// `mbname_from_userid`, `mbname_intname`, `mboxlist_usermboxtree`).
//
//   alice             -> INBOX user.alice, deleted folders DELETED.user.alice.*
//   jane@example.com  -> example.com!user.jane, example.com!DELETED.user.jane.*
//   john.doe          -> user.john^doe   (a '.' in a user name is written '^')
//
// The replica uses the master's conventions: virtual domains split at the
// last '@', no default domain, and the delayed-delete prefix "DELETED".
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace replicad::protocol {

inline constexpr std::string_view kDeletedPrefix = "DELETED";

// Cyrus refuses longer mailbox names (MAX_MAILBOX_NAME) as IMAP_MAILBOX_BADNAME.
inline constexpr size_t kMaxMailboxName = 490;
// Cyrus's uniqueids are 24 or 36 characters; anything near this is not one.
inline constexpr size_t kMaxUniqueid = 255;

inline bool acceptable_mailbox_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxMailboxName;
}

struct UserMailboxNames {
  std::string inbox;           // user.alice
  std::string children;        // user.alice.       (prefix of every folder)
  std::string deleted;         // DELETED.user.alice.  (prefix of deleted folders)

  // True for the INBOX, its descendants and the user's deleted folders.
  bool owns(std::string_view mailbox) const;
};

// nullopt for a userid that names no mailbox (empty, or an empty local part
// or domain).
std::optional<UserMailboxNames> user_mailbox_names(std::string_view userid);

// True for a name in a deleted hierarchy: [<domain>!]DELETED.<...>
bool is_deleted_name(std::string_view mailbox);

// True if `mailbox` is some user's INBOX: [<domain>!]user.<localpart>.
bool is_user_inbox(std::string_view mailbox);

// The inverse of user_mailbox_names: the userid owning a mailbox (its INBOX,
// a folder below it, or one of its deleted folders), e.g.
// "example.com!DELETED.user.john^doe.Sent.5F3A1B2C" -> "john.doe@example.com";
// nullopt for a shared mailbox.
std::optional<std::string> mailbox_owner(std::string_view mailbox);

}  // namespace replicad::protocol
