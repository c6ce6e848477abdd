#include "server/loop_executor.h"

namespace replicad {

LoopExecutor::LoopExecutor(uv_loop_t* loop) {
  uv_async_init(loop, &async_, &LoopExecutor::on_async);
  async_.data = this;
}

LoopExecutor::~LoopExecutor() = default;

void LoopExecutor::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (closed_) return;
    queue_.push_back(std::move(fn));
  }
  uv_async_send(&async_);
}

void LoopExecutor::on_async(uv_async_t* handle) { static_cast<LoopExecutor*>(handle->data)->drain(); }

void LoopExecutor::drain() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    batch.swap(queue_);
  }
  for (auto& fn : batch) fn();
}

void LoopExecutor::close() {
  drain();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
  }
  if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&async_)))
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
}

}  // namespace replicad
