#include "storage/lmdb_support.h"

#include <cerrno>
#include <string>

#include "server/log.h"

namespace replicad::storage {

Status mdb_status(int rc, std::string_view what) {
  switch (rc) {
    case MDB_SUCCESS:
      return Status::success();
    case MDB_NOTFOUND:
      return Status::error(Errc::not_found, std::string(what) + ": not found");
    case MDB_KEYEXIST:
      return Status::error(Errc::exists, std::string(what) + ": exists");
    default:
      break;
  }
  std::string message = fmt::format("lmdb {} failed: {}", what, mdb_strerror(rc));
  log::error("IOERROR: {}", message);
  switch (rc) {
    // A full map and a full disk look the same to the client: no room.
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return Status::error(Errc::map_full, std::move(message));
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
      return Status::error(Errc::corrupt, std::move(message));
    default:
      return Status::error(Errc::io_error, std::move(message));
  }
}

}  // namespace replicad::storage
