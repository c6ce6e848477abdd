// Staged uploads of one session: the bytes of file literals (APPLY MESSAGE)
// land in files under <datadir>/staging/<session>/ while their SHA-1 is
// computed, and stay there until RESTART, EXIT or disconnect (spec §5.1), so
// that every later APPLY MAILBOX of the session can use them.
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

struct StagedFile {
  std::string path;
  uint64_t size = 0;
};

class StagingArea : public FileSink {
 public:
  // `root` is <datadir>/staging; the session's directory is created lazily.
  StagingArea(std::string root, std::string session_id, uint64_t max_file_size);
  ~StagingArea() override;  // removes the session's directory

  // Removes every staged file of a previous run (called once at start-up).
  static void remove_leftovers(const std::string& root);

  // FileSink: stream a file literal to disk, verifying its GUID.
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

 private:
  struct Upload;
  std::string root_;
  std::string session_id_;
  uint64_t max_file_size_;
  std::unique_ptr<Upload> upload_;   // the file literal being received
  uint64_t sequence_ = 0;
  std::unordered_map<storage::Guid, StagedFile, storage::GuidHash> files_;
  std::unordered_set<storage::Guid, storage::GuidHash> reserved_;
};

}  // namespace replicad::protocol
