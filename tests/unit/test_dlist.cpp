// Dlist builders, lookups and the typed readers of spec §2.4.
#include <catch2/catch.hpp>

#include <string>

#include "dlist_test_support.h"
#include "protocol/dlist.h"

using namespace replicad::protocol;
using replicad::protocol::testing::dump;

namespace {

Dlist s(std::string bytes) { return Dlist::string_value(std::move(bytes)); }

}  // namespace

TEST_CASE("builders make the tree the writer and readers expect", "[dlist]") {
  Dlist kv = Dlist::kvlist_value("MAILBOX");
  kv.add_string("MBOXNAME", "user.alice");
  kv.add_num("LAST_UID", 18446744073709551615u);
  kv.add_nil("QUOTAROOT");
  Dlist& flags = kv.add_list("FLAGS");
  flags.add(Dlist::flag_value("\\Seen"));
  flags.add(Dlist::string_value("$Label1"));
  kv.add_kvlist("EMPTY");
  CHECK(dump(kv) ==
        R"(MAILBOX=%(MBOXNAME="user.alice" LAST_UID="18446744073709551615" QUOTAROOT=NIL )"
        R"(FLAGS=(flag:"\\Seen" "$Label1") EMPTY=%()))");
  CHECK(Dlist().is_nil());
  CHECK(Dlist::nil_value("K").name == "K");
}

TEST_CASE("get: kvlist lookup, first occurrence wins", "[dlist]") {
  Dlist kv = Dlist::kvlist_value();
  kv.add_string("A", "1");
  kv.add_string("B", "2");
  kv.add_string("A", "3");
  REQUIRE(kv.get("A") != nullptr);
  CHECK(kv.get("A")->str == "1");
  CHECK(kv.get("B")->str == "2");
  CHECK(kv.get("C") == nullptr);
  CHECK(kv.get("a") == nullptr);  // keys are case-sensitive

  Dlist list = Dlist::list_value();
  list.add(Dlist::string_value("x", "A"));
  CHECK(list.get("A") == nullptr);  // only kvlists have keys
  CHECK(s("A").get("A") == nullptr);
}

TEST_CASE("to_num64: whole string of decimal digits, up to 2^64-1", "[dlist]") {
  Dlist v = s("0");
  CHECK(to_num64(&v) == 0u);
  v = s("000123");
  CHECK(to_num64(&v) == 123u);
  v = s("18446744073709551615");
  CHECK(to_num64(&v) == 18446744073709551615u);
  for (const char* bad : {"18446744073709551616", "99999999999999999999", "", "-1", "+1", " 1", "1 ",
                          "1a", "0x10", "1.5"}) {
    v = s(bad);
    CHECK_FALSE(to_num64(&v).has_value());
  }
  Dlist nil;
  CHECK_FALSE(to_num64(&nil).has_value());
  Dlist list = Dlist::list_value();
  CHECK_FALSE(to_num64(&list).has_value());
  CHECK_FALSE(to_num64(nullptr).has_value());
}

TEST_CASE("to_num32: like num64, truncated to 32 bits as Cyrus does", "[dlist]") {
  Dlist v = s("4294967295");
  CHECK(to_num32(&v) == 4294967295u);
  v = s("4294967296");
  CHECK(to_num32(&v) == 0u);
  v = s("4294967297");
  CHECK(to_num32(&v) == 1u);
  v = s("18446744073709551615");
  CHECK(to_num32(&v) == 4294967295u);
  v = s("18446744073709551616");
  CHECK_FALSE(to_num32(&v).has_value());
  v = s("");
  CHECK_FALSE(to_num32(&v).has_value());
}

TEST_CASE("to_hex64: hex digits of either case that fit 64 bits", "[dlist]") {
  Dlist v = s("00000000000000ff");
  CHECK(to_hex64(&v) == 255u);
  v = s("FFFFFFFFFFFFFFFF");
  CHECK(to_hex64(&v) == 18446744073709551615u);
  v = s("0ffffffffffffffff");  // a leading zero does not overflow
  CHECK(to_hex64(&v) == 18446744073709551615u);
  v = s("a");
  CHECK(to_hex64(&v) == 10u);
  for (const char* bad : {"10000000000000000", "", "g", "0x1", " 1", "-1"}) {
    v = s(bad);
    CHECK_FALSE(to_hex64(&v).has_value());
  }
}

TEST_CASE("to_guid: exactly 40 hex digits", "[dlist]") {
  const std::string hex = "ec9ea4b8c3d7f51e05ee8fe70c8a35cde10aa064";
  Dlist v = s(hex);
  REQUIRE(to_guid(&v).has_value());
  CHECK(to_guid(&v)->hex() == hex);
  v = s("EC9EA4B8C3D7F51E05EE8FE70C8A35CDE10AA064");
  CHECK(to_guid(&v)->hex() == hex);
  for (std::string bad : {hex.substr(1), hex + "0", hex.substr(1) + "g", std::string()}) {
    v = s(bad);
    CHECK_FALSE(to_guid(&v).has_value());
  }
  Dlist nil;
  CHECK_FALSE(to_guid(&nil).has_value());
}

TEST_CASE("to_atom: no NUL; NIL reads as empty; to_buf: any bytes", "[dlist]") {
  Dlist v = s("alice\tlrs\t");
  CHECK(to_atom(&v) == "alice\tlrs\t");
  const std::string with_nul("a\0b", 3);
  v = s(with_nul);
  CHECK_FALSE(to_atom(&v).has_value());
  CHECK(to_buf(&v) == with_nul);
  Dlist nil;
  CHECK(to_atom(&nil) == "");
  CHECK(to_buf(&nil) == "");
  Dlist list = Dlist::list_value();
  CHECK_FALSE(to_atom(&list).has_value());
  CHECK_FALSE(to_buf(&list).has_value());
  Dlist file;
  file.type = Dlist::Type::file;
  CHECK_FALSE(to_atom(&file).has_value());
  CHECK_FALSE(to_atom(nullptr).has_value());
  CHECK_FALSE(to_buf(nullptr).has_value());
}
