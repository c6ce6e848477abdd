"""Start and stop a replicad under test.

    with Replicad(builddir, "/tmp/peer-xyz/replicad") as r:
        r.host, r.port, r.admin, r.nonadmin, r.log_tail()

Each instance gets a fresh data directory, a free port, a config in the
documented imapd.conf style (`replicad -C FILE`, foreground, logs to stderr)
and a sasldb with one admin and one valid non-admin login.  Both replication
flavours are served on the one port, so csync_port == imap_port.
"""
import os
import signal
import subprocess

import netutil
from cyrus_instance import add_sasl_login


class ReplicadError(RuntimeError):
    pass


class Replicad:
    ADMIN = "admin"
    NONADMIN = "nonadmin"

    def __init__(self, builddir, directory, servername="replicad-peer",
                 admin_password="admin-secret", nonadmin_password="nonadmin-secret",
                 extra_conf=(), also_listen_ipv6=False, listen_tls=False):
        self.binary = os.path.join(os.path.abspath(builddir), "server", "replicad")
        self.dir = os.path.abspath(directory)
        self.servername = servername
        self.admin_password = admin_password
        self.nonadmin_password = nonadmin_password
        self.host = netutil.HOST
        self.port = None
        self.proc = None
        self.extra_conf = list(extra_conf)          # more (key, value) lines; a key given replaces the default
        self.also_listen_ipv6 = also_listen_ipv6    # serve [::1] on the same port too
        self.listen_tls = listen_tls                # also a listen_tls port (needs tls_server_* in extra_conf)
        self.tls_port = None

    @property
    def csync_port(self):
        return self.port

    @property
    def imap_port(self):
        return self.port

    @property
    def admin(self):
        return (self.ADMIN, self.admin_password)

    @property
    def nonadmin(self):
        return (self.NONADMIN, self.nonadmin_password)

    @property
    def conf_path(self):
        return os.path.join(self.dir, "replicad.conf")

    @property
    def log_path(self):
        return os.path.join(self.dir, "replicad.log")

    def describe(self):
        return "replicad %s (port %s)" % (self.binary, self.port)

    def _write_config(self):
        sasldb = os.path.join(self.dir, "sasldb2")
        listen = "%s:%d" % (self.host, self.port)
        if self.also_listen_ipv6:
            listen += " [::1]:%d" % self.port
        conf = [("listen", listen),
                ("datadir", os.path.join(self.dir, "data")),
                ("servername", self.servername),
                ("admins", self.ADMIN),
                ("allowplaintext", "yes"),
                ("sasl_pwcheck_method", "auxprop"),
                ("sasl_auxprop_plugin", "sasldb"),
                ("sasl_sasldb_path", sasldb),
                ("sasl_mech_list", "PLAIN LOGIN")]
        if self.listen_tls:
            conf.append(("listen_tls", "%s:%d" % (self.host, self.tls_port)))
        for key, value in self.extra_conf:
            conf = [kv for kv in conf if kv[0] != key] + [(key, value)]
        with open(self.conf_path, "w") as f:
            f.write("# written by tests/peer/replica.py\n")
            f.write("".join("%s: %s\n" % kv for kv in conf))
        return sasldb

    def start(self, attempts=3):
        if not os.access(self.binary, os.X_OK):
            raise ReplicadError("%s not built" % self.binary)
        os.makedirs(os.path.join(self.dir, "data"))
        last = None
        for _ in range(attempts):
            self.port = netutil.free_port()
            if self.listen_tls:
                self.tls_port = netutil.free_port()
            sasldb = self._write_config()
            add_sasl_login(sasldb, self.servername, self.ADMIN, self.admin_password)
            add_sasl_login(sasldb, self.servername, self.NONADMIN, self.nonadmin_password)
            log = open(self.log_path, "ab")
            try:
                self.proc = subprocess.Popen([self.binary, "-C", self.conf_path],
                                             stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                             start_new_session=True)
            finally:
                log.close()
            up = netutil.wait_until(lambda: self.proc.poll() is not None or netutil.port_accepts(self.port), 20)
            if up and self.proc.poll() is None:
                # make sure it is our replicad answering, not a port thief
                greeting = netutil.read_greeting(self.port)
                if greeting.startswith(b"* "):
                    return self
                last = "port %d answers %r" % (self.port, greeting[:100])
            else:
                last = "exited with %s" % self.proc.poll() if self.proc.poll() is not None \
                    else "port %d did not open within 20 s" % self.port
            self.stop()
        raise ReplicadError("replicad did not start (%s):\n%s" % (last, self.log_tail()))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self):
        """Exit status once it has ended (negative: killed by that signal)."""
        return self.proc.poll() if self.proc is not None else None

    def stop(self, grace=10.0):
        """SIGTERM, then SIGKILL after `grace` seconds.  Returns the exit
        status (None if it was not running)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return proc.returncode

    def log_offset(self):
        """Where the log ends now; log_since(offset) reads what comes after."""
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        """The log lines written after `offset`, decoded."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return []

    def log_tail(self, max_bytes=4000):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - max_bytes))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
