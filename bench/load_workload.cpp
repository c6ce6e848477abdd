#include "bench/load_workload.h"

#include <algorithm>
#include <ctime>

#include <fmt/core.h>

#include "protocol/dlist_writer.h"
#include "protocol/mailbox_dlist.h"
#include "protocol/reply_writer.h"
#include "protocol/sync_crc.h"

namespace replicad::bench {
namespace {

using protocol::KvWriter;

constexpr std::string_view kPartition = "default";

constexpr const char* kWords[] = {
    "replication", "mailbox", "quota",   "annotation", "modseq",  "expunge", "archive", "message",
    "partition",   "status",  "report",  "meeting",    "budget",  "review",  "release", "summary",
    "schedule",    "notes",   "invoice", "project",    "folder",  "server",  "client",  "checksum",
};

// Lines of plain text, 10 words each, CRLF ends: what most mail bodies are.
std::string make_filler(std::mt19937_64& rng, size_t bytes) {
  std::string out;
  out.reserve(bytes + 128);
  std::uniform_int_distribution<size_t> pick(0, std::size(kWords) - 1);
  while (out.size() < bytes) {
    for (int w = 0; w < 10; ++w) {
      if (w) out += ' ';
      out += kWords[pick(rng)];
    }
    out += "\r\n";
  }
  return out;
}

}  // namespace

MessageFactory::MessageFactory(uint64_t seed, std::string run_id, uint64_t mean_size, bool exact)
    : rng_(seed), run_id_(std::move(run_id)), mean_size_(std::max<uint64_t>(mean_size, 512)), exact_(exact) {
  // Bodies are slices of this text; a message larger than it repeats it.
  filler_ = make_filler(rng_, static_cast<size_t>(std::min<uint64_t>(mean_size_ * 2, 4u << 20)));
}

std::string MessageFactory::uniqueid() {
  static constexpr char kAlphabet[] = "0123456789abcdefghijklmnopqrstuvwxyz";
  std::uniform_int_distribution<size_t> pick(0, 35);
  std::string id(24, '0');
  for (char& c : id) c = kAlphabet[pick(rng_)];
  return id;
}

std::string MessageFactory::make_body(const std::string& owner, const std::string& mailbox, uint32_t uid) {
  std::uniform_int_distribution<uint64_t> size_dist(mean_size_ / 2, mean_size_ + mean_size_ / 2);
  const uint64_t target = exact_ ? mean_size_ : size_dist(rng_);
  std::string msg = fmt::format(
      "Return-Path: <sender@example.org>\r\n"
      "Message-ID: <{}.{}.{}.{:016x}@loadgen.test>\r\n"
      "Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
      "From: Load Generator <loadgen@example.org>\r\n"
      "To: {}@loadgen.test\r\n"
      "Subject: load {} #{}\r\n"
      "MIME-Version: 1.0\r\n"
      "Content-Type: text/plain; charset=us-ascii\r\n\r\n",
      run_id_, mailbox, uid, rng_(), owner, mailbox, uid);
  msg.reserve(static_cast<size_t>(target) + 2);
  std::uniform_int_distribution<size_t> offset(0, filler_.size() / 2);
  size_t from = offset(rng_);
  while (msg.size() < target) {
    size_t take = std::min<size_t>(filler_.size() - from, static_cast<size_t>(target - msg.size()));
    msg.append(filler_, from, take);
    from = 0;
  }
  if (exact_) {
    // The filler's last line may be cut short; keep the exact size and a CRLF at the end.
    msg.resize(static_cast<size_t>(std::max<uint64_t>(target, msg.find("\r\n\r\n") + 6)));
    msg[msg.size() - 2] = '\r';
    msg[msg.size() - 1] = '\n';
  } else if (!msg.ends_with("\r\n")) {
    msg += "\r\n";
  }
  return msg;
}

MailboxBatch MessageFactory::make_mailbox(const std::string& owner, const std::string& name, uint32_t count) {
  MailboxBatch batch;
  const uint64_t now = static_cast<uint64_t>(std::time(nullptr));
  storage::Mailbox& m = batch.header;
  m.uniqueid = uniqueid();
  m.name = name;
  m.uidvalidity = static_cast<uint32_t>(now);
  m.partition.append(kPartition);
  m.acl = owner + "\tlrswipkxtecdan\t";
  m.options.assign(1, 'P');  // (not = "P": g++ 12 -Wrestrict false positive)
  m.createdmodseq = 1;
  m.sync_crc = protocol::kCrcInitBasic;
  m.sync_crc_annot = protocol::kCrcInitAnnot;

  std::bernoulli_distribution seen(0.6), flagged(0.15);
  batch.records.reserve(count);
  batch.bodies.reserve(count);
  for (uint32_t uid = 1; uid <= count; ++uid) {
    std::string body = make_body(owner, name, uid);
    storage::MessageRecord r;
    r.uid = uid;
    r.modseq = uid + 1;
    r.last_updated = now;
    if (seen(rng_)) r.system_flags |= storage::kFlagSeen;
    if (flagged(rng_)) r.system_flags |= storage::kFlagFlagged;
    r.internaldate = now - (count - uid) * 60;
    r.size = static_cast<uint32_t>(body.size());
    r.guid = storage::sha1_of(body);
    r.savedate = now;
    r.createdmodseq = uid + 1;
    protocol::replace_record_crcs(m, nullptr, &r);
    batch.body_bytes += body.size();
    batch.records.push_back(std::move(r));
    batch.bodies.push_back(std::move(body));
  }
  m.last_uid = count;
  m.highestmodseq = count + 1;
  m.recentuid = count;
  m.recenttime = now;
  m.last_appenddate = now;
  m.foldermodseq = count + 1;
  return batch;
}

std::string reserve_args(const MailboxBatch& batch) {
  std::string out = "RESERVE ";
  KvWriter kv(out);
  kv.str("PARTITION", kPartition);
  {
    KvWriter names(kv.key("MBOXNAME"), KvWriter::Shape::list);
    names.item_str(batch.header.name);
    names.close();
  }
  {
    KvWriter guids(kv.key("GUID"), KvWriter::Shape::list);
    for (const storage::MessageRecord& r : batch.records) guids.item() += r.guid.hex();
    guids.close();
  }
  kv.close();
  return out;
}

std::string message_args(const MailboxBatch& batch, size_t first) {
  const size_t last = std::min(batch.records.size(), first + kMaxFilesPerMessageCommand);
  uint64_t bytes = 0;
  for (size_t i = first; i < last; ++i) bytes += batch.bodies[i].size() + 80;
  std::string out;
  out.reserve(static_cast<size_t>(bytes) + 16);
  out += "MESSAGE ";
  KvWriter files(out, KvWriter::Shape::list);
  for (size_t i = first; i < last; ++i)
    protocol::write_file(files.item(), kPartition, batch.records[i].guid.hex(), batch.bodies[i]);
  files.close();
  return out;
}

std::string mailbox_args(const MailboxBatch& batch) {
  std::string out = "MAILBOX ";
  KvWriter kv(out);
  protocol::write_mailbox_fields(kv, batch.header, std::nullopt);
  {
    KvWriter records(kv.key("RECORD"), KvWriter::Shape::list);
    for (const storage::MessageRecord& r : batch.records) protocol::write_record(records.item(), r);
    records.close();
  }
  kv.close();
  return out;
}

}  // namespace replicad::bench
