// Staging: one append-only spool file per session (see staging.h).
//
// A file literal is appended to the spool while its SHA-1 is computed; only
// when the digest equals the GUID the client announced is the region handed
// out (FileRef::verified, path and offset), so a region in the session's
// table is always a verified copy.  Nothing is fsynced: staged bytes are
// disposable -- the store copies them durably when a mailbox uses them, and a
// crash loses only uploads no commit depended on.
#include "protocol/staging.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include <fmt/core.h>

#include "server/log.h"

namespace replicad::protocol {

namespace fs = std::filesystem;

namespace {

// The session id becomes a directory name: keep it one harmless path element.
std::string directory_name(std::string_view session_id) {
  std::string name;
  for (char c : session_id) {
    bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
    name += plain ? c : '_';
  }
  if (name.empty() || name == "." || name == "..") name = "_" + name;
  return name;
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

bool make_private_dir(const std::string& path, std::string& reason) {
  if (::mkdir(path.c_str(), 0700) == 0 || errno == EEXIST) return true;
  reason = fmt::format("cannot create {}: {}", path, errno_text(errno));
  log::error("IOERROR: staging: {}", reason);
  return false;
}

}  // namespace

struct StagingArea::Upload {
  uint64_t start = 0;   // where its bytes begin in the spool
  storage::Guid announced;
  uint64_t size = 0;
  uint64_t received = 0;
  storage::Sha1Stream sha1;
};

StagingArea::StagingArea(std::string root, std::string session_id, uint64_t max_file_size)
    : root_(std::move(root)), session_id_(directory_name(session_id)), max_file_size_(max_file_size) {}

StagingArea::~StagingArea() { clear(); }

void StagingArea::remove_leftovers(const std::string& root) {
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) {
    if (ec != std::errc::no_such_file_or_directory)
      log::error("IOERROR: staging: cannot list {}: {}", root, ec.message());
    return;
  }
  for (const fs::directory_entry& entry : it) {
    std::error_code remove_ec;
    fs::remove_all(entry.path(), remove_ec);
    if (remove_ec) log::error("IOERROR: staging: cannot remove {}: {}", entry.path().string(), remove_ec.message());
  }
}

bool StagingArea::open_spool(std::string& reason) {
  if (spool_fd_ >= 0) return true;
  const std::string dir = root_ + "/" + session_id_;
  if (!make_private_dir(root_, reason) || !make_private_dir(dir, reason)) return false;
  spool_path_ = dir + "/spool";
  spool_fd_ = ::open(spool_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (spool_fd_ < 0) {
    reason = fmt::format("cannot create {}: {}", spool_path_, errno_text(errno));
    log::error("IOERROR: staging: {}", reason);
    return false;
  }
  spool_end_ = 0;
  return true;
}

void StagingArea::cut_spool(uint64_t offset) {
  if (spool_fd_ < 0 || offset >= spool_end_) return;
  // The write position must follow, or the next upload would leave a hole.
  if (::ftruncate(spool_fd_, static_cast<off_t>(offset)) != 0 ||
      ::lseek(spool_fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
    // Then the bytes just stay as a dead region; the next upload starts
    // where the file really ends.
    log::error("IOERROR: staging: cannot cut {} back to {} bytes: {}", spool_path_, offset, errno_text(errno));
    off_t end = ::lseek(spool_fd_, 0, SEEK_END);
    if (end >= 0) spool_end_ = static_cast<uint64_t>(end);
    return;
  }
  spool_end_ = offset;
}

bool StagingArea::begin(std::string_view partition, std::string_view guid_hex, uint64_t size,
                        std::string& reason) {
  (void)partition;  // staged by GUID only: any partition's copy serves (spec §3.2)
  if (upload_) discard(FileRef{});  // a previous upload never finished

  auto guid = storage::Guid::from_hex(guid_hex);
  if (!guid) {
    reason = "GUID is not 40 hex digits";
    return false;
  }
  if (size > max_file_size_) {
    reason = fmt::format("{} bytes is more than the limit of {}", size, max_file_size_);
    return false;
  }
  if (!open_spool(reason)) return false;

  auto upload = std::make_unique<Upload>();
  upload->start = spool_end_;
  upload->announced = *guid;
  upload->size = size;
  upload_ = std::move(upload);
  return true;
}

bool StagingArea::write(std::span<const char> bytes, std::string& reason) {
  if (!upload_) {
    reason = "no upload in progress";
    return false;
  }
  Upload& up = *upload_;
  if (up.received + bytes.size() > up.size) {
    reason = "more bytes than announced";
    discard(FileRef{});
    return false;
  }
  up.sha1.update(bytes);
  up.received += bytes.size();
  while (!bytes.empty()) {
    ssize_t n = ::write(spool_fd_, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      reason = fmt::format("cannot write {}: {}", spool_path_, errno_text(errno));
      log::error("IOERROR: staging: {}", reason);
      discard(FileRef{});
      return false;
    }
    spool_end_ += static_cast<uint64_t>(n);
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return true;
}

void StagingArea::finish(FileRef& file) {
  file.path.clear();
  file.verified = false;
  file.offset = 0;
  if (!upload_) return;
  std::unique_ptr<Upload> up = std::move(upload_);

  const storage::Guid actual = up->sha1.finish();
  if (up->received != up->size || actual != up->announced) {
    if (actual != up->announced)
      log::notice("staging: upload announced as {} hashes to {}", up->announced.hex(), actual.hex());
    cut_spool(up->start);
    return;
  }
  file.path = spool_path_;
  file.offset = up->start;
  file.verified = true;
}

void StagingArea::discard(const FileRef& file) {
  if (upload_) {
    cut_spool(upload_->start);
    upload_.reset();
  }
  if (file.path.empty() || file.path != spool_path_) return;
  // A region that is still kept (the same GUID from an earlier command, or
  // this very upload) must survive the failed command.
  if (auto guid = storage::Guid::from_hex(file.guid_hex)) {
    auto kept = files_.find(*guid);
    if (kept != files_.end() && kept->second.offset == file.offset) return;
  }
  // Only the last region can be given back; earlier ones stay dead until
  // the session ends.
  if (file.offset + file.size == spool_end_) cut_spool(file.offset);
}

void StagingArea::keep(const storage::Guid& guid, const FileRef& file) {
  if (!file.verified || file.path.empty()) return;
  // A second upload of the same GUID points at identical bytes; a job that
  // was handed the first region still reads it intact (the spool only grows).
  files_[guid] = StagedFile{file.path, file.size, file.offset};
}

const StagedFile* StagingArea::find(const storage::Guid& guid) const {
  auto it = files_.find(guid);
  return it == files_.end() ? nullptr : &it->second;
}

void StagingArea::clear() {
  upload_.reset();  // its bytes go with the spool
  if (spool_fd_ >= 0) ::close(spool_fd_);
  spool_fd_ = -1;
  spool_end_ = 0;
  files_.clear();
  reserved_.clear();
  std::error_code ec;
  fs::remove_all(root_ + "/" + session_id_, ec);
  if (ec) log::error("IOERROR: staging: cannot remove {}/{}: {}", root_, session_id_, ec.message());
}

}  // namespace replicad::protocol
