#include "protocol/sync_sieve.h"

#include "protocol/reply_writer.h"

namespace replicad::protocol {
namespace {

void write_sieve_line(std::string& out, std::string_view filename, uint64_t last_update,
                      const storage::Guid& guid, bool active) {
  KvWriter kv(open_line(out, "SIEVE"));
  kv.str("FILENAME", filename);
  kv.num("LAST_UPDATE", last_update);
  kv.str("GUID", guid.hex());
  kv.num("ISACTIVE", active ? 1 : 0);
  kv.close();
  close_line(out);
}

}  // namespace

SieveFileName parse_sieve_file_name(std::string_view filename) {
  SieveFileName parsed;
  size_t dot = filename.rfind('.');
  // A script needs a name: ".script" alone names nothing Cyrus could list.
  if (dot == std::string_view::npos || dot == 0) return parsed;
  std::string_view ext = filename.substr(dot);
  if (ext == kSieveScriptSuffix) {
    parsed.kind = SieveFileName::Kind::script;
  } else if (ext == kSieveBytecodeSuffix) {
    parsed.kind = SieveFileName::Kind::bytecode;
  } else {
    return parsed;
  }
  parsed.script.assign(filename.substr(0, dot));
  return parsed;
}

std::string activated_script_name(std::string_view filename) {
  if (filename.size() < kSieveBytecodeSuffix.size()) return std::string(filename);
  return std::string(filename.substr(0, filename.size() - kSieveBytecodeSuffix.size()));
}

storage::Status write_sieve_lines(storage::ReadView& view, std::string_view userid, std::string& out) {
  std::optional<std::string> active = view.active_sieve_script(userid);
  return view.for_each_sieve_script(userid, [&](const storage::SieveScript& script) {
    write_sieve_line(out, script.name + std::string(kSieveScriptSuffix), script.last_update, script.guid,
                     false);
    // The .bc entry carries no GUID and no time: the client only looks at
    // its name and ISACTIVE (sync_do_user_sieve).
    if (active == script.name)
      write_sieve_line(out, script.name + std::string(kSieveBytecodeSuffix), 0, storage::Guid{}, true);
    return true;
  });
}

}  // namespace replicad::protocol
