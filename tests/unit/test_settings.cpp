// The TLS keys of replicad.conf: what goes together, what is fatal, and
// that a valid combination reads back as written.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/settings.h"

using replicad::Config;
using replicad::Settings;

namespace {

struct Read {
  Settings settings;
  std::vector<Config::Problem> problems;
  bool fatal = false;

  bool mentions(const std::string& text) const {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const Config::Problem& p) { return p.message.find(text) != std::string::npos; });
  }
};

Read read(const std::string& text) {
  Config config;
  REQUIRE(config.load_text("admins: admin\n" + text));
  Read r;
  r.settings = replicad::read_settings(config, r.problems, r.fatal);
  return r;
}

}  // namespace

TEST_CASE("without tls_* keys there is no TLS and nothing to complain about", "[settings][tls]") {
  Read r = read("");
  CHECK_FALSE(r.fatal);
  CHECK(r.problems.empty());
  CHECK_FALSE(r.settings.tls_configured());
  CHECK(r.settings.listen_tls.empty());
  CHECK_FALSE(r.settings.tls_required);
  CHECK(r.settings.tls_versions == "tls1_2 tls1_3");
}

TEST_CASE("a full TLS configuration reads back", "[settings][tls]") {
  Read r = read(
      "listen: 127.0.0.1:2005\n"
      "listen_tls: 127.0.0.1:2006 [::1]:2006\n"
      "tls_server_cert: /etc/replicad/cert.pem\n"
      "tls_server_key: /etc/replicad/key.pem\n"
      "tls_client_ca_file: /etc/replicad/ca.pem\n"
      "tls_versions: tls1_3\n"
      "tls_ciphers: HIGH:!aNULL\n"
      "tls_required: yes\n");
  INFO((r.problems.empty() ? std::string() : r.problems[0].message));
  CHECK_FALSE(r.fatal);
  CHECK(r.problems.empty());
  CHECK(r.settings.tls_configured());
  REQUIRE(r.settings.listen_tls.size() == 2);
  CHECK(r.settings.listen_tls[0].text() == "127.0.0.1:2006");
  CHECK(r.settings.listen_tls[1].text() == "[::1]:2006");
  CHECK(r.settings.tls_client_ca_file == "/etc/replicad/ca.pem");
  CHECK(r.settings.tls_versions == "tls1_3");
  CHECK(r.settings.tls_ciphers == "HIGH:!aNULL");
  CHECK(r.settings.tls_required);
}

TEST_CASE("TLS keys that cannot work are fatal", "[settings][tls]") {
  SECTION("a certificate without its key") {
    Read r = read("tls_server_cert: /c.pem\n");
    CHECK(r.fatal);
    CHECK(r.mentions("both or neither"));
  }
  SECTION("listen_tls without a certificate") {
    Read r = read("listen_tls: 127.0.0.1:2006\n");
    CHECK(r.fatal);
    CHECK(r.mentions("listen_tls: needs tls_server_cert"));
  }
  SECTION("tls_required without a certificate") {
    Read r = read("tls_required: yes\n");
    CHECK(r.fatal);
    CHECK(r.mentions("tls_required: needs tls_server_cert"));
  }
  SECTION("a listen_tls address that does not parse") {
    Read r = read("tls_server_cert: /c.pem\ntls_server_key: /k.pem\nlisten_tls: ::1:2006\n");
    CHECK(r.fatal);
    CHECK(r.mentions("listen_tls: '::1:2006'"));
  }
  SECTION("nowhere to listen") {
    Read r = read("listen:\n");
    CHECK(r.fatal);
    CHECK(r.mentions("no address to listen on"));
  }
}

TEST_CASE("only TLS ports is a valid configuration", "[settings][tls]") {
  Read r = read("listen:\nlisten_tls: 127.0.0.1:2006\ntls_server_cert: /c.pem\ntls_server_key: /k.pem\n");
  CHECK_FALSE(r.fatal);
  CHECK(r.settings.listen.empty());
  CHECK(r.settings.listen_tls.size() == 1);
}

TEST_CASE("a client CA without a certificate is reported, not fatal", "[settings][tls]") {
  Read r = read("tls_client_ca_file: /ca.pem\n");
  CHECK_FALSE(r.fatal);
  CHECK(r.mentions("tls_client_ca_file: ignored"));
}
