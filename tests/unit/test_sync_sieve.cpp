// Sieve scripts without SIEVE-MAILBOX (spec §3.9, §4.1, §4.10): APPLY SIEVE /
// UNSIEVE / ACTIVATE_SIEVE / UNACTIVATE_SIEVE through the real parser and
// store, the `* SIEVE` lines of GET USER / GET META, GET FETCH_SIEVE, and
// UNUSER.  The byte-exact replay of Cyrus's own sieve sessions is in
// test_sync_replay.cpp.
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <string>

#include "protocol/sync_sieve.h"
#include "storage/guid.h"
#include "sync_test_support.h"

using namespace replicad;
using namespace replicad::protocol;
using sync_test::SyncHarness;

namespace {

const std::string kOk = "OK success\r\n";
const std::string kUnknown = "NO Unknown error\r\n";
const std::string kZeroGuid(40, '0');

// An empty INBOX, so that GET USER reports the user's meta data at all.
std::string inbox_cmd(std::string_view user) {
  return fmt::format(
      "APPLY MAILBOX %(UNIQUEID {0}00000000000000000000 MBOXNAME user.{0} LAST_UID 0 HIGHESTMODSEQ 1 "
      "RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY 1700000000 "
      "PARTITION default ACL \"{0}\tlrswipkxtecdan\t\" OPTIONS P CREATEDMODSEQ 1 FOLDERMODSEQ 1 RECORD ())\r\n",
      user);
}

std::string sieve_cmd(std::string_view user, std::string_view filename, uint64_t last_update,
                      std::string_view content) {
  return fmt::format("APPLY SIEVE %(USERID {} FILENAME {} LAST_UPDATE {} CONTENT {{{}+}}\r\n{})\r\n", user, filename,
                     last_update, content.size(), content);
}

std::string script_line(std::string_view name, uint64_t last_update, std::string_view content) {
  return fmt::format("* SIEVE %(FILENAME {}.script LAST_UPDATE {} GUID {} ISACTIVE 0)\r\n", name, last_update,
                     storage::sha1_of(content).hex());
}

std::string active_line(std::string_view name) {
  return fmt::format("* SIEVE %(FILENAME {}.bc LAST_UPDATE 0 GUID {} ISACTIVE 1)\r\n", name, kZeroGuid);
}

const std::string kVacation = "require [\"vacation\"];\nvacation \"away\";\n";
const std::string kFileinto = "require [\"fileinto\"];\r\nif size :over 100K { fileinto \"INBOX.Archive\"; }\r\n";

}  // namespace

TEST_CASE("a script and its activation are reported as Cyrus reports them", "[sieve]") {
  SyncHarness h;
  REQUIRE(h.run(inbox_cmd("frank")) == kOk);
  CHECK(h.run(sieve_cmd("frank", "harness.script", 1796306400, kVacation)) == kOk);
  CHECK(h.run("GET META frank\r\n") == script_line("harness", 1796306400, kVacation) + kOk);

  CHECK(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME harness.bc)\r\n") == kOk);
  const std::string lines = script_line("harness", 1796306400, kVacation) + active_line("harness");
  CHECK(h.run("GET META frank\r\n") == lines + kOk);
  // GET USER: after the mailboxes (and LSUB/SEEN, none here).
  CHECK(h.run("GET USER frank\r\n").ends_with(" RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 "
                                              "POP3_SHOW_AFTER 0 UIDVALIDITY 1700000000 PARTITION default "
                                              "ACL \"frank\tlrswipkxtecdan\t\" OPTIONS P CREATEDMODSEQ 1 "
                                              "FOLDERMODSEQ 1)\r\n" + lines + kOk));

  SECTION("activating it again changes nothing") {
    CHECK(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME harness.bc)\r\n") == kOk);
    CHECK(h.run("GET META frank\r\n") == lines + kOk);
  }
  SECTION("a new version replaces the bytes and keeps it active") {
    CHECK(h.run(sieve_cmd("frank", "harness.script", 1796306500, kFileinto)) == kOk);
    CHECK(h.run("GET META frank\r\n") == script_line("harness", 1796306500, kFileinto) + active_line("harness") + kOk);
  }
  SECTION("another user sees none of it") {
    REQUIRE(h.run(inbox_cmd("grace")) == kOk);
    CHECK(h.run("GET META grace\r\n") == kOk);
    CHECK(h.run("GET META frankie\r\n") == kOk);
  }
  SECTION("with SIEVE-MAILBOX enabled, scripts are the #sieve mailbox's business: no SIEVE lines") {
    SyncConfig config;
    config.sieve_mailbox = true;
    SyncHarness hm(config);
    REQUIRE(hm.run(inbox_cmd("frank")) == kOk);
    REQUIRE(hm.run(sieve_cmd("frank", "harness.script", 1, kVacation)) == kOk);
    REQUIRE(hm.run("APPLY CAPABILITIES (SIEVE-MAILBOX)\r\n") == "* ENABLED (SIEVE-MAILBOX)\r\n" + kOk);
    CHECK(hm.run("GET META frank\r\n") == kOk);
    hm.new_session();
    CHECK(hm.run("GET META frank\r\n") == script_line("harness", 1, kVacation) + kOk);
  }
}

TEST_CASE("scripts belong to a user that exists, as with Cyrus's #sieve folder", "[sieve]") {
  SyncHarness h;
  // No INBOX: Cyrus cannot create the user's #sieve folder, "NO Unknown error".
  CHECK(h.run(sieve_cmd("ghost", "a.script", 5, "keep;\n")) == kUnknown);
  CHECK(h.run("APPLY ACTIVATE_SIEVE %(USERID ghost FILENAME a.bc)\r\n") == kUnknown);
  CHECK(h.run("APPLY UNSIEVE %(USERID ghost FILENAME a.script)\r\n") == kUnknown);
  // What needs no folder is fine: deleting a .bc, deactivating.
  CHECK(h.run("APPLY UNSIEVE %(USERID ghost FILENAME a.bc)\r\n") == kOk);
  CHECK(h.run("APPLY UNACTIVATE_SIEVE %(USERID ghost)\r\n") == kOk);
  CHECK(h.run("GET META ghost\r\n") == kOk);

  // An intermediate INBOX is no user either.
  REQUIRE(h.run("APPLY MAILBOX %(UNIQUEID ghost0000000000000000000 MBOXNAME user.ghost MBOXTYPE ei "
                "HIGHESTMODSEQ 1 CREATEDMODSEQ 1 FOLDERMODSEQ 1)\r\n") == kOk);
  CHECK(h.run(sieve_cmd("ghost", "a.script", 5, "keep;\n")) == kUnknown);

  // A virtual-domain user's INBOX is example.com!user.jane.
  REQUIRE(h.run("APPLY MAILBOX %(UNIQUEID jane00000000000000000000 MBOXNAME example.com!user.jane LAST_UID 0 "
                "HIGHESTMODSEQ 1 RECENTUID 0 RECENTTIME 0 LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 "
                "UIDVALIDITY 1 PARTITION default ACL \"\" OPTIONS P CREATEDMODSEQ 1 FOLDERMODSEQ 1 RECORD ())\r\n") ==
          kOk);
  CHECK(h.run(sieve_cmd("jane@example.com", "a.script", 5, "keep;\n")) == kOk);
  CHECK(h.run("GET META jane@example.com\r\n") == script_line("a", 5, "keep;\n") + kOk);
}

TEST_CASE("a new active script: SIEVE, UNSIEVE of the old .bc, ACTIVATE (sieve-c)", "[sieve]") {
  SyncHarness h;
  REQUIRE(h.run(inbox_cmd("frank")) == kOk);
  REQUIRE(h.run(sieve_cmd("frank", "harness.script", 1796306400, kVacation)) == kOk);
  REQUIRE(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME harness.bc)\r\n") == kOk);

  CHECK(h.run(sieve_cmd("frank", "second.script", 1796306402, kFileinto)) == kOk);
  CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME harness.bc)\r\n") == kOk);
  CHECK(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME second.bc)\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == script_line("harness", 1796306400, kVacation) +
                                           script_line("second", 1796306402, kFileinto) + active_line("second") +
                                           kOk);

  SECTION("deleting a script that is not active (sieve-d)") {
    CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME harness.script)\r\n") == kOk);
    CHECK(h.run("GET META frank\r\n") == script_line("second", 1796306402, kFileinto) + active_line("second") + kOk);
  }
  SECTION("deleting the active script deactivates it") {
    CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME second.script)\r\n") == kOk);
    CHECK(h.run("GET META frank\r\n") == script_line("harness", 1796306400, kVacation) + kOk);
    // A script of the same name later is not active by inheritance.
    CHECK(h.run(sieve_cmd("frank", "second.script", 1796306403, kFileinto)) == kOk);
    CHECK(h.run("GET META frank\r\n").find(".bc") == std::string::npos);
  }
  SECTION("deleting a script that is not there: Cyrus's failed lookup") {
    CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME never.script)\r\n") == kUnknown);
  }
}

TEST_CASE("UNSIEVE <x>.bc deactivates <x> only if it is the active one (sieve-e)", "[sieve]") {
  SyncHarness h;
  REQUIRE(h.run(inbox_cmd("frank")) == kOk);
  REQUIRE(h.run(sieve_cmd("frank", "harness.script", 7, kVacation)) == kOk);
  REQUIRE(h.run(sieve_cmd("frank", "second.script", 8, kFileinto)) == kOk);
  REQUIRE(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME second.bc)\r\n") == kOk);
  const std::string both = script_line("harness", 7, kVacation) + script_line("second", 8, kFileinto);

  // Another script's .bc, or one of no script at all: nothing changes.
  CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME harness.bc)\r\n") == kOk);
  CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME nothing.bc)\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == both + active_line("second") + kOk);

  // The master has no active script any more: the client sends this on
  // every run until the replica stops reporting second.bc.
  CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME second.bc)\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == both + kOk);
  CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME second.bc)\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == both + kOk);
}

TEST_CASE("UNACTIVATE_SIEVE leaves no script active and is idempotent", "[sieve]") {
  SyncHarness h;
  REQUIRE(h.run(inbox_cmd("frank")) == kOk);
  REQUIRE(h.run(sieve_cmd("frank", "a.script", 1, "keep;\n")) == kOk);
  REQUIRE(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME a.bc)\r\n") == kOk);
  CHECK(h.run("APPLY UNACTIVATE_SIEVE %(USERID frank)\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == script_line("a", 1, "keep;\n") + kOk);
  CHECK(h.run("APPLY UNACTIVATE_SIEVE %(USERID frank)\r\n") == kOk);
  CHECK(h.run("APPLY UNACTIVATE_SIEVE %(USERID nobody)\r\n") == kOk);
  CHECK(h.run("APPLY UNACTIVATE_SIEVE %()\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
}

TEST_CASE("file names: only .script is stored, ACTIVATE strips three characters", "[sieve]") {
  SyncHarness h;
  REQUIRE(h.run(inbox_cmd("frank")) == kOk);
  // Cyrus silently accepts and drops other uploads, and deletions of them.
  CHECK(h.run(sieve_cmd("frank", "harness.bc", 1, "bytecode")) == kOk);
  CHECK(h.run(sieve_cmd("frank", "noextension", 1, "x")) == kOk);
  CHECK(h.run(sieve_cmd("frank", ".script", 1, "x")) == kOk);
  CHECK(h.run("APPLY UNSIEVE %(USERID frank FILENAME harness.txt)\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == kOk);

  // A dotted script name: the suffix is what follows the last dot.
  CHECK(h.run(sieve_cmd("frank", "my.rules.script", 2, "keep;\n")) == kOk);
  CHECK(h.run("GET META frank\r\n") == script_line("my.rules", 2, "keep;\n") + kOk);
  CHECK(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME my.rules.bc)\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == script_line("my.rules", 2, "keep;\n") + active_line("my.rules") + kOk);
  // Activating what is not there is Cyrus's failed lookup.
  CHECK(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME my.rules.script)\r\n") == kUnknown);
  CHECK(h.run("APPLY ACTIVATE_SIEVE %(USERID frank FILENAME none.bc)\r\n") == kUnknown);
  CHECK(h.run("GET META frank\r\n").ends_with(active_line("my.rules") + kOk));

  CHECK(parse_sieve_file_name("a.b.script").script == "a.b");
  CHECK(parse_sieve_file_name("a.scripts").kind == SieveFileName::Kind::other);
  CHECK(parse_sieve_file_name("x.bc").kind == SieveFileName::Kind::bytecode);
  CHECK(activated_script_name("x.bc") == "x");
  CHECK(activated_script_name("bc") == "bc");
}

TEST_CASE("scripts are stored byte for byte: NUL, CR LF, 8-bit, empty", "[sieve]") {
  SyncHarness h;
  REQUIRE(h.run(inbox_cmd("frank")) == kOk);
  const std::string odd("# \xc3\xa9t\xc3\xa9\r\nkeep;\0tail\n", 19);
  CHECK(h.run(sieve_cmd("frank", "odd.script", 3, odd)) == kOk);
  CHECK(h.run(sieve_cmd("frank", "empty.script", 4, "")) == kOk);
  CHECK(h.run("GET META frank\r\n") == script_line("empty", 4, "") + script_line("odd", 3, odd) + kOk);

  // GET FETCH_SIEVE returns the bytes (a literal when they need one).
  CHECK(h.run("GET FETCH_SIEVE %(USERID frank FILENAME odd.script)\r\n") ==
        fmt::format("* SIEVE %(USERID frank FILENAME odd.script CONTENT {{{}}}\r\n{})\r\n", odd.size(), odd) + kOk);
  CHECK(h.run("GET FETCH_SIEVE %(USERID frank FILENAME empty.script)\r\n") ==
        "* SIEVE %(USERID frank FILENAME empty.script CONTENT \"\")\r\n" + kOk);
  CHECK(h.run("GET FETCH_SIEVE %(USERID frank FILENAME none.script)\r\n") ==
        "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  CHECK(h.run("GET FETCH_SIEVE %(USERID frank FILENAME odd.bc)\r\n") ==
        "NO IMAP_MAILBOX_NONEXISTENT No Such Mailbox\r\n");
  CHECK(h.run("GET FETCH_SIEVE %(USERID frank)\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
}

TEST_CASE("malformed and unstorable requests", "[sieve]") {
  SyncHarness h;
  REQUIRE(h.run(inbox_cmd("frank")) == kOk);
  const std::string bad = "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n";
  CHECK(h.run("APPLY SIEVE %(USERID frank FILENAME a.script CONTENT x)\r\n") == bad);
  CHECK(h.run("APPLY SIEVE %(USERID frank FILENAME a.script LAST_UPDATE soon CONTENT x)\r\n") == bad);
  CHECK(h.run("APPLY SIEVE %(USERID frank LAST_UPDATE 1 CONTENT x)\r\n") == bad);
  CHECK(h.run("APPLY SIEVE %(FILENAME a.script LAST_UPDATE 1 CONTENT x)\r\n") == bad);
  CHECK(h.run("APPLY SIEVE %(USERID frank FILENAME a.script LAST_UPDATE 1)\r\n") == bad);
  CHECK(h.run("APPLY SIEVE frank\r\n") == bad);
  CHECK(h.run("APPLY UNSIEVE %(USERID frank)\r\n") == bad);
  CHECK(h.run("APPLY ACTIVATE_SIEVE %(FILENAME a.bc)\r\n") == bad);

  // Names no store key can hold are refused as Cyrus's file system would.
  CHECK(h.run(sieve_cmd("frank", std::string(300, 'n') + ".script", 1, "x")) == kUnknown);
  CHECK(h.run(sieve_cmd("\"\"", "a.script", 1, "x")) == kUnknown);
  CHECK(h.run("GET META frank\r\n") == kOk);
}

TEST_CASE("UNUSER removes the user's scripts and activation, nobody else's", "[sieve][unuser]") {
  SyncHarness h;
  for (const char* user : {"frank", "franky"}) {
    REQUIRE(h.run(inbox_cmd(user)) == kOk);
    REQUIRE(h.run(sieve_cmd(user, "a.script", 1, "keep;\n")) == kOk);
    REQUIRE(h.run(sieve_cmd(user, "b.script", 2, "discard;\n")) == kOk);
    REQUIRE(h.run(fmt::format("APPLY ACTIVATE_SIEVE %(USERID {} FILENAME b.bc)\r\n", user)) == kOk);
  }
  CHECK(h.run("APPLY UNUSER frank\r\n") == kOk);
  CHECK(h.run("GET META frank\r\n") == kOk);
  CHECK(h.read([](storage::ReadView& v) { return v.active_sieve_script("frank"); }) == std::nullopt);
  CHECK(h.run("GET META franky\r\n") ==
        script_line("a", 1, "keep;\n") + script_line("b", 2, "discard;\n") + active_line("b") + kOk);
}
