#include "protocol/session.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>

#include "protocol/protocol_trace.h"
#include "protocol/sasl_exchange.h"
#include "server/log.h"

namespace replicad::protocol {
namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// "Apply", "Syncapply": the spelling Cyrus uses in its arity errors.
std::string display_name(std::string_view verb) {
  std::string out;
  for (size_t i = 0; i < verb.size(); ++i)
    out += static_cast<char>(i == 0 ? std::toupper(static_cast<unsigned char>(verb[i]))
                                    : std::tolower(static_cast<unsigned char>(verb[i])));
  return out;
}

bool is_word(const Dlist& v) { return v.is_string() && !v.str.empty(); }

// The algorithm name echoed in "NO Unknown compression algorithm: <alg>",
// when it is short and harmless enough to repeat to the client.
bool echoable(std::string_view word) {
  return !word.empty() && word.size() <= 32 && std::all_of(word.begin(), word.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

Session::Session(const SessionContext& context, SessionOutput& output, std::string id,
                 auth::ConnectionInfo connection)
    : ctx_(context), out_(&output), id_(std::move(id)), connection_(std::move(connection)) {
  parser_ = std::make_unique<CommandParser>(ctx_.preauth_limits, nullptr);
  tls_active_ = tls_from_start_ = connection_.tls_ssf > 0;
}

Session::~Session() = default;

void Session::start() {
  log::emit(log::Level::info, id_, "accepted remote={}{}", connection_.remote, tls_from_start_ ? " tls=implicit" : "");
  // Only who logs in decides whether to trace; until then lines are kept.
  std::error_code ec;
  if (!ctx_.trace_dir.empty() && std::filesystem::is_directory(ctx_.trace_dir, ec))
    trace_ = std::make_unique<ProtocolTrace>();
  send(greeting());
}

// One greeting for both flavours (spec §1.7.1): a CSYNC client reads the
// `* SASL`, `* STARTTLS`, `* COMPRESS` lines and stops at the `* OK`; an
// IMAP client finds its capabilities in the `[CAPABILITY ...]` code of that
// same line and ignores the others.  All lines go out in one write so the
// IMAP client sees the last with the first.  The lines follow sync_server's
// dobanner: STARTTLS until TLS is up, COMPRESS unless STARTTLS was done
// (Cyrus does not offer it in the second banner, and sync_client takes
// whatever is offered).  Sent before authentication only.
std::string Session::greeting() const {
  std::string g;
  auto mechs = mechanisms();
  if (!mechs.empty()) {
    g += "* SASL";
    for (const auto& m : mechs) g += " " + m;
    g += "\r\n";
  }
  if (starttls_offered()) g += "* STARTTLS\r\n";
  if (!starttls_done_ && !compress_active_) g += "* COMPRESS DEFLATE\r\n";
  g += greeting_line();
  return g;
}

std::string Session::greeting_line() const {
  return "* OK [CAPABILITY " + capabilities(false) + "] " + ctx_.servername + " replicad " + ctx_.version +
         " server ready\r\n";
}

bool Session::starttls_offered() const {
  return ctx_.tls_available && !tls_active_ && auth_ == AuthState::none;
}

std::vector<std::string> Session::mechanisms() const {
  // tls_required: nothing to authenticate with until TLS is up, which is
  // also what makes sync_client send STARTTLS (spec §1.3.1).
  if (ctx_.tls_required && !tls_active_) return {};
  std::string error;
  auto server = auth::SaslServer::create("csync", ctx_.sasl, connection_, error);
  if (!server) {
    log::emit(log::Level::error, id_, "SASL unavailable: {}", error);
    return {};
  }
  return server->mechanisms();
}

std::string Session::capabilities(bool after_auth) const {
  std::string caps = "IMAP4rev1 LITERAL+ ID";
  if (after_auth) {
    // Only an admin may replicate, so only an admin is told it can.
    if (auth_ == AuthState::admin) caps += " X-REPLICATION";
    // RFC 4978: offered once logged in, until it is active.
    if (!compress_active_) caps += " COMPRESS=DEFLATE";
    return caps;
  }
  if (starttls_offered()) caps += " STARTTLS";
  auto mechs = mechanisms();
  bool plaintext = false;
  for (const auto& m : mechs) {
    caps += " AUTH=" + m;
    if (m == "PLAIN" || m == "LOGIN") plaintext = true;
  }
  if (!plaintext) caps += " LOGINDISABLED";
  caps += " SASL-IR";
  return caps;
}

void Session::on_input(std::string_view bytes) {
  if (closing_) return;
  if (trace_) trace_->client(bytes);
  if (busy_) {
    // Only a pipelining peer gets here; reading is paused, so this is bounded
    // by one read buffer.
    pending_.append(bytes);
    return;
  }
  process(bytes);
}

void Session::process(std::string_view in) {
  while (!in.empty() && !busy_ && !closing_) {
    auto outcome = parser_->feed(in);
    in.remove_prefix(std::min(outcome.consumed, in.size()));
    switch (outcome.status) {
      case CommandParser::Status::need_more:
        if (outcome.consumed == 0) in = {};  // defensive: never spin
        break;
      case CommandParser::Status::continuation:
        // A synchronising literal {N}: the client waits for this before
        // sending the bytes (sync_client itself always uses {N+}).
        send("+ go ahead\r\n");
        break;
      case CommandParser::Status::command:
        handle_command(parser_->take_command());
        break;
      case CommandParser::Status::error:
        handle_parse_error();
        break;
    }
    if (!switched_by_.empty()) drop_pipelined_input(in);
  }
  if (!in.empty() && !closing_) pending_.append(in);
  if (busy_ && out_ != nullptr) out_->set_reading(false);
}

// STARTTLS or COMPRESS has just switched the transport.  Whatever the
// client sent after that command line was read before the switch: it did
// not come through TLS (a man in the middle could have injected it, the
// CVE-2021-33515 class) or it was not decompressed.  A correct client waits
// for the OK before it sends more, so there is nothing to lose.
void Session::drop_pipelined_input(std::string_view& in) {
  const size_t dropped = in.size() + pending_.size();
  in = {};
  pending_.clear();
  if (dropped > 0)
    log::emit(log::Level::notice, id_, "discarded {} bytes sent after {} before its OK", dropped, switched_by_);
  switched_by_ = {};
}

void Session::resume() {
  if (pending_.empty()) return;
  std::string input;
  input.swap(pending_);
  process(input);
}

// Before authentication a client gets a handful of lines, not an unlimited
// supply of NOOPs or guesses (the parser's preauth limits bound each line;
// the connection bounds the time).
bool Session::over_preauth_budget() {
  if (auth_ != AuthState::none || ++preauth_commands_ <= ctx_.max_preauth_commands) return false;
  log::emit(log::Level::notice, id_, "closing: {} commands without authentication remote={}",
            ctx_.max_preauth_commands, connection_.remote);
  send(flavour_ == Flavour::csync ? "BYE Too many commands without authentication\r\n"
                                  : "* BYE Too many commands without authentication\r\n");
  close();
  return true;
}

void Session::handle_parse_error() {
  ++stats_.commands;
  if (over_preauth_budget()) return;
  const std::string& why = parser_->error_message();
  log::emit(log::Level::notice, id_, "bad command: {}", why);
  if (sasl_ && sasl_->awaiting_line()) {
    // An AUTHENTICATE response line that does not even read as a line.
    sasl_->on_line("*");
    return;
  }
  const bool fatal = parser_->fatal();
  answer_malformed(parser_->failed_words(), why);
  if (fatal) close();
}

// Cyrus reads the tag (IMAP) and the command word before it parses any
// argument, so those decide its answer to a line whose arguments do not
// parse: the admin gate first, then the sync verbs' own parse-failure texts,
// "extra arguments" for a command that takes none.  Only a line without a
// usable command word gets the parser's own detail.
void Session::answer_malformed(const std::vector<std::string>& words, const std::string& why) {
  std::vector<Dlist> heads;
  for (const std::string& w : words) heads.push_back(Dlist::string_value(w));
  decide_flavour(heads);
  const size_t verb_at = flavour_ == Flavour::imap ? 1 : 0;
  tag_ = flavour_ == Flavour::imap && !words.empty() ? words[0] : std::string();
  if (words.size() <= verb_at) {
    send(flavour_ == Flavour::imap ? (tag_.empty() ? "*" : tag_) + " BAD " + why + "\r\n"
                                   : "BAD IMAP_PROTOCOL_ERROR " + why + "\r\n");
    return;
  }
  const std::string verb = upper(words[verb_at]);
  const Flavour flavour = flavour_ == Flavour::imap ? Flavour::imap : Flavour::csync;
  busy_ = true;
  command_name_ = verb;
  command_start_ = std::chrono::steady_clock::now();
  const bool no_arguments =
      verb == "NOOP" || (verb == "STARTTLS" && ctx_.tls_available) ||
      (flavour == Flavour::csync ? verb == "EXIT" : verb == "CAPABILITY" || verb == "LOGOUT");
  const bool takes_arguments = verb == "AUTHENTICATE" || verb == "COMPRESS" ||
                               (flavour == Flavour::imap && (verb == "LOGIN" || verb == "ID"));
  if (auto denial = deny(flavour, verb, auth_)) {
    reply(*denial);
  } else if (auto sync = sync_verb(flavour, verb); sync && *sync != SyncVerb::restart) {
    reply(sync_parse_failure(*sync, words[verb_at]));
  } else if (sync || no_arguments) {
    reply("BAD Unexpected extra arguments to " + display_name(words[verb_at]));
  } else if (takes_arguments) {
    reply(flavour == Flavour::imap ? "BAD " + why : "BAD IMAP_PROTOCOL_ERROR " + why);
  } else {
    return unrecognized();
  }
  finish_command();
}

// sync_server / imapd, when sync_parseline fails.
std::string Session::sync_parse_failure(SyncVerb verb, std::string_view word) const {
  if (flavour_ == Flavour::imap) return "BAD Replication parse failure in " + display_name(word);
  const char* what = verb == SyncVerb::apply ? "APPLY" : verb == SyncVerb::get ? "GET" : "RESTORE";
  return std::string("BAD IMAP_PROTOCOL_ERROR Failed to parse ") + what + " line";
}

void Session::decide_flavour(const std::vector<Dlist>& items) {
  if (flavour_ != Flavour::undecided || items.empty() || !is_word(items[0])) return;
  if (is_csync_command(upper(items[0].str))) {
    flavour_ = Flavour::csync;
  } else if (items.size() >= 2 && is_word(items[1])) {
    flavour_ = Flavour::imap;
  }
  if (flavour_ != Flavour::undecided)
    log::emit(log::Level::debug, id_, "flavour={}", flavour_ == Flavour::csync ? "csync" : "imap");
}

void Session::handle_command(std::vector<Dlist> items) {
  ++stats_.commands;
  if (over_preauth_budget()) return;
  if (sasl_ && sasl_->awaiting_line()) {
    busy_ = true;
    sasl_->on_line(items.empty() ? std::string_view{} : std::string_view(items[0].str));
    return;
  }
  tag_.clear();
  command_start_ = std::chrono::steady_clock::now();
  if (items.empty()) {
    // imapd reads a tag first, and an empty line has none.
    send(flavour_ == Flavour::imap ? "* BAD Invalid tag\r\n" : "BAD Null command\r\n");
    return;
  }
  decide_flavour(items);
  busy_ = true;
  switch (flavour_) {
    case Flavour::csync: {
      std::string verb = upper(items[0].str);
      command_name_ = verb;
      csync_command(verb, items);
      break;
    }
    case Flavour::imap: {
      // A tag must be a word; a tag alone is a null command.  (The dlist
      // reader cannot tell "a1" from "a1 ", which imapd answers differently.)
      tag_ = is_word(items[0]) ? items[0].str : "*";
      if (tag_ == "*" || items.size() < 2) {
        reply(tag_ == "*" ? "BAD Invalid tag" : "BAD Null command");
        return finish_command();
      }
      std::string verb = upper(items[1].str);
      command_name_ = verb;
      imap_command(tag_, verb, items);
      break;
    }
    case Flavour::undecided:
      // One unknown word: neither a CSYNC command nor a tagged IMAP one.
      reply("BAD IMAP_PROTOCOL_ERROR Unrecognized command");
      finish_command();
      break;
  }
}

void Session::csync_command(const std::string& verb, std::vector<Dlist>& items) {
  if (auto denial = deny(Flavour::csync, verb, auth_)) {
    reply(*denial);
    return finish_command();
  }
  if (auto sync = sync_verb(Flavour::csync, verb)) return run_sync(*sync, items, 1);

  if (verb == "AUTHENTICATE") {
    if (auth_ != AuthState::none) {
      reply("BAD Already authenticated");
      return finish_command();
    }
    return begin_authenticate(items, 1);
  }
  if (verb == "NOOP") {
    reply(items.size() > 1 ? "BAD Unexpected extra arguments to Noop" : "OK Noop completed");
    return finish_command();
  }
  if (verb == "EXIT") {
    if (items.size() > 1) {
      reply("BAD Unexpected extra arguments to Exit");
      return finish_command();
    }
    reply("OK Finished");
    finish_command();
    return close();
  }
  if (verb == "STARTTLS") return starttls(items, 1);
  if (verb == "COMPRESS") return compress(items, 1);
  unrecognized();
}

void Session::unrecognized() {
  reply(flavour_ == Flavour::imap ? "BAD Unrecognized command" : "BAD IMAP_PROTOCOL_ERROR Unrecognized command");
  finish_command();
}

// STARTTLS, both flavours (sync_server / imapd cmdloop and cmd_starttls).
void Session::starttls(const std::vector<Dlist>& items, size_t first_arg) {
  // Without a certificate the command does not exist, as in Cyrus.
  if (!ctx_.tls_available) return unrecognized();
  if (items.size() > first_arg) {
    reply("BAD Unexpected extra arguments to Starttls");
  } else if (auth_ != AuthState::none) {
    reply("BAD Can't Starttls after authentication");
  } else if (tls_active_) {
    reply("BAD Already did a successful Starttls");
  } else {
    // The OK leaves in the clear; the next byte either way is TLS.
    reply("OK Begin TLS negotiation now");
    if (!out_->start_tls()) {
      log::emit(log::Level::error, id_, "STARTTLS: TLS could not start, closing");
      finish_command();
      return close();
    }
    starttls_done_ = true;
    switched_by_ = "STARTTLS";
  }
  finish_command();
}

void Session::on_tls_established(unsigned ssf, std::string verified_identity) {
  if (closing_) return;
  tls_active_ = true;
  connection_.tls_ssf = ssf;
  connection_.tls_identity = std::move(verified_identity);
  // CSYNC: the client reads a second banner before it says anything
  // (spec §1.3.2), now with the mechanisms TLS allows and without STARTTLS
  // and COMPRESS.  The IMAP client asks with CAPABILITY instead.
  if (flavour_ != Flavour::imap) send(greeting());
}

// COMPRESS DEFLATE, both flavours (spec §1.4, RFC 4978).
void Session::compress(const std::vector<Dlist>& items, size_t first_arg) {
  if (auth_ == AuthState::none) {
    // Cyrus's sync_server would take it before login; the client never
    // sends it then, and inflating for strangers is work for nothing.
    reply(flavour_ == Flavour::imap ? "BAD Please login first" : "NO Please authenticate first");
  } else if (items.size() <= first_arg) {
    reply("BAD Missing required argument to Compress");
  } else if (items.size() > first_arg + 1) {
    reply("BAD Unexpected extra arguments to Compress");
  } else if (compress_active_) {
    reply("NO Compression already active: DEFLATE");
  } else if (!is_word(items[first_arg]) || upper(items[first_arg].str) != "DEFLATE") {
    const std::string& alg = items[first_arg].str;
    reply(is_word(items[first_arg]) && echoable(alg) ? "NO Unknown compression algorithm: " + alg
                                                      : std::string("NO Unknown compression algorithm"));
  } else {
    // The OK leaves uncompressed; both directions deflate from the next byte.
    reply("OK DEFLATE active");
    if (!out_->start_compress()) {
      log::emit(log::Level::error, id_, "COMPRESS: deflate could not start, closing");
      finish_command();
      return close();
    }
    compress_active_ = true;
    switched_by_ = "COMPRESS";
  }
  finish_command();
}

void Session::imap_command(const std::string& tag, const std::string& verb, std::vector<Dlist>& items) {
  (void)tag;
  if (auto denial = deny(Flavour::imap, verb, auth_)) {
    reply(*denial);
    return finish_command();
  }
  if (auto sync = sync_verb(Flavour::imap, verb)) return run_sync(*sync, items, 2);

  // imapd: commands without arguments refuse any (IS_EOL or extraargs).
  if ((verb == "CAPABILITY" || verb == "NOOP" || verb == "LOGOUT") && items.size() > 2) {
    reply("BAD Unexpected extra arguments to " + display_name(verb));
    return finish_command();
  }
  if (verb == "CAPABILITY") {
    send("* CAPABILITY " + capabilities(auth_ != AuthState::none) + "\r\n");
    reply("OK Completed");
    if (tls_from_start_ && stats_.commands == 1 && auth_ == AuthState::none) {
      // sync_client on host:port/tls sends this CAPABILITY before reading
      // the greeting, reads past the greeting to the tagged OK, and then
      // waits for a greeting once more (spec §1.3.5).  An untagged OK is
      // legal at any time, so every client is served by repeating it.
      send(greeting_line());
    }
    return finish_command();
  }
  if (verb == "NOOP") {
    reply("OK Completed");
    return finish_command();
  }
  if (verb == "LOGOUT") {
    send("* BYE LOGOUT received\r\n");
    reply("OK Completed");
    finish_command();
    return close();
  }
  if (verb == "ID") {
    send("* ID (\"name\" \"replicad\" \"version\" \"" + ctx_.version + "\")\r\n");
    reply("OK Completed");
    return finish_command();
  }
  if (verb == "AUTHENTICATE") {
    if (auth_ != AuthState::none) {
      reply("BAD Already authenticated");
      return finish_command();
    }
    return begin_authenticate(items, 2);
  }
  if (verb == "LOGIN") {
    if (auth_ != AuthState::none) {
      reply("BAD Already logged in");
      return finish_command();
    }
    if (items.size() != 4 || !items[2].is_string() || !items[3].is_string()) {
      reply("BAD Invalid arguments to Login");
      return finish_command();
    }
    // LOGIN is PLAIN in other clothes: run it through the same SASL path,
    // so the same mechanism policy (no plaintext without TLS) applies.
    std::string error;
    auto server = auth::SaslServer::create("imap", ctx_.sasl, connection_, error);
    if (!server) {
      reply("NO " + error);
      return finish_command();
    }
    auto mechs = server->mechanisms();
    if (std::find(mechs.begin(), mechs.end(), "PLAIN") == mechs.end()) {
      reply("NO Login only available under a layer");
      return finish_command();
    }
    sasl_ = std::make_unique<SaslExchange>(*this, std::move(server));
    std::string response = std::string(1, '\0') + items[2].str + '\0' + items[3].str;
    sasl_->start("PLAIN", auth::base64_encode(response));
    return;
  }
  if (verb == "STARTTLS") return starttls(items, 2);
  if (verb == "COMPRESS") return compress(items, 2);
  unrecognized();
}

void Session::begin_authenticate(std::vector<Dlist>& items, size_t mech_index) {
  const char* name = "Authenticate";
  if (items.size() <= mech_index) {
    reply(std::string("BAD Missing required argument to ") + name);
    return finish_command();
  }
  if (items.size() > mech_index + 2) {
    reply(std::string("BAD Unexpected extra arguments to ") + name);
    return finish_command();
  }
  if (ctx_.tls_required && !tls_active_) {
    reply("NO Authenticate only available under a layer");
    return finish_command();
  }
  const Dlist& mech = items[mech_index];
  bool atom = is_word(mech) && std::all_of(mech.str.begin(), mech.str.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_';
  });
  if (!atom) {
    reply("BAD Invalid mechanism");
    return finish_command();
  }
  std::optional<std::string_view> initial;
  if (items.size() == mech_index + 2) {
    if (!items[mech_index + 1].is_string()) {
      reply("BAD Invalid initial response");
      return finish_command();
    }
    initial = items[mech_index + 1].str;
  }
  std::string error;
  auto server = auth::SaslServer::create(flavour_ == Flavour::imap ? "imap" : "csync", ctx_.sasl,
                                         connection_, error);
  if (!server) {
    reply("NO " + error);
    return finish_command();
  }
  sasl_ = std::make_unique<SaslExchange>(*this, std::move(server));
  sasl_->start(mech.str, initial);
}

void Session::on_authenticated(const std::string& authcid, const std::string& authzid,
                               std::string_view mechanism) {
  bool admin = ctx_.admins.is_admin(authcid, authzid);
  auth_ = admin ? AuthState::admin : AuthState::user;
  user_ = authzid.empty() ? authcid : authzid;
  log::emit(log::Level::info, id_, "login user={} admin={} flavour={} mech={}{}", user_, admin ? "yes" : "no",
            flavour_ == Flavour::imap ? "imap" : "csync", mechanism, tls_active_ ? " tls=yes" : "");
  decide_trace();
  if (!admin) return;
  // Only an admin may upload: from now on file literals stream to staging
  // files and the larger limits apply.
  sync_session_ = std::make_shared<SyncSession>();
  sync_session_->id = id_;
  sync_session_->staging = std::make_unique<StagingArea>(ctx_.staging_root, id_, ctx_.max_message_size);
  ParserLimits limits = ctx_.admin_limits;
  limits.max_file_literal = std::min<uint64_t>(limits.max_file_literal, ctx_.max_message_size);
  parser_ = std::make_unique<CommandParser>(limits, sync_session_->staging.get());
}

void Session::run_sync(SyncVerb verb, std::vector<Dlist>& items, size_t first_arg) {
  std::string name = display_name(flavour_ == Flavour::imap ? items[1].str : items[0].str);
  if (verb == SyncVerb::restart) {
    if (items.size() > first_arg) {
      reply("BAD Unexpected extra arguments to " + name);
      return finish_command();
    }
    if (sync_session_) ctx_.sync->restart(*sync_session_);
    reply("OK Restarting");
    return finish_command();
  }
  if (items.size() <= first_arg && flavour_ != Flavour::imap) {
    reply("BAD Missing required argument to " + name);
    return finish_command();
  }
  // Cyrus parses exactly one item (a key and its value) after the verb; a
  // missing one, a second one or a key that is not a word is a parse failure.
  if (items.size() != first_arg + 2 || !is_word(items[first_arg])) {
    reply(sync_parse_failure(verb, name));
    return finish_command();
  }

  // Cyrus upper-cases the first key before dispatch; the rest stays as sent.
  std::string kind = upper(items[first_arg].str);
  command_name_ += " " + kind;
  Dlist value = std::move(items[first_arg + 1]);
  std::weak_ptr<Session> weak = weak_from_this();
  auto done = [weak](SyncReply r) {
    if (auto s = weak.lock()) {
      s->send(r.data);
      s->reply(r.status);
      s->finish_command();
    }
  };
  switch (verb) {
    case SyncVerb::apply:
      ++stats_.applies;
      return ctx_.sync->apply(sync_session_, kind, std::move(value), done);
    case SyncVerb::get:
      ++stats_.gets;
      return ctx_.sync->get(sync_session_, kind, value, done);
    case SyncVerb::restore:
      return ctx_.sync->restore(sync_session_, kind, std::move(value), done);
    case SyncVerb::restart:
      break;
  }
}

void Session::reply(std::string_view status) {
  std::string line;
  line.reserve(status.size() + tag_.size() + 3);
  if (flavour_ == Flavour::imap && !tag_.empty()) {
    line += tag_;
    line += ' ';
  }
  line += status;
  line += "\r\n";
  if (!command_name_.empty()) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                    command_start_)
                  .count();
    // The first word of the status is enough for the log: NO texts name the error.
    log::emit(log::Level::info, id_, "cmd=\"{}\" result=\"{}\" ms={}", command_name_, status, ms);
    command_name_.clear();
  }
  send(line);
}

void Session::send(std::string_view bytes) {
  if (trace_ && !bytes.empty()) trace_->server(bytes);
  if (out_ != nullptr && !bytes.empty()) out_->send(bytes);
}

void Session::finish_command() {
  if (!busy_) return;
  busy_ = false;
  if (shutdown_requested_) return on_shutdown();
  if (closing_) return;
  if (out_ != nullptr) out_->set_reading(true);
  resume();
}

void Session::close() {
  if (closing_) return;
  closing_ = true;
  pending_.clear();
  if (out_ != nullptr) out_->close();
}

void Session::on_disconnect() {
  out_ = nullptr;
  closing_ = true;
  pending_.clear();
  trace_.reset();
  // A store job may still be reading this session's staged files; they go
  // away with the last reference to the SyncSession.
  sync_session_.reset();
  log::emit(log::Level::info, id_, "disconnected commands={} applies={} gets={} failed_logins={}",
            stats_.commands, stats_.applies, stats_.gets, stats_.failed_logins);
}

// Cyrus's telemetry convention: a directory named after the identity turns
// tracing on for it, at run time, without a restart.  Identities that could
// escape the directory are never traced.
void Session::decide_trace() {
  if (!trace_) return;
  bool plain_name = !user_.empty() && user_.front() != '.' &&
                    std::all_of(user_.begin(), user_.end(), [](unsigned char c) {
                      return std::isalnum(c) || c == '.' || c == '@' || c == '-' || c == '_' || c == '+';
                    });
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(ctx_.trace_dir) / user_;
  if (!plain_name || !std::filesystem::is_directory(dir, ec)) {
    trace_.reset();
    return;
  }
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
  std::string path = (dir / fmt::format("{}-{}-{}.trace", stamp, ::getpid(), id_)).string();
  std::string error;
  if (!trace_->start(path, error)) {
    log::emit(log::Level::error, id_, "IOERROR: protocol trace: {}", error);
    trace_.reset();
    return;
  }
  log::emit(log::Level::notice, id_, "protocol trace of user={} in {}", user_, path);
}

void Session::on_shutdown() {
  if (closing_) return;
  if (busy_) {
    shutdown_requested_ = true;  // finish_command() comes back here
    return;
  }
  if (flavour_ == Flavour::imap) send("* BYE Server shutting down\r\n");
  close();
}

}  // namespace replicad::protocol
