// loadgen: drives a replica (replicad, or anything that speaks the
// replication protocol) directly over N parallel loopback connections with
// sync_client-shaped traffic -- APPLY RESERVE, APPLY MESSAGE with file
// literals, APPLY MAILBOX with correct CRCs -- to find the replica's own
// ceiling where sync_client would be the bottleneck.  One more connection
// sends NOOP in a loop meanwhile: its latency shows whether bulk work
// starves small commands.
//
//   loadgen --port 2005 --password-file var/admin-password
//           --connections 4 --messages 20000 --batch 500 --size 10240
//
// Every message is generated before the clock starts (the generator shares
// the machine with the replica and must not compete with it while
// measuring); the run stops after --messages or --max-seconds, whichever
// comes first.  Loopback addresses only.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fmt/core.h>

#include "bench/latency_stats.h"
#include "bench/load_workload.h"
#include "bench/process_probe.h"
#include "bench/replica_connection.h"

namespace {

using namespace replicad::bench;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string user = "admin";
  std::string password;
  Flavour flavour = Flavour::csync;
  unsigned connections = 4;
  uint64_t messages = 20000;
  uint32_t batch = 500;          // messages per mailbox (one APPLY MAILBOX)
  uint64_t size = 10240;         // mean message size in bytes
  bool exact_size = false;       // every message exactly `size` bytes
  unsigned max_seconds = 120;
  unsigned noop_interval_ms = 2;
  pid_t replica_pid = 0;
  bool json = false;
};

// Bounds: a load generator that can be told to do anything unbounded is a
// way to fill a disk by typo.
constexpr unsigned kMaxConnections = 256;
constexpr uint64_t kMaxMessages = 5'000'000;
constexpr uint32_t kMaxBatch = 100'000;
constexpr uint64_t kMaxSize = uint64_t{1} << 30;
constexpr uint64_t kMaxPregenerated = uint64_t{4} << 30;
constexpr unsigned kMaxSeconds = 3600;

void usage(std::ostream& out) {
  out << "usage: loadgen --port N (--password P | --password-file F) [options]\n"
         "  --host H               loopback address of the replica (127.0.0.1)\n"
         "  --user U               admin login (admin)\n"
         "  --flavour csync|imap   protocol flavour (csync)\n"
         "  --connections N        parallel connections applying mail (4, max 256)\n"
         "  --messages N           messages in total (20000)\n"
         "  --batch N              messages per mailbox, i.e. per APPLY MAILBOX (500)\n"
         "  --size BYTES           mean message size (10240); sizes spread over [size/2, 3*size/2]\n"
         "  --exact-size           every message exactly --size bytes\n"
         "  --max-seconds S        stop after S seconds even if not done (120)\n"
         "  --noop-interval-ms MS  pause between NOOPs on the probe connection (2)\n"
         "  --replica-pid PID      also report the replica's CPU, VmHWM and peak RssAnon\n"
         "  --json                 last line: the results as one JSON object\n";
}

template <typename T>
bool parse_number(const char* text, T max, T& out) {
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v > static_cast<unsigned long long>(max)) return false;
  out = static_cast<T>(v);
  return true;
}

bool parse_options(int argc, char** argv, Options& o, std::string& error) {
  std::string password_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    bool ok = true;
    if (arg == "--json") { o.json = true; continue; }
    if (arg == "--exact-size") { o.exact_size = true; continue; }
    if (arg == "-h" || arg == "--help") { usage(std::cout); std::exit(0); }
    if ((v = value()) == nullptr) { error = "missing value for " + arg; return false; }
    if (arg == "--host") o.host = v;
    else if (arg == "--port") ok = parse_number<uint16_t>(v, 65535, o.port) && o.port != 0;
    else if (arg == "--user") o.user = v;
    else if (arg == "--password") o.password = v;
    else if (arg == "--password-file") password_file = v;
    else if (arg == "--flavour") {
      std::string f = v;
      ok = f == "csync" || f == "imap";
      o.flavour = f == "imap" ? Flavour::imap : Flavour::csync;
    } else if (arg == "--connections") ok = parse_number(v, kMaxConnections, o.connections) && o.connections > 0;
    else if (arg == "--messages") ok = parse_number(v, kMaxMessages, o.messages) && o.messages > 0;
    else if (arg == "--batch") ok = parse_number(v, kMaxBatch, o.batch) && o.batch > 0;
    else if (arg == "--size") ok = parse_number(v, kMaxSize, o.size) && o.size > 0;
    else if (arg == "--max-seconds") ok = parse_number(v, kMaxSeconds, o.max_seconds) && o.max_seconds > 0;
    else if (arg == "--noop-interval-ms") ok = parse_number(v, 10'000u, o.noop_interval_ms);
    else if (arg == "--replica-pid") ok = parse_number<pid_t>(v, 1 << 22, o.replica_pid);
    else { error = "unknown option " + arg; return false; }
    if (!ok) { error = fmt::format("bad value '{}' for {}", v, arg); return false; }
  }
  if (!password_file.empty()) {
    std::ifstream in(password_file);
    if (!std::getline(in, o.password)) { error = "cannot read " + password_file; return false; }
    while (!o.password.empty() && (o.password.back() == '\r' || o.password.back() == '\n')) o.password.pop_back();
  }
  if (o.port == 0) { error = "--port is required"; return false; }
  if (o.password.empty()) { error = "--password or --password-file is required"; return false; }
  if (!is_loopback(o.host)) { error = o.host + " is not a loopback address"; return false; }
  if (o.messages * o.size * 2 > kMaxPregenerated) {
    error = fmt::format("{} messages of {} bytes is more than the {} GiB this generator prepares up front",
                        o.messages, o.size, kMaxPregenerated >> 30);
    return false;
  }
  return true;
}

// One mailbox's commands, ready to send.
struct PreparedMailbox {
  std::string reserve;
  std::vector<std::string> messages;  // one APPLY MESSAGE each
  std::string mailbox;
  uint32_t count = 0;
};

struct WorkerResult {
  uint64_t messages_applied = 0;
  LatencyStats reserve, message, mailbox;
  std::string error;
};

std::string run_identifier() {
  // Lower-case letters and digits only: it becomes part of user names.
  uint64_t v = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count()) ^
               (static_cast<uint64_t>(getpid()) << 40);
  std::string id;
  for (int i = 0; i < 8; ++i, v /= 36) id += "0123456789abcdefghijklmnopqrstuvwxyz"[v % 36];
  return id;
}

std::vector<PreparedMailbox> prepare(const Options& o, unsigned worker, uint64_t quota,
                                     const std::string& run_id, uint64_t& bytes) {
  // Seeded by the run too: mailbox uniqueids must not repeat across runs.
  MessageFactory factory(std::hash<std::string>{}(run_id) + worker, run_id, o.size, o.exact_size);
  const std::string owner = fmt::format("lg{}w{}", run_id, worker);
  std::vector<PreparedMailbox> out;
  for (unsigned box = 0; quota > 0; ++box) {
    uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(quota, o.batch));
    quota -= n;
    std::string name = box == 0 ? "user." + owner : fmt::format("user.{}.f{}", owner, box);
    MailboxBatch batch = factory.make_mailbox(owner, name, n);
    PreparedMailbox p;
    p.reserve = reserve_args(batch);
    for (size_t first = 0; first < batch.records.size(); first += kMaxFilesPerMessageCommand)
      p.messages.push_back(message_args(batch, first));
    p.mailbox = mailbox_args(batch);
    p.count = n;
    bytes += batch.body_bytes;
    out.push_back(std::move(p));
  }
  return out;
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Sends one command and times it; false (with result.error) when the load must stop.
bool timed(ReplicaConnection& conn, std::string_view args, LatencyStats& stats, WorkerResult& result,
           Reply& reply) {
  auto t0 = Clock::now();
  std::string error;
  if (!conn.command("APPLY", args, reply, error)) {
    result.error = error;
    return false;
  }
  stats.add(ms_since(t0));
  if (!reply.ok) {
    result.error = fmt::format("APPLY {} refused: {}", args.substr(0, args.find(' ')), reply.status);
    return false;
  }
  return true;
}

void run_worker(std::vector<PreparedMailbox>& work, Clock::time_point deadline, WorkerResult& result,
                ReplicaConnection& conn) {
  Reply reply;
  for (PreparedMailbox& box : work) {
    if (Clock::now() >= deadline) return;
    if (!timed(conn, box.reserve, result.reserve, result, reply)) return;
    for (std::string& files : box.messages) {
      if (!timed(conn, files, result.message, result, reply)) return;
      std::string().swap(files);  // sent: give the memory back
    }
    if (!timed(conn, box.mailbox, result.mailbox, result, reply)) return;
    result.messages_applied += box.count;
  }
}

std::string json_number(double v) { return fmt::format("{:.3f}", v); }

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string error;
  if (!parse_options(argc, argv, o, error)) {
    std::cerr << "loadgen: " << error << "\n";
    usage(std::cerr);
    return 64;
  }

  const std::string run_id = run_identifier();
  std::vector<std::vector<PreparedMailbox>> work(o.connections);
  uint64_t body_bytes = 0;
  {
    auto t0 = Clock::now();
    for (unsigned w = 0; w < o.connections; ++w) {
      uint64_t quota = o.messages / o.connections + (w < o.messages % o.connections ? 1 : 0);
      work[w] = prepare(o, w, quota, run_id, body_bytes);
    }
    std::cerr << fmt::format("loadgen: prepared {} messages ({:.1f} MB) in {:.1f} s\n", o.messages,
                             static_cast<double>(body_bytes) / 1e6, ms_since(t0) / 1000);
  }

  const auto io_timeout = std::chrono::milliseconds(std::max(30'000u, o.max_seconds * 1000u));
  std::vector<std::unique_ptr<ReplicaConnection>> conns;
  for (unsigned w = 0; w < o.connections; ++w) {
    conns.push_back(std::make_unique<ReplicaConnection>(o.flavour, io_timeout));
    if (!conns.back()->open(o.host, o.port, o.user, o.password, error)) {
      std::cerr << "loadgen: connection " << w << ": " << error << "\n";
      return 1;
    }
  }
  ReplicaConnection probe(o.flavour, std::chrono::milliseconds(10'000));
  if (!probe.open(o.host, o.port, o.user, o.password, error)) {
    std::cerr << "loadgen: probe connection: " << error << "\n";
    return 1;
  }

  std::optional<ProcessSnapshot> before;
  std::optional<RssAnonSampler> sampler;
  if (o.replica_pid > 0) {
    before = read_process(o.replica_pid);
    if (!before) {
      std::cerr << "loadgen: cannot read /proc/" << o.replica_pid << "\n";
      return 1;
    }
    sampler.emplace(o.replica_pid, 5);
  }

  std::atomic<bool> load_done{false};
  LatencyStats noop;
  std::string noop_error;
  const auto start = Clock::now();
  const auto deadline = start + std::chrono::seconds(o.max_seconds);
  std::thread prober([&] {
    Reply reply;
    while (!load_done.load()) {
      auto t0 = Clock::now();
      if (!probe.command("NOOP", "", reply, noop_error) || !reply.ok) {
        if (noop_error.empty()) noop_error = "NOOP refused: " + reply.status;
        return;
      }
      noop.add(ms_since(t0));
      if (o.noop_interval_ms) std::this_thread::sleep_for(std::chrono::milliseconds(o.noop_interval_ms));
    }
  });

  std::vector<WorkerResult> results(o.connections);
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < o.connections; ++w)
    workers.emplace_back([&, w] { run_worker(work[w], deadline, results[w], *conns[w]); });
  for (std::thread& t : workers) t.join();
  const double wall = ms_since(start) / 1000;
  load_done.store(true);
  prober.join();

  std::optional<ProcessSnapshot> after;
  if (o.replica_pid > 0) {
    sampler->stop();
    after = read_process(o.replica_pid);
  }
  for (auto& c : conns) c->close();
  probe.close();

  WorkerResult total;
  for (WorkerResult& r : results) {
    total.messages_applied += r.messages_applied;
    total.reserve.merge(r.reserve);
    total.message.merge(r.message);
    total.mailbox.merge(r.mailbox);
    if (!r.error.empty() && total.error.empty()) total.error = r.error;
  }
  LatencyStats all;
  all.merge(total.reserve);
  all.merge(total.message);
  all.merge(total.mailbox);
  const double rate = wall > 0 ? static_cast<double>(total.messages_applied) / wall : 0;
  const double mb = static_cast<double>(body_bytes) / 1e6 *
                    (static_cast<double>(total.messages_applied) / static_cast<double>(o.messages));

  std::cout << fmt::format(
      "loadgen: {} connections, {} of {} messages (~{} B each, {} per mailbox) in {:.2f} s: "
      "{:.0f} messages/s, {:.1f} MB/s\n",
      o.connections, total.messages_applied, o.messages, o.size, o.batch, wall, rate, mb / wall);
  std::cout << fmt::format("  commands  n={} p50={:.2f} ms p99={:.2f} ms max={:.2f} ms\n", all.count(),
                           all.percentile(50), all.percentile(99), all.max());
  for (auto [name, s] : {std::pair{"RESERVE", &total.reserve}, std::pair{"MESSAGE", &total.message},
                         std::pair{"MAILBOX", &total.mailbox}})
    std::cout << fmt::format("  {:<8}  n={} p50={:.2f} ms p99={:.2f} ms max={:.2f} ms\n", name, s->count(),
                             s->percentile(50), s->percentile(99), s->max());
  std::cout << fmt::format("  NOOP      n={} p50={:.2f} ms p99={:.2f} ms max={:.2f} ms (probe connection)\n",
                           noop.count(), noop.percentile(50), noop.percentile(99), noop.max());
  double cpu = 0;
  if (before && after) {
    cpu = after->cpu_seconds - before->cpu_seconds;
    std::cout << fmt::format(
        "  replica   CPU {:.2f} s ({:.1f} us/message), VmHWM {} kB, peak RssAnon {} kB (sampled every 5 ms)\n",
        cpu, total.messages_applied ? cpu * 1e6 / static_cast<double>(total.messages_applied) : 0,
        after->vm_hwm_kb, sampler->peak_kb());
  }
  if (!total.error.empty()) std::cout << "  ERROR: " << total.error << "\n";
  if (!noop_error.empty()) std::cout << "  NOOP ERROR: " << noop_error << "\n";

  if (o.json) {
    std::cout << "{" << fmt::format(
        "\"connections\": {}, \"messages\": {}, \"size\": {}, \"batch\": {}, \"wall\": {}, "
        "\"messages_per_s\": {}, \"cmd_p50_ms\": {}, \"cmd_p99_ms\": {}, \"mailbox_p99_ms\": {}, "
        "\"noop_n\": {}, \"noop_p50_ms\": {}, \"noop_p99_ms\": {}, \"noop_max_ms\": {}, "
        "\"replica_cpu_s\": {}, \"replica_vmhwm_kb\": {}, \"replica_peak_rssanon_kb\": {}, \"error\": \"{}\"",
        o.connections, total.messages_applied, o.size, o.batch, json_number(wall), json_number(rate),
        json_number(all.percentile(50)), json_number(all.percentile(99)),
        json_number(total.mailbox.percentile(99)), noop.count(), json_number(noop.percentile(50)),
        json_number(noop.percentile(99)), json_number(noop.max()), json_number(cpu),
        after ? after->vm_hwm_kb : 0, sampler ? sampler->peak_kb() : 0,
        total.error.empty() && noop_error.empty() ? "" : "failed") << "}\n";
  }
  return total.error.empty() && noop_error.empty() && total.messages_applied > 0 ? 0 : 1;
}
