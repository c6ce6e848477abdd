// The signals an operator sends, as far as operations care: SIGTERM/SIGINT
// (tell systemd STOPPING=1, final status) and SIGHUP (reopen logs).
//
// libuv calls every watcher of a signal, so these run beside the graceful
// shutdown in main.cpp, which does the actual draining.  The watchers are
// unreferenced: they never keep the loop alive, and the first stop signal
// closes them all, so the loop ends once the server has drained.
#pragma once

#include <uv.h>

#include <functional>

namespace replicad {

class ServiceSignals {
 public:
  ServiceSignals(uv_loop_t* loop, std::function<void()> on_stop, std::function<void()> on_hangup);
  ~ServiceSignals();
  ServiceSignals(const ServiceSignals&) = delete;
  ServiceSignals& operator=(const ServiceSignals&) = delete;

 private:
  static void on_signal(uv_signal_t* handle, int signum);
  void close();

  std::function<void()> on_stop_;
  std::function<void()> on_hangup_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_signal_t sighup_{};
  bool closed_ = false;
};

}  // namespace replicad
