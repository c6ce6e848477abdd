// One TCP connection: the libuv side of a Session.
//
// Reads go straight from the socket into a fixed buffer and on to the
// session (file literal bytes are written to their staging file from there,
// no further copy); replies are queued and written in order.  A connection
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

namespace replicad {

class Server;

class Connection final : public protocol::SessionOutput {
 public:
  Connection(Server& server, std::string id);
  ~Connection() override;

  uv_tcp_t* tcp() { return &tcp_; }
  const std::string& id() const { return id_; }

  // After uv_accept: start the session and reading.
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

 private:
  struct Timer;

  static void on_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf);
  static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
  static void on_write(uv_write_t* req, int status);
  static void on_idle(uv_timer_t* timer);
  static void on_handle_closed(uv_handle_t* handle);

  void flush();
  void arm_idle_timer();
  void close_handles();
  void handle_closed();

  Server& server_;
  std::string id_;
  uv_tcp_t tcp_{};
  uv_timer_t idle_timer_{};
  std::shared_ptr<protocol::Session> session_;
  std::vector<Timer*> timers_;

  std::array<char, 64 * 1024> read_buffer_{};
  std::string queued_;        // replies not yet handed to libuv
  std::string in_flight_;     // bytes of the uv_write in progress
  uv_write_t write_req_{};
  bool writing_ = false;
  bool reading_ = false;
  bool close_after_flush_ = false;
  bool closing_ = false;      // handles are being closed
  int open_handles_ = 0;
};

}  // namespace replicad
