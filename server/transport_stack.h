// The bytes between a socket and its session, in layers:
//
//     socket  <->  [TLS]  <->  [DEFLATE]  <->  session
//
// TLS is always below DEFLATE (STARTTLS is refused after authentication and
// COMPRESS before it; on a listen_tls port TLS is there from the first
// byte), so the session only ever sees clear text and never knows whether
// it was encrypted or compressed (h2o: "bytes above the TLS layer").
//
// No sockets, no event loop: the connection pushes what it read, pulls clear
// text for the session at the pace the session takes it, and writes out
// whatever take_output() returns.  Each layer keeps what it has not passed
// on yet, so a busy session leaves bytes here and the connection stops
// reading the socket until they are gone.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "server/deflate_layer.h"
#include "server/tls_context.h"
#include "server/tls_layer.h"

namespace replicad {

class TransportStack {
 public:
  TransportStack();
  ~TransportStack();

  // -- socket side
  void receive(std::string_view bytes);
  // Appends what must go to the socket now.
  void take_output(std::string& out);

  // -- session side
  // Appends at most `max` bytes of clear text; none when the layers need
  // more input.  False when a layer failed (error()): close the connection
  // (after writing take_output(), which may hold a TLS alert).
  bool read(std::string& out, size_t max);
  bool write(std::string_view clear);

  // -- layers
  // From now on every byte received is TLS and every byte written is
  // encrypted.  Received plain text not read yet is dropped first (see
  // discard_unread), so nothing sent before the handshake can pass as
  // having come through TLS.
  bool start_tls(const TlsContext& context, std::string& error);
  // From now on both directions are raw DEFLATE above TLS (if any).
  bool start_deflate(std::string& error);
  // Drops received bytes that were not read yet and are clear text at this
  // level (below TLS they are the TLS stream and stay).  Returns how many.
  size_t discard_unread();
  // Sends TLS close_notify, if TLS is up.
  void shutdown();

  bool tls_started() const { return tls_ != nullptr; }
  bool tls_established() const { return tls_ && tls_->established(); }
  const TlsLayer* tls() const { return tls_.get(); }
  bool compressing() const { return deflate_ != nullptr; }
  const DeflateLayer* deflate() const { return deflate_.get(); }
  // The peer closed TLS with close_notify.
  bool peer_closed() const { return tls_ && tls_->peer_closed(); }
  const std::string& error() const { return error_; }

 private:
  // Clear text of the layer below DEFLATE (TLS plaintext or the raw bytes).
  bool read_below_deflate(std::string& out, size_t max);
  bool fail(const std::string& why);

  std::unique_ptr<TlsLayer> tls_;
  std::unique_ptr<DeflateLayer> deflate_;
  std::string plain_in_;      // received without TLS, not read yet
  size_t plain_pos_ = 0;
  std::string output_;        // for the socket
  std::string scratch_;       // TLS plaintext on its way into the inflater
  std::string error_;
};

}  // namespace replicad
