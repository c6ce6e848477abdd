#include "protocol/command_subject.h"

#include "protocol/sync_names.h"

namespace replicad::protocol {
namespace {

// Where a command keeps what it is about: a kvlist field, or (field empty)
// the value itself; and whether that is a mailbox name or a userid.
struct Subject {
  std::string_view verb;
  std::string_view kind;
  std::string_view field;
  bool mailbox;
};

constexpr Subject kSubjects[] = {
    {"APPLY", "MAILBOX", "MBOXNAME", true},
    {"APPLY", "LOCAL_MAILBOX", "MBOXNAME", true},
    {"APPLY", "UNMAILBOX", "", true},
    {"APPLY", "LOCAL_UNMAILBOX", "", true},
    {"APPLY", "RENAME", "OLDMBOXNAME", true},
    {"APPLY", "LOCAL_RENAME", "OLDMBOXNAME", true},
    {"APPLY", "EXPUNGE", "MBOXNAME", true},
    {"APPLY", "QUOTA", "ROOT", true},
    {"APPLY", "UNQUOTA", "", true},
    {"APPLY", "ANNOTATION", "MBOXNAME", true},
    {"APPLY", "UNANNOTATION", "MBOXNAME", true},
    {"APPLY", "SUB", "USERID", false},
    {"APPLY", "UNSUB", "USERID", false},
    {"APPLY", "SEEN", "USERID", false},
    {"APPLY", "UNUSER", "", false},
    {"APPLY", "LOCAL_UNUSER", "", false},
    {"APPLY", "SIEVE", "USERID", false},
    {"APPLY", "UNSIEVE", "USERID", false},
    {"APPLY", "ACTIVATE_SIEVE", "USERID", false},
    {"APPLY", "UNACTIVATE_SIEVE", "USERID", false},
    {"GET", "USER", "", false},
    {"GET", "META", "", false},
    {"GET", "MAILBOXES", "", true},   // a list of names: the first one's owner
    {"GET", "FULLMAILBOX", "", true},
    {"GET", "QUOTA", "", true},
    {"GET", "FETCH", "MBOXNAME", true},
    {"GET", "ANNOTATION", "", true},
    {"GET", "FETCH_SIEVE", "USERID", false},
};

}  // namespace

std::string command_subject(std::string_view verb, std::string_view kind, const Dlist& value) {
  for (const Subject& s : kSubjects) {
    if (s.verb != verb || s.kind != kind) continue;
    const Dlist* v = &value;
    if (!s.field.empty()) v = value.is_kvlist() ? value.get(s.field) : nullptr;
    if (v != nullptr && v->is_list()) v = v->items.empty() ? nullptr : &v->items.front();
    if (v == nullptr || !v->is_string() || v->str.empty() || v->str.size() > kMaxSubject) return {};
    if (!s.mailbox) return v->str;
    return mailbox_owner(v->str).value_or("");
  }
  return {};
}

}  // namespace replicad::protocol
