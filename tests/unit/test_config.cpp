// replicad.conf: the imapd.conf grammar (comments, case, continuation
// lines, @include), Cyrus's value forms, problems with their file and line,
// every key documented in docs/configuration.md, and `replicad
// --check-config` exit codes (the binary itself, next to this test's).
#include <catch2/catch.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/settings.h"
#include "test_support.h"

using replicad::Config;
using namespace std::chrono_literals;

namespace {

using replicad::testing::TempDir;

void write(const std::string& path, const std::string& text) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

bool mentions(const std::vector<Config::Problem>& problems, const std::string& text) {
  return std::any_of(problems.begin(), problems.end(),
                     [&](const Config::Problem& p) { return p.message.find(text) != std::string::npos; });
}

const Config::Problem* problem_with(const std::vector<Config::Problem>& problems, const std::string& text) {
  for (const auto& p : problems)
    if (p.message.find(text) != std::string::npos) return &p;
  return nullptr;
}

// The source tree and the build tree, found from this test's own paths.
std::filesystem::path build_root() {
  return std::filesystem::canonical("/proc/self/exe").parent_path().parent_path();
}

std::filesystem::path source_file(const std::string& relative) {
  std::filesystem::path here(__FILE__);  // as meson passed it: relative to the build root, or absolute
  if (here.is_relative()) here = build_root() / here;
  return std::filesystem::weakly_canonical(here.parent_path().parent_path().parent_path() / relative);
}

struct Run {
  int status = -1;
  std::string output;  // stdout and stderr together
};

Run run_replicad(const std::vector<std::string>& args) {
  std::string command = (build_root() / "server" / "replicad").string();
  for (const auto& a : args) command += " '" + a + "'";
  command += " 2>&1";
  Run r;
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = ::pclose(p);
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace

// ---- grammar ------------------------------------------------------------------------

TEST_CASE("comments, blank lines, case and whitespace as in imapd.conf", "[config]") {
  Config c;
  REQUIRE(c.load_text("# a comment\n"
                      "\n"
                      "   ServerName:   replica.example.com   \n"
                      "\t# indented comment\n"
                      "ADMINS: admin sync-master\r\n"
                      "listen:\n"));
  CHECK(c.get_string("servername") == "replica.example.com");
  CHECK(c.get_string("SERVERNAME") == "replica.example.com");
  CHECK(c.get_list("admins") == std::vector<std::string>{"admin", "sync-master"});
  CHECK(c.has("listen"));
  CHECK(c.get_string("listen").empty());
  CHECK(c.problems().empty());
}

TEST_CASE("a line ending in a backslash continues on the next", "[config]") {
  Config c;
  REQUIRE(c.load_text("admins: admin \\\n"
                      "  sync-master \\\n"
                      "  other\n"
                      "servername: x\n"
                      "datadir: /var/lib/replicad\\\n"));  // a last line has nothing to continue with
  CHECK(c.get_list("admins") == std::vector<std::string>{"admin", "sync-master", "other"});
  CHECK(c.get_string("servername") == "x");
  CHECK(c.get_string("datadir") == "/var/lib/replicad\\");
  // Problems name the first line of a continued line.
  Config bad;
  CHECK_FALSE(bad.load_text("a: 1\nb: 2 \\\n 3\nb: 4\n"));
  REQUIRE(bad.problems().size() == 1);
  CHECK(bad.problems()[0].line == 4);
  CHECK_THAT(bad.problems()[0].message, Catch::Contains("first on line 2"));
}

TEST_CASE("lines that are not key: value are problems with their line", "[config]") {
  Config c;
  CHECK_FALSE(c.load_text("servername: x\n"
                          "no colon here\n"
                          ": no key\n"
                          "bad key!: 1\n"
                          "@frobnicate: x\n"
                          "servername: again\n",
                          "replicad.conf"));
  const auto& p = c.problems();
  REQUIRE(p.size() == 5);
  CHECK(p[0].line == 2);
  CHECK_THAT(p[0].message, Catch::Contains("expected 'key: value'"));
  CHECK(p[1].line == 3);
  CHECK(p[2].line == 4);
  CHECK_THAT(p[2].message, Catch::Contains("invalid option name 'bad key!'"));
  CHECK(p[3].line == 5);
  CHECK_THAT(p[3].message, Catch::Contains("unknown directive '@frobnicate'"));
  CHECK(p[4].line == 6);
  CHECK_THAT(p[4].message, Catch::Contains("'servername' is set twice (first on line 1)"));
  for (const auto& problem : p) CHECK(problem.file == "replicad.conf");
  CHECK(c.get_string("servername") == "x");  // the first one stands
}

TEST_CASE("@include reads another file in place, relative to the including one", "[config][include]") {
  TempDir dir{"replicad-config"};
  write(dir.file("etc/replicad.conf"), "servername: main\n@include: conf.d/tls.conf\nadmins: admin\n");
  write(dir.file("etc/conf.d/tls.conf"), "# TLS\ntls_server_cert: /etc/ssl/c.pem\n@include: ../common.conf\n");
  write(dir.file("etc/common.conf"), "loglevel: debug\n");
  Config c;
  REQUIRE(c.load_file(dir.file("etc/replicad.conf")));
  CHECK(c.get_string("servername") == "main");
  CHECK(c.get_string("tls_server_cert") == "/etc/ssl/c.pem");
  CHECK(c.get_string("loglevel") == "debug");
  CHECK(c.get_string("admins") == "admin");

  // Unknown keys and bad values name the included file and its line.
  auto unknown = c.unknown_keys({"servername", "admins", "tls_server_cert"});
  REQUIRE(unknown.size() == 1);
  CHECK(unknown[0].line == 1);
  CHECK(unknown[0].file == dir.file("etc/conf.d/../common.conf"));
  CHECK(c.get_switch("loglevel", false) == false);
  const Config::Problem* bad = problem_with(c.problems(), "not a switch");
  REQUIRE(bad != nullptr);
  CHECK(bad->line == 1);
  CHECK_THAT(bad->file, Catch::EndsWith("common.conf"));
}

TEST_CASE("@include problems: missing, twice, a key set in two files, too deep", "[config][include]") {
  TempDir dir{"replicad-config"};
  SECTION("a missing file is reported where it is included") {
    write(dir.file("a.conf"), "servername: x\n@include: missing.conf\n");
    Config c;
    CHECK_FALSE(c.load_file(dir.file("a.conf")));
    REQUIRE(c.problems().size() == 1);
    CHECK(c.problems()[0].line == 2);
    CHECK(c.problems()[0].file == dir.file("a.conf"));
    CHECK_THAT(c.problems()[0].message, Catch::Contains("missing.conf"));
  }
  SECTION("a file included twice, or including itself") {
    write(dir.file("a.conf"), "@include: b.conf\n@include: b.conf\n");
    write(dir.file("b.conf"), "x: 1\n");
    Config c;
    CHECK_FALSE(c.load_file(dir.file("a.conf")));
    CHECK(mentions(c.problems(), "included twice"));
    write(dir.file("self.conf"), "y: 1\n@include: ./self.conf\n");
    Config s;
    CHECK_FALSE(s.load_file(dir.file("self.conf")));
    CHECK(mentions(s.problems(), "included twice"));
  }
  SECTION("a key set in two files") {
    write(dir.file("a.conf"), "servername: a\n@include: b.conf\n");
    write(dir.file("b.conf"), "\nservername: b\n");
    Config c;
    CHECK_FALSE(c.load_file(dir.file("a.conf")));
    REQUIRE(c.problems().size() == 1);
    CHECK(c.problems()[0].file == dir.file("b.conf"));
    CHECK(c.problems()[0].line == 2);
    CHECK_THAT(c.problems()[0].message, Catch::Contains("first on line 1 of " + dir.file("a.conf")));
  }
  SECTION("nesting is bounded") {
    for (int i = 0; i <= Config::kMaxIncludeDepth + 1; ++i)
      write(dir.file("n" + std::to_string(i) + ".conf"), "@include: n" + std::to_string(i + 1) + ".conf\n");
    Config c;
    CHECK_FALSE(c.load_file(dir.file("n0.conf")));
    CHECK(mentions(c.problems(), "nested deeper than"));
  }
  SECTION("only regular files of a sane size") {
    std::filesystem::create_directories(dir.file("adir"));
    write(dir.file("a.conf"), "@include: adir\n@include: /dev/zero\n");
    write(dir.file("big.conf"), std::string(Config::kMaxFileSize + 1, '#'));
    Config c;
    CHECK_FALSE(c.load_file(dir.file("a.conf")));
    CHECK(c.problems().size() == 2);
    CHECK(mentions(c.problems(), "not a file"));
    Config big;
    CHECK_FALSE(big.load_file(dir.file("big.conf")));
    CHECK(mentions(big.problems(), "larger than"));
    Config none;
    CHECK_FALSE(none.load_file(dir.file("none.conf")));
    CHECK(mentions(none.problems(), "cannot read config file"));
  }
}

// ---- value forms --------------------------------------------------------------------

TEST_CASE("durations as Cyrus writes them", "[config][values]") {
  Config c;
  REQUIRE(c.load_text("a: 30s\nb: 10m\nc: 2h\nd: 1d\ne: 1h30m\nf: 90\ng: 500ms\nh: 1d2h3m4s\ni: 5m30\nj: 0\n"
                      "bad1: 10x\nbad2: h\nbad3: -5s\nbad4: 30 s\nbad5: 99999999999999999d\nbad6: 1h30mm\n"));
  CHECK(c.get_duration("a", 0ms) == 30s);
  CHECK(c.get_duration("b", 0ms) == 10min);
  CHECK(c.get_duration("c", 0ms) == 2h);
  CHECK(c.get_duration("d", 0ms) == 24h);
  CHECK(c.get_duration("e", 0ms) == 90min);
  CHECK(c.get_duration("f", 0ms) == 90s);
  CHECK(c.get_duration("f", 0ms, 1ms) == 90ms);  // the key's own unit for a bare number
  CHECK(c.get_duration("g", 0ms) == 500ms);
  CHECK(c.get_duration("h", 0ms) == 26h + 3min + 4s);
  CHECK(c.get_duration("i", 0ms, 1min) == 5min + 30min);  // a trailing bare number: default unit too
  CHECK(c.get_duration("j", 7s) == 0ms);
  CHECK(c.get_duration("absent", 7s) == 7s);
  CHECK(c.problems().empty());
  for (std::string key : {"bad1", "bad2", "bad3", "bad4", "bad5", "bad6"}) {
    INFO(key);
    CHECK(c.get_duration(key, 7s) == 7s);
  }
  CHECK(c.problems().size() == 6);
  CHECK(mentions(c.problems(), "'10x' is not a duration"));
}

TEST_CASE("switches, integers and byte sizes", "[config][values]") {
  Config c;
  REQUIRE(c.load_text("y1: yes\ny2: On\ny3: true\ny4: 1\ny5: t\nn1: no\nn2: OFF\nn3: false\nn4: 0\nn5: f\n"
                      "s1: 512K\ns2: 64M\ns3: 1G\ns4: 1KiB\ns5: 100\ns6: 2tb\n"
                      "i1: 42\ni2: -3\nbad_switch: maybe\nbad_size: 1Q\nbad_int: 4x\n"));
  for (std::string k : {"y1", "y2", "y3", "y4", "y5"}) CHECK(c.get_switch(k, false));
  for (std::string k : {"n1", "n2", "n3", "n4", "n5"}) CHECK_FALSE(c.get_switch(k, true));
  CHECK(c.get_bytes("s1", 0) == 512 * 1024);
  CHECK(c.get_bytes("s2", 0) == uint64_t{64} << 20);
  CHECK(c.get_bytes("s3", 0) == uint64_t{1} << 30);
  CHECK(c.get_bytes("s4", 0) == 1024);
  CHECK(c.get_bytes("s5", 0) == 100);
  CHECK(c.get_bytes("s6", 0) == uint64_t{2} << 40);
  CHECK(c.get_int("i1", 0) == 42);
  CHECK(c.get_int("i2", 0) == -3);
  CHECK(c.problems().empty());
  CHECK(c.get_switch("bad_switch", true));
  CHECK(c.get_bytes("bad_size", 5) == 5);
  CHECK(c.get_int("bad_int", 9) == 9);
  CHECK(c.problems().size() == 3);
}

// ---- settings and their documentation ----------------------------------------------

TEST_CASE("unknown keys are warnings with their line, bad values are fatal", "[config][settings]") {
  Config c;
  REQUIRE(c.load_text("admins: admin\nservername: x\nsync_timout: 5m\nmaxconnections: many\n", "r.conf"));
  std::vector<Config::Problem> problems;
  bool fatal = false;
  replicad::read_settings(c, problems, fatal);
  CHECK(fatal);
  const Config::Problem* unknown = problem_with(problems, "unknown key 'sync_timout'");
  REQUIRE(unknown != nullptr);
  CHECK(unknown->line == 3);
  CHECK(unknown->file == "r.conf");
  const Config::Problem* bad = problem_with(problems, "'many' is not an integer");
  REQUIRE(bad != nullptr);
  CHECK(bad->line == 4);

  Config only_unknown;
  REQUIRE(only_unknown.load_text("admins: admin\nfrobnicate: yes\n"));
  problems.clear();
  replicad::read_settings(only_unknown, problems, fatal);
  CHECK_FALSE(fatal);
  CHECK(mentions(problems, "unknown key 'frobnicate'"));
}

TEST_CASE("every key is documented with its default in docs/configuration.md", "[config][docs]") {
  std::filesystem::path doc = source_file("docs/configuration.md");
  std::ifstream in(doc);
  INFO(doc.string());
  REQUIRE(in);
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);)
    if (line.rfind("| `", 0) == 0) rows.push_back(line);
  for (const auto& setting : replicad::setting_docs()) {
    std::string key = setting.key;
    INFO(key);
    auto row = std::find_if(rows.begin(), rows.end(),
                            [&](const std::string& r) { return r.rfind("| `" + key + "` |", 0) == 0; });
    REQUIRE(row != rows.end());
    std::string fallback = setting.fallback;
    // "(none)"-style defaults are worded freely; values must appear as such.
    if (!fallback.empty() && fallback.front() != '(') {
      std::vector<std::string> cells;
      std::stringstream cols(*row);
      for (std::string cell; std::getline(cols, cell, '|');) cells.push_back(cell);
      REQUIRE(cells.size() >= 3);  // "", key, default, meaning...
      CHECK_THAT(cells[2], Catch::Contains(fallback));
    }
  }
  // Every documented key is one replicad reads: no stale rows.
  for (const auto& r : rows) {
    std::string key = r.substr(3, r.find('`', 3) - 3);
    INFO(key);
    CHECK(std::any_of(replicad::setting_docs().begin(), replicad::setting_docs().end(),
                      [&](const replicad::SettingDoc& d) { return key == d.key; }));
  }
}

// ---- replicad --check-config ---------------------------------------------------------

TEST_CASE("replicad --check-config: 0 when usable, 78 when not, problems as file:line", "[config][binary]") {
  TempDir dir{"replicad-config"};
  std::string good = dir.file("good.conf");
  write(good, "admins: admin\ndatadir: " + dir.file("data") + "\nlisten: 127.0.0.1:0\nfrobnicate: 1\n");
  Run ok = run_replicad({"-C", good, "--check-config"});
  INFO(ok.output);
  CHECK(ok.status == 0);
  CHECK_THAT(ok.output, Catch::Contains(good + ":4: unknown key 'frobnicate'"));
  CHECK_THAT(ok.output, Catch::Contains(good + ": ok"));
  CHECK_FALSE(std::filesystem::exists(dir.file("data")));  // a check creates nothing

  std::string bad = dir.file("bad.conf");
  write(bad, "admins: admin\n@include: inc.conf\n");
  write(dir.file("inc.conf"), "\nmaxmessagesize: lots\n");
  Run fatal = run_replicad({"-C", bad, "--check-config"});
  INFO(fatal.output);
  CHECK(fatal.status == 78);
  CHECK_THAT(fatal.output, Catch::Contains(dir.file("inc.conf") + ":2: maxmessagesize: 'lots' is not a byte size"));

  Run missing = run_replicad({"-C", dir.file("absent.conf"), "--check-config"});
  CHECK(missing.status == 78);
  CHECK_THAT(missing.output, Catch::Contains("cannot read config file"));

  Run usage = run_replicad({"--no-such-option"});
  CHECK(usage.status == 64);
}
