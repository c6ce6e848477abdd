#include "server/connection.h"

#include <algorithm>

#include "server/log.h"
#include "server/server.h"
#include "server/tls_context.h"

namespace replicad {

struct Connection::Timer {
  uv_timer_t handle{};
  Connection* owner = nullptr;
  std::function<void()> fn;
};

namespace {

// Clear text handed to the session at a time: what one socket read brings
// without compression, and a bound on what a compressed one expands to
// before the session has had a chance to say it is busy.
constexpr size_t kPieceBytes = 64 * 1024;

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

Connection::Connection(Server& server, std::string id, const TlsContext* tls, bool implicit_tls)
    : server_(server), id_(std::move(id)), tls_context_(tls), implicit_tls_(implicit_tls) {
  uv_tcp_init(server_.loop(), &tcp_);
  tcp_.data = this;
  uv_timer_init(server_.loop(), &idle_timer_);
  idle_timer_.data = this;
  uv_timer_init(server_.loop(), &pump_timer_);
  pump_timer_.data = this;
  open_handles_ = 3;
}

Connection::~Connection() = default;

void Connection::start(const protocol::SessionContext& context) {
  // Replies are small and the client waits for each one: Nagle would only
  // add latency to every command.
  uv_tcp_nodelay(&tcp_, 1);
  context_ = &context;
  info_.local = peer_address(&tcp_, true);
  info_.remote = peer_address(&tcp_, false);
  // The handshake on a listen_tls port counts against this too.
  auth_deadline_ = std::chrono::steady_clock::now() + server_.settings().preauth_timeout;
  last_activity_ = std::chrono::steady_clock::now();
  if (implicit_tls_) {
    std::string error;
    if (tls_context_ == nullptr || !transport_.start_tls(*tls_context_, error)) {
      log::emit(log::Level::error, id_, "cannot start TLS: {}", tls_context_ ? error : "no certificate");
      return close_handles();
    }
    // The session starts once the handshake is done (tls_established):
    // then it knows the TLS facts its greeting depends on.
  } else {
    open_session();
  }
  update_socket_reading();
  arm_idle_timer();
}

void Connection::open_session() {
  session_ = std::make_shared<protocol::Session>(*context_, *this, id_, info_);
  session_->start();
}

void Connection::refuse(std::string_view line) {
  // A TLS client could not read a line in the clear: just close.
  if (!implicit_tls_) send(line);
  close();
}

void Connection::shutdown() {
  if (session_) session_->on_shutdown();
  else close();
}

void Connection::abort() { close_handles(); }

// -- output ----------------------------------------------------------------

void Connection::send(std::string_view bytes) {
  if (closing_) return;
  if (!transport_.write(bytes)) return transport_failed();
  collect_output();
  flush();
}

void Connection::collect_output() { transport_.take_output(queued_); }

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
  if (closing_ || close_after_flush_) return;
  close_after_flush_ = true;
  transport_.shutdown();   // TLS close_notify after the last reply
  collect_output();
  update_socket_reading();
  flush();
}

// -- transport switches (asked for by the session) ---------------------------

bool Connection::start_tls() {
  std::string error;
  if (tls_context_ == nullptr) {
    log::emit(log::Level::error, id_, "STARTTLS without a certificate");
    return false;
  }
  if (!transport_.start_tls(*tls_context_, error)) {
    log::emit(log::Level::error, id_, "cannot start TLS: {}", error);
    return false;
  }
  tls_reported_ = false;
  return true;
}

bool Connection::start_compress() {
  std::string error;
  if (!transport_.start_deflate(error)) {
    log::emit(log::Level::error, id_, "cannot start COMPRESS: {}", error);
    return false;
  }
  log::emit(log::Level::debug, id_, "deflate active");
  return true;
}

void Connection::tls_established() {
  tls_reported_ = true;
  const TlsPeerInfo& peer = transport_.tls()->peer();
  std::string client = "none";
  if (peer.client_certificate) {
    client = peer.client_verified ? "\"" + peer.client_name + "\""
                                  : fmt::format("unverified({})", peer.verify_error);
  }
  info_.tls_ssf = peer.bits;
  // Only a verified certificate names somebody: it is what EXTERNAL
  // authenticates as, checked against `admins` like any other login.
  info_.tls_identity = peer.client_verified ? peer.client_name : std::string();
  const bool implicit = !session_;
  if (implicit) open_session();
  log::emit(log::Level::info, id_, "tls protocol={} cipher={} bits={} client_cert={}", peer.protocol, peer.cipher,
            peer.bits, client);
  if (!implicit) session_->on_tls_established(info_.tls_ssf, info_.tls_identity);
}

void Connection::transport_failed() {
  log::emit(log::Level::notice, id_, "closing: {}", transport_.error());
  collect_output();   // a TLS alert, if OpenSSL wrote one
  close();
}

// -- input -----------------------------------------------------------------

void Connection::set_reading(bool on) {
  // Resuming goes through the loop: the session calls this from inside a
  // command, before it has looked at input of its own that is still waiting.
  if (on) return schedule_pump();
  update_socket_reading();
}

void Connection::schedule_pump() {
  if (pump_scheduled_ || closing_) return;
  pump_scheduled_ = true;
  uv_timer_start(&pump_timer_, &Connection::on_pump, 0, 0);
}

void Connection::on_pump(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  self->pump_scheduled_ = false;
  self->pump();
}

// Moves clear text from the transport to the session while the session
// takes it (or, before the session exists, drives the handshake).
void Connection::pump() {
  while (!closing_ && !close_after_flush_) {
    const bool session_takes_input = session_ && !session_->busy();
    const bool handshaking = transport_.tls_started() && !tls_reported_;
    if (!session_takes_input && !handshaking) {
      drained_ = false;   // look again when the session is ready
      break;
    }
    piece_.clear();
    const bool ok = transport_.read(piece_, kPieceBytes);
    collect_output();   // handshake records
    if (!ok) return transport_failed();
    if (!tls_reported_ && transport_.tls_established()) {
      tls_established();
      if (closing_ || close_after_flush_) break;
    }
    if (piece_.empty()) {
      drained_ = true;
      break;
    }
    drained_ = false;
    // Keep the session alive while it works on these bytes, even if they
    // make it close the connection.
    auto session = session_;
    session->on_input(piece_);
  }
  if (drained_ && transport_.peer_closed()) {
    log::emit(log::Level::debug, id_, "peer closed TLS");
    close();
  }
  flush();
  update_socket_reading();
}

void Connection::update_socket_reading() {
  const bool want = !closing_ && !close_after_flush_ && drained_ && !(session_ && session_->busy());
  if (want == reading_) return;
  auto* stream = reinterpret_cast<uv_stream_t*>(&tcp_);
  if (want) {
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
  self->last_activity_ = std::chrono::steady_clock::now();
  self->transport_.receive(std::string_view(buf->base, static_cast<size_t>(nread)));
  self->drained_ = false;
  self->pump();
}

// -- timers ----------------------------------------------------------------

// One timer serves two limits: before authentication a fixed deadline from
// the connect (preauth_timeout: the handshake, the banner, the login), after
// it the time since the client last sent anything (sync_timeout).
void Connection::arm_idle_timer() {
  if (closing_) return;
  const bool authenticated = session_ && session_->authenticated();
  const auto deadline = authenticated ? last_activity_ + server_.settings().idle_timeout : auth_deadline_;
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  uv_timer_start(&idle_timer_, &Connection::on_idle, static_cast<uint64_t>(std::max<int64_t>(left.count(), 0)) + 1, 0);
}

void Connection::on_idle(uv_timer_t* timer) {
  auto* self = static_cast<Connection*>(timer->data);
  const bool authenticated = self->session_ && self->session_->authenticated();
  const auto now = std::chrono::steady_clock::now();
  const auto deadline = authenticated ? self->last_activity_ + self->server_.settings().idle_timeout : self->auth_deadline_;
  if (self->session_ && self->session_->busy()) {
    // Waiting for our own store (or a failed-login pause), not for the
    // client: not idle.  Look again in a second.
    self->last_activity_ = now;
    uv_timer_start(&self->idle_timer_, &Connection::on_idle, 1000, 0);
    return;
  }
  if (now < deadline) return self->arm_idle_timer();
  if (authenticated) {
    log::emit(log::Level::info, self->id_, "idle timeout, closing");
  } else {
    log::emit(log::Level::notice, self->id_, "not authenticated within {}s, closing remote={}",
              std::chrono::duration_cast<std::chrono::seconds>(self->server_.settings().preauth_timeout).count(),
              self->info_.remote);
  }
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
    auto callback = std::move(timer->fn);
    std::erase(owner->timers_, timer);
    uv_close(reinterpret_cast<uv_handle_t*>(h), [](uv_handle_t* hh) {
      auto* tt = static_cast<Timer*>(hh->data);
      Connection* o = tt->owner;
      delete tt;
      o->handle_closed();
    });
    if (callback) callback();
  }, static_cast<uint64_t>(delay.count()), 0);
}

// -- closing ---------------------------------------------------------------

void Connection::log_transport_totals() {
  if (const DeflateLayer* deflate = transport_.deflate()) {
    log::emit(log::Level::info, id_, "deflate in={}->{} out={}->{}", deflate->compressed_in(), deflate->plain_in(),
              deflate->plain_out(), deflate->compressed_out());
  }
}

void Connection::close_handles() {
  if (closing_) return;
  closing_ = true;
  reading_ = false;
  server_.connection_closing(this);
  log_transport_totals();
  if (session_) session_->on_disconnect();
  for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&tcp_), reinterpret_cast<uv_handle_t*>(&idle_timer_),
                         reinterpret_cast<uv_handle_t*>(&pump_timer_)}) {
    uv_close(h, &Connection::on_handle_closed);
  }
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
