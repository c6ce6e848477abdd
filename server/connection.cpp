#include "server/connection.h"

#include "server/log.h"
#include "server/server.h"

namespace replicad {

struct Connection::Timer {
  uv_timer_t handle{};
  Connection* owner = nullptr;
  std::function<void()> fn;
};

namespace {

std::string peer_address(uv_tcp_t* tcp, bool local) {
  sockaddr_storage ss{};
  int len = sizeof(ss);
  int rc = local ? uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&ss), &len)
                 : uv_tcp_getpeername(tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return {};
  char host[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  if (ss.ss_family == AF_INET) {
    auto* sin = reinterpret_cast<sockaddr_in*>(&ss);
    uv_ip4_name(sin, host, sizeof(host));
    port = ntohs(sin->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&ss);
    uv_ip6_name(sin6, host, sizeof(host));
    port = ntohs(sin6->sin6_port);
  }
  // libsasl2 wants "ip;port".
  return std::string(host) + ";" + std::to_string(port);
}

}  // namespace

Connection::Connection(Server& server, std::string id) : server_(server), id_(std::move(id)) {
  uv_tcp_init(server_.loop(), &tcp_);
  tcp_.data = this;
  uv_timer_init(server_.loop(), &idle_timer_);
  idle_timer_.data = this;
  open_handles_ = 2;
}

Connection::~Connection() = default;

void Connection::start(const protocol::SessionContext& context) {
  // Replies are small and the client waits for each one: Nagle would only
  // add latency to every command.
  uv_tcp_nodelay(&tcp_, 1);
  auth::ConnectionInfo info;
  info.local = peer_address(&tcp_, true);
  info.remote = peer_address(&tcp_, false);
  session_ = std::make_shared<protocol::Session>(context, *this, id_, info);
  session_->start();
  set_reading(true);
  arm_idle_timer();
}

void Connection::refuse(std::string_view line) {
  send(line);
  close();
}

void Connection::shutdown() {
  if (session_) session_->on_shutdown();
  else close();
}

void Connection::abort() { close_handles(); }

void Connection::send(std::string_view bytes) {
  if (closing_) return;
  queued_.append(bytes);
  flush();
}

void Connection::flush() {
  if (writing_ || queued_.empty() || closing_) {
    if (!writing_ && queued_.empty() && close_after_flush_) close_handles();
    return;
  }
  in_flight_.swap(queued_);
  queued_.clear();
  uv_buf_t buf = uv_buf_init(in_flight_.data(), static_cast<unsigned>(in_flight_.size()));
  write_req_.data = this;
  int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, &Connection::on_write);
  if (rc != 0) {
    log::emit(log::Level::info, id_, "write failed: {}", uv_strerror(rc));
    close_handles();
    return;
  }
  writing_ = true;
}

void Connection::on_write(uv_write_t* req, int status) {
  auto* self = static_cast<Connection*>(req->data);
  self->writing_ = false;
  self->in_flight_.clear();
  if (status != 0) {
    log::emit(log::Level::info, self->id_, "write failed: {}", uv_strerror(status));
    self->close_handles();
    return;
  }
  self->flush();
}

void Connection::close() {
  close_after_flush_ = true;
  set_reading(false);
  flush();
}

void Connection::set_reading(bool on) {
  if (closing_ || on == reading_) return;
  if (on && close_after_flush_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (on) {
    if (uv_read_start(stream, &Connection::on_alloc, &Connection::on_read) == 0) reading_ = true;
  } else {
    uv_read_stop(stream);
    reading_ = false;
  }
}

void Connection::on_alloc(uv_handle_t* handle, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(handle->data);
  *buf = uv_buf_init(self->read_buffer_.data(), static_cast<unsigned>(self->read_buffer_.size()));
}

void Connection::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
  auto* self = static_cast<Connection*>(stream->data);
  if (nread == UV_EOF || nread < 0) {
    if (nread != UV_EOF) log::emit(log::Level::info, self->id_, "read failed: {}", uv_strerror(static_cast<int>(nread)));
    self->close_handles();
    return;
  }
  if (nread == 0) return;
  self->arm_idle_timer();
  // Keep the session alive while it works on these bytes, even if they make
  // it close the connection.
  auto session = self->session_;
  session->on_input(std::string_view(buf->base, static_cast<size_t>(nread)));
}

void Connection::arm_idle_timer() {
  if (closing_ || !session_) return;
  auto timeout = session_->authenticated() ? server_.settings().idle_timeout : server_.settings().preauth_timeout;
  uv_timer_start(&idle_timer_, &Connection::on_idle, static_cast<uint64_t>(timeout.count()), 0);
}

void Connection::on_idle(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  if (self->session_ && self->session_->busy()) {
    // Waiting for our own store, not for the client: not idle.
    self->arm_idle_timer();
    return;
  }
  log::emit(log::Level::info, self->id_, "idle timeout, closing");
  self->close_handles();
}

void Connection::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  if (closing_) return;
  auto* t = new Timer;
  t->owner = this;
  t->fn = std::move(fn);
  uv_timer_init(server_.loop(), &t->handle);
  t->handle.data = t;
  ++open_handles_;
  timers_.push_back(t);
  uv_timer_start(&t->handle, [](uv_timer_t* h) {
    auto* timer = static_cast<Timer*>(h->data);
    Connection* owner = timer->owner;
    auto fn = std::move(timer->fn);
    std::erase(owner->timers_, timer);
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* hh) {
      auto* tt = static_cast<Timer*>(hh->data);
      Connection* o = tt->owner;
      delete tt;
      o->handle_closed();
    });
    if (fn) fn();
  }, static_cast<uint64_t>(delay.count()), 0);
}

void Connection::close_handles() {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  if (session_) session_->on_disconnect();
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Connection::on_handle_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&idle_timer_), &Connection::on_handle_closed);
  for (Timer* t : timers_) {
    uv_timer_stop(&t->handle);
    t->fn = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&t->handle), [](uv_handle_t* h) {
      auto* tt = static_cast<Timer*>(h->data);
      Connection* o = tt->owner;
      delete tt;
      o->handle_closed();
    });
  }
  timers_.clear();
}

void Connection::on_handle_closed(uv_handle_t* handle) { static_cast<Connection*>(handle->data)->handle_closed(); }

void Connection::handle_closed() {
  if (--open_handles_ == 0) {
    session_.reset();
    server_.connection_closed(this);  // deletes this
  }
}

}  // namespace replicad
