#include "protocol/sasl_exchange.h"

#include <cctype>

#include "protocol/session.h"
#include "server/log.h"

namespace replicad::protocol {

namespace {

// sync_server's wording (cmd_authenticate).  replicad never negotiates a
// SASL security layer (maxssf 0: a layer would wrap every byte after the OK
// and sit above COMPRESS, spec §1.2.1), so `sasl_ssf` is 0 in practice and
// the texts are "no protection" and, with TLS below, "tls protection".
const char* protection_text(bool tls, unsigned sasl_ssf) {
  if (tls) {
    return sasl_ssf == 0 ? "tls protection" : sasl_ssf == 1 ? "tls plus integrity protection"
                                                            : "tls plus privacy protection";
  }
  return sasl_ssf == 0 ? "no protection" : sasl_ssf == 1 ? "integrity protection" : "privacy protection";
}

}  // namespace

SaslExchange::SaslExchange(Session& session, std::unique_ptr<auth::SaslServer> server)
    : session_(session), server_(std::move(server)) {}

void SaslExchange::start(std::string_view mechanism, std::optional<std::string_view> initial) {
  mechanism_.assign(mechanism);
  for (char& c : mechanism_) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

  std::optional<std::string> decoded;
  if (initial) {
    // "=" is the explicit empty initial response (RFC 4959).
    if (*initial == "=") {
      decoded.emplace();
    } else {
      decoded = auth::base64_decode(*initial);
      if (!decoded) return fail("Invalid base64 in initial response");
    }
  }
  advance(server_->start(mechanism_, decoded ? std::optional<std::string_view>(*decoded) : std::nullopt));
}

void SaslExchange::on_line(std::string_view line) {
  Awaiting was = awaiting_;
  awaiting_ = Awaiting::nothing;
  if (was == Awaiting::final_ack) {
    // The client acknowledges the server's final data with an empty line.
    return succeed();
  }
  if (line == "*") {
    session_.stats_.failed_logins++;
    log::emit(log::Level::notice, session_.id(), "badlogin mech={} reason=\"client cancelled\"", mechanism_);
    session_.reply("BAD Client canceled authentication");
    return session_.finish_command();
  }
  auto decoded = auth::base64_decode(line);
  if (!decoded) return fail("Invalid base64 in client response");
  advance(server_->step(*decoded));
}

void SaslExchange::advance(const auth::SaslServer::Step& step) {
  using Kind = auth::SaslServer::Step::Kind;
  switch (step.kind) {
    case Kind::challenge:
      return challenge(step.data, Awaiting::response);
    case Kind::success:
      if (!step.data.empty() && session_.flavour() == Flavour::csync)
        return challenge(step.data, Awaiting::final_ack);
      return succeed();
    case Kind::failure:
      return fail(step.error.empty() ? std::string("authentication failure") : step.error);
  }
}

void SaslExchange::challenge(std::string_view data, Awaiting next) {
  awaiting_ = next;
  session_.send("+ " + auth::base64_encode(data) + "\r\n");
  session_.parser_->expect_raw_line();
  // The command stays open, but input must flow: the answer is the next line.
  session_.busy_ = false;
}

void SaslExchange::succeed() {
  session_.on_authenticated(server_->authcid(), server_->authzid(), mechanism_);
  std::string status = "OK ";
  if (session_.flavour() == Flavour::imap) {
    // sync_client forgets every capability it knew and re-reads them from
    // this response code; X-REPLICATION here is what keeps it in IMAP mode.
    status += "[CAPABILITY " + session_.capabilities(true) + "] ";
  }
  status += "Success (";
  status += protection_text(session_.tls_active_, server_->ssf());
  status += ")";
  session_.reply(status);
  session_.finish_command();
}

void SaslExchange::fail(std::string reason) {
  awaiting_ = Awaiting::nothing;
  session_.stats_.failed_logins++;
  // Never log what the client sent: it may hold a password.
  log::emit(log::Level::notice, session_.id(), "badlogin remote={} mech={} reason=\"{}\"",
            session_.connection_.remote, mechanism_, reason);
  // Like Cyrus, answer a failed login only after a pause, to slow down
  // guessing; other sessions go on meanwhile (a timer, not a sleep).
  session_.busy_ = true;
  std::weak_ptr<Session> weak = session_.weak_from_this();
  session_.out_->after(session_.ctx_.failed_auth_delay, [weak, reason = std::move(reason)] {
    if (auto s = weak.lock()) {
      s->reply("NO " + reason);
      s->sasl_.reset();
      s->finish_command();
    }
  });
}

}  // namespace replicad::protocol
