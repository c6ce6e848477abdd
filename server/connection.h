// One TCP connection: the libuv side of a Session.
//
// Bytes read from the socket go into the transport stack (TLS, DEFLATE; see
// transport_stack.h), and clear text comes out of it in bounded pieces for
// the session, only while the session takes input: a busy session leaves
// bytes in the stack, and the socket is not read until they are used up.
// Replies go down the same stack and are written in order.  A connection
// owns its handles and deletes itself once they are all closed, as libuv
// requires (handles are freed in their close callbacks, never before).
#pragma once

#include <uv.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "protocol/session.h"
#include "server/transport_stack.h"

namespace replicad {

class Server;
class TlsContext;

class Connection final : public protocol::SessionOutput {
 public:
  // `tls` is the server's TLS configuration (null without a certificate);
  // `implicit_tls`: the connection came in on a listen_tls port.
  Connection(Server& server, std::string id, const TlsContext* tls, bool implicit_tls);
  ~Connection() override;

  uv_tcp_t* tcp() { return &tcp_; }
  const std::string& id() const { return id_; }

  // After uv_accept: start the session (on a listen_tls port: the TLS
  // handshake first, then the session) and reading.
  void start(const protocol::SessionContext& context);
  // Refuse politely (over the connection limit) and close.
  void refuse(std::string_view line);
  // Server shutdown: let the session finish its command, then close.
  void shutdown();
  // Close now (shutdown deadline passed).
  void abort();

  // SessionOutput
  void send(std::string_view bytes) override;
  void close() override;
  void set_reading(bool on) override;
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override;
  bool start_tls() override;
  bool start_compress() override;

 private:
  struct Timer;

  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_idle(uv_timer_t* timer);
  static void on_pump(uv_timer_t* timer);
  static void on_handle_closed(uv_handle_t* handle);

  void open_session();
  void pump();
  void schedule_pump();
  void tls_established();
  void transport_failed();
  void update_socket_reading();
  void collect_output();
  void flush();
  void arm_idle_timer();
  void close_handles();
  void handle_closed();
  void log_transport_totals();

  Server& server_;
  std::string id_;
  const TlsContext* tls_context_;
  const bool implicit_tls_;
  const protocol::SessionContext* context_ = nullptr;
  auth::ConnectionInfo info_;
  uv_tcp_t tcp_{};
  uv_timer_t idle_timer_{};
  uv_timer_t pump_timer_{};     // deferred delivery once the session takes input again
  std::shared_ptr<protocol::Session> session_;
  std::vector<Timer*> timers_;
  TransportStack transport_;
  // Until this moment a connection must have authenticated (preauth_timeout).
  std::chrono::steady_clock::time_point auth_deadline_;
  std::chrono::steady_clock::time_point last_activity_;   // last bytes from the client

  std::array<char, 64 * 1024> read_buffer_{};
  std::string piece_;         // clear text on its way to the session
  std::string queued_;        // bytes for the socket not yet handed to libuv
  std::string in_flight_;     // bytes of the uv_write in progress
  uv_write_t write_req_{};
  bool writing_ = false;
  bool reading_ = false;      // the socket is being read
  bool drained_ = true;       // the transport holds no clear text the session has not taken
  bool pump_scheduled_ = false;
  bool tls_reported_ = false; // the session was told about the finished handshake
  bool close_after_flush_ = false;
  bool closing_ = false;      // handles are being closed
  int open_handles_ = 0;
};

}  // namespace replicad
