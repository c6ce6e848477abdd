// A whole Session under libFuzzer: the input is what a client sends, cut into
// reads whose sizes derive from the input; sometimes the next read arrives
// while a command is still in flight (a pipelining peer), sometimes only once
// the store has answered.
//
// Built three times (tests/fuzz/meson.build):
//   FUZZ_LOGIN=0  fuzz_session_preauth  the input starts at the first byte
//                                       of the connection (either flavour)
//   FUZZ_LOGIN=1  fuzz_session_csync    after a scripted CSYNC admin login
//   FUZZ_LOGIN=2  fuzz_session_imap     after a scripted IMAP admin login
//
// Invariants: no crash or sanitizer report; every command finishes (the
// session is never left busy, i.e. a reply is never lost); a session that is
// still open reads again; and everything sent ends with a complete CRLF line.
#include <fmt/core.h>

#include <cstdint>
#include <string_view>

#include "fuzz_support.h"
#include "fuzz_world.h"

#ifndef FUZZ_LOGIN
#error "FUZZ_LOGIN must be 0 (none), 1 (CSYNC) or 2 (IMAP)"
#endif

using replicad::fuzz::DiscardingOutput;
using replicad::fuzz::FuzzWorld;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view data(reinterpret_cast<const char*>(bytes), size);
  FuzzWorld& world = FuzzWorld::get();
  DiscardingOutput out;
  auto session = world.open(out);

  if (FUZZ_LOGIN != 0) {
    world.feed(*session, FUZZ_LOGIN == 1 ? replicad::fuzz::csync_admin_login() : replicad::fuzz::imap_admin_login());
    FUZZ_CHECK(world.settle(*session, out), "the scripted login never finished");
    FUZZ_CHECK(session->authenticated(), "the scripted admin login failed");
  }

  replicad::fuzz::Splitter reads(data, replicad::fuzz::input_hash(data));
  while (!reads.done()) {
    world.feed(*session, reads.next());
    if (reads.coin()) FUZZ_CHECK(world.settle(*session, out), "a command never finished");
  }
  FUZZ_CHECK(world.settle(*session, out), "a command never finished");

  FUZZ_CHECK(!session->busy(), "the session is busy with nothing in flight");
  FUZZ_CHECK(out.closed || out.reading, "an open session stopped reading for good");
  FUZZ_CHECK(!out.ends_mid_line, fmt::format("the last of {} bytes sent is not the end of a line", out.bytes_sent));

  world.close(std::move(session));
  return 0;
}
