// One blocking loopback connection to a replica, as the load generator uses
// it: read the greeting, authenticate as admin with PLAIN, then strictly one
// command at a time (as sync_client does), each answered by zero or more
// `* ...` data lines and one status line.
//
// Both flavours: CSYNC commands are untagged (`APPLY ...`, status `OK ...`);
// IMAP commands carry a tag and use the SYNC* verbs (`A12 SYNCAPPLY ...`,
// status `A12 OK ...`).  The caller writes the command without verb prefix
// handling: `command("APPLY", "RESERVE %(...)")` becomes `APPLY RESERVE ...`
// or `A3 SYNCAPPLY RESERVE ...`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace replicad::bench {

enum class Flavour { csync, imap };

struct Reply {
  bool ok = false;         // status line starts with OK (after the tag)
  std::string status;      // the status line without tag and CRLF
  std::string data;        // the `* ...` lines, CRLFs included
};

class ReplicaConnection {
 public:
  ReplicaConnection(Flavour flavour, std::chrono::milliseconds io_timeout);
  ~ReplicaConnection();
  ReplicaConnection(const ReplicaConnection&) = delete;
  ReplicaConnection& operator=(const ReplicaConnection&) = delete;

  // Connects (loopback addresses only), reads the greeting and logs in.
  // On failure returns false and sets `error`.
  bool open(const std::string& host, uint16_t port, const std::string& user,
            const std::string& password, std::string& error);

  // Sends `<verb> <args>\r\n` (tagged and SYNC-prefixed in the IMAP flavour;
  // NOOP and EXIT stay as they are) and reads the reply.  `args` may contain
  // literals.  False with `error` set on I/O failure or timeout; a NO/BAD
  // reply is not an I/O failure (see Reply::ok).
  bool command(std::string_view verb, std::string_view args, Reply& reply, std::string& error);

  // EXIT / LOGOUT, then close.  Errors are ignored: the work is done.
  void close();

 private:
  bool send_all(std::string_view bytes, std::string& error);
  bool read_line(std::string& line, std::string& error);

  Flavour flavour_;
  std::chrono::milliseconds io_timeout_;
  int fd_ = -1;
  uint64_t next_tag_ = 1;
  std::string inbuf_;
  size_t inpos_ = 0;
};

// True for 127.0.0.0/8 and ::1 (the load generator refuses anything else).
bool is_loopback(const std::string& host);

}  // namespace replicad::bench
