// The callbacks replicad hands to libsasl2: option lookup and logging.
//
// libsasl2 asks its application for every option it needs (pwcheck_method,
// auxprop_plugin, sasldb_path, mech_list, log_level, plugin options such as
// scram_iteration_counter) through a SASL_CB_GETOPT callback.  Cyrus answers
// from imapd.conf: `sasl_<plugin>_<option>` first, then `sasl_<option>`
// (global.c mysasl_config).  replicad does the same from SaslConfig::options,
// whose keys have the `sasl_` prefix already removed.
//
// One SaslCallbacks object serves the whole library (given to
// sasl_server_init) and one more serves each connection (given to
// sasl_server_new), so every connection answers from the configuration it was
// created with.  libsasl2 keeps pointers into this object, so it never moves.
#pragma once

#include <sasl/sasl.h>

#include <array>
#include <map>
#include <string>
#include <string_view>

#include "auth/sasl_server.h"

namespace replicad::auth::detail {

class SaslCallbacks {
 public:
  // `log_context` is prefixed to every library message (e.g. "remote=...").
  SaslCallbacks(const SaslConfig& config, std::string log_context);
  SaslCallbacks(const SaslCallbacks&) = delete;
  SaslCallbacks& operator=(const SaslCallbacks&) = delete;

  // The SASL_CB_LIST_END-terminated list for sasl_server_init / sasl_server_new.
  const sasl_callback_t* list() const { return callbacks_.data(); }

  // The value libsasl2 gets for `option` asked by `plugin` (may be null), or
  // nullptr when replicad has no answer (libsasl2 then uses its own default).
  const char* lookup(const char* plugin, const char* option) const;

 private:
  static int getopt(void* context, const char* plugin, const char* option, const char** result,
                    unsigned* len);
  static int log(void* context, int level, const char* message);

  std::map<std::string, std::string, std::less<>> options_;
  std::string default_log_level_;   // used when the config sets no log_level
  std::string log_context_;
  std::array<sasl_callback_t, 3> callbacks_;
};

// `message` with control characters replaced by spaces: library texts may
// hold line breaks, and the log is one line per event.
std::string one_line(std::string_view message);

}  // namespace replicad::auth::detail
