// What /proc says about one process (the replica under load): CPU time,
// peak resident set (VmHWM) and anonymous memory (RssAnon: heap and
// malloc'd pages, not LMDB's file mapping).  The kernel keeps no peak of
// RssAnon, so a sampler thread polls it while the load runs.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <optional>
#include <thread>

namespace replicad::bench {

struct ProcessSnapshot {
  double cpu_seconds = 0;   // utime + stime
  uint64_t vm_hwm_kb = 0;   // VmHWM
  uint64_t rss_anon_kb = 0; // RssAnon
};

// nullopt when the process is gone or /proc cannot be read.
std::optional<ProcessSnapshot> read_process(pid_t pid);

class RssAnonSampler {
 public:
  RssAnonSampler(pid_t pid, unsigned interval_ms);
  ~RssAnonSampler();
  RssAnonSampler(const RssAnonSampler&) = delete;
  RssAnonSampler& operator=(const RssAnonSampler&) = delete;

  // Stops sampling; the peak is final afterwards.
  void stop();
  uint64_t peak_kb() const { return peak_kb_.load(); }

 private:
  pid_t pid_;
  unsigned interval_ms_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> peak_kb_{0};
  std::thread thread_;
};

}  // namespace replicad::bench
