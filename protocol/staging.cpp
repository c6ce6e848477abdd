// Staging files: one directory per session, one file per upload.
//
// A file literal is written under a temporary name while its SHA-1 is
// computed; only when the digest equals the GUID the client announced does it
// get its GUID as name, so a file named <guid> in the staging directory is
// always a verified copy.  Nothing is fsynced: staged files are disposable —
// the store copies them durably when a mailbox uses them, and a crash loses
// only uploads no commit depended on.
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
  return false;
}

void remove_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT)
    log::warning("staging: cannot remove {}: {}", path, errno_text(errno));
}

}  // namespace

struct StagingArea::Upload {
  int fd = -1;
  std::string temp_path;
  storage::Guid announced;
  uint64_t size = 0;
  uint64_t received = 0;
  storage::Sha1Stream sha1;

  ~Upload() {
    if (fd >= 0) ::close(fd);
  }
};

StagingArea::StagingArea(std::string root, std::string session_id, uint64_t max_file_size)
    : root_(std::move(root)), session_id_(directory_name(session_id)), max_file_size_(max_file_size) {}

StagingArea::~StagingArea() { clear(); }

void StagingArea::remove_leftovers(const std::string& root) {
  std::error_code ec;
  fs::directory_iterator it(root, ec);
  if (ec) {
    if (ec != std::errc::no_such_file_or_directory)
      log::warning("staging: cannot list {}: {}", root, ec.message());
    return;
  }
  for (const fs::directory_entry& entry : it) {
    std::error_code remove_ec;
    fs::remove_all(entry.path(), remove_ec);
    if (remove_ec) log::warning("staging: cannot remove {}: {}", entry.path().string(), remove_ec.message());
  }
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

  const std::string dir = root_ + "/" + session_id_;
  if (!make_private_dir(root_, reason) || !make_private_dir(dir, reason)) return false;

  auto upload = std::make_unique<Upload>();
  upload->temp_path = fmt::format("{}/upload-{}.tmp", dir, ++sequence_);
  upload->fd = ::open(upload->temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (upload->fd < 0) {
    reason = fmt::format("cannot create {}: {}", upload->temp_path, errno_text(errno));
    return false;
  }
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
    ssize_t n = ::write(up.fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      reason = fmt::format("cannot write {}: {}", up.temp_path, errno_text(errno));
      discard(FileRef{});
      return false;
    }
    bytes = bytes.subspan(static_cast<size_t>(n));
  }
  return true;
}

void StagingArea::finish(FileRef& file) {
  file.path.clear();
  file.verified = false;
  if (!upload_) return;
  std::unique_ptr<Upload> up = std::move(upload_);

  bool closed = ::close(up->fd) == 0;
  up->fd = -1;
  if (!closed) log::warning("staging: cannot close {}: {}", up->temp_path, errno_text(errno));

  const storage::Guid actual = up->sha1.finish();
  if (!closed || up->received != up->size || actual != up->announced) {
    if (closed && actual != up->announced)
      log::notice("staging: upload announced as {} hashes to {}", up->announced.hex(), actual.hex());
    remove_file(up->temp_path);
    return;
  }
  // Named by GUID: a second upload of the same message replaces the first
  // with identical bytes, so a path already handed out stays valid.
  std::string final_path = fmt::format("{}/{}/{}", root_, session_id_, actual.hex());
  if (::rename(up->temp_path.c_str(), final_path.c_str()) != 0) {
    log::warning("staging: cannot rename {}: {}", up->temp_path, errno_text(errno));
    remove_file(up->temp_path);
    return;
  }
  file.path = std::move(final_path);
  file.verified = true;
}

void StagingArea::discard(const FileRef& file) {
  if (upload_) {
    remove_file(upload_->temp_path);
    upload_.reset();
  }
  if (file.path.empty()) return;
  // The same GUID may already be kept from an earlier command; its file is
  // this very path and must survive the failed command.
  if (auto guid = storage::Guid::from_hex(file.guid_hex)) {
    auto kept = files_.find(*guid);
    if (kept != files_.end() && kept->second.path == file.path) return;
  }
  remove_file(file.path);
}

void StagingArea::keep(const storage::Guid& guid, const FileRef& file) {
  if (!file.verified || file.path.empty()) return;
  files_[guid] = StagedFile{file.path, file.size};
}

const StagedFile* StagingArea::find(const storage::Guid& guid) const {
  auto it = files_.find(guid);
  return it == files_.end() ? nullptr : &it->second;
}

void StagingArea::clear() {
  upload_.reset();  // its temporary file goes with the directory
  files_.clear();
  reserved_.clear();
  std::error_code ec;
  fs::remove_all(root_ + "/" + session_id_, ec);
  if (ec) log::warning("staging: cannot remove {}/{}: {}", root_, session_id_, ec.message());
}

}  // namespace replicad::protocol
