"""Run Cyrus's own sync_client from a master instance against any replica.

    result = run_sync_client(master, host, port, ["-u", "alice"], try_imap=False,
                             workdir="/tmp/.../a-initial")
    result.rc, result.wall, result.applies(("MAILBOX", "MESSAGE"))

The client gets a config of its own: the master's imapd.conf without any
sync_* key (Cyrus refuses a key set twice) plus sync_host/sync_port (our
logging relay, which forwards to host:port), sync_authname/sync_password
and sync_try_imap.  sync_client retries a refused login or connection
forever (its -o flag is ignored in 3.6.1), so every run has a timeout;
a killed run reports rc 124 like timeout(1).

With -v -v sync_client copies its syslog messages to stderr (there is no
syslog daemon here) together with a protocol trace; the messages are kept
(`result.messages`), the trace is not needed: the relay records the wire.
"""
import itertools
import os
import re
import signal
import subprocess
import time

import client_trace
import netutil
from cyrus_instance import CYRUS_BIN
from wire_relay import WireRelay

TIMED_OUT = 124
_SYSLOG_LINE = re.compile(rb"^\S*sync_client\[\d+\]: (.*)$")
_config_serial = itertools.count(1)


class SyncResult:
    def __init__(self, rc, wall, commands, messages, connections, relay_errors, workdir, argv):
        self.rc = rc
        self.wall = wall
        self.commands = commands          # [wire_relay.WireCommand]
        self.messages = messages          # sync_client's syslog lines
        self.connections = connections    # number of TCP connections it opened
        self.relay_errors = relay_errors
        self.workdir = workdir
        self.argv = argv

    def sent(self, verb, kinds=None):
        return [c for c in self.commands
                if c.verb == verb and (kinds is None or c.kind in kinds)]

    def applies(self, kinds=None):
        return self.sent("APPLY", kinds)

    def flavours(self):
        """Flavours of the replication commands seen (csync / imap)."""
        return sorted({c.flavour for c in self.commands if c.verb in ("APPLY", "GET", "RESTART")})

    def refusals(self):
        return [c for c in self.commands if c.reply and not c.accepted
                and c.verb in ("APPLY", "GET", "RESTART", "AUTHENTICATE")]

    def explain(self, limit=6):
        """A short diagnosis for a FAIL line."""
        parts = ["rc %s after %.1fs, %d connection(s)" % (self.rc, self.wall, self.connections)]
        refused = self.refusals()
        if refused:
            parts.append("refused: " + "; ".join(str(c) for c in refused[:limit]))
        errors = [m for m in self.messages if re.search(r"(?i)error|fail|bail|refus|denied", m)]
        if errors:
            parts.append("sync_client said: " + " | ".join(errors[-limit:]))
        parts += self.relay_errors
        parts.append("logs in " + self.workdir)
        return "; ".join(parts)


def client_config(master, host, port, authname, password, try_imap, implicit_tls=False, extra=None):
    """extra: more imapd.conf keys for the client (tls_client_cert,
    force_sasl_client_mech, ...); they replace the master's own."""
    extra = dict(extra or {})
    lines = []
    with open(master.conf_path) as f:
        for line in f:
            key = line.split(":", 1)[0].strip()
            if not key.startswith("sync_") and key not in extra:
                lines.append(line if line.endswith("\n") else line + "\n")
    # host:port/tls: TLS from the first byte; the port there wins over sync_port
    lines += ["sync_host: %s\n" % ("%s:%d/tls" % (host, port) if implicit_tls else host),
              "sync_port: %d\n" % port,
              "sync_authname: %s\n" % authname,
              "sync_password: %s\n" % password,
              "sync_try_imap: %s\n" % ("yes" if try_imap else "no")]
    lines += ["%s: %s\n" % kv for kv in extra.items()]
    return "".join(lines)


def _write_client_config(master, text):
    path = os.path.join(master.dir, "run", "sync-client-%d-%d.conf" % (os.getpid(), next(_config_serial)))
    with open(path, "w") as f:
        f.write(text)
    # sync_client switches to the cyrus user and re-reads nothing, but keep
    # it readable for it all the same, and private (it holds a password)
    os.chmod(path, 0o640)
    st = os.stat(master.conf_path)
    os.chown(path, st.st_uid, st.st_gid)
    return path


def _stop_group(proc):
    """sync_client runs in a session of its own: signal that group (by the
    id we got from Popen), never anything else."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _syslog_messages(path, limit=400):
    out = []
    try:
        with open(path, "rb") as f:
            for line in f:
                m = _SYSLOG_LINE.match(line.rstrip(b"\r\n"))
                if m:
                    out.append(m.group(1).decode("utf-8", "replace")[:300])
                    if len(out) > limit:
                        del out[: len(out) - limit]
    except OSError:
        pass
    return out


def run_sync_client(master, host, port, mode_args, try_imap, workdir,
                    credentials=None, timeout=180.0, implicit_tls=False, extra_conf=None,
                    trace_commands=False):
    """mode_args: ["-u", "alice"], ["-A"], ["-m", "user.alice.Sent"], ...
    implicit_tls: sync_host host:port/tls.  extra_conf: more client keys.
    trace_commands: take the commands from sync_client's own protocol
    trace instead of the relay, which sees only ciphertext under TLS (the
    relay still counts the connections)."""
    os.makedirs(workdir, exist_ok=True)
    authname, password = credentials or ("admin", "admin-secret")
    with WireRelay(host, port, os.path.join(workdir, "wire")) as relay:
        conf = _write_client_config(master, client_config(
            master, netutil.HOST, relay.port, authname, password, try_imap, implicit_tls, extra_conf))
        argv = [CYRUS_BIN + "/sync_client", "-C", conf, "-v", "-v"] + list(mode_args)
        stderr_path = os.path.join(workdir, "sync_client.stderr")
        stdout_path = os.path.join(workdir, "sync_client.stdout")
        t0 = time.monotonic()
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    start_new_session=True)
            try:
                rc = proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _stop_group(proc)
                rc = TIMED_OUT
            except BaseException:
                _stop_group(proc)
                raise
        wall = time.monotonic() - t0
    commands = client_trace.commands_from_trace(stderr_path, workdir) if trace_commands else relay.transcript()
    os.unlink(conf)
    return SyncResult(rc, wall, commands, _syslog_messages(stderr_path),
                      len(relay.connections), list(relay.errors), workdir, argv)
