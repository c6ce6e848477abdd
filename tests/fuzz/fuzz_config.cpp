// Config::load_text and read_settings on arbitrary text.
//
// Invariants: no crash; every problem names a line that exists (or none);
// load_text succeeds exactly when it recorded no problem; list values never
// hold separators; and read_settings gives a usable result (listen addresses
// that survive a round through their text form, a data directory, a message
// size the protocol can carry) whenever it does not call the configuration
// fatal.
#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "server/config.h"
#include "server/settings.h"

namespace {

using replicad::Config;
using replicad::fuzz::show;

size_t line_count(std::string_view text) {
  if (text.empty()) return 0;
  return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + (text.back() == '\n' ? 0 : 1);
}

void check_problems(const std::vector<Config::Problem>& problems, size_t lines) {
  for (const auto& p : problems) {
    // A problem in a file the text @includes has that file's line numbers.
    bool ours = p.file.empty() || p.file == "fuzz";
    FUZZ_CHECK(p.line >= 0 && (!ours || static_cast<size_t>(p.line) <= lines),
               fmt::format("problem on line {} of {}: {}", p.line, lines, p.message));
    FUZZ_CHECK(!p.message.empty(), "a problem without a message");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* bytes, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(bytes), size);
  const size_t lines = line_count(text);

  Config config;
  const bool loaded = config.load_text(text, "fuzz");
  check_problems(config.problems(), lines);
  FUZZ_CHECK(loaded == config.problems().empty(), "load_text's result disagrees with its problems");

  // Every typed accessor on every key the text could have set, as the
  // server does at start-up (each records a problem on a bad value).
  for (std::string_view key : {"listen", "datadir", "servername", "admins", "allowplaintext", "maxmessagesize",
                               "lmdb_mapsize", "maxconnections", "sync_timeout", "preauth_timeout",
                               "failedloginpause", "loglevel"}) {
    (void)config.get_string(key);
    (void)config.get_switch(key, false);
    (void)config.get_int(key, 0);
    (void)config.get_duration(key, std::chrono::seconds(1));
    (void)config.get_bytes(key, 0);
    for (const auto& word : config.get_list(key)) {
      FUZZ_CHECK(!word.empty(), "an empty list word");
      for (char c : word) FUZZ_CHECK(!std::isspace(static_cast<unsigned char>(c)) && c != ',', "a separator inside a list word");
    }
  }
  check_problems(config.problems(), lines);

  Config fresh;
  fresh.load_text(text, "fuzz");
  std::vector<Config::Problem> problems;
  bool fatal = false;
  replicad::Settings settings = replicad::read_settings(fresh, problems, fatal);
  check_problems(problems, lines);
  if (!fatal) {
    FUZZ_CHECK(!settings.listen.empty() || !settings.listen_tls.empty(), "no listen address and yet not fatal");
    FUZZ_CHECK(settings.max_connections >= 1, "maxconnections 0 and yet not fatal");
    for (auto timeout : {settings.idle_timeout, settings.preauth_timeout, settings.failed_login_pause})
      FUZZ_CHECK(timeout.count() >= 0, "a negative duration");
    FUZZ_CHECK(!settings.datadir.empty(), "an empty datadir and yet not fatal");
    FUZZ_CHECK(settings.max_message_size >= 1 && settings.max_message_size <= 0xFFFFFFFFu,
               fmt::format("maxmessagesize {} accepted", settings.max_message_size));
    std::vector<replicad::ListenAddress> addresses = settings.listen;
    addresses.insert(addresses.end(), settings.listen_tls.begin(), settings.listen_tls.end());
    for (const auto& address : addresses) {
      replicad::ListenAddress again;
      FUZZ_CHECK(replicad::parse_listen_address(address.text(), again) && again.host == address.host &&
                     again.port == address.port,
                 "a listen address does not survive text(): " + show(address.text()));
    }
  }
  return 0;
}
