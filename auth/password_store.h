// Creating replication accounts: the operator's first-run helper.
//
// `./run` creates the admin account with a random password through a replicad
// sub-command that calls set_password.  It writes through libsasl2
// (sasl_setpass), so the entry lands wherever the configured auxprop store
// keeps users (sasldb at `sasl_sasldb_path` by default), in the realm named by
// the server name in lower case: the same entry `saslpasswd2 -f <path>
// -u <servername> -c <user>` makes, and the one SaslServer looks up.  Not for
// the network path.
#pragma once

#include <string>
#include <string_view>

#include "auth/sasl_server.h"

namespace replicad::auth {

// Creates `user` or replaces its password.  Initialises libsasl2 with
// `config` if nothing has yet.  Returns false and fills `error` when the
// arguments are unusable or no store accepted the password.
bool set_password(const SaslConfig& config, std::string_view user, std::string_view password,
                  std::string& error);

}  // namespace replicad::auth
