// What replicad says to systemd and takes from it, without libsystemd.
//
// The notify protocol is one datagram of "KEY=value" lines sent to the
// AF_UNIX socket named in $NOTIFY_SOCKET (a path, or '@' for the abstract
// namespace); socket activation hands listening sockets over as fds 3.. with
// $LISTEN_FDS / $LISTEN_PID / $LISTEN_FDNAMES (sd_notify(3), sd_listen_fds(3)).
// Both are small and stable enough that linking libsystemd for them would
// add a dependency and nothing else.  Outside systemd every call is a no-op.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace replicad {

class SystemdNotifier {
 public:
  // Reads NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID.
  static SystemdNotifier from_environment();
  SystemdNotifier() = default;
  ~SystemdNotifier();
  SystemdNotifier(SystemdNotifier&& other) noexcept;
  SystemdNotifier& operator=(SystemdNotifier&& other) noexcept;
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  bool enabled() const { return fd_ >= 0; }
  // How often systemd expects WATCHDOG=1 (WatchdogSec=), or zero.
  std::chrono::microseconds watchdog_interval() const { return watchdog_; }

  // Each sends one datagram; false (and nothing else) when it cannot.
  bool ready(std::string_view status);   // READY=1 plus STATUS=
  bool status(std::string_view text);     // STATUS=
  bool reloading();                       // RELOADING=1 (SIGHUP)
  bool ready_again();                     // READY=1 after a reload
  bool stopping();                        // STOPPING=1
  bool watchdog();                        // WATCHDOG=1
  bool send(std::string_view message);

 private:
  int fd_ = -1;
  sockaddr_un address_{};
  socklen_t address_size_ = 0;
  std::chrono::microseconds watchdog_{0};
};

// A listening socket systemd passed on (socket activation).
struct InheritedSocket {
  int fd = -1;
  std::string name;  // FileDescriptorName= of its .socket unit ("tls" marks implicit TLS)
};

// The sockets passed to this process, or none (LISTEN_PID names another
// process, or nothing was passed).  Clears LISTEN_* so that children do not
// inherit the claim, and marks the fds close-on-exec.
std::vector<InheritedSocket> take_inherited_sockets();

}  // namespace replicad
