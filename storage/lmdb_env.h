// Opening the store's LMDB environment: the directory, the environment flags
// that decide durability, the named tables and the format-version check.
#pragma once

#include <lmdb.h>

#include "storage/lmdb_support.h"
#include "storage/store.h"

namespace replicad::storage {

// On success `env` is open and `tables` holds every table handle; on failure
// nothing is left open.
Status open_environment(const StoreOptions& options, MDB_env*& env, Tables& tables);

// Opens an existing store for reading only (MDB_RDONLY: no table or format
// record is created, and another process may be writing).  `map_size` and
// `durable` are ignored.
Status open_environment_readonly(const StoreOptions& options, MDB_env*& env, Tables& tables);

}  // namespace replicad::storage
