// replicad: a replica target for Cyrus IMAP replication.
//
//   replicad -C /etc/replicad.conf            run in the foreground
//   replicad -C FILE --check-config           report config problems, exit 0 or 78
//   replicad -C FILE --set-password USER      set a SASL password (read from stdin)
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "auth/password_store.h"
#include "auth/sasl_server.h"
#include "protocol/session.h"
#include "protocol/staging.h"
#include "protocol/sync_core.h"
#include "server/activity.h"
#include "server/config.h"
#include "server/housekeeping.h"
#include "server/log.h"
#include "server/loop_executor.h"
#include "server/server.h"
#include "server/service_signals.h"
#include "server/settings.h"
#include "server/status_reporter.h"
#include "server/systemd.h"
#include "server/tls_context.h"
#include "storage/store.h"

#ifndef REPLICAD_VERSION
#define REPLICAD_VERSION "0.0.0"
#endif

namespace {

// sysexits.h values, as Cyrus tools use them.
constexpr int kExitUsage = 64;
constexpr int kExitSoftware = 70;
constexpr int kExitOsErr = 71;
constexpr int kExitCantCreate = 73;
constexpr int kExitConfig = 78;

struct Options {
  std::string config_path = "/etc/replicad.conf";
  bool check_config = false;
  std::string set_password_user;
};

void usage(std::ostream& out) {
  out << "usage: replicad [-C FILE] [--check-config | --set-password USER]\n"
         "  -C FILE                 configuration (imapd.conf syntax; default /etc/replicad.conf)\n"
         "  --check-config          print configuration problems and exit (78 when fatal)\n"
         "  --set-password USER     set USER's SASL password in the configured sasldb,\n"
         "                          reading the password from standard input\n"
         "  --version               print the version\n";
}

bool parse_args(int argc, char** argv, Options& opts, int& exit_code) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-C" && i + 1 < argc) {
      opts.config_path = argv[++i];
    } else if (arg == "--check-config") {
      opts.check_config = true;
    } else if (arg == "--set-password" && i + 1 < argc) {
      opts.set_password_user = argv[++i];
    } else if (arg == "--version") {
      std::cout << "replicad " << REPLICAD_VERSION << "\n";
      exit_code = 0;
      return false;
    } else if (arg == "-h" || arg == "--help") {
      usage(std::cout);
      exit_code = 0;
      return false;
    } else {
      std::cerr << "replicad: unknown argument '" << arg << "'\n";
      usage(std::cerr);
      exit_code = kExitUsage;
      return false;
    }
  }
  return true;
}

bool make_private_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) {
    replicad::log::error("cannot create {}: {}", path, ec.message());
    return false;
  }
  ::chmod(path.c_str(), 0700);
  return true;
}

replicad::log::Level parse_level(const std::string& word) {
  using replicad::log::Level;
  if (word == "error") return Level::error;
  if (word == "warning") return Level::warning;
  if (word == "notice") return Level::notice;
  if (word == "debug") return Level::debug;
  return Level::info;
}

int set_password(const replicad::Settings& settings, const std::string& user) {
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    std::cerr << "replicad: no password on standard input\n";
    return kExitUsage;
  }
  replicad::auth::SaslConfig sasl{settings.servername, settings.sasl, settings.allow_plaintext};
  std::string error;
  if (!replicad::auth::sasl_library_init(sasl, error)) {
    std::cerr << "replicad: SASL: " << error << "\n";
    return kExitSoftware;
  }
  if (!replicad::auth::set_password(sasl, user, password, error)) {
    std::cerr << "replicad: cannot set password for " << user << ": " << error << "\n";
    return kExitCantCreate;
  }
  std::cerr << "replicad: password set for " << user << "\n";
  return 0;
}

// SIGTERM / SIGINT: stop accepting, let the command in flight on each
// connection commit (bounded by a deadline), close, drain the store, and let
// the loop run out of handles.
class GracefulShutdown {
 public:
  GracefulShutdown(uv_loop_t* loop, replicad::Server& server, replicad::storage::Store& store,
                   replicad::LoopExecutor& executor, replicad::Housekeeping& housekeeping)
      : server_(server), store_(store), executor_(executor), housekeeping_(housekeeping) {
    for (uv_signal_t* s : {&sigterm_, &sigint_}) {
      uv_signal_init(loop, s);
      s->data = this;
    }
    uv_signal_start(&sigterm_, &GracefulShutdown::on_signal, SIGTERM);
    uv_signal_start(&sigint_, &GracefulShutdown::on_signal, SIGINT);
    uv_timer_init(loop, &deadline_);
    deadline_.data = this;
  }

 private:
  static void on_signal(uv_signal_t* handle, int signum) {
    static_cast<GracefulShutdown*>(handle->data)->begin(signum);
  }

  void begin(int signum) {
    if (started_) return;
    started_ = true;
    replicad::log::notice("signal {}: shutting down, {} connection(s) open", signum,
                          server_.connection_count());
    housekeeping_.stop();  // no new expiry run; one in flight completes with the store
    uv_timer_start(&deadline_, [](uv_timer_t* t) {
      auto* self = static_cast<GracefulShutdown*>(t->data);
      replicad::log::warning("shutdown deadline passed, closing {} connection(s)",
                             self->server_.connection_count());
      self->server_.abort_connections();
    }, kDeadlineMs, 0);
    server_.shutdown([this] { finish(); });
  }

  void finish() {
    store_.shutdown();   // completes every job already submitted
    executor_.close();   // runs their completions, then lets the loop end
    uv_timer_stop(&deadline_);
    for (uv_handle_t* h : {reinterpret_cast<uv_handle_t*>(&sigterm_), reinterpret_cast<uv_handle_t*>(&sigint_),
                           reinterpret_cast<uv_handle_t*>(&deadline_)})
      uv_close(h, nullptr);
    auto stats = store_.stats();
    replicad::log::notice("replicad stopped: connections={} commits={} jobs={}", server_.accepted(),
                          stats.commits, stats.jobs);
  }

  static constexpr uint64_t kDeadlineMs = 10000;
  replicad::Server& server_;
  replicad::storage::Store& store_;
  replicad::LoopExecutor& executor_;
  replicad::Housekeeping& housekeeping_;
  uv_signal_t sigterm_{};
  uv_signal_t sigint_{};
  uv_timer_t deadline_{};
  bool started_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace replicad;
  Options opts;
  int exit_code = 0;
  if (!parse_args(argc, argv, opts, exit_code)) return exit_code;

  Config config;
  config.load_file(opts.config_path);
  std::vector<Config::Problem> problems;
  bool fatal = false;
  Settings settings = read_settings(config, problems, fatal);
  for (const auto& p : problems) {
    // file:line: as compilers say it, so editors can jump to it; the file
    // may be one the configuration @includes.
    const std::string& file = p.file.empty() ? opts.config_path : p.file;
    if (p.line > 0) std::cerr << file << ":" << p.line << ": " << p.message << "\n";
    else std::cerr << file << ": " << p.message << "\n";
  }
  if (fatal) return kExitConfig;
  // Certificates are configuration: a bad one stops the start (and fails
  // --check-config), not the first STARTTLS.
  std::unique_ptr<TlsContext> tls;
  if (settings.tls_configured()) {
    std::string tls_error;
    tls = TlsContext::create(TlsSettings{settings.tls_server_cert, settings.tls_server_key,
                                         settings.tls_client_ca_file, settings.tls_versions, settings.tls_ciphers},
                             tls_error);
    if (!tls) {
      std::cerr << opts.config_path << ": " << tls_error << "\n";
      return kExitConfig;
    }
  }
  if (opts.check_config) {
    std::cerr << opts.config_path << ": ok\n";
    return 0;
  }
  log::set_level(parse_level(settings.log_level));
  {
    log::Destination destination;
    destination.file = settings.logfile;
    destination.syslog = settings.syslog;
    destination.syslog_facility = log::syslog_facility(settings.syslog_facility).value_or(0);
    destination.syslog_ident = settings.syslog_prefix.empty() ? "replicad" : settings.syslog_prefix + "/replicad";
    std::string log_error;
    if (!log::configure(destination, log_error)) {
      std::cerr << "replicad: " << log_error << "\n";
      return kExitCantCreate;
    }
  }
  if (!opts.set_password_user.empty()) return set_password(settings, opts.set_password_user);

  ::signal(SIGPIPE, SIG_IGN);
  ::umask(077);
  if (!make_private_dir(settings.datadir) || !make_private_dir(settings.store_dir()) ||
      !make_private_dir(settings.staging_dir()))
    return kExitCantCreate;
  // Uploads of a previous run that never reached a mailbox are garbage now.
  protocol::StagingArea::remove_leftovers(settings.staging_dir());

  protocol::SessionContext context;
  context.servername = settings.servername;
  context.version = REPLICAD_VERSION;
  context.sasl = auth::SaslConfig{settings.servername, settings.sasl, settings.allow_plaintext};
  context.admins = auth::AdminPolicy(settings.admins);
  context.staging_root = settings.staging_dir();
  context.failed_auth_delay = settings.failed_login_pause;
  context.max_message_size = settings.max_message_size;
  context.tls_available = tls != nullptr;
  context.tls_required = settings.tls_required;
  context.trace_dir = settings.trace_path();

  std::string error;
  if (!auth::sasl_library_init(context.sasl, error)) {
    log::error("SASL initialisation failed: {}", error);
    return kExitSoftware;
  }

  uv_loop_t* loop = uv_default_loop();
  LoopExecutor executor(loop);

  storage::StoreOptions store_options;
  store_options.directory = settings.store_dir();
  store_options.map_size = settings.lmdb_mapsize;
  storage::Status status;
  auto store = storage::Store::open(
      store_options, [&executor](std::function<void()> fn) { executor.post(std::move(fn)); }, status);
  if (!store) {
    log::error("IOERROR: cannot open store in {}: {}", store_options.directory, status.message);
    return kExitCantCreate;
  }

  // Every answered command feeds the activity report (replicadctl status).
  Activity activity;
  protocol::SyncConfig sync_config;
  sync_config.observer = &activity;
  protocol::SyncCore sync(*store, sync_config);
  context.sync = &sync;

  Server server(loop, settings, context, tls.get());
  // Socket activation: the sockets systemd passed on replace the listen addresses.
  std::vector<InheritedSocket> inherited = take_inherited_sockets();
  bool listening = true;
  for (const InheritedSocket& socket : inherited)
    if (listening) listening = server.adopt(socket.fd, socket.name == "tls", error);
  if (inherited.empty()) listening = server.listen(error);
  if (!listening) {
    log::error("{}", error);
    store->shutdown();
    return kExitOsErr;
  }

  SystemdNotifier notifier = SystemdNotifier::from_environment();
  StatusReporter reporter(loop, settings.status_path(), settings.status_interval, REPLICAD_VERSION, activity,
                          StatusSources{[&server] { return uint64_t{server.connection_count()}; },
                                        [&server] { return server.accepted(); },
                                        [&store] { return store->stats(); }},
                          notifier);
  reporter.restore_history();
  reporter.start();
  // SIGHUP re-reads the certificate files.  Connections keep the context
  // they started with (a STARTTLS may still come), so replaced ones stay
  // alive until the process ends: one per reload.
  std::vector<std::unique_ptr<TlsContext>> retired_tls;
  auto reload_tls = [&] {
    if (!tls) return;
    std::string tls_error;
    auto fresh = TlsContext::create(TlsSettings{settings.tls_server_cert, settings.tls_server_key,
                                                settings.tls_client_ca_file, settings.tls_versions,
                                                settings.tls_ciphers},
                                    tls_error);
    if (!fresh) {
      log::error("SIGHUP: TLS certificate not reloaded, the old one stays: {}", tls_error);
      return;
    }
    server.set_tls(fresh.get());
    retired_tls.push_back(std::move(tls));
    tls = std::move(fresh);
    log::notice("SIGHUP: TLS certificate reloaded from {}", settings.tls_server_cert);
  };
  ServiceSignals signals(
      loop,
      [&] {
        notifier.stopping();
        reporter.stop();
      },
      [&] {
        notifier.reloading();
        std::string log_error;
        if (log::reopen(log_error)) log::notice("SIGHUP: log reopened");
        else log::error("IOERROR: SIGHUP: {}", log_error);
        reload_tls();
        notifier.ready_again();
      });
  // Listeners are bound and the store is open: only now may systemd
  // consider the service started (Type=notify).
  notifier.ready(reporter.summary());
  log::notice("replicad {} ready: servername={} datadir={} admins=\"{}\"", REPLICAD_VERSION,
              settings.servername, settings.datadir, settings.admins);

  Housekeeping housekeeping(loop, *store, settings.deleted_expire, settings.deleted_expire_period);
  housekeeping.start();
  GracefulShutdown shutdown(loop, server, *store, executor, housekeeping);

  uv_run(loop, UV_RUN_DEFAULT);
  reporter.write_final();
  uv_loop_close(loop);
  auth::sasl_library_done();
  return 0;
}
