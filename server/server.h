// The listeners and the set of live connections on one libuv loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <unordered_set>
#include <vector>

#include "protocol/session.h"
#include "server/settings.h"

namespace replicad {

class Connection;
class TlsContext;

class Server {
 public:
  // `tls` is null without a certificate (no STARTTLS, no listen_tls).
  Server(uv_loop_t* loop, const Settings& settings, const protocol::SessionContext& context,
         const TlsContext* tls = nullptr);
  ~Server();

  // Binds every `listen` and `listen_tls` address.  On failure nothing stays bound.
  bool listen(std::string& error);
  // Socket activation: accepts on a listening socket systemd passed on
  // (instead of listen()); `implicit_tls` as for listen_tls.
  bool adopt(int fd, bool implicit_tls, std::string& error);
  // Stops accepting; asks every session to finish its command and close.
  // `on_drained` runs once the last connection is gone.
  void shutdown(std::function<void()> on_drained);
  // Closes whatever is still open (shutdown deadline).
  void abort_connections();

  // SIGHUP: new connections use this TLS configuration; open ones keep theirs.
  void set_tls(const TlsContext* tls) { tls_ = tls; }

  uv_loop_t* loop() const { return loop_; }
  const Settings& settings() const { return settings_; }
  size_t connection_count() const { return connections_.size(); }
  uint64_t accepted() const { return accepted_; }

  // Called by a connection when it starts closing: from then on it no
  // longer counts against maxconnections (its handles may take until the
  // end of the loop iteration to close, and a new client must not wait).
  void connection_closing(Connection* connection);
  // Called by a connection once all its handles are closed; deletes it.
  void connection_closed(Connection* connection);

 private:
  static void on_connection(uv_stream_t* listener, int status);
  void accept(uv_stream_t* listener);
  bool bind(const ListenAddress& addr, bool implicit_tls, std::string& error);
  void close_listeners();

  uv_loop_t* loop_;
  const Settings& settings_;
  const protocol::SessionContext& context_;
  const TlsContext* tls_;
  std::vector<uv_tcp_t*> listeners_;
  std::unordered_set<const uv_stream_t*> tls_listeners_;   // listen_tls: TLS from the first byte
  std::unordered_set<Connection*> connections_;
  size_t closing_connections_ = 0;   // in connections_, but closing
  uint64_t accepted_ = 0;
  uint64_t next_id_ = 1;
  bool shutting_down_ = false;
  std::function<void()> on_drained_;
};

}  // namespace replicad
