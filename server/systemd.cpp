#include "server/systemd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

namespace replicad {
namespace {

constexpr int kFirstInheritedFd = 3;   // SD_LISTEN_FDS_START
constexpr unsigned kMaxInheritedFds = 64;

template <typename T>
bool parse_number(const char* text, T& out) {
  if (text == nullptr || *text == '\0') return false;
  const char* end = text + std::strlen(text);
  auto [p, ec] = std::from_chars(text, end, out);
  return ec == std::errc() && p == end;
}

}  // namespace

SystemdNotifier SystemdNotifier::from_environment() {
  SystemdNotifier n;
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr) return n;
  size_t len = std::strlen(path);
  if (len < 2 || (path[0] != '/' && path[0] != '@') || len >= sizeof(n.address_.sun_path)) return n;
  n.address_.sun_family = AF_UNIX;
  std::memcpy(n.address_.sun_path, path, len);
  // '@' names the abstract namespace: a leading NUL, and the length counts
  // exactly the name's bytes (no terminator).
  if (path[0] == '@') n.address_.sun_path[0] = '\0';
  n.address_size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len + (path[0] == '@' ? 0 : 1));
  n.fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  uint64_t usec = 0;
  int64_t pid = 0;
  const char* watchdog_pid = std::getenv("WATCHDOG_PID");
  bool for_us = watchdog_pid == nullptr || (parse_number(watchdog_pid, pid) && pid == ::getpid());
  if (for_us && parse_number(std::getenv("WATCHDOG_USEC"), usec) && usec > 0)
    n.watchdog_ = std::chrono::microseconds(static_cast<int64_t>(usec));
  return n;
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

SystemdNotifier::SystemdNotifier(SystemdNotifier&& other) noexcept { *this = std::move(other); }

SystemdNotifier& SystemdNotifier::operator=(SystemdNotifier&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    address_ = other.address_;
    address_size_ = other.address_size_;
    watchdog_ = other.watchdog_;
  }
  return *this;
}

bool SystemdNotifier::send(std::string_view message) {
  if (fd_ < 0) return false;
  ssize_t n;
  do {
    n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&address_),
                 address_size_);
  } while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(message.size());
}

bool SystemdNotifier::ready(std::string_view status_text) {
  return send("READY=1\nSTATUS=" + std::string(status_text));
}
bool SystemdNotifier::status(std::string_view text) { return send("STATUS=" + std::string(text)); }
bool SystemdNotifier::reloading() { return send("RELOADING=1"); }
bool SystemdNotifier::ready_again() { return send("READY=1"); }
bool SystemdNotifier::stopping() { return send("STOPPING=1"); }
bool SystemdNotifier::watchdog() { return send("WATCHDOG=1"); }

std::vector<InheritedSocket> take_inherited_sockets() {
  std::vector<InheritedSocket> out;
  int64_t pid = 0;
  unsigned count = 0;
  bool ours = parse_number(std::getenv("LISTEN_PID"), pid) && pid == ::getpid() &&
              parse_number(std::getenv("LISTEN_FDS"), count) && count > 0 && count <= kMaxInheritedFds;
  std::string names = std::getenv("LISTEN_FDNAMES") != nullptr ? std::getenv("LISTEN_FDNAMES") : "";
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return out;
  std::string_view rest = names;
  for (unsigned i = 0; i < count; ++i) {
    InheritedSocket s;
    s.fd = kFirstInheritedFd + static_cast<int>(i);
    size_t colon = rest.find(':');
    s.name = std::string(rest.substr(0, colon));
    rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    int flags = ::fcntl(s.fd, F_GETFD);
    if (flags < 0) continue;  // not open after all
    ::fcntl(s.fd, F_SETFD, flags | FD_CLOEXEC);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace replicad
