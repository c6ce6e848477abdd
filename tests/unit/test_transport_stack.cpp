// The layers composed as the connection uses them: plain, STARTTLS (the
// OK in the clear, pipelined bytes dropped), COMPRESS alone and above TLS.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <string>

#include "server/transport_stack.h"
#include "tls_test_support.h"

using replicad::TlsContext;
using replicad::TlsSettings;
using replicad::TransportStack;
using replicad::testing::TestPki;
using replicad::testing::TlsTestClient;

namespace {

std::unique_ptr<TlsContext> make_context() {
  const TestPki& pki = TestPki::get();
  std::string error;
  auto ctx = TlsContext::create(TlsSettings{pki.server_cert, pki.server_key, {}, "tls1_2 tls1_3", {}}, error);
  REQUIRE(ctx);
  return ctx;
}

std::string read_all(TransportStack& stack, size_t max = 1 << 20) {
  std::string out;
  REQUIRE(stack.read(out, max));
  return out;
}

std::string output(TransportStack& stack) {
  std::string out;
  stack.take_output(out);
  return out;
}

// Handshake between the test client and the stack; returns the clear text
// the stack read meanwhile.
std::string handshake(TlsTestClient& client, TransportStack& stack) {
  std::string plain;
  for (int i = 0; i < 20 && !stack.tls_established(); ++i) {
    client.handshake();
    stack.receive(client.take());
    REQUIRE(stack.read(plain, 1 << 20));
    client.receive(output(stack));
  }
  client.handshake();
  REQUIRE(stack.tls_established());
  return plain;
}

// The client's DEFLATE streams (raw, sync flush), as sync_client's prot layer.
struct ClientDeflate {
  z_stream out{};
  z_stream in{};
  ClientDeflate() {
    REQUIRE(deflateInit2(&out, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
    REQUIRE(inflateInit2(&in, -15) == Z_OK);
  }
  ~ClientDeflate() {
    deflateEnd(&out);
    inflateEnd(&in);
  }
  std::string compress(std::string s) {
    std::string buf(s.size() + 256, '\0');
    out.next_in = reinterpret_cast<Bytef*>(s.data());
    out.avail_in = static_cast<uInt>(s.size());
    out.next_out = reinterpret_cast<Bytef*>(buf.data());
    out.avail_out = static_cast<uInt>(buf.size());
    REQUIRE(deflate(&out, Z_SYNC_FLUSH) == Z_OK);
    buf.resize(buf.size() - out.avail_out);
    return buf;
  }
  std::string decompress(std::string s) {
    std::string buf(s.size() * 10 + 256, '\0');
    in.next_in = reinterpret_cast<Bytef*>(s.data());
    in.avail_in = static_cast<uInt>(s.size());
    in.next_out = reinterpret_cast<Bytef*>(buf.data());
    in.avail_out = static_cast<uInt>(buf.size());
    const int rc = inflate(&in, Z_SYNC_FLUSH);
    REQUIRE((rc == Z_OK || rc == Z_BUF_ERROR));
    buf.resize(buf.size() - in.avail_out);
    return buf;
  }
};

}  // namespace

TEST_CASE("transport without layers passes bytes through, bounded", "[transport]") {
  TransportStack stack;
  stack.receive("NOOP\r\nEXIT\r\n");
  std::string first;
  REQUIRE(stack.read(first, 6));
  CHECK(first == "NOOP\r\n");
  CHECK(read_all(stack) == "EXIT\r\n");
  CHECK(read_all(stack).empty());
  REQUIRE(stack.write("OK Noop completed\r\n"));
  CHECK(output(stack) == "OK Noop completed\r\n");
}

TEST_CASE("STARTTLS: the OK leaves in the clear, bytes pipelined after it never surface", "[transport][tls]") {
  auto ctx = make_context();
  TransportStack stack;
  // The attacker's injection arrives in the same segment as STARTTLS.
  stack.receive("STARTTLS\r\nAUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\n");
  std::string line;
  REQUIRE(stack.read(line, 10));
  REQUIRE(line == "STARTTLS\r\n");

  REQUIRE(stack.write("OK Begin TLS negotiation now\r\n"));
  std::string error;
  REQUIRE(stack.start_tls(*ctx, error));
  CHECK(stack.tls_started());
  CHECK(output(stack) == "OK Begin TLS negotiation now\r\n");
  // The second banner, written before the handshake is over, waits for it.
  REQUIRE(stack.write("* SASL PLAIN\r\n* OK replicad\r\n"));
  CHECK(output(stack).empty());

  TlsTestClient client;
  CHECK(handshake(client, stack).empty());   // nothing of the injection
  CHECK(client.read() == "* SASL PLAIN\r\n* OK replicad\r\n");
  client.write("AUTHENTICATE EXTERNAL =\r\n");
  stack.receive(client.take());
  CHECK(read_all(stack) == "AUTHENTICATE EXTERNAL =\r\n");

  CHECK_FALSE(stack.start_tls(*ctx, error));
  CHECK_THAT(error, Catch::Contains("already"));
}

TEST_CASE("STARTTLS: clear text arriving after the switch is handed to OpenSSL and fails", "[transport][tls]") {
  auto ctx = make_context();
  TransportStack stack;
  std::string error;
  REQUIRE(stack.start_tls(*ctx, error));
  stack.receive("AUTHENTICATE PLAIN AGFkbWluAGFkbWlucHc=\r\n");
  std::string plain;
  CHECK_FALSE(stack.read(plain, 1024));
  CHECK(plain.empty());
  CHECK_THAT(stack.error(), Catch::StartsWith("TLS handshake failed"));
}

TEST_CASE("COMPRESS without TLS: the OK uncompressed, then both directions deflate", "[transport][deflate]") {
  TransportStack stack;
  ClientDeflate client;
  REQUIRE(stack.write("OK DEFLATE active\r\n"));
  std::string error;
  REQUIRE(stack.start_deflate(error));
  CHECK(output(stack) == "OK DEFLATE active\r\n");

  stack.receive(client.compress("APPLY CAPABILITIES (SIEVE-MAILBOX)\r\n"));
  CHECK(read_all(stack) == "APPLY CAPABILITIES (SIEVE-MAILBOX)\r\n");
  REQUIRE(stack.write("* ENABLED ()\r\nOK success\r\n"));
  CHECK(client.decompress(output(stack)) == "* ENABLED ()\r\nOK success\r\n");

  CHECK_FALSE(stack.start_deflate(error));
  CHECK_FALSE(stack.start_tls(*make_context(), error));
}

TEST_CASE("COMPRESS: bytes received but not read yet belong to the compressed stream", "[transport][deflate]") {
  TransportStack stack;
  ClientDeflate client;
  stack.receive("COMPRESS DEFLATE\r\n" + client.compress("NOOP\r\n"));
  std::string line;
  REQUIRE(stack.read(line, 18));
  REQUIRE(line == "COMPRESS DEFLATE\r\n");
  std::string error;
  REQUIRE(stack.start_deflate(error));
  CHECK(read_all(stack) == "NOOP\r\n");
}

TEST_CASE("COMPRESS above TLS: TLS below, DEFLATE above", "[transport][tls][deflate]") {
  auto ctx = make_context();
  TransportStack stack;
  std::string error;
  REQUIRE(stack.start_tls(*ctx, error));   // a listen_tls port
  TlsTestClient client;
  REQUIRE(stack.write("* COMPRESS DEFLATE\r\n* OK\r\n"));
  handshake(client, stack);
  CHECK(client.read() == "* COMPRESS DEFLATE\r\n* OK\r\n");

  REQUIRE(stack.write("OK DEFLATE active\r\n"));
  REQUIRE(stack.start_deflate(error));
  client.receive(output(stack));
  CHECK(client.read() == "OK DEFLATE active\r\n");

  ClientDeflate z;
  const std::string body(100000, 'q');
  client.write(z.compress("APPLY MESSAGE (" + body + ")\r\n"));
  stack.receive(client.take());
  std::string got;
  for (;;) {
    std::string piece;
    REQUIRE(stack.read(piece, 4096));
    CHECK(piece.size() <= 4096);
    if (piece.empty()) break;
    got += piece;
  }
  CHECK(got == "APPLY MESSAGE (" + body + ")\r\n");

  REQUIRE(stack.write("OK success\r\n"));
  client.receive(output(stack));
  CHECK(z.decompress(client.read()) == "OK success\r\n");

  stack.shutdown();
  client.receive(output(stack));
  client.read();
  CHECK((SSL_get_shutdown(client.native()) & SSL_RECEIVED_SHUTDOWN) != 0);
}
