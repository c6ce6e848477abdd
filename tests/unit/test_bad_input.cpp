// The bad-input matrix: what a real Session answers to malformed, hostile or
// merely unusual input, in both flavours, fed whole and one byte at a time.
//
// Every case expects an answer (BAD or NO, with Cyrus's exact text where
// Cyrus defines one: sync_server.c cmdloop, imapd.c cmdloop) and then shows
// the session is still usable where the protocol allows it: the next NOOP
// gets its OK.  Where replicad deliberately differs from Cyrus (Cyrus loses
// step with the client after some of these) the case says so.
#include <catch2/catch.hpp>
#include <fmt/core.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

#include "auth/sasl_server.h"
#include "session_harness.h"
#include "storage/guid.h"

using replicad::testing::FakeOutput;
using replicad::testing::SessionWorld;

namespace {

enum class Who { nobody, admin, alice };
enum class Framing { csync, imap };

std::string plain(const std::string& user, const std::string& pass) {
  return replicad::auth::base64_encode(std::string(1, '\0') + user + '\0' + pass);
}

// One client connection: logs in as asked, then says things and returns
// everything the server wrote in answer.
class Peer {
 public:
  Peer(SessionWorld& world, bool bytewise, Framing framing = Framing::csync, Who who = Who::nobody)
      : world_(world), bytewise_(bytewise) {
    static int counter = 0;
    session_ = world_.open(out_, "bad" + std::to_string(++counter));
    out_.take();
    if (who == Who::nobody) {
      // The flavour is decided by the first command; NOOP is harmless in both.
      REQUIRE(say(framing == Framing::imap ? "a0 NOOP\r\n" : "NOOP\r\n") ==
              (framing == Framing::imap ? "a0 OK Completed\r\n" : "OK Noop completed\r\n"));
      return;
    }
    const std::string who_name = who == Who::admin ? "admin" : "alice";
    const std::string credentials = plain(who_name, who_name + "pw");
    if (framing == Framing::csync) {
      REQUIRE(say("AUTHENTICATE PLAIN " + credentials + "\r\n") == "OK Success (no protection)\r\n");
    } else {
      REQUIRE(say("A01 AUTHENTICATE PLAIN " + credentials + "\r\n").rfind("A01 OK [CAPABILITY ", 0) == 0);
    }
  }
  ~Peer() {
    if (session_) session_->on_disconnect();
  }

  std::string say(std::string_view input) {
    world_.feed(*session_, out_, input, bytewise_);
    return out_.take();
  }
  bool closed() const { return out_.closed; }
  replicad::protocol::Session& session() { return *session_; }
  void disconnect() {
    session_->on_disconnect();
    session_.reset();
  }

 private:
  SessionWorld& world_;
  bool bytewise_;
  FakeOutput out_;
  std::shared_ptr<replicad::protocol::Session> session_;
};

// Runs `body` once with the input fed whole and once byte by byte.
void both_ways(const std::function<void(bool bytewise)>& body) {
  for (bool bytewise : {false, true}) {
    INFO((bytewise ? "fed byte at a time" : "fed whole"));
    body(bytewise);
  }
}

const std::string kNoopOk = "OK Noop completed\r\n";

std::string file_literal(std::string_view partition, std::string_view guid, uint64_t size, std::string_view body) {
  return fmt::format("%{{{} {} {}}}\r\n", partition, guid, size) + std::string(body);
}

std::string sha1_hex(std::string_view bytes) { return replicad::storage::sha1_of(bytes).hex(); }

// An APPLY MAILBOX for a plain mailbox without CRCs (zero means "don't care").
std::string mailbox_cmd(std::string_view name, std::string_view uniqueid, uint32_t last_uid, uint64_t modseq,
                        std::string_view uidvalidity, std::string_view records) {
  return fmt::format(
      "APPLY MAILBOX %(UNIQUEID {} MBOXNAME {} LAST_UID {} HIGHESTMODSEQ {} RECENTUID 0 RECENTTIME 0 "
      "LAST_APPENDDATE 0 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 UIDVALIDITY {} PARTITION default ACL \"\" "
      "OPTIONS P CREATEDMODSEQ 1 FOLDERMODSEQ 1 RECORD ({}))\r\n",
      uniqueid, name, last_uid, modseq, uidvalidity, records);
}

std::string record(uint32_t uid, uint64_t modseq, std::string_view guid, size_t size) {
  return fmt::format("%(UID {} MODSEQ {} LAST_UPDATED 1700000000 FLAGS () INTERNALDATE 1700000000 SIZE {} GUID {})",
                     uid, modseq, size, guid);
}

}  // namespace

TEST_CASE("empty lines", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer csync(world, bytewise);
    CHECK(csync.say("\r\n") == "BAD Null command\r\n");
    CHECK(csync.say("\n") == "BAD Null command\r\n");
    CHECK(csync.say("  \t \r\n") == "BAD Null command\r\n");
    CHECK(csync.say("NOOP\r\n") == kNoopOk);

    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("\r\n") == "BAD Null command\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);

    // imapd reads a tag first: an empty one is not a tag.
    Peer imap(world, bytewise, Framing::imap);
    CHECK(imap.say("\r\n") == "* BAD Invalid tag\r\n");
    // A tag without a command.  (imapd tells "a1\r\n", an invalid tag, from
    // "a1 \r\n", a null command; the dlist reader cannot, and the tagged
    // answer is the more useful one.)
    CHECK(imap.say("a1\r\n") == "a1 BAD Null command\r\n");
    CHECK(imap.say("a2 \r\n") == "a2 BAD Null command\r\n");
    CHECK(imap.say("a3 NOOP\r\n") == "a3 OK Completed\r\n");
  });
}

TEST_CASE("a 1 MiB line without LF: bounded before login, a command after", "[bad-input]") {
  SessionWorld world;
  const std::string huge(1u << 20, 'x');
  both_ways([&](bool bytewise) {
    // Before login a line may be 16 KiB: nothing is kept of the rest, and
    // the answer comes when the line ends.
    Peer stranger(world, bytewise);
    CHECK(stranger.say("NOOP " + huge) == "");
    CHECK_FALSE(stranger.closed());
    CHECK(stranger.say("\r\n") == "BAD Unexpected extra arguments to Noop\r\n");
    CHECK(stranger.say("FROB " + huge + "\r\n") == "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n");
    CHECK(stranger.say(huge + "\r\n") ==
          "BAD IMAP_PROTOCOL_ERROR first word longer than 64 bytes at offset 64\r\n");
    CHECK(stranger.say("NOOP\r\n") == kNoopOk);

    // After an admin login the same line is within the limits (APPLY
    // MAILBOX lines run to megabytes) and is read as what it is.
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("NOOP " + huge) == "");
    CHECK(admin.say("\r\n") == "BAD Unexpected extra arguments to Noop\r\n");
    CHECK(admin.say("GET USER " + huge + "\r\n") == "OK success\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("the line limit after login still holds", "[bad-input]") {
  SessionWorld world;
  world.context.admin_limits.max_line_bytes = 4096;
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("APPLY RESERVE %(PARTITION " + std::string(5000, 'p') + ")\r\n") ==
          "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("bare CR", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer csync(world, bytewise);
    // sync_server: CR not followed by LF after a command word is extra input.
    CHECK(csync.say("NOOP\rNOOP\r\n") == "BAD Unexpected extra arguments to Noop\r\n");
    CHECK(csync.say("\r") == "");
    CHECK(csync.say("\n") == "BAD Null command\r\n");
    CHECK(csync.say("NOOP\r\n") == kNoopOk);

    Peer imap(world, bytewise, Framing::imap);
    CHECK(imap.say("a1 NOOP\rextra\r\n") == "a1 BAD Unexpected extra arguments to Noop\r\n");
    CHECK(imap.say("a2 NOOP\r\n") == "a2 OK Completed\r\n");
  });
}

TEST_CASE("NUL bytes", "[bad-input]") {
  SessionWorld world;
  using namespace std::string_literals;
  both_ways([&](bool bytewise) {
    Peer csync(world, bytewise);
    CHECK(csync.say("NO\0OP\r\n"s) == "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n");
    CHECK(csync.say("\0\r\n"s) == "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n");
    CHECK(csync.say("NOOP \0\r\n"s) == "BAD Unexpected extra arguments to Noop\r\n");
    CHECK(csync.say("NOOP\r\n") == kNoopOk);

    // An atom field must not hold NUL: the value is unusable, so the field
    // counts as missing.
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("APPLY SUB %(USERID al\0ice MBOXNAME user.alice)\r\n"s) == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    CHECK(admin.say("APPLY SUB %(USERID {6+}\r\nal\0ice MBOXNAME user.alice)\r\n"s) ==
          "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("an over-long tag", "[bad-input]") {
  SessionWorld world;
  const std::string tag64(64, 'T');
  both_ways([&](bool bytewise) {
    Peer csync(world, bytewise);
    CHECK(csync.say(tag64 + "T NOOP\r\n") == "BAD IMAP_PROTOCOL_ERROR first word longer than 64 bytes at offset 64\r\n");
    CHECK(csync.say("NOOP\r\n") == kNoopOk);

    Peer imap(world, bytewise, Framing::imap);
    CHECK(imap.say(tag64 + "T NOOP\r\n") == "* BAD first word longer than 64 bytes at offset 64\r\n");
    CHECK(imap.say(tag64 + " NOOP\r\n") == tag64 + " OK Completed\r\n");
  });
}

TEST_CASE("unknown and lower-case verbs", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer csync(world, bytewise);
    CHECK(csync.say("FROB\r\n") == "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n");
    CHECK(csync.say("FROB (a b) %(c d)\r\n") == "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n");
    // Command words are case-insensitive (sync_server capitalises them).
    CHECK(csync.say("noop\r\n") == kNoopOk);
    CHECK(csync.say("nOoP\r\n") == kNoopOk);
    CHECK(csync.say("apply reserve %(PARTITION default)\r\n") == "NO Please authenticate first\r\n");

    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("frob x y\r\n") == "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n");
    CHECK(admin.say("get user nobody\r\n") == "OK success\r\n");
    CHECK(admin.say("Apply Capabilities ()\r\n") == "* ENABLED ()\r\nOK success\r\n");
    CHECK(admin.say("APPLY FROBNICATE %()\r\n") == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    CHECK(admin.say("GET FROBNICATE x\r\n") == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);

    Peer imap(world, bytewise, Framing::imap, Who::admin);
    CHECK(imap.say("a1 FROB\r\n") == "a1 BAD Unrecognized command\r\n");
    CHECK(imap.say("a2 noop\r\n") == "a2 OK Completed\r\n");
    CHECK(imap.say("s1 syncget user nobody\r\n") == "s1 OK success\r\n");
    CHECK(imap.say("a3 (not a verb)\r\n") == "a3 BAD Unrecognized command\r\n");
  });
}

TEST_CASE("extra and missing arguments", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer csync(world, bytewise);
    CHECK(csync.say("NOOP x\r\n") == "BAD Unexpected extra arguments to Noop\r\n");
    CHECK(csync.say("EXIT now\r\n") == "BAD Unexpected extra arguments to Exit\r\n");
    CHECK(csync.say("RESTART x\r\n") == "BAD Unexpected extra arguments to Restart\r\n");
    CHECK(csync.say("AUTHENTICATE\r\n") == "BAD Missing required argument to Authenticate\r\n");
    CHECK(csync.say("AUTHENTICATE PLAIN a b\r\n") == "BAD Unexpected extra arguments to Authenticate\r\n");
    CHECK(csync.say("AUTHENTICATE (PLAIN)\r\n") == "BAD Invalid mechanism\r\n");
    CHECK(csync.say("NOOP\r\n") == kNoopOk);
    CHECK_FALSE(csync.closed());

    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("APPLY\r\n") == "BAD Missing required argument to Apply\r\n");
    CHECK(admin.say("GET\r\n") == "BAD Missing required argument to Get\r\n");
    // sync_server parses one item after APPLY/GET; anything after it makes
    // the line unparseable.
    CHECK(admin.say("APPLY RESERVE %(PARTITION default) x\r\n") ==
          "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    CHECK(admin.say("GET USER alice bob\r\n") == "BAD IMAP_PROTOCOL_ERROR Failed to parse GET line\r\n");
    CHECK(admin.say("APPLY (RESERVE) x\r\n") == "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    CHECK(admin.say("RESTART x\r\n") == "BAD Unexpected extra arguments to Restart\r\n");
    CHECK(admin.say("COMPRESS DEFLATE x\r\n") == "BAD Unexpected extra arguments to Compress\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);

    Peer imap(world, bytewise, Framing::imap, Who::admin);
    CHECK(imap.say("a1 NOOP x\r\n") == "a1 BAD Unexpected extra arguments to Noop\r\n");
    CHECK(imap.say("a2 CAPABILITY x\r\n") == "a2 BAD Unexpected extra arguments to Capability\r\n");
    CHECK(imap.say("a3 LOGOUT x\r\n") == "a3 BAD Unexpected extra arguments to Logout\r\n");
    CHECK(imap.say("S1 SYNCRESTART x\r\n") == "S1 BAD Unexpected extra arguments to Syncrestart\r\n");
    // imapd has one answer for every SYNC* line it cannot parse.
    CHECK(imap.say("S2 SYNCAPPLY RESERVE %(PARTITION default) x\r\n") ==
          "S2 BAD Replication parse failure in Syncapply\r\n");
    CHECK(imap.say("S3 SYNCGET\r\n") == "S3 BAD Replication parse failure in Syncget\r\n");
    CHECK(imap.say("S4 SYNCGET (USER) alice\r\n") == "S4 BAD Replication parse failure in Syncget\r\n");
    CHECK(imap.say("a4 NOOP\r\n") == "a4 OK Completed\r\n");
    CHECK_FALSE(imap.closed());
  });
}

TEST_CASE("literals", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    // {0} and {N}: a synchronising literal gets its go-ahead.
    CHECK(admin.say("GET USER {0}\r\n\r\n") == "+ go ahead\r\nOK success\r\n");
    CHECK(admin.say("GET USER {0+}\r\n\r\n") == "OK success\r\n");
    CHECK(admin.say("GET USER {5}\r\nalice\r\n") == "+ go ahead\r\nOK success\r\n");
    // Lengths beyond Cyrus's limit (2^31-1) get no go-ahead: the client never
    // sends the bytes, and the command ends at its header.
    for (const char* n : {"2147483648", "4294967295", "4294967296"}) {
      INFO(n);
      CHECK(admin.say(fmt::format("GET USER {{{}}}\r\n", n)) == "BAD IMAP_PROTOCOL_ERROR Failed to parse GET line\r\n");
      CHECK(admin.say("NOOP\r\n") == kNoopOk);
    }
    // Non-digits, an unterminated header, no CRLF after it.
    for (const char* header : {"{12a}", "{}", "{+}", "{-1}", "{5+", "{5+}x", "{5 }"}) {
      INFO(header);
      CHECK(admin.say(fmt::format("GET USER {}\r\n", header)) == "BAD IMAP_PROTOCOL_ERROR Failed to parse GET line\r\n");
      CHECK(admin.say("NOOP\r\n") == kNoopOk);
    }
    // A non-synchronising literal over the limit is read and dropped, so
    // the stream stays in step (before login the limit is 8 KiB).
    Peer stranger(world, bytewise);
    CHECK(stranger.say("NOOP {9000+}\r\n" + std::string(9000, 'N') + "\r\n") ==
          "BAD Unexpected extra arguments to Noop\r\n");
    CHECK(stranger.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("a literal length that fits no counter closes the connection", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    // 2^64+1: nobody can count the bytes that follow, so the stream is lost.
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("GET USER {18446744073709551617+}\r\nNOOP\r\n") ==
          "BAD IMAP_PROTOCOL_ERROR Failed to parse GET line\r\n");
    CHECK(admin.closed());

    Peer imap(world, bytewise, Framing::imap, Who::admin);
    CHECK(imap.say("S1 SYNCGET USER {18446744073709551617}\r\n") == "S1 BAD Replication parse failure in Syncget\r\n");
    CHECK(imap.closed());
  });
}

TEST_CASE("EOF inside a literal or a file literal", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("GET USER {10+}\r\nabc") == "");
    admin.disconnect();

    Peer uploader(world, bytewise, Framing::csync, Who::admin);
    const std::string body = "Subject: cut short\r\n\r\n";
    CHECK(uploader.say("APPLY MESSAGE (" + file_literal("default", sha1_hex(body), body.size(), body.substr(0, 9))) == "");
    CHECK_FALSE(uploader.closed());
    uploader.disconnect();
    // The half-received upload went with the session.
    std::error_code ec;
    auto staging = std::filesystem::path(world.context.staging_root);
    size_t left = 0;
    for (auto it = std::filesystem::recursive_directory_iterator(staging, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); ++it)
      if (it->is_regular_file()) ++left;
    CHECK(left == 0);
  });
}

TEST_CASE("file literals", "[bad-input]") {
  SessionWorld world;
  world.context.max_message_size = 100;
  const std::string body = "From: a@example.com\r\n\r\nhello\r\n";
  const std::string guid = sha1_hex(body);
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    // A good one, for comparison.
    CHECK(admin.say("APPLY MESSAGE (" + file_literal("default", guid, body.size(), body) + ")\r\n") == "OK success\r\n");

    // GUID not 40 hex digits: refused, its bytes skipped by count.
    for (const std::string& bad : {std::string("zzzz"), guid.substr(1), guid + "0", std::string(40, 'g')}) {
      INFO(bad);
      CHECK(admin.say("APPLY MESSAGE (" + file_literal("default", bad, body.size(), body) + ")\r\n") ==
            "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
      CHECK(admin.say("NOOP\r\n") == kNoopOk);
    }
    // The bytes do not match the GUID: read in full, not kept.
    CHECK(admin.say("APPLY MESSAGE (" + file_literal("default", sha1_hex("other"), body.size(), body) + ")\r\n") ==
          "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    // Fewer bytes announced than the GUID's message has.
    CHECK(admin.say("APPLY MESSAGE (" + file_literal("default", guid, 5, body.substr(0, 5)) + ")\r\n") ==
          "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    // More announced than sent: what follows is taken as the file's bytes
    // until the count is reached; only then does the command end.
    const std::string follows = ")\r\nNOOP\r\n";
    CHECK(admin.say("APPLY MESSAGE (" + file_literal("default", guid, body.size() + follows.size(), body) + follows) ==
          "");
    CHECK(admin.say(")\r\n") == "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);
    // Larger than maxmessagesize: refused, skipped by count.
    const std::string big(101, 'b');
    CHECK(admin.say("APPLY MESSAGE (" + file_literal("default", sha1_hex(big), big.size(), big) + ")\r\n") ==
          "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);
    // No partition: the header does not parse, so its size cannot be
    // trusted either; the bytes then read as a line of their own (as in
    // Cyrus, which loses step here too).
    CHECK(admin.say("APPLY MESSAGE (%{ " + guid + " 5}\r\nhello)\r\nNOOP\r\n") ==
          "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n"
          "BAD IMAP_PROTOCOL_ERROR Unrecognized command\r\n" + kNoopOk);
    // A file literal as a kvlist value parses, but MESSAGE wants a list.
    CHECK(admin.say("APPLY MESSAGE %(M " + file_literal("default", guid, body.size(), body) + ")\r\n") ==
          "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    // ... and where a kvlist key belongs it does not parse at all.
    CHECK(admin.say("APPLY MESSAGE %(" + file_literal("default", guid, body.size(), body) + " x)\r\n") ==
          "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);

    // Before login no file literal is accepted; Cyrus asks for a login
    // before it looks at the arguments.  The bytes are skipped by count.
    Peer stranger(world, bytewise);
    CHECK(stranger.say("APPLY MESSAGE (" + file_literal("default", guid, body.size(), body) + ")\r\n") ==
          "NO Please authenticate first\r\n");
    CHECK(stranger.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("nesting, odd kvlists, duplicate keys", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    const std::string deep16 = std::string(16, '(') + "x" + std::string(16, ')');
    const std::string deep17 = std::string(17, '(') + "x" + std::string(17, ')');
    CHECK(admin.say("APPLY MESSAGE " + deep16 + "\r\n") == "OK success\r\n");
    CHECK(admin.say("APPLY MESSAGE " + deep17 + "\r\n") == "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    std::string kv_deep = "APPLY SUB ";
    for (int i = 0; i < 17; ++i) kv_deep += "%(K ";
    kv_deep += "v" + std::string(17, ')') + "\r\n";
    CHECK(admin.say(kv_deep) == "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    // A key without a value.
    CHECK(admin.say("APPLY SUB %(USERID alice MBOXNAME)\r\n") == "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    // A kvlist where a key belongs.
    CHECK(admin.say("APPLY SUB %(%(A b) c)\r\n") == "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    // Unbalanced.
    CHECK(admin.say("APPLY SUB %(USERID alice))\r\n") == "BAD IMAP_PROTOCOL_ERROR Failed to parse APPLY line\r\n");
    CHECK(admin.say("APPLY SUB %(USERID alice\r\n)\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    // Duplicate keys: the first one wins (dlist_getchild).
    const std::string suffix = bytewise ? "b" : "w";
    for (const std::string user : {"dup" + suffix, "other" + suffix})
      REQUIRE(admin.say(mailbox_cmd("user." + user, user + "uniqueid", 0, 1, "1", "")) == "OK success\r\n");
    CHECK(admin.say(fmt::format("APPLY SUB %(USERID dup{0} USERID other{0} MBOXNAME user.dup{0} MBOXNAME user.other{0})\r\n",
                                suffix)) == "OK success\r\n");
    CHECK(admin.say("GET USER dup" + suffix + "\r\n").find("* LSUB (user.dup" + suffix + ")\r\n") != std::string::npos);
    CHECK(admin.say("GET USER other" + suffix + "\r\n").find("LSUB") == std::string::npos);
    CHECK(admin.say("NOOP\r\n") == kNoopOk);

    // Before login the depth limit is 4 (and APPLY is refused anyway).
    Peer stranger(world, bytewise);
    CHECK(stranger.say("NOOP (((((x)))))\r\n") == "BAD Unexpected extra arguments to Noop\r\n");
    CHECK(stranger.say("APPLY MESSAGE (((((x)))))\r\n") == "NO Please authenticate first\r\n");
    CHECK(stranger.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("numbers and hex that do not convert", "[bad-input]") {
  SessionWorld world;
  int run = 0;
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    const std::string box = "user.numbers" + std::to_string(run);
    const std::string uid = "numbersuniqueid" + std::to_string(run++);
    // Beyond 64 bits a number does not convert: the field is missing.
    std::string overflow = mailbox_cmd(box, uid, 0, 1, "1", "");
    overflow.replace(overflow.find("HIGHESTMODSEQ 1"), 15, "HIGHESTMODSEQ 18446744073709551616");
    CHECK(admin.say(overflow) == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    std::string negative = mailbox_cmd(box, uid, 0, 1, "-1", "");
    CHECK(admin.say(negative) == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    std::string spaced = mailbox_cmd(box, uid, 0, 1, "\" 1\"", "");
    CHECK(admin.say(spaced) == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    // A GUID of the wrong length in a RESERVE list.
    const std::string good = sha1_hex("x");
    for (const std::string& bad : {good.substr(2), good + "ab", std::string(40, 'x'), std::string()}) {
      INFO(bad);
      CHECK(admin.say("APPLY RESERVE %(PARTITION default MBOXNAME (" + box + ") GUID (" + good + " \"" + bad +
                      "\"))\r\n") == "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
    }
    // ... or in a RECORD.
    CHECK(admin.say(mailbox_cmd(box, uid, 1, 2, "1", record(1, 2, good.substr(1), 1))) ==
          "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    // thrid is the one hex field (16 digits on the wire).  A value that does
    // not convert -- too long for 64 bits, not hex -- reads as 0, as in Cyrus,
    // and the record is stored without one.
    const std::string body = "From: hex@example.com\r\n\r\nhex\r\n";
    REQUIRE(admin.say("APPLY MESSAGE (" + file_literal("default", sha1_hex(body), body.size(), body) + ")\r\n") ==
            "OK success\r\n");
    auto with_thrid = [&](uint32_t n, std::string_view thrid) {
      std::string r = record(n, n + 1, sha1_hex(body), body.size());
      r.insert(r.size() - 1, fmt::format(" ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/thrid USERID \"\" MODSEQ 0 "
                                         "VALUE {}))", thrid));
      return r;
    };
    CHECK(admin.say(mailbox_cmd(box, uid, 3, 4, "1",
                                with_thrid(1, "123456789abcdef01") + " " + with_thrid(2, "xyz") + " " +
                                    with_thrid(3, "00000000000000ab"))) == "OK success\r\n");
    std::string full = admin.say("GET FULLMAILBOX " + box + "\r\n");
    CHECK(full.find("VALUE 00000000000000ab") != std::string::npos);
    CHECK(full.find("thrid") == full.rfind("thrid"));  // only the record whose value converted
    CHECK(admin.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("mailbox contents that cannot be right", "[bad-input]") {
  SessionWorld world;
  const std::string body = "From: a@example.com\r\n\r\nhi\r\n";
  const std::string guid = sha1_hex(body);
  int run = 0;
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    const std::string box = "user.bad" + std::to_string(run);
    const std::string uid = "baduniqueid" + std::to_string(run++);
    // A record whose message was neither uploaded nor reserved.
    CHECK(admin.say(mailbox_cmd(box, uid, 1, 2, "1", record(1, 2, sha1_hex("never sent"), 9))) ==
          "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    // Records out of UID order.
    CHECK(admin.say("APPLY MESSAGE (" + file_literal("default", guid, body.size(), body) + ")\r\n") == "OK success\r\n");
    CHECK(admin.say(mailbox_cmd(box, uid, 2, 3, "1", record(2, 3, guid, body.size()) + " " +
                                                        record(1, 2, guid, body.size()))) ==
          "NO IMAP_PROTOCOL_ERROR Protocol error\r\n");
    // The replica ahead of the master: LAST_UID going backwards.
    CHECK(admin.say(mailbox_cmd(box, uid, 2, 3, "1", record(1, 2, guid, body.size()) + " " +
                                                        record(2, 3, guid, body.size()))) == "OK success\r\n");
    CHECK(admin.say(mailbox_cmd(box, uid, 1, 3, "1", record(1, 2, guid, body.size()))) ==
          "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
    CHECK(admin.say(mailbox_cmd(box, uid, 2, 2, "1", "")) == "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
    // UIDVALIDITY 0 is what an intermediate has; a mailbox with messages
    // that says so is sent to the client's full update.
    CHECK(admin.say(mailbox_cmd(box, uid, 2, 3, "0", "")) == "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("APPLY RESERVE with 10,000 GUIDs", "[bad-input]") {
  SessionWorld world;
  std::string guids;
  std::string missing;
  for (int i = 0; i < 10000; ++i) {
    std::string g = sha1_hex("message " + std::to_string(i));
    guids += (i ? " " : "") + g;
    missing += (i ? " " : "") + g;
  }
  const std::string reserve = "APPLY RESERVE %(PARTITION default MBOXNAME (user.alice) GUID (" + guids + "))\r\n";
  both_ways([&](bool bytewise) {
    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say(reserve) == "* MISSING (" + missing + ")\r\nOK success\r\n");
    // Before login: refused whole, however long.
    Peer stranger(world, bytewise);
    CHECK(stranger.say(reserve) == "NO Please authenticate first\r\n");
    CHECK(stranger.say("NOOP\r\n") == kNoopOk);
  });
}

TEST_CASE("APPLY before AUTHENTICATE, AUTHENTICATE twice", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer csync(world, bytewise);
    CHECK(csync.say("APPLY RESERVE %(PARTITION default MBOXNAME (user.alice) GUID ())\r\n") ==
          "NO Please authenticate first\r\n");
    CHECK(csync.say("GET USER alice\r\n") == "NO Please authenticate first\r\n");
    CHECK(csync.say("APPLY %x\r\n") == "NO Please authenticate first\r\n");
    CHECK(csync.say("NOOP\r\n") == kNoopOk);

    Peer imap(world, bytewise, Framing::imap);
    CHECK(imap.say("S0 SYNCAPPLY RESERVE %(PARTITION default)\r\n") == "S0 BAD Please login first\r\n");
    CHECK(imap.say("S1 SYNCGET %x\r\n") == "S1 BAD Please login first\r\n");
    CHECK(imap.say("a1 NOOP\r\n") == "a1 OK Completed\r\n");

    Peer admin(world, bytewise, Framing::csync, Who::admin);
    CHECK(admin.say("AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n") == "BAD Already authenticated\r\n");
    CHECK(admin.say("AUTHENTICATE LOGIN\r\n") == "BAD Already authenticated\r\n");
    CHECK(admin.say("NOOP\r\n") == kNoopOk);

    Peer imap_admin(world, bytewise, Framing::imap, Who::admin);
    CHECK(imap_admin.say("A02 AUTHENTICATE PLAIN " + plain("admin", "adminpw") + "\r\n") ==
          "A02 BAD Already authenticated\r\n");
    CHECK(imap_admin.say("A03 LOGIN admin adminpw\r\n") == "A03 BAD Already logged in\r\n");
    CHECK(imap_admin.say("a1 NOOP\r\n") == "a1 OK Completed\r\n");
  });
}

// The admin gate also holds for lines that do not parse, lower-case verbs
// and a second login attempt (the well-formed table is in test_session).
TEST_CASE("a non-admin, on every verb", "[bad-input]") {
  SessionWorld world;
  both_ways([&](bool bytewise) {
    Peer alice(world, bytewise, Framing::csync, Who::alice);
    for (const char* line : {"APPLY RESERVE %(PARTITION default)", "apply reserve %()", "APPLY %x", "GET USER alice",
                             "get user alice x", "RESTORE MAILBOX %()", "RESTART", "restart x", "NOOP", "NOOP x",
                             "EXIT", "COMPRESS DEFLATE", "STARTTLS", "FROB", "AUTHENTICATE PLAIN =",
                             "\x01"}) {
      INFO(line);
      CHECK(alice.say(std::string(line) + "\r\n") == "NO Permission denied\r\n");
    }
    CHECK_FALSE(alice.closed());

    Peer imap(world, bytewise, Framing::imap, Who::alice);
    for (const char* verb : {"SYNCAPPLY RESERVE %()", "syncapply reserve %()", "SYNCAPPLY %x", "SYNCGET USER alice",
                             "SYNCGET %x", "SYNCRESTORE MAILBOX %()", "SYNCRESTART", "syncrestart x"}) {
      INFO(verb);
      CHECK(imap.say(std::string("t1 ") + verb + "\r\n") == "t1 BAD Unrecognized command\r\n");
    }
    CHECK(imap.say("t2 NOOP\r\n") == "t2 OK Completed\r\n");
  });
}
