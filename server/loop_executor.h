// Runs functions on the event-loop thread on behalf of other threads (the
// store's writer hands back its completions this way).  libuv 1.44 has no
// thread-safe "queue work to the loop", so: a mutex-protected queue plus one
// uv_async_t to wake the loop; uv_async_send coalesces, so the callback
// drains everything queued.
#pragma once

#include <uv.h>

#include <functional>
#include <mutex>
#include <vector>

namespace replicad {

class LoopExecutor {
 public:
  explicit LoopExecutor(uv_loop_t* loop);
  ~LoopExecutor();
  LoopExecutor(const LoopExecutor&) = delete;
  LoopExecutor& operator=(const LoopExecutor&) = delete;

  // Thread-safe.
  void post(std::function<void()> fn);
  // Closes the async handle (the loop must run once more to finish closing).
  void close();

 private:
  static void on_async(uv_async_t* handle);
  void drain();

  uv_async_t async_{};
  std::mutex mutex_;
  std::vector<std::function<void()>> queue_;
  bool closed_ = false;
};

}  // namespace replicad
