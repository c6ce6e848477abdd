// The AUTHENTICATE dialogue, shared by both framings (spec §1.2, §1.6.1).
//
//   C: AUTHENTICATE <mech> [<base64 initial response> | =]
//   S: + <base64 challenge>            (as often as the mechanism needs)
//   C: <base64 response> | *           (* cancels)
//   S: OK Success (no protection)      (IMAP: <tag> OK [CAPABILITY ...] Success ...)
//
// The flavours differ in one place: a mechanism that ends with server data
// (SCRAM's server signature).  In CSYNC it travels as one more `+ ` line that
// the client answers with an empty line; the stock IMAP-flavour client cannot
// read such a line (it would hang, then fall back), so there the tagged OK
// follows the client's last message directly and the data is left out.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth/sasl_server.h"

namespace replicad::protocol {

class Session;

class SaslExchange {
 public:
  SaslExchange(Session& session, std::unique_ptr<auth::SaslServer> server);

  // Handles `AUTHENTICATE mech [initial]`; `initial` is still base64.
  void start(std::string_view mechanism, std::optional<std::string_view> initial);
  // True while the next client line belongs to this exchange.
  bool awaiting_line() const { return awaiting_ != Awaiting::nothing; }
  // The next client line (raw, without CRLF).
  void on_line(std::string_view line);

 private:
  enum class Awaiting { nothing, response, final_ack };

  void advance(const auth::SaslServer::Step& step);
  void challenge(std::string_view data, Awaiting next);
  void succeed();
  void fail(std::string reason);

  Session& session_;
  std::unique_ptr<auth::SaslServer> server_;
  std::string mechanism_;
  Awaiting awaiting_ = Awaiting::nothing;
};

}  // namespace replicad::protocol
