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

}  // namespace replicad::storage
