#include "server/deflate_layer.h"

#include <fmt/core.h>

#include <algorithm>
#include <climits>

namespace replicad {
namespace {

constexpr size_t kChunk = 64 * 1024;
// Window bits -15: raw DEFLATE with the largest window (RFC 4978 §3).
constexpr int kRawWindowBits = -15;
// zlib's default level, as Cyrus uses; memory level 8 (zlib's default) keeps
// a connection's deflate state near 256 KiB.
constexpr int kLevel = Z_DEFAULT_COMPRESSION;
constexpr int kMemLevel = 8;

Bytef* bytes(char* p) { return reinterpret_cast<Bytef*>(p); }
Bytef* bytes(const char* p) { return reinterpret_cast<Bytef*>(const_cast<char*>(p)); }

}  // namespace

std::unique_ptr<DeflateLayer> DeflateLayer::create(std::string& error) {
  std::unique_ptr<DeflateLayer> layer(new DeflateLayer);
  if (inflateInit2(&layer->inflater_, kRawWindowBits) != Z_OK) {
    error = "cannot start inflate: out of memory";
    return nullptr;
  }
  layer->inflater_ready_ = true;
  if (deflateInit2(&layer->deflater_, kLevel, Z_DEFLATED, kRawWindowBits, kMemLevel, Z_DEFAULT_STRATEGY) != Z_OK) {
    error = "cannot start deflate: out of memory";
    return nullptr;
  }
  layer->deflater_ready_ = true;
  return layer;
}

DeflateLayer::~DeflateLayer() {
  if (inflater_ready_) inflateEnd(&inflater_);
  if (deflater_ready_) deflateEnd(&deflater_);
}

bool DeflateLayer::fail(std::string what) {
  failed_ = true;
  error_ = std::move(what);
  return false;
}

void DeflateLayer::receive(std::string_view compressed) {
  // Drop what inflate has used before growing the buffer.
  if (input_pos_ > 0 && input_pos_ >= input_.size() / 2) {
    input_.erase(0, input_pos_);
    input_pos_ = 0;
  }
  input_.append(compressed);
  compressed_in_ += compressed.size();
}

bool DeflateLayer::read(std::string& out, size_t max) {
  if (failed_) return false;
  size_t added = 0;
  while (added < max && (has_input() || output_pending_)) {
    if (ended_) return fail("data after the end of the compressed stream");
    const size_t chunk = std::min(max - added, kChunk);
    const size_t available = std::min<size_t>(input_.size() - input_pos_, UINT_MAX);
    const size_t old = out.size();
    out.resize(old + chunk);
    inflater_.next_in = bytes(input_.data() + input_pos_);
    inflater_.avail_in = static_cast<uInt>(available);
    inflater_.next_out = bytes(out.data() + old);
    inflater_.avail_out = static_cast<uInt>(chunk);
    const int rc = inflate(&inflater_, Z_SYNC_FLUSH);
    const size_t consumed = available - inflater_.avail_in;
    const size_t produced = chunk - inflater_.avail_out;
    input_pos_ += consumed;
    out.resize(old + produced);
    added += produced;
    plain_in_ += produced;
    // A full output buffer may leave decoded bytes inside zlib even when
    // all input is used up: ask again before waiting for more input.
    output_pending_ = inflater_.avail_out == 0;
    if (rc == Z_STREAM_END) {
      ended_ = true;
      output_pending_ = false;
      continue;
    }
    if (rc == Z_BUF_ERROR || (consumed == 0 && produced == 0)) {
      output_pending_ = false;   // zlib needs more input to go on
      break;
    }
    if (rc != Z_OK) {
      return fail(fmt::format("corrupt compressed input: {}", inflater_.msg != nullptr ? inflater_.msg : "inflate error"));
    }
  }
  return true;
}

bool DeflateLayer::write(std::string_view plain, std::string& out) {
  if (failed_) return false;
  plain_out_ += plain.size();
  while (!plain.empty()) {
    const size_t piece = std::min<size_t>(plain.size(), UINT_MAX / 2);
    const bool last = piece == plain.size();
    deflater_.next_in = bytes(plain.data());
    deflater_.avail_in = static_cast<uInt>(piece);
    do {
      const size_t old = out.size();
      out.resize(old + kChunk);
      deflater_.next_out = bytes(out.data() + old);
      deflater_.avail_out = static_cast<uInt>(kChunk);
      // Z_SYNC_FLUSH after the last piece: the peer can decode every byte
      // of this write at once (and Python's decompressobj(-15) agrees).
      const int rc = deflate(&deflater_, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      const size_t produced = kChunk - deflater_.avail_out;
      out.resize(old + produced);
      compressed_out_ += produced;
      if (rc == Z_STREAM_ERROR) return fail("deflate failed: inconsistent stream state");
    } while (deflater_.avail_out == 0);
    plain.remove_prefix(piece);
  }
  return true;
}

}  // namespace replicad
