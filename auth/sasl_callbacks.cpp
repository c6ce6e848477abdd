#include "auth/sasl_callbacks.h"

#include <cctype>
#include <cstring>
#include <utility>

#include "server/log.h"

namespace replicad::auth::detail {
namespace {

// sasl_callback_t stores every callback as `int (*)(void)`; libsasl2 casts
// it back by id.  The detour through `void (*)(void)` is the generic
// function pointer type, so the compiler knows the cast is deliberate.
template <typename Fn>
sasl_callback_t callback(unsigned long id, Fn* fn, void* context) {
  using Generic = void (*)(void);
  return sasl_callback_t{id, reinterpret_cast<int (*)(void)>(reinterpret_cast<Generic>(fn)),
                         context};
}

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::string one_line(std::string_view message) {
  std::string out(message);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

SaslCallbacks::SaslCallbacks(const SaslConfig& config, std::string log_context)
    : options_(config.options.begin(), config.options.end()),
      // libsasl2 drops messages above its log_level (default SASL_LOG_ERR).
      // Without an explicit sasl_log_level, follow replicad's own verbosity.
      default_log_level_(std::to_string(log::enabled(log::Level::debug) ? SASL_LOG_DEBUG
                                                                        : SASL_LOG_WARN)),
      log_context_(std::move(log_context)),
      callbacks_{callback(SASL_CB_GETOPT, &SaslCallbacks::getopt, this),
                 callback(SASL_CB_LOG, &SaslCallbacks::log, this),
                 sasl_callback_t{SASL_CB_LIST_END, nullptr, nullptr}} {}

const char* SaslCallbacks::lookup(const char* plugin, const char* option) const {
  if (option == nullptr) return nullptr;
  // Plugin-specific first (`sasl_SCRAM_scram_iteration_counter` in Cyrus
  // terms).  Config keys are lower-case in imapd.conf style files, plugin
  // names are not ("SCRAM", "DIGEST-MD5"), so both spellings are tried.
  if (plugin != nullptr && *plugin != '\0') {
    std::string key = std::string(plugin) + "_" + option;
    if (auto it = options_.find(key); it != options_.end()) return it->second.c_str();
    if (auto it = options_.find(lowercase(key)); it != options_.end()) return it->second.c_str();
  }
  if (auto it = options_.find(std::string_view(option)); it != options_.end()) {
    return it->second.c_str();
  }
  if (std::strcmp(option, "log_level") == 0) return default_log_level_.c_str();
  return nullptr;
}

int SaslCallbacks::getopt(void* context, const char* plugin, const char* option,
                          const char** result, unsigned* len) {
  const auto* self = static_cast<const SaslCallbacks*>(context);
  const char* value = self->lookup(plugin, option);
  // Some plugins read *result without checking the return code.
  if (result != nullptr) *result = value;
  if (value == nullptr) return SASL_FAIL;
  if (len != nullptr) *len = static_cast<unsigned>(std::strlen(value));
  return SASL_OK;
}

int SaslCallbacks::log(void* context, int level, const char* message) {
  const auto* self = static_cast<const SaslCallbacks*>(context);
  log::Level ours;
  switch (level) {
    case SASL_LOG_ERR:
    case SASL_LOG_WARN:
      ours = log::Level::notice;
      break;
    case SASL_LOG_FAIL:
    case SASL_LOG_NOTE:
    case SASL_LOG_DEBUG:
      ours = log::Level::debug;
      break;
    default:
      // SASL_LOG_TRACE and SASL_LOG_PASS may carry protocol data and
      // passwords: they never reach the log.
      return SASL_OK;
  }
  if (message == nullptr || !log::enabled(ours)) return SASL_OK;
  if (self->log_context_.empty()) {
    log::emit(ours, {}, "sasl: {}", one_line(message));
  } else {
    log::emit(ours, {}, "sasl: {} {}", self->log_context_, one_line(message));
  }
  return SASL_OK;
}

}  // namespace replicad::auth::detail
