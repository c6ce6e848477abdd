// The command reader.  Every input goes through parse(), which feeds it whole,
// byte at a time and in chunks of 7 and requires the same outcomes.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "dlist_test_support.h"
#include "protocol/command_parser.h"
#include "storage/guid.h"

using namespace replicad::protocol;
using namespace replicad::protocol::testing;
using replicad::storage::sha1_of;

namespace {

bool contains(const std::string& haystack, std::string_view needle) {
  return haystack.find(needle) != std::string::npos;
}

// An error event followed by NOOP parsed normally: the stream stayed in step.
void require_error_then_noop(const ParseRun& run, std::string_view why) {
  REQUIRE(run.events.size() == 2);
  CHECK(run.events[0].rfind("error: ", 0) == 0);
  CHECK(contains(run.events[0], why));
  CHECK(run.events[1] == R"(command: "NOOP")");
  CHECK_FALSE(run.mid_command);
}

std::string file_literal(std::string_view partition, std::string_view body) {
  return fmt::format("%{{{} {} {}}}\r\n", partition, sha1_of(body).hex(), body.size()) + std::string(body);
}

}  // namespace

TEST_CASE("APPLY MAILBOX from the spec, with records and a {8+} literal", "[parser]") {
  const std::string line =
      "APPLY MAILBOX %(UNIQUEID na3m3mje6iqmb6wiucj34l0u MBOXNAME user.alice.Archive "
      "SYNC_CRC 80602754 SYNC_CRC_ANNOT 4182951670 LAST_UID 3 HIGHESTMODSEQ 6 RECENTUID 3 "
      "RECENTTIME 1796302463 LAST_APPENDDATE 1796302463 POP3_LAST_LOGIN 0 POP3_SHOW_AFTER 0 "
      "UIDVALIDITY 1796302464 PARTITION default ACL \"alice\tlrswipkxtecdan\t\" OPTIONS P "
      "QUOTAROOT user.alice CREATEDMODSEQ 1 FOLDERMODSEQ 2 "
      "ANNOTATIONS (%(ENTRY /specialuse USERID alice MODSEQ 0 VALUE {8+}\r\n\\Archive)) "
      "RECORD (%(UID 1 MODSEQ 6 LAST_UPDATED 1796302463 FLAGS (\\Seen $Forwarded NonJunk) "
      "INTERNALDATE 1630265022 SIZE 5558 GUID ec9ea4b8c3d7f51e05ee8fe70c8a35cde10aa064 "
      "ANNOTATIONS (%(ENTRY /vendor/cmu/cyrus-imapd/savedate USERID \"\" MODSEQ 0 VALUE 1796302463) "
      "%(ENTRY /vendor/cmu/cyrus-imapd/createdmodseq USERID \"\" MODSEQ 0 VALUE 3))) "
      "%(UID 2 MODSEQ 4 FLAGS () GUID 5614c3ffc98228c609c8571bd544346e972ec013)))\r\n";
  ParseRun run = parse(line);
  REQUIRE(run.commands.size() == 1);
  REQUIRE(run.events.size() == 1);
  const auto& cmd = run.commands[0];
  REQUIRE(cmd.size() == 3);
  CHECK(cmd[0].str == "APPLY");
  CHECK(cmd[1].str == "MAILBOX");
  const Dlist& mbox = cmd[2];
  REQUIRE(mbox.is_kvlist());
  CHECK(to_atom(mbox.get("MBOXNAME")) == "user.alice.Archive");
  CHECK(to_num32(mbox.get("SYNC_CRC_ANNOT")) == 4182951670u);
  CHECK(to_atom(mbox.get("ACL")) == "alice\tlrswipkxtecdan\t");
  const Dlist* annots = mbox.get("ANNOTATIONS");
  REQUIRE(annots != nullptr);
  REQUIRE(annots->items.size() == 1);
  const Dlist* value = annots->items[0].get("VALUE");
  REQUIRE(value != nullptr);
  CHECK(value->str == "\\Archive");
  CHECK_FALSE(value->raw_flag);  // a literal, not a flag
  const Dlist* records = mbox.get("RECORD");
  REQUIRE(records != nullptr);
  REQUIRE(records->items.size() == 2);
  const Dlist& rec = records->items[0];
  CHECK(to_num32(rec.get("UID")) == 1u);
  CHECK(to_guid(rec.get("GUID"))->hex() == "ec9ea4b8c3d7f51e05ee8fe70c8a35cde10aa064");
  const Dlist* flags = rec.get("FLAGS");
  REQUIRE(flags != nullptr);
  CHECK(dump(*flags) == R"(FLAGS=(flag:"\\Seen" "$Forwarded" "NonJunk"))");
  const Dlist* userid = rec.get("ANNOTATIONS")->items[0].get("USERID");
  CHECK(userid->is_string());
  CHECK(userid->str.empty());
  CHECK(records->items[1].get("FLAGS")->items.empty());
}

TEST_CASE("APPLY MESSAGE with two file literals streams both to the sink", "[parser]") {
  const std::string first = "From: a\r\nSubject: (x) {5+}\r\n\r\nbody )\r\n";
  const std::string second = std::string("binary\0bytes\r\n%{", 16);
  const std::string line = "APPLY MESSAGE (" + file_literal("default", first) + " " +
                           file_literal("default", second) + ")\r\nNOOP\r\n";
  ParseRun run = parse(line);
  REQUIRE(run.commands.size() == 2);
  const auto& cmd = run.commands[0];
  REQUIRE(cmd.size() == 3);
  REQUIRE(cmd[2].items.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    const Dlist& f = cmd[2].items[i];
    REQUIRE(f.is_file());
    CHECK(f.file.partition == "default");
    CHECK(f.file.verified);
    CHECK(f.file.size == (i == 0 ? first.size() : second.size()));
  }
  CHECK(cmd[2].items[1].file.guid_hex == sha1_of(second).hex());
  CHECK(run.sink_log.size() == 4);  // begin, finish, begin, finish
  CHECK(run.events[1] == R"(command: "NOOP")");
}

TEST_CASE("file literal details: NIL members, bare LF, quoted partition, empty file", "[parser]") {
  const std::string empty_guid = sha1_of("").hex();
  ParseRun run = parse("APPLY MESSAGE (NIL %{\"default\" " + empty_guid + " 0}\n)\r\n");
  REQUIRE(run.commands.size() == 1);
  CHECK(dump(run.commands[0][2]) == "(NIL file(default " + empty_guid + " 0 ok))");
}

TEST_CASE("APPLY RESERVE from the spec", "[parser]") {
  ParseRun run = parse(
      "APPLY RESERVE %(PARTITION default MBOXNAME (user.alice user.alice.#sieve user.alice.Archive) "
      "GUID (2ea03cb76f27db9a03443959c757406932661147 5614c3ffc98228c609c8571bd544346e972ec013))\r\n");
  REQUIRE(run.commands.size() == 1);
  const Dlist& kv = run.commands[0][2];
  CHECK(kv.get("MBOXNAME")->items.size() == 3);
  CHECK(kv.get("MBOXNAME")->items[1].str == "user.alice.#sieve");
  CHECK(to_guid(&kv.get("GUID")->items[1]).has_value());
}

TEST_CASE("AUTHENTICATE and its raw response lines", "[parser]") {
  AfterCommand after = [](const std::vector<Dlist>& cmd, CommandParser& parser) {
    // Without an initial response the client's next line is a response.
    if (cmd.size() == 2 && cmd[0].str == "AUTHENTICATE") parser.expect_raw_line();
  };
  ParseRun run = parse(
      "AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\n"
      "AUTHENTICATE SCRAM-SHA-256\r\n"
      "(not \"a list {5+}\r\n"
      "AUTHENTICATE LOGIN\r\n"
      "\r\n"
      "NOOP\r\n",
      preauth_limits(), false, after);
  REQUIRE(run.events.size() == 6);
  CHECK(run.events[0] == R"(command: "AUTHENTICATE" "PLAIN" "AGFkbWluAGFkbWlucHc=")");
  CHECK(run.events[1] == R"(command: "AUTHENTICATE" "SCRAM-SHA-256")");
  CHECK(run.events[2] == R"(command: "(not \"a list {5+}")");  // raw, not parsed
  CHECK(run.events[4] == R"(command: "")");                    // an empty response
  CHECK(run.events[5] == R"(command: "NOOP")");
}

TEST_CASE("a raw line over the line limit fails, and the next line parses", "[parser]") {
  ParserLimits limits;
  limits.max_line_bytes = 16;
  AfterCommand after = [](const std::vector<Dlist>& cmd, CommandParser& parser) {
    if (!cmd.empty() && cmd[0].str == "AUTH") parser.expect_raw_line();
  };
  ParseRun run = parse("AUTH\r\n" + std::string(40, 'x') + "\r\nNOOP\r\n", limits, false, after);
  REQUIRE(run.events.size() == 3);
  CHECK(contains(run.events[1], "longer than 16"));
  CHECK(run.events[2] == R"(command: "NOOP")");
}

TEST_CASE("IMAP flavour lines", "[parser]") {
  CHECK(parse("S1 SYNCGET USER alice\r\n").events ==
        std::vector<std::string>{R"(command: "S1" "SYNCGET" "USER" "alice")"});
  // {N+} never asks for a continuation.
  CHECK(parse("A01 LOGIN \"a b\" {3+}\r\nxyz\r\n").events ==
        std::vector<std::string>{R"(command: "A01" "LOGIN" "a b" "xyz")"});
}

TEST_CASE("a synchronising literal asks for a continuation once", "[parser]") {
  ParseRun run = parse("A02 LOGIN bob {3}\r\nxyz\r\n");
  CHECK(run.events == std::vector<std::string>{"continuation", R"(command: "A02" "LOGIN" "bob" "xyz")"});

  CommandParser parser({}, nullptr);
  const std::string input = "A LOGIN {3}\r\nxyz\r\n";
  auto out = parser.feed(input);
  CHECK(out.status == CommandParser::Status::continuation);
  CHECK(out.consumed == 13);  // right after the header's LF
  out = parser.feed(std::string_view(input).substr(13));
  CHECK(out.status == CommandParser::Status::command);
  CHECK(out.consumed == input.size() - 13);

  // {0} too: the peer still waits for the go-ahead.
  CHECK(parse("A X {0}\r\n\r\n").events == std::vector<std::string>{"continuation", R"(command: "A" "X" "")"});
}

TEST_CASE("values: NIL, quoting, escapes, atoms with specials, flags, white space", "[parser]") {
  CHECK(parse("X NIL \"NIL\" {3+}\r\nNIL nil\r\n").events ==
        std::vector<std::string>{R"(command: "X" NIL "NIL" "NIL" "nil")"});
  CHECK(parse("X \"a\\\"b\\\\c\" \"\"\r\n").events ==
        std::vector<std::string>{R"(command: "X" "a\"b\\c" "")"});
  CHECK(parse("X a{b c%d e\\f *[]<0.5>\r\n").events ==
        std::vector<std::string>{R"(command: "X" "a{b" "c%d" "e\\f" "*[]<0.5>")"});
  CHECK(parse("X (\\Seen \\Flagged) \\Answered\r\n").events ==
        std::vector<std::string>{R"(command: "X" (flag:"\\Seen" flag:"\\Flagged") flag:"\\Answered")"});
  // TABs at depth 0, CR LF inside parentheses, a bare LF at the end,
  // no separator needed before a parenthesis.
  CHECK(parse("X\tY  (a\r\n b\n)c(d)\n").events ==
        std::vector<std::string>{R"(command: "X" "Y" ("a" "b") "c" ("d"))"});
  // Literal bytes are kept exactly, NUL included.
  CHECK(parse(std::string("X {4+}\r\na\0\r\n\r\n", 14)).events ==
        std::vector<std::string>{R"(command: "X" "a\x00\x0d\x0a")"});
  CHECK(parse("X %() %(K ()) ()\r\n").events ==
        std::vector<std::string>{R"(command: "X" %() %(K=()) ())"});
  // Keys may be quoted or literal, as Cyrus reads them with getastring.
  CHECK(parse("X %(\"A B\" 1 {1+}\r\nC 2 NIL 3)\r\n").events ==
        std::vector<std::string>{R"(command: "X" %(A B="1" C="2" NIL="3"))"});
}

TEST_CASE("an empty line is a command without values", "[parser]") {
  CHECK(parse("\r\n  \r\nNOOP\r\n").events ==
        std::vector<std::string>{"command: ", "command: ", R"(command: "NOOP")"});
}

TEST_CASE("syntax errors are skipped to the end of the command", "[parser]") {
  SECTION("unterminated quoted string") {
    require_error_then_noop(parse("APPLY X \"abc\r\nNOOP\r\n"), "quoted string");
    require_error_then_noop(parse("APPLY X (\"abc\\\r\nNOOP\r\n"), "quoted string");
  }
  SECTION("% not followed by ( or {") { require_error_then_noop(parse("APPLY X %x\r\nNOOP\r\n"), "'%'"); }
  SECTION("odd kvlist") {
    require_error_then_noop(parse("APPLY X %(A 1 B)\r\nNOOP\r\n"), "kvlist key B has no value");
  }
  SECTION("a list where a key belongs") {
    require_error_then_noop(parse("APPLY X %((A) 1)\r\nNOOP\r\n"), "kvlist key expected");
  }
  SECTION("unbalanced parenthesis") { require_error_then_noop(parse("APPLY X a)\r\nNOOP\r\n"), "')'"); }
  SECTION("bad literal length") {
    require_error_then_noop(parse("APPLY X {abc}\r\nNOOP\r\n"), "malformed literal");
    require_error_then_noop(parse("APPLY X {3+]\r\nNOOP\r\n"), "malformed literal");
    require_error_then_noop(parse("APPLY X {3+}x\r\nNOOP\r\n"), "malformed literal");
  }
  SECTION("malformed file literal header") {
    require_error_then_noop(parse("APPLY MESSAGE (%{default})\r\nNOOP\r\n"), "file literal header");
    require_error_then_noop(parse("APPLY MESSAGE (%{default  abc 1})\r\nNOOP\r\n"),
                            "file literal header");
  }
  SECTION("the message says where") {
    ParseRun run = parse("APPLY MAILBOX %(RECORD (%(UID 1) %(FLAGS (\\Seen %x))))\r\nNOOP\r\n");
    require_error_then_noop(run, "in RECORD[1].FLAGS[1]");
  }
  SECTION("client bytes in the message cannot break the reply line") {
    ParseRun run = parse("APPLY X %({11+}\r\nKEY\r\nBAD x\x01)\r\nNOOP\r\n");
    require_error_then_noop(run, "kvlist key KEY??BAD x? has no value");
    ParseRun long_key = parse("APPLY X %(" + std::string(500, 'k') + ")\r\nNOOP\r\n");
    require_error_then_noop(long_key, std::string(64, 'k') + "... has no value");
    CHECK(long_key.events[0].size() < 200);
  }
  SECTION("the first error is the one reported") {
    require_error_then_noop(parse("APPLY X %x %(A) \"b\r\nNOOP\r\n"), "'%'");
  }
}

TEST_CASE("literal sizes", "[parser]") {
  SECTION("a {N} literal over Cyrus's limit gets no go-ahead, so the command ends at its header") {
    ParseRun run = parse("A LOGIN {99999999999}\r\nNOOP\r\n");
    require_error_then_noop(run, "literal of 99999999999 bytes");
  }
  SECTION("a {N} literal over max_literal likewise") {
    ParserLimits limits;
    limits.max_literal = 10;
    require_error_then_noop(parse("A LOGIN {11}\r\nNOOP\r\n", limits), "exceeds the limit of 10");
  }
  SECTION("a {N+} literal over max_literal is skipped by count") {
    ParserLimits limits;
    limits.max_literal = 10;
    require_error_then_noop(parse("A X ({20+}\r\n)\r\nFAKE {9}\r\n\r\nXXXXX)\r\nNOOP\r\n", limits),
                            "literal of 20 bytes");
  }
  SECTION("a length that does not fit 64 bits is fatal") {
    ParseRun run = parse("A X {99999999999999999999999+}\r\n");
    REQUIRE_FALSE(run.events.empty());
    CHECK(run.events[0].rfind("fatal: ", 0) == 0);
    CHECK(contains(run.events[0], "does not fit"));
  }
  SECTION("a {N} literal in a command that already failed ends it at the header") {
    require_error_then_noop(parse("A X %x {3}\r\nNOOP\r\n"), "'%'");
  }
  SECTION("{N+} literals of a failed command are skipped by count") {
    require_error_then_noop(parse("A X %x {7+}\r\n\r\nNO\r\n)\r\nNOOP\r\n"), "'%'");
  }
  SECTION("EOF in the middle of a literal needs more") {
    ParseRun run = parse("A X {10+}\r\nabc");
    CHECK(run.events.empty());
    CHECK(run.mid_command);
    ParseRun complete = parse("A X {10+}\r\nabc\r\n\r\nxyz\r\n");
    CHECK(complete.events == std::vector<std::string>{R"(command: "A" "X" "abc\x0d\x0a\x0d\x0axyz")"});
  }
}

TEST_CASE("limits", "[parser]") {
  ParserLimits limits;
  SECTION("overlong line") {
    limits.max_line_bytes = 32;
    require_error_then_noop(parse("APPLY X " + std::string(100, 'a') + " (b \"c\")\r\nNOOP\r\n", limits),
                            "longer than 32");
    // Literal bytes do not count towards the line.
    CHECK(parse("A {40+}\r\n" + std::string(40, 'x') + "\r\n", limits).commands.size() == 1);
    // Exactly at the limit is fine (the LF included).
    CHECK(parse(std::string(30, 'a') + "\r\n", limits).commands.size() == 1);
    CHECK(parse(std::string(31, 'a') + "\r\n", limits).commands.empty());
  }
  SECTION("too deep") {
    limits.max_depth = 4;
    CHECK(parse("A ((((x))))\r\n", limits).commands.size() == 1);
    require_error_then_noop(parse("A (((((x)))))\r\nNOOP\r\n", limits), "deeper than 4");
  }
  SECTION("too many values") {
    limits.max_items = 5;
    CHECK(parse("A (b c) d\r\n", limits).commands.size() == 1);
    require_error_then_noop(parse("A (b c d) e\r\nNOOP\r\n", limits), "more than 5 values");
  }
  SECTION("the tag bounds only the first word") {
    limits.max_tag_bytes = 8;
    CHECK(parse("12345678 " + std::string(50, 'w') + "\r\n", limits).commands.size() == 1);
    require_error_then_noop(parse("123456789 X\r\nNOOP\r\n", limits), "first word");
    require_error_then_noop(parse("\"123456789\" X\r\nNOOP\r\n", limits), "first word");
    require_error_then_noop(parse("{9+}\r\n123456789 X\r\nNOOP\r\n", limits), "first word");
  }
  SECTION("before authentication: no file literals") {
    const std::string body = "hello";
    ParseRun run = parse("APPLY MESSAGE (" + file_literal("default", body) + ")\r\nNOOP\r\n",
                         preauth_limits());
    require_error_then_noop(run, "not accepted");
    CHECK(run.sink_log.empty());
  }
  SECTION("file literal over max_file_literal") {
    limits.max_file_literal = 4;
    ParseRun run = parse("APPLY MESSAGE (" + file_literal("default", "hello\r\nNOOP\r\n") + ")\r\nNOOP\r\n",
                         limits);
    require_error_then_noop(run, "exceeds the limit of 4");
    CHECK(run.sink_log.empty());
  }
  SECTION("no sink, no file literals") {
    ParseRun run = parse("APPLY MESSAGE (" + file_literal("p", "x") + ")\r\nNOOP\r\n", limits, false);
    require_error_then_noop(run, "not accepted");
  }
}

TEST_CASE("file literal failures keep the stream in step", "[parser]") {
  const std::string body = "Subject: hi\r\n\r\nNOOP\r\n)\r\n";
  SECTION("bad GUID") {
    ParseRun run = parse("APPLY MESSAGE (%{default 12345 " + std::to_string(body.size()) + "}\r\n" + body +
                         ")\r\nNOOP\r\n");
    require_error_then_noop(run, "40 hex");
    CHECK(run.sink_log == std::vector<std::string>{fmt::format("begin default 12345 {}", body.size())});
  }
  SECTION("wrong SHA-1: the command parses, the file is not verified") {
    const std::string other = sha1_of("something else").hex();
    ParseRun run = parse("APPLY MESSAGE (%{default " + other + " " + std::to_string(body.size()) + "}\r\n" +
                         body + ")\r\nNOOP\r\n");
    REQUIRE(run.commands.size() == 2);
    CHECK(dump(run.commands[0][2]) == fmt::format("(file(default {} {} bad))", other, body.size()));
    CHECK(run.events[1] == R"(command: "NOOP")");
  }
  SECTION("refused by the sink") {
    MemorySink setup;
    setup.refuse = true;
    ParseRun run = parse("APPLY MESSAGE (" + file_literal("default", body) + ")\r\nNOOP\r\n", {}, true, {},
                         &setup);
    require_error_then_noop(run, "no space left");
  }
  SECTION("a write error drops the rest of the file") {
    MemorySink setup;
    setup.fail_after = 1;
    ParseRun run = parse("APPLY MESSAGE (" + file_literal("default", body) + ")\r\nNOOP\r\n", {}, true, {},
                         &setup);
    require_error_then_noop(run, "disk full");
    const std::string guid = sha1_of(body).hex();
    CHECK(run.sink_log == std::vector<std::string>{fmt::format("begin default {} {}", guid, body.size()),
                                                   "discard " + guid});
  }
  SECTION("files of a failed command are discarded") {
    const std::string guid = sha1_of(body).hex();
    ParseRun run = parse("APPLY MESSAGE (" + file_literal("default", body) + " %x)\r\nNOOP\r\n");
    require_error_then_noop(run, "'%'");
    CHECK(run.sink_log == std::vector<std::string>{fmt::format("begin default {} {}", guid, body.size()),
                                                   "finish " + guid + " ok", "discard " + guid});
  }
  SECTION("a file literal in an already failed command never reaches the sink") {
    ParseRun run = parse("APPLY MESSAGE %x (" + file_literal("default", body) + ")\r\nNOOP\r\n");
    require_error_then_noop(run, "'%'");
    CHECK(run.sink_log.empty());
  }
  SECTION("file size that does not fit 64 bits is fatal") {
    ParseRun run = parse("APPLY MESSAGE (%{p " + sha1_of("").hex() + " 123456789012345678901}\r\n");
    REQUIRE_FALSE(run.events.empty());  // what follows is garbage; the session closes
    CHECK(run.events[0].rfind("fatal: ", 0) == 0);
  }
}

TEST_CASE("set_limits and buffered_bytes", "[parser]") {
  CommandParser parser(preauth_limits(), nullptr);
  auto out = parser.feed("A X {20000+}\r\n");
  CHECK(out.status == CommandParser::Status::need_more);  // the error comes at the end of the line
  parser.feed(std::string(20000, 'x'));
  out = parser.feed("\r\n");
  CHECK(out.status == CommandParser::Status::error);
  CHECK_FALSE(parser.fatal());

  ParserLimits big;
  parser.set_limits(big);
  parser.feed("A X {20000+}\r\n");
  parser.feed(std::string(20000, 'x'));
  CHECK(parser.buffered_bytes() >= 20000);
  out = parser.feed("\r\n");
  REQUIRE(out.status == CommandParser::Status::command);
  CHECK(parser.take_command()[2].str.size() == 20000);
  CHECK(parser.buffered_bytes() == 0);
}

TEST_CASE("a large APPLY MAILBOX line parses in one feed", "[parser]") {
  std::string line = "APPLY MAILBOX %(MBOXNAME user.bob RECORD (";
  for (int uid = 1; uid <= 20000; ++uid)
    line += fmt::format("%(UID {} MODSEQ {} FLAGS (\\Seen) GUID {} ANNOTATIONS ()) ", uid, uid + 5,
                        sha1_of(std::to_string(uid)).hex());
  line += "))\r\n";
  CommandParser parser({}, nullptr);
  auto out = parser.feed(line);
  REQUIRE(out.status == CommandParser::Status::command);
  CHECK(out.consumed == line.size());
  auto cmd = parser.take_command();
  CHECK(cmd[2].get("RECORD")->items.size() == 20000);
  CHECK(to_num32(cmd[2].get("RECORD")->items.back().get("UID")) == 20000u);
}

TEST_CASE("random token soup: whole, byte-wise and chunked feeding agree", "[parser]") {
  const std::string good_guid = sha1_of("12345").hex();
  const std::vector<std::string> pieces = {
      "(", ")", "%(", "%{default " + good_guid + " 5}\r\n12345", "%{p xyz 2}\n..", "{3+}\r\nabc",
      "{2}\r\nab", "{0}\r\n", "\"q s\"", "\"", "\"a\\\"", "\\Seen", "NIL", " ", " ", "\t", "\r\n", "\n",
      "\r", "x", "KEY", "%x", "{abc}", "{99999999999}\r\n", "%", "{", "}", "\\"};
  std::mt19937 rng(7);
  std::uniform_int_distribution<size_t> pick(0, pieces.size() - 1);
  std::uniform_int_distribution<int> length(1, 40);
  ParserLimits limits;
  limits.max_depth = 3;
  limits.max_items = 12;
  limits.max_line_bytes = 120;
  for (int i = 0; i < 400; ++i) {
    std::string input;
    for (int n = length(rng); n > 0; --n) input += pieces[pick(rng)];
    input += "\r\nNOOP\r\n";
    INFO("input: " << show_bytes(input));
    parse(input, limits);  // checks that the three feedings agree
  }
}

TEST_CASE("a failed command still names its first words", "[parser]") {
  auto words_after_error = [](std::string_view input) {
    CommandParser parser({}, nullptr);
    auto out = parser.feed(input);
    REQUIRE(out.status == CommandParser::Status::error);
    return parser.failed_words();
  };
  using Words = std::vector<std::string>;
  CHECK(words_after_error("APPLY MAILBOX %x\r\n") == Words{"APPLY", "MAILBOX"});
  CHECK(words_after_error("S1 SYNCAPPLY (((\"x\r\n") == Words{"S1", "SYNCAPPLY"});
  CHECK(words_after_error("S1 %x\r\n") == Words{"S1"});
  CHECK(words_after_error("(a) APPLY %x\r\n").empty());  // not a word: nothing to go by
  CHECK(words_after_error(")\r\n").empty());
  // The second word is cut like a tag; literals count as words too.
  CHECK(words_after_error("A " + std::string(100, 'v') + " %x\r\n") == Words{"A", std::string(64, 'v')});
  CHECK(words_after_error("{2+}\r\nS1 SYNCGET %x\r\n") == Words{"S1", "SYNCGET"});
  // A fatal error keeps them as well.
  CHECK(words_after_error("GET X {99999999999999999999999+}\r\n") == Words{"GET", "X"});
}
