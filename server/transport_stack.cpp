#include "server/transport_stack.h"

#include <algorithm>
#include <limits>

namespace replicad {

TransportStack::TransportStack() = default;
TransportStack::~TransportStack() = default;

bool TransportStack::fail(const std::string& why) {
  error_ = why;
  return false;
}

void TransportStack::receive(std::string_view bytes) {
  if (tls_) {
    tls_->receive(bytes);
    return;
  }
  if (deflate_) {
    deflate_->receive(bytes);
    return;
  }
  if (plain_pos_ == plain_in_.size()) {
    plain_in_.clear();
    plain_pos_ = 0;
  }
  plain_in_.append(bytes);
}

void TransportStack::take_output(std::string& out) {
  // Bytes written before TLS started (the STARTTLS OK) go first.
  out.append(output_);
  output_.clear();
  if (tls_) tls_->take_output(out);
}

bool TransportStack::read_below_deflate(std::string& out, size_t max) {
  if (tls_) return tls_->read(out, max) || fail(tls_->error());
  const size_t n = std::min(max, plain_in_.size() - plain_pos_);
  out.append(plain_in_, plain_pos_, n);
  plain_pos_ += n;
  return true;
}

bool TransportStack::read(std::string& out, size_t max) {
  if (!deflate_) return read_below_deflate(out, max);
  if (tls_) {
    // Decrypt everything that has arrived: it is bounded by what the
    // connection read from the socket, and inflate then takes its time.
    scratch_.clear();
    if (!read_below_deflate(scratch_, std::numeric_limits<size_t>::max())) return false;
    deflate_->receive(scratch_);
  }
  return deflate_->read(out, max) || fail(deflate_->error());
}

bool TransportStack::write(std::string_view clear) {
  std::string_view below = clear;
  std::string compressed;
  if (deflate_) {
    if (!deflate_->write(clear, compressed)) return fail(deflate_->error());
    below = compressed;
  }
  if (tls_) return tls_->write(below) || fail(tls_->error());
  output_.append(below);
  return true;
}

size_t TransportStack::discard_unread() {
  if (tls_ || deflate_) return 0;   // below TLS the bytes are TLS; DEFLATE input is the stream
  const size_t dropped = plain_in_.size() - plain_pos_;
  plain_in_.clear();
  plain_pos_ = 0;
  return dropped;
}

bool TransportStack::start_tls(const TlsContext& context, std::string& error) {
  if (tls_ || deflate_) {
    error = tls_ ? "TLS is already active" : "TLS cannot start below an active COMPRESS";
    return false;
  }
  auto layer = TlsLayer::create(context, error);
  if (!layer) return false;
  // Whatever the client sent after STARTTLS in the clear must never be read
  // as if it had come through TLS (the CVE-2021-33515 / CVE-2011-0411
  // class): it is dropped here, and everything that arrives from now on is
  // handed to OpenSSL, which can only fail the handshake on it.
  discard_unread();
  tls_ = std::move(layer);
  return true;
}

bool TransportStack::start_deflate(std::string& error) {
  if (deflate_) {
    error = "compression is already active";
    return false;
  }
  auto layer = DeflateLayer::create(error);
  if (!layer) return false;
  // Bytes received in the clear but not read yet were sent after COMPRESS:
  // they belong to the compressed stream (a client may not send them before
  // the OK, RFC 4978 §3; if it did, inflate fails on them and the
  // connection closes).  Under TLS they are still in the TLS layer and
  // reach the inflater through read().
  if (!tls_) {
    layer->receive(std::string_view(plain_in_).substr(plain_pos_));
    plain_in_.clear();
    plain_pos_ = 0;
  }
  deflate_ = std::move(layer);
  return true;
}

void TransportStack::shutdown() {
  if (tls_) tls_->shutdown();
}

}  // namespace replicad
