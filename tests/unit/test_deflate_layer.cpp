// COMPRESS=DEFLATE streams: what Python's zlib (wbits=-15, Z_SYNC_FLUSH) and
// sync_client send must inflate, and every write must be decodable at once
// by a peer's raw inflater.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <random>
#include <string>

#include "server/deflate_layer.h"

using replicad::DeflateLayer;

namespace {

std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return out;
}

std::unique_ptr<DeflateLayer> make_layer() {
  std::string error;
  auto layer = DeflateLayer::create(error);
  REQUIRE(layer);
  return layer;
}

// Reads everything the layer can produce, in pieces of at most `piece`.
std::string drain(DeflateLayer& layer, size_t piece = 64 * 1024) {
  std::string all;
  for (;;) {
    std::string out;
    REQUIRE(layer.read(out, piece));
    CHECK(out.size() <= piece);
    if (out.empty()) return all;
    all += out;
  }
}

// The peer's side: an independent raw inflater, as Python's
// zlib.decompressobj(-15) or sync_client's prot layer.
class PeerInflater {
 public:
  PeerInflater() { REQUIRE(inflateInit2(&z_, -15) == Z_OK); }
  ~PeerInflater() { inflateEnd(&z_); }
  std::string inflate_all(const std::string& in) {
    std::string out(in.size() * 4 + 1024, '\0');
    size_t used = 0;
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    for (;;) {
      if (used == out.size()) out.resize(out.size() * 2);
      z_.next_out = reinterpret_cast<Bytef*>(out.data() + used);
      z_.avail_out = static_cast<uInt>(out.size() - used);
      const int rc = inflate(&z_, Z_SYNC_FLUSH);
      used = out.size() - z_.avail_out;
      REQUIRE((rc == Z_OK || rc == Z_BUF_ERROR));
      if (z_.avail_in == 0 && z_.avail_out != 0) break;
    }
    out.resize(used);
    return out;
  }

 private:
  z_stream z_{};
};

// The peer's sending side: zlib raw deflate with a sync flush per message.
class PeerDeflater {
 public:
  PeerDeflater() { REQUIRE(deflateInit2(&z_, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK); }
  ~PeerDeflater() { deflateEnd(&z_); }
  std::string deflate_flush(const std::string& in) {
    std::string out(in.size() + 1024, '\0');
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    z_.next_out = reinterpret_cast<Bytef*>(out.data());
    z_.avail_out = static_cast<uInt>(out.size());
    REQUIRE(deflate(&z_, Z_SYNC_FLUSH) == Z_OK);
    REQUIRE(z_.avail_in == 0);
    out.resize(out.size() - z_.avail_out);
    return out;
  }

 private:
  z_stream z_{};
};

}  // namespace

TEST_CASE("inflates what Python's zlib sends (wbits=-15, Z_SYNC_FLUSH)", "[deflate]") {
  // zlib.compressobj(6, zlib.DEFLATED, -15); c.compress(x) + c.flush(zlib.Z_SYNC_FLUSH)
  const std::string first = unhex("728df00ce1e502000000ffff");
  const std::string second = unhex(
      "720c08f0895408720d760d0a735550d508700c0af10cf1f4f75348494d4b2ccd2951f075f28ff073f47555d0282d4e2dd24bccc94c4ed5"
      "54700ff57451d030343236d1d4e4e502000000ffff");
  auto layer = make_layer();
  SECTION("message by message") {
    layer->receive(first);
    CHECK(drain(*layer) == "EXIT\r\n");
    layer->receive(second);
    CHECK(drain(*layer) == "APPLY RESERVE %(PARTITION default MBOXNAME (user.alice) GUID (1234))\r\n");
  }
  SECTION("byte at a time: nothing is held back once a flush point arrived") {
    std::string got;
    const std::string both = first + second;
    for (char c : both) {
      layer->receive(std::string_view(&c, 1));
      got += drain(*layer);
    }
    CHECK(got == "EXIT\r\nAPPLY RESERVE %(PARTITION default MBOXNAME (user.alice) GUID (1234))\r\n");
    CHECK_FALSE(layer->has_pending_input());
  }
}

TEST_CASE("every write is a complete, sync-flushed piece of one stream", "[deflate]") {
  auto layer = make_layer();
  PeerInflater peer;
  for (const std::string msg : {"OK DEFLATE active\r\n", "* ENABLED ()\r\nOK success\r\n", "OK Finished\r\n"}) {
    std::string wire;
    REQUIRE(layer->write(msg, wire));
    // Z_SYNC_FLUSH ends in an empty stored block: 00 00 ff ff.
    REQUIRE(wire.size() >= 4);
    CHECK(wire.substr(wire.size() - 4) == std::string("\x00\x00\xff\xff", 4));
    CHECK(peer.inflate_all(wire) == msg);
  }
  CHECK(layer->plain_out() > 0);
  CHECK(layer->compressed_out() > 0);
}

TEST_CASE("a round trip of large, random and repetitive data", "[deflate]") {
  auto server = make_layer();
  PeerDeflater client;
  PeerInflater client_in;
  std::mt19937 rng(42);
  std::string random(300 * 1024, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  std::string repetitive(5 * 1024 * 1024, 'x');   // 5 MiB that compress to a few KiB

  for (const std::string* data : {&random, &repetitive}) {
    const std::string wire = client.deflate_flush(*data);
    server->receive(wire);
    // Inflated in bounded pieces, never all at once.
    CHECK(drain(*server, 8192) == *data);

    std::string back;
    REQUIRE(server->write(*data, back));
    CHECK(client_in.inflate_all(back) == *data);
  }
  CHECK(server->plain_in() == random.size() + repetitive.size());
}

TEST_CASE("a decompression bomb comes out in pieces, and no faster than asked", "[deflate]") {
  auto server = make_layer();
  PeerDeflater client;
  const std::string wire = client.deflate_flush(std::string(20 * 1024 * 1024, '\0'));
  CHECK(wire.size() < 64 * 1024);
  server->receive(wire);
  std::string out;
  REQUIRE(server->read(out, 4096));
  CHECK(out.size() == 4096);
  CHECK(server->has_pending_input());
  CHECK(drain(*server, 1 << 20).size() == 20 * 1024 * 1024 - 4096);
  CHECK_FALSE(server->has_pending_input());
}

TEST_CASE("corrupt input is an error, not garbage", "[deflate]") {
  auto layer = make_layer();
  SECTION("plain text where compressed data belongs") {
    // A client that pipelines clear text after COMPRESS: 'A' = 0x41 starts
    // a block of the reserved type 3.
    layer->receive("APPLY RESERVE\r\n");
    std::string out;
    CHECK_FALSE(layer->read(out, 1024));
    CHECK_THAT(layer->error(), Catch::Contains("corrupt compressed input"));
    CHECK_FALSE(layer->read(out, 1024));  // and stays failed
  }
  SECTION("data after the end of the stream") {
    std::string ended;
    {
      z_stream z{};
      REQUIRE(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) == Z_OK);
      std::string in = "NOOP\r\n";
      ended.resize(64);
      z.next_in = reinterpret_cast<Bytef*>(in.data());
      z.avail_in = static_cast<uInt>(in.size());
      z.next_out = reinterpret_cast<Bytef*>(ended.data());
      z.avail_out = static_cast<uInt>(ended.size());
      REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
      ended.resize(ended.size() - z.avail_out);
      deflateEnd(&z);
    }
    layer->receive(ended + "more");
    std::string out;
    CHECK_FALSE(layer->read(out, 1024));
    CHECK(out == "NOOP\r\n");
    CHECK_THAT(layer->error(), Catch::Contains("after the end"));
  }
}
