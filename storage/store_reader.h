// Read-only access to a store directory, for tools (replicadctl).
//
// Safe while replicad runs: the environment is opened MDB_RDONLY and every
// read is an LMDB read transaction, a consistent snapshot that never blocks
// the daemon's writer (it only keeps the pages it sees from being reused
// until it ends, so a long snapshot lets the file grow meanwhile).
//
// Beyond the ReadView the daemon uses, a snapshot can walk the tables the
// sync protocol never enumerates (bodies, reference counts, the uniqueid
// index, every record of the store), which is what an integrity check needs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "storage/store.h"

namespace replicad::storage {

struct TableStats {
  std::string name;
  uint64_t entries = 0;
  uint64_t pages = 0;   // branch + leaf + overflow pages
};

struct StoreInfo {
  std::string directory;
  uint32_t format_version = 0;
  uint64_t file_bytes = 0;      // data.mdb on disk
  uint64_t used_bytes = 0;      // pages in use up to the highest one written
  uint64_t map_bytes = 0;       // the map size: the most the file may grow to
  uint32_t page_size = 0;
  uint64_t last_txnid = 0;      // grows by one per committed write transaction
  uint32_t max_readers = 0;
  uint32_t readers_in_use = 0;  // reader slots taken (the daemon's and ours)
  std::vector<TableStats> tables;
};

class StoreSnapshot : public ReadTxn {
 public:
  // Each walk visits in key order and stops when fn returns false.  A value
  // that does not decode ends the walk with Errc::corrupt.
  virtual Status for_each_body(const std::function<bool(const Guid&, std::string_view bytes)>& fn) = 0;
  virtual Status for_each_body_ref(const std::function<bool(const Guid&, uint64_t count)>& fn) = 0;
  virtual Status for_each_uniqueid(
      const std::function<bool(std::string_view uniqueid, std::string_view name)>& fn) = 0;
  // Every record of every mailbox, grouped by uniqueid, ascending uid.
  virtual Status for_each_record(
      const std::function<bool(std::string_view uniqueid, const MessageRecord&)>& fn) = 0;
  // The stored reference count of a body (0 when there is no entry).
  virtual Status body_ref_count(const Guid& guid, uint64_t& count) = 0;
  virtual std::vector<TableStats> table_stats() = 0;
};

class StoreReader {
 public:
  // `directory` holds data.mdb (the daemon's <datadir>/store).
  static std::unique_ptr<StoreReader> open(const std::string& directory, Status& status);
  virtual ~StoreReader() = default;

  // nullptr with `status` set when no snapshot can be had.
  virtual std::unique_ptr<StoreSnapshot> snapshot(Status& status) = 0;
  virtual Status info(StoreInfo& out) = 0;
  // A consistent, compacted copy (LMDB's MDB_CP_COMPACT: free pages left
  // out) written to data.mdb in `destination`, which is created if missing
  // and must not hold a data.mdb yet.  Runs as one read transaction.
  virtual Status copy_compacted(const std::string& destination) = 0;
};

}  // namespace replicad::storage
