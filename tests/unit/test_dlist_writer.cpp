// The writer's encoding choices (spec §2.3) and writer -> parser round trips.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "dlist_test_support.h"
#include "protocol/command_parser.h"
#include "protocol/dlist_writer.h"

using namespace replicad::protocol;
using namespace replicad::protocol::testing;

namespace {

std::string astring(std::string_view value) {
  std::string out;
  write_astring(out, value);
  return out;
}

std::string value_text(const Dlist& v) {
  std::string out;
  write_value(out, v);
  return out;
}

}  // namespace

TEST_CASE("write_astring follows the §2.3 table", "[writer]") {
  CHECK(astring("") == "\"\"");
  CHECK(astring("user.alice") == "user.alice");
  CHECK(astring("P") == "P");
  CHECK(astring("/vendor/cmu/cyrus-imapd/savedate") == "/vendor/cmu/cyrus-imapd/savedate");
  CHECK(astring("$Forwarded") == "$Forwarded");
  CHECK(astring("a]b[c<0>") == "a]b[c<0>");
  CHECK(astring("\x1f") == "\x1f");  // Cyrus lets 0x1F through as an atom byte
  // Not atoms, but quotable.
  CHECK(astring("NIL") == "\"NIL\"");
  CHECK(astring("a b") == "\"a b\"");
  CHECK(astring("alice\tlrswipkxtecdan\t") == "\"alice\tlrswipkxtecdan\t\"");
  CHECK(astring("{abc") == "\"{abc\"");
  CHECK(astring("(x)") == "\"(x)\"");
  CHECK(astring("*") == "\"*\"");
  CHECK(astring("\x1e") == "\"\x1e\"");
  CHECK(astring("\x7f") == "\"\x7f\"");
  // Literals, always {N}, never {N+}.
  CHECK(astring("\\Archive") == "{8}\r\n\\Archive");
  CHECK(astring("50%") == "{3}\r\n50%");
  CHECK(astring("say \"hi\"") == "{8}\r\nsay \"hi\"");
  CHECK(astring("a\r\nb") == "{4}\r\na\r\nb");
  CHECK(astring("a\nb") == "{3}\r\na\nb");
  CHECK(astring("caf\xc3\xa9") == "{5}\r\ncaf\xc3\xa9");
  CHECK(astring(std::string("a\0b", 3)) == std::string("{3}\r\na\0b", 8));
  // Length: atoms and quoted strings stop at 1023 bytes.
  CHECK(astring(std::string(1023, 'a')) == std::string(1023, 'a'));
  CHECK(astring(std::string(1024, 'a')) == "{1024}\r\n" + std::string(1024, 'a'));
  std::string spaced(1023, ' ');
  CHECK(astring(spaced) == "\"" + spaced + "\"");
  spaced += ' ';
  CHECK(astring(spaced) == "{1024}\r\n" + spaced);
}

TEST_CASE("write_value: NIL, flags, lists, kvlists, file headers", "[writer]") {
  CHECK(value_text(Dlist()) == "NIL");
  CHECK(value_text(Dlist::string_value("NIL")) == "\"NIL\"");
  CHECK(value_text(Dlist::string_value("")) == "\"\"");
  // The same bytes: a value is a literal, a flag is raw.
  CHECK(value_text(Dlist::string_value("\\Archive")) == "{8}\r\n\\Archive");
  CHECK(value_text(Dlist::flag_value("\\Archive")) == "\\Archive");
  // A flag that would not read back as itself is not written raw.
  CHECK(value_text(Dlist::flag_value("a b")) == "\"a b\"");
  CHECK(value_text(Dlist::flag_value("NIL")) == "\"NIL\"");
  CHECK(value_text(Dlist::flag_value("")) == "\"\"");
  CHECK(value_text(Dlist::flag_value("{3}")) == "\"{3}\"");

  Dlist rec = Dlist::kvlist_value();
  rec.add_num("UID", 1);
  Dlist& flags = rec.add_list("FLAGS");
  flags.add(Dlist::flag_value("\\Seen"));
  flags.add(Dlist::string_value("NonJunk"));
  Dlist& annots = rec.add_list("ANNOTATIONS");
  Dlist& annot = annots.add_kvlist({});
  annot.add_string("ENTRY", "/specialuse");
  annot.add_string("USERID", "");
  annot.add_string("VALUE", "\\Archive");
  rec.add_nil("X");
  rec.add_list("EMPTY");
  CHECK(value_text(rec) ==
        "%(UID 1 FLAGS (\\Seen NonJunk) ANNOTATIONS (%(ENTRY /specialuse USERID \"\" VALUE {8}\r\n"
        "\\Archive)) X NIL EMPTY ())");
  CHECK(value_text(Dlist::kvlist_value()) == "%()");

  Dlist file;
  file.type = Dlist::Type::file;
  file.file.partition = "default";
  file.file.guid_hex = "538fb01aed0f6aa1a80d408b97702f5e4e528d9f";
  file.file.size = 2290;
  CHECK(value_text(file) == "%{default 538fb01aed0f6aa1a80d408b97702f5e4e528d9f 2290}\r\n");
}

TEST_CASE("write_file and format_item", "[writer]") {
  std::string out;
  write_file(out, "default", "538fb01aed0f6aa1a80d408b97702f5e4e528d9f", "a\r\nb");
  CHECK(out == "%{default 538fb01aed0f6aa1a80d408b97702f5e4e528d9f 4}\r\na\r\nb");

  Dlist missing = Dlist::list_value();
  missing.add(Dlist::string_value("2ea03cb76f27db9a03443959c757406932661147"));
  missing.add(Dlist::string_value("5614c3ffc98228c609c8571bd544346e972ec013"));
  CHECK(format_item("MISSING", missing) ==
        "MISSING (2ea03cb76f27db9a03443959c757406932661147 5614c3ffc98228c609c8571bd544346e972ec013)");
  CHECK(format_item("ENABLED", Dlist::list_value()) == "ENABLED ()");
}

namespace {

// Strings that exercise every encoding: atoms, specials, 8-bit, NUL, CR/LF,
// the word NIL, the empty string and strings around the 1024-byte boundary.
std::string random_string(std::mt19937& rng) {
  static const std::string alphabet =
      std::string("aZ09.$_-/\\\"%{}()*[] \t\r\n\x01\x1f\x7f\xc3\xa9") + '\0';
  std::uniform_int_distribution<int> pick(0, 9);
  switch (pick(rng)) {
    case 0: return "";
    case 1: return "NIL";
    case 2: return std::string(1023 + pick(rng) % 3, 'x');
    default: break;
  }
  std::uniform_int_distribution<size_t> len(1, 12);
  std::uniform_int_distribution<size_t> ch(0, alphabet.size() - 1);
  std::string out;
  for (size_t n = len(rng); n > 0; --n) out += alphabet[ch(rng)];
  return out;
}

Dlist random_value(std::mt19937& rng, int depth) {
  std::uniform_int_distribution<int> pick(0, depth >= 4 ? 3 : 5);
  switch (pick(rng)) {
    case 0: return Dlist::nil_value();
    case 1: {
      static const char* flags[] = {"\\Seen", "\\Deleted", "\\Expunged", "\\X{y}", "\\a%b"};
      return Dlist::flag_value(flags[std::uniform_int_distribution<int>(0, 4)(rng)]);
    }
    case 2:
    case 3: return Dlist::string_value(random_string(rng));
    default: break;
  }
  const bool kv = pick(rng) % 2 == 0;
  Dlist v = kv ? Dlist::kvlist_value() : Dlist::list_value();
  for (int n = std::uniform_int_distribution<int>(0, 4)(rng); n > 0; --n) {
    Dlist item = random_value(rng, depth + 1);
    if (kv) item.name = random_string(rng);
    v.items.push_back(std::move(item));
  }
  return v;
}

}  // namespace

TEST_CASE("writer -> parser round trip of random values", "[writer]") {
  std::mt19937 rng(20240601);
  for (int i = 0; i < 300; ++i) {
    Dlist value = random_value(rng, 0);
    std::string line = "X ";
    write_value(line, value);
    line += "\r\n";
    INFO("line: " << show_bytes(line));
    // parse() also checks that whole, byte-wise and chunked feeding agree.
    ParseRun run = parse(line, {}, false);
    CHECK(line.find("+}") == std::string::npos);
    REQUIRE(run.commands.size() == 1);
    REQUIRE(run.commands[0].size() == 2);
    CHECK(dump(run.commands[0][1]) == dump(value));
  }
}
