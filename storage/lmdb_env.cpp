#include "storage/lmdb_env.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "server/log.h"
#include "storage/codec.h"

namespace replicad::storage {
namespace {

// Enough for the tables below with room to grow.
constexpr MDB_dbi kMaxTables = 16;
constexpr std::string_view kFormatKey = "format";

// Creates `dir` and any missing parents, each 0700: the store holds every
// user's mail.  Existing directories keep their mode.
Status make_directory(const std::string& dir) {
  if (dir.empty()) return Status::error(Errc::io_error, "store directory not configured");
  for (size_t end = dir.find('/', 1);; end = dir.find('/', end + 1)) {
    std::string part = dir.substr(0, end);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      std::string message = fmt::format("mkdir {}: {}", part, std::strerror(errno));
      log::error("IOERROR: {}", message);
      return Status::error(Errc::io_error, std::move(message));
    }
    if (end == std::string::npos) break;
  }
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::string message = fmt::format("{} is not a directory", dir);
    log::error("IOERROR: {}", message);
    return Status::error(Errc::io_error, std::move(message));
  }
  return Status::success();
}

// A read-only environment (replicadctl) opens what the daemon created and
// never creates or writes anything.
bool read_only(MDB_env* env) {
  unsigned flags = 0;
  return mdb_env_get_flags(env, &flags) == MDB_SUCCESS && (flags & MDB_RDONLY) != 0;
}

Status open_table(MDB_txn* txn, const char* name, MDB_dbi& dbi) {
  unsigned flags = read_only(mdb_txn_env(txn)) ? 0 : MDB_CREATE;
  return mdb_status(mdb_dbi_open(txn, name, flags, &dbi), fmt::format("open table {}", name));
}

// A new environment gets the current format version; an existing one must
// already have it, or its values would be misread.
Status check_format(MDB_txn* txn, MDB_dbi meta) {
  MDB_val key = to_val(kFormatKey);
  MDB_val value;
  int rc = mdb_get(txn, meta, &key, &value);
  if (rc == MDB_NOTFOUND && read_only(mdb_txn_env(txn)))
    return Status::error(Errc::corrupt, "not a replicad store: no format version");
  if (rc == MDB_NOTFOUND) {
    std::string version = codec::encode_u32(codec::kFormatVersion);
    MDB_val stored = to_val(version);
    return mdb_status(mdb_put(txn, meta, &key, &stored, 0), "store format version");
  }
  if (rc != MDB_SUCCESS) return mdb_status(rc, "read format version");
  uint32_t version = 0;
  if (!codec::decode_u32(to_view(value), version) || version != codec::kFormatVersion) {
    std::string message =
        fmt::format("store format version {} is not the supported {}", version, codec::kFormatVersion);
    log::error("IOERROR: {}", message);
    return Status::error(Errc::corrupt, std::move(message));
  }
  return Status::success();
}

Status open_tables(MDB_env* env, Tables& t) {
  MDB_txn* txn = nullptr;
  // Table handles opened in a read-only transaction outlive it once it commits.
  unsigned txn_flags = read_only(env) ? MDB_RDONLY : 0;
  if (Status st = mdb_status(mdb_txn_begin(env, nullptr, txn_flags, &txn), "begin setup txn"); !st) return st;
  Status st = open_table(txn, "meta", t.meta);
  if (st) st = open_table(txn, "mailboxes", t.mailboxes);   // name -> Mailbox
  if (st) st = open_table(txn, "uniqueids", t.uniqueids);   // uniqueid -> name
  if (st) st = open_table(txn, "records", t.records);       // uniqueid\0uid -> MessageRecord
  if (st) st = open_table(txn, "bodies", t.bodies);         // guid -> message bytes
  if (st) st = open_table(txn, "bodyrefs", t.bodyrefs);     // guid -> u64 record count
  if (st) st = open_table(txn, "quotas", t.quotas);         // root -> QuotaRoot
  if (st) st = open_table(txn, "subs", t.subs);             // userid\0mailbox -> ""
  if (st) st = open_table(txn, "seen", t.seen);             // userid\0uniqueid -> SeenEntry
  if (st) st = open_table(txn, "sieve", t.sieve);           // userid\0name -> SieveScript
  if (st) st = open_table(txn, "sieve_active", t.sieve_active);  // userid -> name of the active script
  if (st) st = check_format(txn, t.meta);
  if (!st) {
    mdb_txn_abort(txn);
    return st;
  }
  return mdb_status(mdb_txn_commit(txn), "commit setup txn");
}

}  // namespace

Status open_environment(const StoreOptions& options, MDB_env*& env, Tables& tables) {
  env = nullptr;
  if (Status st = make_directory(options.directory); !st) return st;

  MDB_env* e = nullptr;
  if (Status st = mdb_status(mdb_env_create(&e), "create environment"); !st) return st;
  // No MDB_WRITEMAP: with it a full disk surfaces as SIGBUS on a page fault
  // instead of an error from write().  MDB_NOTLS: read transactions are not
  // tied to a thread, so a thread may hold several and hand them on.
  unsigned flags = MDB_NOTLS;
  if (!options.durable) flags |= MDB_NOSYNC;  // tests and benchmarks only
  Status st = mdb_status(mdb_env_set_mapsize(e, options.map_size), "set map size");
  if (st) st = mdb_status(mdb_env_set_maxreaders(e, options.max_readers), "set max readers");
  if (st) st = mdb_status(mdb_env_set_maxdbs(e, kMaxTables), "set max tables");
  if (st) st = mdb_status(mdb_env_open(e, options.directory.c_str(), flags, 0600),
                          fmt::format("open environment {}", options.directory));
  if (st) {
    // Reader slots of processes that died (a crash, kill -9) would otherwise
    // pin old pages forever and let the file grow without bound.
    int dead = 0;
    st = mdb_status(mdb_reader_check(e, &dead), "reader check");
    if (st && dead > 0) log::warning("store: cleared {} stale reader slots", dead);
  }
  if (st) st = open_tables(e, tables);
  if (!st) {
    mdb_env_close(e);
    return st;
  }
  env = e;
  return Status::success();
}

Status open_environment_readonly(const StoreOptions& options, MDB_env*& env, Tables& tables) {
  env = nullptr;
  struct stat st_dir {};
  if (stat(options.directory.c_str(), &st_dir) != 0 || !S_ISDIR(st_dir.st_mode))
    return Status::error(Errc::not_found, fmt::format("no store directory {}", options.directory));
  MDB_env* e = nullptr;
  if (Status st = mdb_status(mdb_env_create(&e), "create environment"); !st) return st;
  // The same reader-table size as the daemon, whichever of the two creates
  // the lock file.  A zero map size takes the one recorded in the file.
  Status st = mdb_status(mdb_env_set_maxreaders(e, options.max_readers), "set max readers");
  if (st) st = mdb_status(mdb_env_set_maxdbs(e, kMaxTables), "set max tables");
  if (st) st = mdb_status(mdb_env_open(e, options.directory.c_str(), MDB_RDONLY | MDB_NOTLS, 0600),
                          fmt::format("open environment {} read-only", options.directory));
  if (st) st = open_tables(e, tables);
  if (!st) {
    mdb_env_close(e);
    return st;
  }
  env = e;
  return Status::success();
}

}  // namespace replicad::storage
