// The TLS layer against a real OpenSSL client, both over memory BIOs: the
// handshake, data both ways, client certificates (verified, unverified,
// not asked for), versions, and what happens to bytes that are not TLS.
#include <catch2/catch.hpp>

#include <string>

#include "server/tls_context.h"
#include "server/tls_layer.h"
#include "tls_test_support.h"

using replicad::TlsContext;
using replicad::TlsLayer;
using replicad::TlsSettings;
using replicad::testing::TestPki;
using replicad::testing::TlsTestClient;

namespace {

TlsSettings server_settings(bool ask_client_cert = false) {
  const TestPki& pki = TestPki::get();
  TlsSettings s;
  s.cert_file = pki.server_cert;
  s.key_file = pki.server_key;
  if (ask_client_cert) s.client_ca_file = pki.ca_cert;
  return s;
}

std::unique_ptr<TlsContext> make_context(const TlsSettings& settings) {
  std::string error;
  auto ctx = TlsContext::create(settings, error);
  INFO(error);
  REQUIRE(ctx);
  return ctx;
}

std::unique_ptr<TlsLayer> make_layer(const TlsContext& ctx) {
  std::string error;
  auto layer = TlsLayer::create(ctx, error);
  REQUIRE(layer);
  return layer;
}

// Moves bytes both ways until neither side has anything to say; returns the
// plaintext the server read.  False if the server failed.
bool exchange(TlsTestClient& client, TlsLayer& server, std::string& server_plain) {
  for (int round = 0; round < 20; ++round) {
    client.handshake();
    std::string to_server = client.take();
    server.receive(to_server);
    if (!server.read(server_plain, 1 << 20)) return false;
    std::string to_client;
    server.take_output(to_client);
    client.receive(to_client);
    if (to_server.empty() && to_client.empty()) break;
  }
  return true;
}

}  // namespace

TEST_CASE("TLS context: configuration errors are reported at start-up", "[tls]") {
  const TestPki& pki = TestPki::get();
  std::string error;
  SECTION("missing certificate file") {
    TlsSettings s = server_settings();
    s.cert_file = (pki.dir / "nonexistent.pem").string();
    CHECK_FALSE(TlsContext::create(s, error));
    CHECK_THAT(error, Catch::Contains("tls_server_cert") && Catch::Contains("nonexistent.pem"));
  }
  SECTION("a key that does not belong to the certificate") {
    TlsSettings s = server_settings();
    s.key_file = pki.client_key;
    CHECK_FALSE(TlsContext::create(s, error));
    CHECK_THAT(error, Catch::Contains("does not belong") || Catch::Contains("tls_server_key"));
  }
  SECTION("unknown version name") {
    TlsSettings s = server_settings();
    s.versions = "tls1_2 ssl3";
    CHECK_FALSE(TlsContext::create(s, error));
    CHECK_THAT(error, Catch::Contains("unknown version 'ssl3'"));
  }
  SECTION("a cipher list OpenSSL cannot use") {
    TlsSettings s = server_settings();
    s.ciphers = "NO-SUCH-CIPHER";
    CHECK_FALSE(TlsContext::create(s, error));
    CHECK_THAT(error, Catch::Contains("tls_ciphers"));
  }
  SECTION("a client CA file that is not there") {
    TlsSettings s = server_settings();
    s.client_ca_file = (pki.dir / "no-ca.pem").string();
    CHECK_FALSE(TlsContext::create(s, error));
    CHECK_THAT(error, Catch::Contains("tls_client_ca_file"));
  }
}

TEST_CASE("TLS: handshake, then data both ways; early writes wait", "[tls]") {
  auto ctx = make_context(server_settings());
  auto server = make_layer(*ctx);
  TlsTestClient client;

  // The session's banner may be written before the handshake is done.
  REQUIRE(server->write("* OK ready\r\n"));
  std::string plain;
  REQUIRE(exchange(client, *server, plain));
  REQUIRE(server->established());
  CHECK(plain.empty());
  CHECK(server->peer().protocol == "TLSv1.3");
  CHECK(server->peer().bits >= 128);
  CHECK_FALSE(server->peer().client_certificate);
  CHECK(client.read() == "* OK ready\r\n");

  client.write("AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\n");
  server->receive(client.take());
  std::string got;
  REQUIRE(server->read(got, 1024));
  CHECK(got == "AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\n");

  const std::string big(200 * 1024, 'm');
  REQUIRE(server->write(big));
  std::string wire;
  server->take_output(wire);
  client.receive(wire);
  CHECK(client.read() == big);

  SECTION("reads are bounded by max") {
    client.write(big);
    server->receive(client.take());
    std::string part;
    REQUIRE(server->read(part, 1000));
    CHECK(part.size() == 1000);
    std::string rest;
    REQUIRE(server->read(rest, 1 << 20));
    CHECK(part.size() + rest.size() == big.size());
  }
  SECTION("close_notify from the client") {
    client.close_notify();
    server->receive(client.take());
    std::string none;
    REQUIRE(server->read(none, 1024));
    CHECK(none.empty());
    CHECK(server->peer_closed());
  }
  SECTION("close_notify from the server") {
    server->shutdown();
    std::string alert;
    server->take_output(alert);
    CHECK_FALSE(alert.empty());
    client.receive(alert);
    client.read();
    CHECK((SSL_get_shutdown(client.native()) & SSL_RECEIVED_SHUTDOWN) != 0);
  }
}

TEST_CASE("TLS: bytes that are not TLS fail the handshake", "[tls]") {
  auto ctx = make_context(server_settings());
  auto server = make_layer(*ctx);
  // What a client pipelining in the clear after STARTTLS would send.
  server->receive("AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\nAPPLY RESERVE ...\r\n");
  std::string plain;
  CHECK_FALSE(server->read(plain, 1024));
  CHECK(plain.empty());
  CHECK_FALSE(server->established());
  CHECK_THAT(server->error(), Catch::StartsWith("TLS handshake failed"));
  CHECK_FALSE(server->write("anything"));
}

TEST_CASE("TLS versions follow tls_versions", "[tls]") {
  SECTION("tls1_2 only") {
    TlsSettings s = server_settings();
    s.versions = "tls1_2";
    auto ctx = make_context(s);
    auto server = make_layer(*ctx);
    TlsTestClient client;
    std::string plain;
    REQUIRE(exchange(client, *server, plain));
    REQUIRE(server->established());
    CHECK(server->peer().protocol == "TLSv1.2");
  }
  SECTION("tls1_3 only refuses a TLS 1.2 client") {
    TlsSettings s = server_settings();
    s.versions = "tls1_3";
    auto ctx = make_context(s);
    auto server = make_layer(*ctx);
    TlsTestClient client({}, {}, TLS1_2_VERSION);
    std::string plain;
    CHECK_FALSE(exchange(client, *server, plain));
    CHECK_FALSE(server->established());
  }
}

TEST_CASE("TLS client certificates: asked for only with a CA, trusted only when verified", "[tls]") {
  const TestPki& pki = TestPki::get();
  SECTION("signed by the configured CA: verified, named by its CN") {
    auto ctx = make_context(server_settings(true));
    CHECK(ctx->requests_client_certificates());
    auto server = make_layer(*ctx);
    TlsTestClient client(pki.client_cert, pki.client_key);
    std::string plain;
    REQUIRE(exchange(client, *server, plain));
    REQUIRE(server->established());
    CHECK(server->peer().client_certificate);
    CHECK(server->peer().client_verified);
    CHECK(server->peer().client_name == "sync-master");
  }
  SECTION("self-signed with the same CN: the handshake works, the name is not trusted") {
    auto ctx = make_context(server_settings(true));
    auto server = make_layer(*ctx);
    TlsTestClient client(pki.stranger_cert, pki.stranger_key);
    std::string plain;
    REQUIRE(exchange(client, *server, plain));
    REQUIRE(server->established());
    CHECK(server->peer().client_certificate);
    CHECK_FALSE(server->peer().client_verified);
    CHECK_FALSE(server->peer().verify_error.empty());
  }
  SECTION("no certificate from the client: fine, nothing to trust") {
    auto ctx = make_context(server_settings(true));
    auto server = make_layer(*ctx);
    TlsTestClient client;
    std::string plain;
    REQUIRE(exchange(client, *server, plain));
    REQUIRE(server->established());
    CHECK_FALSE(server->peer().client_certificate);
    CHECK_FALSE(server->peer().client_verified);
  }
  SECTION("without tls_client_ca_file a certificate is not even asked for") {
    auto ctx = make_context(server_settings(false));
    CHECK_FALSE(ctx->requests_client_certificates());
    auto server = make_layer(*ctx);
    TlsTestClient client(pki.client_cert, pki.client_key);
    std::string plain;
    REQUIRE(exchange(client, *server, plain));
    REQUIRE(server->established());
    CHECK_FALSE(server->peer().client_certificate);
  }
}
