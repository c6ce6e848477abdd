#include "server/service_signals.h"

#include <csignal>

namespace replicad {

ServiceSignals::ServiceSignals(uv_loop_t* loop, std::function<void()> on_stop, std::function<void()> on_hangup)
    : on_stop_(std::move(on_stop)), on_hangup_(std::move(on_hangup)) {
  const std::pair<uv_signal_t*, int> watches[] = {{&sigterm_, SIGTERM}, {&sigint_, SIGINT}, {&sighup_, SIGHUP}};
  for (auto [handle, signum] : watches) {
    uv_signal_init(loop, handle);
    handle->data = this;
    uv_signal_start(handle, &ServiceSignals::on_signal, signum);
    uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  }
}

ServiceSignals::~ServiceSignals() = default;

void ServiceSignals::on_signal(uv_signal_t* handle, int signum) {
  auto* self = static_cast<ServiceSignals*>(handle->data);
  if (signum == SIGHUP) {
    if (self->on_hangup_) self->on_hangup_();
    return;
  }
  self->close();
  if (self->on_stop_) self->on_stop_();
}

void ServiceSignals::close() {
  if (closed_) return;
  closed_ = true;
  for (uv_signal_t* h : {&sigterm_, &sigint_, &sighup_}) uv_close(reinterpret_cast<uv_handle_t*>(h), nullptr);
}

}  // namespace replicad
