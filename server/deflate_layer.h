// COMPRESS DEFLATE (spec §1.4, RFC 4978): raw DEFLATE streams, one each way.
//
// Raw means RFC 1951 without a zlib or gzip header (zlib window bits -15,
// Python's zlib.compressobj(wbits=-15)).  Every write ends with Z_SYNC_FLUSH,
// so each reply can be decoded completely by the peer as soon as it arrives;
// the stream itself never ends while the connection lives.
//
// Input is inflated on demand and in bounded pieces: a few kilobytes of
// compressed input can expand a thousandfold, and the session must be able to
// stop taking bytes while a command is busy without anything piling up here.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace replicad {

class DeflateLayer {
 public:
  // nullptr with `error` when zlib cannot start (out of memory).
  static std::unique_ptr<DeflateLayer> create(std::string& error);
  ~DeflateLayer();
  DeflateLayer(const DeflateLayer&) = delete;
  DeflateLayer& operator=(const DeflateLayer&) = delete;

  // Compressed bytes from the peer; kept until read() inflates them.
  void receive(std::string_view compressed);
  // Inflates: appends at most `max` bytes to `out`.  False on a corrupt
  // stream (error() says why).
  bool read(std::string& out, size_t max);
  // Compresses `plain` and flushes (Z_SYNC_FLUSH), appending to `out`.
  bool write(std::string_view plain, std::string& out);

  // Input not fully inflated yet: read() may still produce bytes.
  bool has_pending_input() const { return has_input() || output_pending_; }
  const std::string& error() const { return error_; }
  // Totals for the log line at disconnect.
  uint64_t plain_in() const { return plain_in_; }
  uint64_t plain_out() const { return plain_out_; }
  uint64_t compressed_in() const { return compressed_in_; }
  uint64_t compressed_out() const { return compressed_out_; }

 private:
  DeflateLayer() = default;
  bool fail(std::string what);
  bool has_input() const { return input_pos_ < input_.size(); }

  z_stream inflater_{};
  z_stream deflater_{};
  bool inflater_ready_ = false;
  bool deflater_ready_ = false;
  bool ended_ = false;     // the peer finished its stream (Z_STREAM_END)
  bool output_pending_ = false;  // zlib may hold decoded bytes that did not fit
  bool failed_ = false;
  std::string input_;      // compressed bytes received...
  size_t input_pos_ = 0;   // ...and how far inflate got
  std::string error_;
  uint64_t plain_in_ = 0;
  uint64_t plain_out_ = 0;
  uint64_t compressed_in_ = 0;
  uint64_t compressed_out_ = 0;
};

}  // namespace replicad
