#include "storage/store_reader.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "storage/codec.h"
#include "storage/keys.h"
#include "storage/lmdb_env.h"
#include "storage/lmdb_support.h"
#include "storage/txn_view.h"

namespace replicad::storage {
namespace {

Status os_error(std::string what, int err) {
  return Status::error(Errc::io_error, fmt::format("{}: {}", what, std::strerror(err)));
}

std::optional<Guid> guid_of_key(std::string_view key) {
  Guid g;
  if (key.size() != g.bytes.size()) return std::nullopt;
  std::memcpy(g.bytes.data(), key.data(), key.size());
  return g;
}

// Visits every entry of a table in key order.
template <typename Visit>
Status walk(MDB_txn* txn, MDB_dbi dbi, std::string_view what, Visit&& visit) {
  Cursor cursor;
  if (Status st = mdb_status(cursor.open(txn, dbi), what); !st) return st;
  MDB_val key, value;
  for (int rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_FIRST);;
       rc = mdb_cursor_get(cursor.get(), &key, &value, MDB_NEXT)) {
    if (rc == MDB_NOTFOUND) return Status::success();
    if (rc != MDB_SUCCESS) return mdb_status(rc, what);
    Status st = visit(to_view(key), to_view(value));
    if (st.code == Errc::aborted) return Status::success();  // the caller's fn asked to stop
    if (!st) return st;
  }
}

Status stop() { return Status::error(Errc::aborted, "stop"); }

Status corrupt(std::string_view what, std::string_view key_hint) {
  return Status::error(Errc::corrupt, fmt::format("corrupt {} entry {}", what, key_hint));
}

std::string hex_of(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) out += fmt::format("{:02x}", c);
  return out;
}

class Snapshot final : public StoreSnapshot {
 public:
  Snapshot(MDB_txn* txn, const Tables& tables, const std::vector<std::pair<std::string, MDB_dbi>>& named)
      : txn_(txn), tables_(tables), named_(named), view_(txn, tables) {}
  ~Snapshot() override { mdb_txn_abort(txn_); }
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  ReadView& view() override { return view_; }
  MDB_txn* txn() const { return txn_; }

  Status for_each_body(const std::function<bool(const Guid&, std::string_view)>& fn) override {
    return walk(txn_, tables_.bodies, "walk bodies", [&](std::string_view key, std::string_view value) {
      auto guid = guid_of_key(key);
      if (!guid) return corrupt("body", hex_of(key));
      return fn(*guid, value) ? Status::success() : stop();
    });
  }

  Status for_each_body_ref(const std::function<bool(const Guid&, uint64_t)>& fn) override {
    return walk(txn_, tables_.bodyrefs, "walk body refcounts", [&](std::string_view key, std::string_view value) {
      auto guid = guid_of_key(key);
      uint64_t count = 0;
      if (!guid || !codec::decode_u64(value, count)) return corrupt("body refcount", hex_of(key));
      return fn(*guid, count) ? Status::success() : stop();
    });
  }

  Status for_each_uniqueid(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return walk(txn_, tables_.uniqueids, "walk uniqueids", [&](std::string_view key, std::string_view value) {
      return fn(key, value) ? Status::success() : stop();
    });
  }

  Status for_each_record(const std::function<bool(std::string_view, const MessageRecord&)>& fn) override {
    return walk(txn_, tables_.records, "walk records", [&](std::string_view key, std::string_view value) {
      // uniqueid \0 uid(4, big endian): see keys.h
      size_t nul = key.find('\0');
      std::optional<uint32_t> uid;
      if (nul != std::string_view::npos) uid = keys::record_uid(key, nul + 1);
      MessageRecord record;
      if (!uid || !codec::decode(value, record) || record.uid != *uid) return corrupt("record", hex_of(key));
      return fn(key.substr(0, nul), record) ? Status::success() : stop();
    });
  }

  Status body_ref_count(const Guid& guid, uint64_t& count) override {
    count = 0;
    MDB_val key = to_val(guid.raw());
    MDB_val value;
    int rc = mdb_get(txn_, tables_.bodyrefs, &key, &value);
    if (rc == MDB_NOTFOUND) return Status::success();
    if (rc != MDB_SUCCESS) return mdb_status(rc, "read body refcount");
    if (!codec::decode_u64(to_view(value), count)) return corrupt("body refcount", guid.hex());
    return Status::success();
  }

  std::vector<TableStats> table_stats() override {
    std::vector<TableStats> out;
    for (const auto& [name, dbi] : named_) {
      MDB_stat st{};
      if (mdb_stat(txn_, dbi, &st) != MDB_SUCCESS) continue;
      out.push_back({name, st.ms_entries, st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages});
    }
    return out;
  }

 private:
  MDB_txn* txn_;
  Tables tables_;
  const std::vector<std::pair<std::string, MDB_dbi>>& named_;
  TxnView view_;
};

class Reader final : public StoreReader {
 public:
  Reader(std::string directory, MDB_env* env, const Tables& tables)
      : directory_(std::move(directory)), env_(env), tables_(tables) {}
  ~Reader() override { mdb_env_close(env_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Every named table of the environment (those listed in the main table),
  // so that statistics cover tables this build does not know by name.
  Status open_named_tables() {
    MDB_txn* txn = nullptr;
    if (Status st = mdb_status(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "begin read txn"); !st) return st;
    MDB_dbi main = 0;
    Status st = mdb_status(mdb_dbi_open(txn, nullptr, 0, &main), "open main table");
    std::vector<std::string> names;
    if (st) st = walk(txn, main, "list tables", [&](std::string_view key, std::string_view) {
      names.emplace_back(key);
      return Status::success();
    });
    for (const auto& name : names) {
      if (!st) break;
      MDB_dbi dbi = 0;
      st = mdb_status(mdb_dbi_open(txn, name.c_str(), 0, &dbi), fmt::format("open table {}", name));
      if (st) named_.emplace_back(name, dbi);
    }
    if (!st) {
      mdb_txn_abort(txn);
      return st;
    }
    // Handles opened in a transaction survive it only once it commits.
    return mdb_status(mdb_txn_commit(txn), "commit read txn");
  }

  std::unique_ptr<StoreSnapshot> snapshot(Status& status) override {
    MDB_txn* txn = nullptr;
    status = mdb_status(mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn), "begin read txn");
    if (!status) return nullptr;
    return std::make_unique<Snapshot>(txn, tables_, named_);
  }

  Status info(StoreInfo& out) override {
    out = StoreInfo{};
    out.directory = directory_;
    struct stat file {};
    std::string data = directory_ + "/data.mdb";
    if (stat(data.c_str(), &file) != 0) return os_error("stat " + data, errno);
    out.file_bytes = static_cast<uint64_t>(file.st_size);
    MDB_envinfo env_info{};
    MDB_stat env_stat{};
    if (Status st = mdb_status(mdb_env_info(env_, &env_info), "environment info"); !st) return st;
    if (Status st = mdb_status(mdb_env_stat(env_, &env_stat), "environment stat"); !st) return st;
    out.page_size = env_stat.ms_psize;
    out.map_bytes = env_info.me_mapsize;
    out.used_bytes = (static_cast<uint64_t>(env_info.me_last_pgno) + 1) * env_stat.ms_psize;
    out.last_txnid = env_info.me_last_txnid;
    out.max_readers = env_info.me_maxreaders;
    out.readers_in_use = env_info.me_numreaders;

    Status st;
    auto snap = snapshot(st);
    if (!snap) return st;
    out.tables = snap->table_stats();
    MDB_txn* txn = static_cast<Snapshot&>(*snap).txn();
    MDB_val key = to_val("format");
    MDB_val value;
    if (int rc = mdb_get(txn, tables_.meta, &key, &value); rc != MDB_SUCCESS)
      return mdb_status(rc, "read format version");
    if (!codec::decode_u32(to_view(value), out.format_version)) return corrupt("meta", "format");
    return Status::success();
  }

  Status copy_compacted(const std::string& destination) override {
    // Missing parents are created too; the copy holds every user's mail, so 0700.
    std::error_code ec;
    std::filesystem::create_directories(destination, ec);
    if (ec) return Status::error(Errc::io_error, fmt::format("mkdir {}: {}", destination, ec.message()));
    ::chmod(destination.c_str(), 0700);
    std::string target = destination + "/data.mdb";
    if (access(target.c_str(), F_OK) == 0)
      return Status::error(Errc::exists, fmt::format("{} exists already", target));
    int rc = mdb_env_copy2(env_, destination.c_str(), MDB_CP_COMPACT);
    if (rc != MDB_SUCCESS) {
      unlink(target.c_str());  // a half-written copy is worse than none
      return Status::error(Errc::io_error, fmt::format("copy to {}: {}", destination, mdb_strerror(rc)));
    }
    // LMDB does not sync the copy; a backup that a crash can lose is not one.
    for (const std::string& path : {target, destination}) {
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return os_error("open " + path, errno);
      int err = fsync(fd) == 0 ? 0 : errno;
      ::close(fd);
      if (err != 0) return os_error("fsync " + path, err);
    }
    return Status::success();
  }

 private:
  std::string directory_;
  MDB_env* env_;
  Tables tables_;
  std::vector<std::pair<std::string, MDB_dbi>> named_;
};

}  // namespace

std::unique_ptr<StoreReader> StoreReader::open(const std::string& directory, Status& status) {
  StoreOptions options;
  options.directory = directory;
  // max_readers keeps StoreOptions' default: the daemon's reader-table size,
  // whichever of the two creates the lock file.
  MDB_env* env = nullptr;
  Tables tables;
  status = open_environment_readonly(options, env, tables);
  if (!status) return nullptr;
  auto reader = std::make_unique<Reader>(directory, env, tables);
  status = reader->open_named_tables();
  if (!status) return nullptr;
  return reader;
}

}  // namespace replicad::storage
