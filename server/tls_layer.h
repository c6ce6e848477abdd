// The server side of one TLS session over memory BIOs: ciphertext in from
// the socket, plaintext up to the session; plaintext down, ciphertext out.
//
// It never touches a socket and never blocks, so the connection decides when
// bytes move (and can stop pulling while the session is busy), and tests can
// drive it against an OpenSSL client in the same process.  Plaintext written
// before the handshake has finished waits inside and leaves with the first
// records after it.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>

#include "server/tls_context.h"

namespace replicad {

// What the handshake established, for the log and for SASL.
struct TlsPeerInfo {
  std::string protocol;          // "TLSv1.3"
  std::string cipher;            // "TLS_AES_256_GCM_SHA384"
  unsigned bits = 0;             // secret bits of the cipher: the SSF handed to SASL
  bool client_certificate = false;  // the client presented one
  bool client_verified = false;     // ... and it verified against tls_client_ca_file
  std::string client_name;       // its subject CN: the EXTERNAL identity when verified
  std::string verify_error;      // why it did not verify
};

class TlsLayer {
 public:
  // A fresh server-side session; nullptr with `error` when OpenSSL cannot
  // make one (out of memory).
  static std::unique_ptr<TlsLayer> create(const TlsContext& context, std::string& error);
  ~TlsLayer();
  TlsLayer(const TlsLayer&) = delete;
  TlsLayer& operator=(const TlsLayer&) = delete;

  // Ciphertext from the peer; kept until read() gets to it.
  void receive(std::string_view ciphertext);
  // Advances the handshake, then decrypts: appends at most `max` bytes of
  // plaintext to `out` (none when more ciphertext is needed).  Returns false
  // on a fatal error (error() says why); output() may still hold an alert.
  bool read(std::string& out, size_t max);
  // Encrypts `plaintext`; before the handshake is done it waits.
  bool write(std::string_view plaintext);
  // Appends the ciphertext produced so far (handshake, records, alerts) to `out`.
  void take_output(std::string& out);
  // Queues a close_notify alert (after the handshake only).
  void shutdown();

  bool established() const { return established_; }
  // The peer sent close_notify: it will send nothing more.
  bool peer_closed() const { return peer_closed_; }
  const TlsPeerInfo& peer() const { return peer_; }
  const std::string& error() const { return error_; }

 private:
  TlsLayer() = default;
  bool handshake();
  bool fail(std::string_view what, int rc);
  void describe_peer();

  SSL* ssl_ = nullptr;
  BIO* in_ = nullptr;    // owned by ssl_
  BIO* out_ = nullptr;   // owned by ssl_
  bool established_ = false;
  bool peer_closed_ = false;
  bool failed_ = false;
  std::string waiting_plaintext_;   // written before the handshake finished
  TlsPeerInfo peer_;
  std::string error_;
};

}  // namespace replicad
