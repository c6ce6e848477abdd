#include "bench/replica_connection.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include <fmt/core.h>

#include "auth/sasl_server.h"

namespace replicad::bench {
namespace {

// A reply line longer than this is not something a replica sends to APPLY
// or NOOP; stop rather than buffer without bound.
constexpr size_t kMaxLine = 16u << 20;

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i)
    if (std::toupper(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  return true;
}

}  // namespace

bool is_loopback(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return host == "localhost";
}

ReplicaConnection::ReplicaConnection(Flavour flavour, std::chrono::milliseconds io_timeout)
    : flavour_(flavour), io_timeout_(io_timeout) {}

ReplicaConnection::~ReplicaConnection() {
  if (fd_ >= 0) ::close(fd_);
}

bool ReplicaConnection::open(const std::string& host, uint16_t port, const std::string& user,
                             const std::string& password, std::string& error) {
  if (!is_loopback(host)) {
    error = fmt::format("{} is not a loopback address: the load generator only drives local replicas", host);
    return false;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  std::string service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
    error = fmt::format("resolve {}: {}", host, gai_strerror(rc));
    return false;
  }
  for (addrinfo* ai = found; ai != nullptr && fd_ < 0; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      fd_ = fd;
    } else {
      error = fmt::format("connect {}:{}: {}", host, port, std::strerror(errno));
      ::close(fd);
    }
  }
  freeaddrinfo(found);
  if (fd_ < 0) return false;
  // sync_client sets no such option, but a command here is one write and a
  // reply one read: Nagle would only add delayed-ACK pauses to the latencies.
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  // The greeting ends with the `* OK` line (both flavours, spec §1.1, §1.6).
  std::string line;
  do {
    if (!read_line(line, error)) return false;
  } while (!starts_with_ci(line, "* OK"));

  std::string plain;
  plain.push_back('\0');
  plain += user;
  plain.push_back('\0');
  plain += password;
  Reply reply;
  if (!command("AUTHENTICATE", "PLAIN " + auth::base64_encode(plain), reply, error)) return false;
  if (!reply.ok) {
    error = "login refused: " + reply.status;
    return false;
  }
  return true;
}

bool ReplicaConnection::command(std::string_view verb, std::string_view args, Reply& reply,
                                std::string& error) {
  reply = Reply{};
  std::string tag;
  std::string head;
  if (flavour_ == Flavour::imap) {
    tag = fmt::format("L{}", next_tag_++);
    bool sync_verb = verb == "APPLY" || verb == "GET" || verb == "RESTART";
    head = fmt::format("{} {}{}", tag, sync_verb ? "SYNC" : "", verb);
  } else {
    head = std::string(verb);
  }
  if (!args.empty()) head += ' ';
  // Small commands leave in one write; a large one is not copied again.
  if (args.size() < (64u << 10)) {
    head.append(args);
    head += "\r\n";
    if (!send_all(head, error)) return false;
  } else if (!send_all(head, error) || !send_all(args, error) || !send_all("\r\n", error)) {
    return false;
  }

  std::string line;
  for (;;) {
    if (!read_line(line, error)) return false;
    if (line.starts_with("* ")) {
      reply.data += line;
      reply.data += "\r\n";
      continue;
    }
    if (line.starts_with("+ ")) {
      error = "replica asked for a continuation (synchronising literal?)";
      return false;
    }
    std::string_view status = line;
    if (flavour_ == Flavour::imap) {
      if (!status.starts_with(tag) || status.size() <= tag.size() || status[tag.size()] != ' ') {
        reply.data += line;  // an untagged line without "* " is not expected; keep it for the report
        continue;
      }
      status.remove_prefix(tag.size() + 1);
    }
    reply.status = std::string(status);
    reply.ok = starts_with_ci(status, "OK");
    return true;
  }
}

void ReplicaConnection::close() {
  if (fd_ < 0) return;
  Reply reply;
  std::string ignored;
  (void)command(flavour_ == Flavour::imap ? "LOGOUT" : "EXIT", "", reply, ignored);
  ::close(fd_);
  fd_ = -1;
}

bool ReplicaConnection::send_all(std::string_view bytes, std::string& error) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = fmt::format("send: {}", std::strerror(errno));
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool ReplicaConnection::read_line(std::string& line, std::string& error) {
  for (;;) {
    size_t eol = inbuf_.find('\n', inpos_);
    if (eol != std::string::npos) {
      size_t end = eol > inpos_ && inbuf_[eol - 1] == '\r' ? eol - 1 : eol;
      line.assign(inbuf_, inpos_, end - inpos_);
      inpos_ = eol + 1;
      if (inpos_ > (1u << 16) && inpos_ * 2 > inbuf_.size()) {
        inbuf_.erase(0, inpos_);
        inpos_ = 0;
      }
      return true;
    }
    if (inbuf_.size() - inpos_ > kMaxLine) {
      error = "reply line too long";
      return false;
    }
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(io_timeout_.count()));
    if (ready == 0) {
      error = fmt::format("no reply within {} ms", io_timeout_.count());
      return false;
    }
    if (ready < 0) {
      if (errno == EINTR) continue;
      error = fmt::format("poll: {}", std::strerror(errno));
      return false;
    }
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = fmt::format("recv: {}", std::strerror(errno));
      return false;
    }
    if (n == 0) {
      error = "replica closed the connection";
      return false;
    }
    inbuf_.append(buf, static_cast<size_t>(n));
  }
}

}  // namespace replicad::bench
