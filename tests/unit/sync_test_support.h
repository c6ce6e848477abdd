// Fixtures for the sync core tests: a real store in a temporary directory,
// a completion queue standing in for the server's loop, a session with a
// real staging area, and a driver that feeds wire text through the real
// command parser into SyncCore and returns the reply as the client reads it.
#pragma once

#include <catch2/catch.hpp>
#include <fmt/core.h>
#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/command_parser.h"
#include "protocol/dlist.h"
#include "protocol/staging.h"
#include "protocol/sync_core.h"
#include "storage/guid.h"
#include "storage/store.h"
#include "test_support.h"

namespace replicad::sync_test {

using testing::Completions;
using testing::TempDir;

// Writes the bytes of file literals to temporary files.  `trust_guid`
// marks them verified whatever they hash to: transcripts show only the
// first bytes of each message, so their replays stage stand-in bodies of
// the right size "by hand" (spec: the GUID is not part of any CRC).
class FileLiteralSink : public protocol::FileSink {
 public:
  FileLiteralSink(std::string dir, bool trust_guid) : dir_(std::move(dir)), trust_(trust_guid) {}

  bool begin(std::string_view, std::string_view guid_hex, uint64_t, std::string& reason) override {
    if (!storage::Guid::from_hex(guid_hex)) {
      reason = "bad GUID";
      return false;
    }
    bytes_.clear();
    return true;
  }
  bool write(std::span<const char> bytes, std::string&) override {
    bytes_.append(bytes.data(), bytes.size());
    return true;
  }
  void finish(protocol::FileRef& file) override {
    file.verified = trust_ || storage::sha1_of(bytes_).hex() == file.guid_hex;
    file.path = fmt::format("{}/upload-{}", dir_, ++count_);
    std::ofstream(file.path, std::ios::binary) << bytes_;
  }
  void discard(const protocol::FileRef&) override {}

 private:
  std::string dir_;
  bool trust_;
  std::string bytes_;
  unsigned count_ = 0;
};

inline std::vector<protocol::Dlist> parse_command(std::string_view wire, protocol::FileSink* sink) {
  protocol::CommandParser parser(protocol::ParserLimits{}, sink);
  protocol::CommandParser::Outcome outcome = parser.feed(wire);
  INFO("parser: " << parser.error_message() << " in " << wire.substr(0, 200));
  REQUIRE(outcome.status == protocol::CommandParser::Status::command);
  REQUIRE(outcome.consumed == wire.size());
  return parser.take_command();
}

// One replica: store + sync core + a session, driven command by command.
class SyncHarness {
 public:
  explicit SyncHarness(protocol::SyncConfig config = {}, bool trust_uploads = false)
      : trust_uploads_(trust_uploads) {
    std::filesystem::create_directories(dir_.path() + "/store");
    std::filesystem::create_directories(dir_.path() + "/uploads");
    storage::StoreOptions options;
    options.directory = dir_.path() + "/store";
    options.map_size = uint64_t{1} << 30;
    options.durable = false;
    storage::Status status;
    store_ = storage::Store::open(options, completions_.poster(), status);
    REQUIRE(status.ok());
    REQUIRE(store_ != nullptr);
    core_ = std::make_unique<protocol::SyncCore>(*store_, std::move(config));
    new_session();
  }
  ~SyncHarness() {
    session_.reset();
    core_.reset();
    if (store_) store_->shutdown();
  }

  // A new connection: fresh staging, force mode and SIEVE-MAILBOX off.
  void new_session() {
    session_ = std::make_shared<protocol::SyncSession>();
    session_->id = fmt::format("t{}", ++sessions_);
    session_->staging = std::make_unique<protocol::StagingArea>(dir_.path() + "/staging", session_->id,
                                                                uint64_t{1} << 32);
  }

  // Runs one command line ("APPLY KIND value", "GET KIND value" or
  // "RESTART", with CRLF) and returns the reply: data lines + status + CRLF.
  std::string run(std::string_view wire) {
    FileLiteralSink sink(dir_.path() + "/uploads", trust_uploads_);
    return run_with(wire, &sink);
  }
  // The same, with the session's real staging area receiving file literals
  // (as the server wires it): uploads are verified against their GUID.
  std::string run_staged(std::string_view wire) { return run_with(wire, session_->staging.get()); }

  std::string run_with(std::string_view wire, protocol::FileSink* sink) {
    std::vector<protocol::Dlist> items = parse_command(wire, sink);
    REQUIRE(!items.empty());
    std::string verb = items[0].str;
    if (verb == "RESTART") {
      core_->restart(*session_);
      return "OK Restarting\r\n";
    }
    REQUIRE(items.size() == 3);
    std::string kind = items[1].str;
    for (char& c : kind) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    return dispatch(verb, kind, std::move(items[2]));
  }

  std::string dispatch(const std::string& verb, const std::string& kind, protocol::Dlist value) {
    std::optional<protocol::SyncReply> reply;
    auto done = [&reply](protocol::SyncReply r) { reply = std::move(r); };
    if (verb == "APPLY") core_->apply(session_, kind, std::move(value), done);
    else if (verb == "GET") core_->get(session_, kind, value, done);
    else FAIL("unknown verb " << verb);
    REQUIRE(completions_.run_until([&] { return reply.has_value(); }));
    return reply->data + reply->status + "\r\n";
  }

  // Writes `bytes` to a file and stages it in the session as if APPLY
  // MESSAGE had received it (the GUID is the caller's word).
  void stage(const storage::Guid& guid, std::string_view bytes) {
    protocol::FileRef file;
    file.partition = "default";
    file.guid_hex = guid.hex();
    file.size = bytes.size();
    file.path = fmt::format("{}/uploads/staged-{}", dir_.path(), guid.hex());
    file.verified = true;
    std::ofstream(file.path, std::ios::binary) << bytes;
    session_->staging->keep(guid, file);
  }

  // Reads the store directly.
  template <typename Fn>
  auto read(Fn&& fn) {
    std::unique_ptr<storage::ReadTxn> txn = store_->begin_read();
    return fn(txn->view());
  }

  // Changes the store directly, as one write job (for setting up states the
  // protocol cannot produce).
  void write(std::function<storage::Status(storage::WriteView&)> fn) {
    std::optional<storage::Status> result;
    store_->submit({std::move(fn), [&result](storage::Status st) { result = std::move(st); }});
    REQUIRE(completions_.run_until([&] { return result.has_value(); }));
    REQUIRE(result->ok());
  }

  storage::Store& store() { return *store_; }
  // Runs store completions (the loop's part) until `until()` holds; false
  // after a timeout.
  bool complete_until(const std::function<bool()>& until) { return completions_.run_until(until); }

  protocol::SyncSession& session() { return *session_; }
  const std::string& dir() const { return dir_.path(); }

 private:
  TempDir dir_;
  Completions completions_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<protocol::SyncCore> core_;
  std::shared_ptr<protocol::SyncSession> session_;
  bool trust_uploads_;
  unsigned sessions_ = 0;
};

}  // namespace replicad::sync_test
