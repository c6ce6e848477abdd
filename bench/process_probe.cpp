#include "bench/process_probe.h"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>

namespace replicad::bench {
namespace {

// "VmHWM:     1234 kB" -> 1234
bool status_field(const std::string& line, std::string_view key, uint64_t& out) {
  if (!line.starts_with(key)) return false;
  out = std::stoull(line.substr(key.size()));
  return true;
}

}  // namespace

std::optional<ProcessSnapshot> read_process(pid_t pid) {
  ProcessSnapshot snap;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return std::nullopt;
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  size_t close = text.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  // Field 3 (state) is the first after ')'; utime and stime are fields 14 and 15.
  for (int index = 3; index <= 15 && fields >> field; ++index) {
    if (index == 14) utime = std::stoull(field);
    if (index == 15) stime = std::stoull(field);
  }
  snap.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));

  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    status_field(line, "VmHWM:", snap.vm_hwm_kb);
    status_field(line, "RssAnon:", snap.rss_anon_kb);
  }
  return snap;
}

RssAnonSampler::RssAnonSampler(pid_t pid, unsigned interval_ms)
    : pid_(pid), interval_ms_(interval_ms), thread_([this] {
        while (!stop_.load()) {
          if (auto snap = read_process(pid_)) {
            uint64_t seen = peak_kb_.load();
            if (snap->rss_anon_kb > seen) peak_kb_.store(snap->rss_anon_kb);
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(interval_ms_));
        }
      }) {}

RssAnonSampler::~RssAnonSampler() { stop(); }

void RssAnonSampler::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace replicad::bench
