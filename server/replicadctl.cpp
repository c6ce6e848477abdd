// replicadctl: look into a replicad store and the running daemon.
//
//   replicadctl [-C FILE | -d DATADIR | --store DIR] [--json] COMMAND [ARGS]
//
// Every command reads the store through LMDB read transactions on an
// environment opened read-only, so it is safe while replicad runs and never
// changes anything (backup writes only its destination).
#include <algorithm>
#include <ctime>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/ctl/commands.h"
#include "storage/store_reader.h"

#ifndef REPLICAD_VERSION
#define REPLICAD_VERSION "0.0.0"
#endif

namespace {

using replicad::ctl::Outcome;
using replicad::ctl::Value;
namespace ctl = replicad::ctl;

struct Options {
  std::string config_path = "/etc/replicad.conf";
  std::string datadir;      // -d, else the config's datadir
  std::string store_dir;    // --store, else <datadir>/store
  bool json = false;
  std::string command;
  std::vector<std::string> args;
};

void usage(std::ostream& out) {
  out << "usage: replicadctl [-C FILE | -d DATADIR | --store DIR] [--json] COMMAND [ARGS]\n"
         "  -C FILE         replicad's configuration, for its datadir (default /etc/replicad.conf)\n"
         "  -d DATADIR      the data directory itself (holds store/ and status)\n"
         "  --store DIR     a store directory (holding data.mdb), e.g. a backup copy\n"
         "  --json          JSON instead of text\n"
         "commands:\n"
         "  info                   store size, tables, counts, format version\n"
         "  users                  users with mailboxes, message counts and sizes\n"
         "  mailboxes [USER]       mailboxes (of USER) with their counts\n"
         "  show MAILBOX           header fields and records (internal name or uniqueid)\n"
         "  cat GUID               the stored message, byte for byte\n"
         "  verify [USER|--all]    recompute CRCs, SHA-1s, sizes and refcounts; exit 1 on drift\n"
         "  backup DEST            compacted hot copy of the store into directory DEST\n"
         "  status                 the running replicad: sessions, counters, per-user last apply\n"
         "  metrics                Prometheus text format (node_exporter textfile collector)\n"
         "  version                replicadctl's version\n";
}

bool parse_args(int argc, char** argv, Options& o, int& exit_code) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    bool has_value = i + 1 < argc;
    if (o.command.empty() && arg == "-C" && has_value) {
      o.config_path = argv[++i];
    } else if (o.command.empty() && arg == "-d" && has_value) {
      o.datadir = argv[++i];
    } else if (o.command.empty() && arg == "--store" && has_value) {
      o.store_dir = argv[++i];
    } else if (arg == "--json") {
      o.json = true;
    } else if (o.command.empty() && (arg == "-h" || arg == "--help")) {
      usage(std::cout);
      exit_code = 0;
      return false;
    } else if (o.command.empty() && !arg.empty() && arg[0] == '-') {
      std::cerr << "replicadctl: unknown option '" << arg << "'\n";
      usage(std::cerr);
      exit_code = ctl::kExitUsage;
      return false;
    } else if (o.command.empty()) {
      o.command = arg;
    } else {
      o.args.push_back(arg);
    }
  }
  if (o.command.empty()) {
    usage(std::cerr);
    exit_code = ctl::kExitUsage;
    return false;
  }
  return true;
}

// The data directory as replicad sees it: -d, or the config's datadir.
bool resolve_datadir(Options& o, std::string& error) {
  if (!o.datadir.empty()) return true;
  replicad::Config config;
  if (!config.load_file(o.config_path)) {
    error = config.problems().empty() ? "cannot read " + o.config_path : config.problems().front().message;
    return false;
  }
  o.datadir = config.get_string("datadir", "var");
  return true;
}

int finish(const Outcome& outcome) {
  if (!outcome.error.empty()) std::cerr << "replicadctl: " << outcome.error << "\n";
  return outcome.exit_code;
}

int print(const Options& o, const Value& report, const Outcome& outcome) {
  if (report.is_object() || report.is_array()) std::cout << (o.json ? ctl::to_json(report) : ctl::to_text(report));
  std::cout.flush();
  return finish(outcome);
}

bool arity(const Options& o, size_t min, size_t max) {
  if (o.args.size() >= min && o.args.size() <= max) return true;
  std::cerr << "replicadctl: wrong number of arguments to " << o.command << "\n";
  usage(std::cerr);
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  int exit_code = 0;
  if (!parse_args(argc, argv, o, exit_code)) return exit_code;
  if (o.command == "version") {
    std::cout << "replicadctl " << REPLICAD_VERSION << "\n";
    return 0;
  }

  static const std::vector<std::string> known = {"info", "users", "mailboxes", "show", "cat",
                                                 "verify", "backup", "status", "metrics"};
  if (std::find(known.begin(), known.end(), o.command) == known.end()) {
    std::cerr << "replicadctl: unknown command '" << o.command << "'\n";
    usage(std::cerr);
    return ctl::kExitUsage;
  }
  std::string error;
  bool need_datadir = o.store_dir.empty() || o.command == "status" || o.command == "metrics";
  if (need_datadir && !resolve_datadir(o, error)) {
    // metrics still has the store to report on when --store was given
    if (!(o.command == "metrics" && !o.store_dir.empty())) return finish(Outcome::fail(ctl::kExitNoInput, error));
  }
  if (o.store_dir.empty()) o.store_dir = o.datadir + "/store";
  std::string status_path = o.datadir.empty() ? std::string() : o.datadir + "/status";
  int64_t now = static_cast<int64_t>(std::time(nullptr));

  if (o.command == "status") {
    if (!arity(o, 0, 0)) return ctl::kExitUsage;
    Value report;
    Outcome outcome = ctl::status(status_path, now, report);
    return print(o, report, outcome);
  }

  replicad::storage::Status st;
  auto reader = replicad::storage::StoreReader::open(o.store_dir, st);
  if (o.command == "metrics") {
    if (!arity(o, 0, 0)) return ctl::kExitUsage;
    std::string text;
    Outcome outcome = ctl::metrics(status_path, reader.get(), now, text);
    std::cout << text;
    std::cout.flush();
    return finish(outcome);
  }
  if (!reader) return finish(Outcome::fail(ctl::kExitNoInput, "cannot open the store: " + st.message));

  Value report;
  Outcome outcome;
  if (o.command == "info") {
    if (!arity(o, 0, 0)) return ctl::kExitUsage;
    outcome = ctl::info(*reader, report);
    if (report.is_object()) report.set("replicadctl_version", REPLICAD_VERSION);
  } else if (o.command == "users") {
    if (!arity(o, 0, 0)) return ctl::kExitUsage;
    outcome = ctl::users(*reader, report);
  } else if (o.command == "mailboxes") {
    if (!arity(o, 0, 1)) return ctl::kExitUsage;
    outcome = ctl::mailboxes(*reader, o.args.empty() ? "" : o.args[0], report);
  } else if (o.command == "show") {
    if (!arity(o, 1, 1)) return ctl::kExitUsage;
    outcome = ctl::show(*reader, o.args[0], report);
  } else if (o.command == "cat") {
    if (!arity(o, 1, 1)) return ctl::kExitUsage;
    return finish(ctl::cat(*reader, o.args[0], std::cout));
  } else if (o.command == "verify") {
    if (!arity(o, 0, 1)) return ctl::kExitUsage;
    std::string scope = o.args.empty() || o.args[0] == "--all" ? "" : o.args[0];
    outcome = ctl::verify(*reader, scope, report);
  } else if (o.command == "backup") {
    if (!arity(o, 1, 1)) return ctl::kExitUsage;
    outcome = ctl::backup(*reader, o.args[0], report);
  }
  return print(o, report, outcome);
}
