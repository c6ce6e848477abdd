// Staged uploads of one session: the bytes of file literals (APPLY MESSAGE)
// are appended to one spool file, <datadir>/staging/<session>/spool, while
// their SHA-1 is computed, and stay there until RESTART, EXIT or disconnect
// (spec §5.1), so that every later APPLY MAILBOX of the session can use them.
//
// One file per session, not one per message: creating, renaming and
// deleting a file per message cost more than everything else replicad does
// for it (inode allocation dominated profiles of bulk uploads).  A staged
// message is a verified region (offset, size) of the spool; a failed upload
// at the end of the spool is cut off again, any other dead region goes with
// the file when the session ends.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "protocol/command_parser.h"
#include "storage/guid.h"

namespace replicad::protocol {

// A verified upload: `size` bytes at `offset` of the file `path`.
struct StagedFile {
  std::string path;
  uint64_t size = 0;
  uint64_t offset = 0;
};

class StagingArea : public FileSink {
 public:
  // `root` is <datadir>/staging; the session's directory is created lazily.
  StagingArea(std::string root, std::string session_id, uint64_t max_file_size);
  ~StagingArea() override;  // removes the session's directory

  // Removes every staged file of a previous run (called once at start-up).
  static void remove_leftovers(const std::string& root);

  // FileSink: stream a file literal to the spool, verifying its GUID.  A
  // verified upload's FileRef names the spool and the offset of its bytes.
  bool begin(std::string_view partition, std::string_view guid_hex, uint64_t size,
             std::string& reason) override;
  bool write(std::span<const char> bytes, std::string& reason) override;
  void finish(FileRef& file) override;
  void discard(const FileRef& file) override;

  // APPLY MESSAGE keeps a verified upload for the rest of the session.
  void keep(const storage::Guid& guid, const FileRef& file);
  const StagedFile* find(const storage::Guid& guid) const;
  // APPLY RESERVE: a GUID the store already holds, pinned for this session.
  void reserve(const storage::Guid& guid) { reserved_.insert(guid); }
  bool reserved(const storage::Guid& guid) const { return reserved_.count(guid) != 0; }

  // RESTART / EXIT: forget and delete everything staged so far.
  void clear();
  size_t staged_count() const { return files_.size(); }
  // Bytes in the spool file, dead regions included.
  uint64_t spool_bytes() const { return spool_end_; }

 private:
  struct Upload;
  bool open_spool(std::string& reason);
  // Drops the bytes from `offset` to the end of the spool.
  void cut_spool(uint64_t offset);

  std::string root_;
  std::string session_id_;
  uint64_t max_file_size_;
  std::unique_ptr<Upload> upload_;   // the file literal being received
  int spool_fd_ = -1;
  std::string spool_path_;
  uint64_t spool_end_ = 0;
  std::unordered_map<storage::Guid, StagedFile, storage::GuidHash> files_;
  std::unordered_set<storage::Guid, storage::GuidHash> reserved_;
};

}  // namespace replicad::protocol
