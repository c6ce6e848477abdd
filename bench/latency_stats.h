// Latency samples and their percentiles (nearest-rank), in milliseconds.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace replicad::bench {

class LatencyStats {
 public:
  void add(double ms) { samples_.push_back(ms); }
  void merge(const LatencyStats& other) {
    samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  }
  size_t count() const { return samples_.size(); }

  // Nearest-rank percentile, p in (0, 100]; 0 when there are no samples.
  double percentile(double p) {
    if (samples_.empty()) return 0;
    std::sort(samples_.begin(), samples_.end());
    size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(samples_.size())));
    return samples_[std::clamp<size_t>(rank, 1, samples_.size()) - 1];
  }
  double max() { return percentile(100); }

 private:
  std::vector<double> samples_;
};

}  // namespace replicad::bench
