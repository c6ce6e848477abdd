#include "server/server.h"

#include <fmt/core.h>

#include "server/connection.h"
#include "server/log.h"

namespace replicad {

Server::Server(uv_loop_t* loop, const Settings& settings, const protocol::SessionContext& context,
               const TlsContext* tls)
    : loop_(loop), settings_(settings), context_(context), tls_(tls) {}

Server::~Server() = default;

bool Server::listen(std::string& error) {
  for (const auto& addr : settings_.listen) {
    if (!bind(addr, false, error)) return false;
  }
  for (const auto& addr : settings_.listen_tls) {
    if (tls_ == nullptr) {
      error = fmt::format("listen_tls {}: no TLS certificate", addr.text());
      close_listeners();
      return false;
    }
    if (!bind(addr, true, error)) return false;
  }
  return true;
}

bool Server::bind(const ListenAddress& addr, bool implicit_tls, std::string& error) {
  sockaddr_storage ss{};
  int rc = addr.host.find(':') != std::string::npos
               ? uv_ip6_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in6*>(&ss))
               : uv_ip4_addr(addr.host.c_str(), addr.port, reinterpret_cast<sockaddr_in*>(&ss));
  if (rc != 0) {
    error = fmt::format("listen {}: not a numeric address: {}", addr.text(), uv_strerror(rc));
    close_listeners();
    return false;
  }
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop_, tcp);
  tcp->data = this;
  listeners_.push_back(tcp);
  if (implicit_tls) tls_listeners_.insert(reinterpret_cast<uv_stream_t*>(tcp));
  // IPv6 listeners serve IPv6 only, so "[::]:2005" and "0.0.0.0:2005" can coexist.
  unsigned flags = ss.ss_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0;
  rc = uv_tcp_bind(tcp, reinterpret_cast<sockaddr*>(&ss), flags);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 128, &Server::on_connection);
  if (rc != 0) {
    error = fmt::format("cannot listen on {}: {}", addr.text(), uv_strerror(rc));
    close_listeners();
    return false;
  }
  log::info("listening on {}{}", addr.text(), implicit_tls ? " (TLS)" : "");
  return true;
}

bool Server::adopt(int fd, bool implicit_tls, std::string& error) {
  if (implicit_tls && tls_ == nullptr) {
    error = fmt::format("inherited socket {} is for TLS, but no TLS certificate is configured", fd);
    close_listeners();
    return false;
  }
  auto* tcp = new uv_tcp_t;
  uv_tcp_init(loop_, tcp);
  tcp->data = this;
  listeners_.push_back(tcp);
  if (implicit_tls) tls_listeners_.insert(reinterpret_cast<uv_stream_t*>(tcp));
  // systemd has bound and listened already; listening again only sets the backlog.
  int rc = uv_tcp_open(tcp, fd);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(tcp), 128, &Server::on_connection);
  if (rc != 0) {
    error = fmt::format("cannot accept on inherited socket {}: {}", fd, uv_strerror(rc));
    close_listeners();
    return false;
  }
  log::info("listening on inherited socket {}{}", fd, implicit_tls ? " (TLS)" : "");
  return true;
}

void Server::on_connection(uv_stream_t* listener, int status) {
  auto* self = static_cast<Server*>(listener->data);
  if (status != 0) {
    log::warning("accept failed: {}", uv_strerror(status));
    return;
  }
  self->accept(listener);
}

void Server::accept(uv_stream_t* listener) {
  const bool implicit_tls = tls_listeners_.count(listener) > 0;
  auto* conn = new Connection(*this, fmt::format("s{}", next_id_++), tls_, implicit_tls);
  if (uv_accept(listener, reinterpret_cast<uv_stream_t*>(conn->tcp())) != 0) {
    connections_.insert(conn);
    conn->abort();
    return;
  }
  connections_.insert(conn);
  ++accepted_;
  if (shutting_down_) {
    conn->refuse("* BYE Server shutting down\r\n");
    return;
  }
  if (connections_.size() - closing_connections_ > settings_.max_connections) {
    log::emit(log::Level::warning, conn->id(), "refused: {} connections already (maxconnections)",
              settings_.max_connections);
    conn->refuse("* BYE Too many connections, try again later\r\n");
    return;
  }
  conn->start(context_);
}

void Server::connection_closing(Connection*) { ++closing_connections_; }

void Server::connection_closed(Connection* connection) {
  connections_.erase(connection);
  --closing_connections_;
  delete connection;
  if (shutting_down_ && connections_.empty() && on_drained_) {
    auto fn = std::move(on_drained_);
    on_drained_ = nullptr;
    fn();
  }
}

void Server::close_listeners() {
  for (uv_tcp_t* tcp : listeners_)
    uv_close(reinterpret_cast<uv_handle_t*>(tcp), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
  listeners_.clear();
  tls_listeners_.clear();
}

void Server::shutdown(std::function<void()> on_drained) {
  shutting_down_ = true;
  on_drained_ = std::move(on_drained);
  close_listeners();
  if (connections_.empty()) {
    auto fn = std::move(on_drained_);
    on_drained_ = nullptr;
    if (fn) fn();
    return;
  }
  // Copy: shutdown may close connections synchronously.
  std::vector<Connection*> live(connections_.begin(), connections_.end());
  for (Connection* c : live) c->shutdown();
}

void Server::abort_connections() {
  std::vector<Connection*> live(connections_.begin(), connections_.end());
  for (Connection* c : live) c->abort();
}

}  // namespace replicad
