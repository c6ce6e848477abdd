// Small helpers around the LMDB C API shared by the store's files: the table
// handles, error mapping, value conversion and a cursor that closes itself.
#pragma once

#include <lmdb.h>

#include <string_view>

#include "storage/store.h"

namespace replicad::storage {

// The named databases of one environment (see lmdb_env.cpp for their layout).
struct Tables {
  MDB_dbi meta = 0;
  MDB_dbi mailboxes = 0;
  MDB_dbi uniqueids = 0;
  MDB_dbi records = 0;
  MDB_dbi bodies = 0;
  MDB_dbi bodyrefs = 0;
  MDB_dbi quotas = 0;
  MDB_dbi subs = 0;
  MDB_dbi seen = 0;
  MDB_dbi sieve = 0;
  MDB_dbi sieve_active = 0;
};

// Turns an LMDB return code into a Status and logs it as Cyrus would
// (IOERROR).  MDB_NOTFOUND maps to not_found without a log line: absence is
// an answer, not an error.  `what` names the operation for the log.
Status mdb_status(int rc, std::string_view what);

inline MDB_val to_val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};
}
inline std::string_view to_view(const MDB_val& v) {
  return {static_cast<const char*>(v.mv_data), v.mv_size};
}

// A cursor that is closed when it goes out of scope (the transaction must
// outlive it).
class Cursor {
 public:
  Cursor() = default;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;

  int open(MDB_txn* txn, MDB_dbi dbi) { return mdb_cursor_open(txn, dbi, &cursor_); }
  MDB_cursor* get() const { return cursor_; }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace replicad::storage
