// One client connection's protocol state, above the transport.
//
// The session reads commands with the CommandParser, decides the flavour by
// the first command (spec §1.7.1: a bare `AUTHENTICATE`/`NOOP`/`EXIT`/... is
// CSYNC, `<tag> <command>` is IMAP), authenticates through SASL, checks every
// command against the one admin gate (CommandPolicy), and hands APPLY / GET /
// RESTART to the sync core.  Replies leave through SessionOutput, which the
// server implements over libuv; the session itself never touches a socket,
// so it can be driven byte by byte in tests and fuzzers.
//
// Commands run one at a time: while one is in flight (a store commit, a
// failed-login delay) further input is held and reading is paused.  Cyrus's
// client never pipelines, but a hand-typed or hostile peer may.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "auth/admin_policy.h"
#include "auth/sasl_server.h"
#include "protocol/command_parser.h"
#include "protocol/command_policy.h"
#include "protocol/sync_core.h"

namespace replicad::protocol {

// What the server offers the session.  All calls happen on the loop thread.
class SessionOutput {
 public:
  virtual ~SessionOutput() = default;
  virtual void send(std::string_view bytes) = 0;
  // Close once everything sent so far has been written.
  virtual void close() = 0;
  // Pause/resume reading from the socket (backpressure while a command runs).
  virtual void set_reading(bool on) = 0;
  // Run fn on the loop after a delay (failed-login pause).
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;

  // The transport switches below the session.  Each is called right after
  // the OK line went to send(): that line still leaves in the old form, and
  // from the next byte on both directions speak TLS (the session hears back
  // through Session::on_tls_established once the handshake is done) or raw
  // DEFLATE.  Input the transport had received but not handed up yet is
  // dropped (STARTTLS) or inflated (COMPRESS).  Returning false means the
  // layer could not start; the session then closes the connection.
  virtual bool start_tls() = 0;
  virtual bool start_compress() = 0;
};

// Shared by all sessions; owned by the server.
struct SessionContext {
  std::string servername = "replicad";
  std::string version;                       // shown in the greeting
  auth::SaslConfig sasl;
  auth::AdminPolicy admins;
  SyncCore* sync = nullptr;
  std::string staging_root;                  // <datadir>/staging
  ParserLimits preauth_limits = protocol::preauth_limits();
  ParserLimits admin_limits;                 // after an admin logged in
  std::chrono::milliseconds failed_auth_delay{3000};
  uint64_t max_message_size = 0xFFFFFFFFu;
  // A certificate is configured: STARTTLS is offered on connections that
  // are not TLS already.
  bool tls_available = false;
  // No authentication without TLS: every mechanism is hidden until then.
  bool tls_required = false;
  // Lines a client may send before it has authenticated (commands and
  // AUTHENTICATE responses alike); sync_client needs fewer than ten.
  uint32_t max_preauth_commands = 30;
  // Protocol traces (protocol_trace.h): a session that authenticates as U
  // is traced into <trace_dir>/U/ when that directory exists.  Empty: never.
  std::string trace_dir;
};

struct SessionStats {
  uint64_t commands = 0;
  uint64_t applies = 0;
  uint64_t gets = 0;
  uint64_t failed_logins = 0;
};

class SaslExchange;
class ProtocolTrace;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(const SessionContext& context, SessionOutput& output, std::string id,
          auth::ConnectionInfo connection);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Sends the combined CSYNC banner / IMAP greeting.  A session created
  // with connection.tls_ssf > 0 is on an implicit-TLS port (the transport
  // finished the handshake before the session began).
  void start();
  // Bytes from the client (after TLS/DEFLATE).
  void on_input(std::string_view bytes);
  // The TLS handshake asked for by STARTTLS is done.  `verified_identity`
  // is the client certificate's name when one verified (it enables
  // EXTERNAL), else empty.
  void on_tls_established(unsigned ssf, std::string verified_identity);
  // The connection is gone: drop staged uploads, ignore pending completions.
  void on_disconnect();
  // The server is shutting down: say BYE (IMAP) or just close (CSYNC) once the
  // command in flight, if any, has finished.
  void on_shutdown();

  const std::string& id() const { return id_; }
  Flavour flavour() const { return flavour_; }
  bool busy() const { return busy_; }
  bool authenticated() const { return auth_ != AuthState::none; }
  const SessionStats& stats() const { return stats_; }

 private:
  friend class SaslExchange;

  void process(std::string_view bytes);
  void resume();
  void handle_command(std::vector<Dlist> items);
  void handle_parse_error();
  void decide_flavour(const std::vector<Dlist>& items);

  // Flavour-specific command sets; both end in the shared helpers below.
  void csync_command(const std::string& verb, std::vector<Dlist>& items);
  void imap_command(const std::string& tag, const std::string& verb, std::vector<Dlist>& items);

  // Shared by both framings.
  void run_sync(SyncVerb verb, std::vector<Dlist>& args, size_t first_arg);
  void begin_authenticate(std::vector<Dlist>& items, size_t mech_index);
  void on_authenticated(const std::string& authcid, const std::string& authzid, std::string_view mechanism);
  void starttls(const std::vector<Dlist>& items, size_t first_arg);
  void compress(const std::vector<Dlist>& items, size_t first_arg);
  void unrecognized();
  void answer_malformed(const std::vector<std::string>& words, const std::string& why);
  std::string sync_parse_failure(SyncVerb verb, std::string_view word) const;
  bool over_preauth_budget();
  void drop_pipelined_input(std::string_view& in);
  void decide_trace();
  std::string greeting() const;
  std::string greeting_line() const;
  std::string capabilities(bool after_auth) const;
  std::vector<std::string> mechanisms() const;
  bool starttls_offered() const;

  // Reply helpers: `status` is "OK ...", "NO ...", "BAD ..." without CRLF;
  // the tag (IMAP) is added here, the only place the framings differ.
  void reply(std::string_view status);
  void send(std::string_view bytes);
  void finish_command();  // the command in flight is done: accept input again
  void close();

  const SessionContext& ctx_;
  SessionOutput* out_;
  std::string id_;
  auth::ConnectionInfo connection_;
  Flavour flavour_ = Flavour::undecided;

  std::unique_ptr<CommandParser> parser_;
  std::shared_ptr<SyncSession> sync_session_;
  std::unique_ptr<SaslExchange> sasl_;
  std::unique_ptr<ProtocolTrace> trace_;  // until the login decides: kept in memory

  AuthState auth_ = AuthState::none;
  std::string user_;            // authorisation identity once logged in
  std::string tag_;             // tag of the IMAP command in flight
  std::string command_name_;    // for the per-command log line
  std::chrono::steady_clock::time_point command_start_;

  // Transport state, as far as the session needs it: what to advertise,
  // what to refuse, which success text to send.
  bool tls_active_ = false;        // TLS below (implicit or after STARTTLS)
  bool tls_from_start_ = false;    // an implicit-TLS port
  bool starttls_done_ = false;
  bool compress_active_ = false;
  std::string_view switched_by_;   // "STARTTLS"/"COMPRESS" just ran: drop pipelined input
  uint32_t preauth_commands_ = 0;

  bool busy_ = false;
  bool closing_ = false;
  bool shutdown_requested_ = false;
  std::string pending_;         // input that arrived while busy
  SessionStats stats_;
};

}  // namespace replicad::protocol
