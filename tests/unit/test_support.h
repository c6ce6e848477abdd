// Fixtures shared by the unit suites: a temporary directory that cleans up
// after itself, and a completion queue standing in for the server's loop.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>

#include "storage/store.h"

namespace replicad::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "replicad-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The store's completions queue up here (from the writer thread) and run
// when the test drains them, as the server's uv_async_t would.
class Completions {
 public:
  storage::Store::Post poster() {
    return [this](std::function<void()> fn) { post(std::move(fn)); };
  }
  void post(std::function<void()> fn) {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(fn));
    ready_.notify_all();
  }
  // Runs completions until `until()` holds; false after a timeout.
  bool run_until(const std::function<bool()>& until,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!until()) {
      if (!run_one(deadline)) return until();
    }
    return true;
  }
  // Runs exactly `count` completions; false if they do not arrive in time.
  bool run(size_t count, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (size_t done = 0; done < count; ++done)
      if (!run_one(deadline)) return false;
    return true;
  }
  size_t pending() {
    std::lock_guard lock(mutex_);
    return queue_.size();
  }

 private:
  bool run_one(std::chrono::steady_clock::time_point deadline) {
    std::function<void()> fn;
    {
      std::unique_lock lock(mutex_);
      if (!ready_.wait_until(lock, deadline, [this] { return !queue_.empty(); })) return false;
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
    return true;
  }

  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace replicad::testing
