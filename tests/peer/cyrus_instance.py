"""A self-contained Cyrus IMAP 3.6 instance (Debian bookworm packages) in a
directory of its own, listening on 127.0.0.1 only.

Services: imap (imapd; also the IMAP-flavour replication target for admins),
lmtp (lmtpd -a, pre-authenticated), csync (sync_server, the CSYNC target) and
sieve (timsieved).  Logins live in a private sasldb whose realm is the
instance's servername (Cyrus hands servername to SASL as the server FQDN, so
auxprop looks up user@servername).  `admins: admin` is the only admin.

How Cyrus has to be run, and why:
* as root: master (and every tool, sync_client included) switches to the
  `cyrus` user right after reading imapd.conf, so the instance directory must
  belong to cyrus and every parent must be traversable by it (/tmp is fine,
  a 0700 mkdtemp parent is not: the caller makes its directories 0755).
* `-C <imapd.conf>` on every command line, cyrus.conf service lines included:
  without it a tool silently opens the Debian system instance (/etc/imapd.conf).
* Cyrus refuses an imapd.conf that sets a key twice; sync_runner writes its
  own copy for sync_client rather than appending.
* no syslog daemon here: master's own stdout/stderr go to master.log.
"""
import grp
import os
import pwd
import shutil
import signal
import subprocess
import time

import netutil
from banner_filter import BannerFilter

CYRUS_BIN = "/usr/lib/cyrus/bin"
REQUIRED_BINARIES = ("master", "imapd", "lmtpd", "sync_server", "timsieved",
                     "ctl_cyrusdb", "sync_client")
SASLPASSWD = "saslpasswd2"


class CyrusError(RuntimeError):
    pass


def check_prerequisites():
    """Raise CyrusError naming what is missing (binaries, cyrus user, root)."""
    if os.geteuid() != 0:
        raise CyrusError("must run as root (Cyrus master drops to the cyrus user itself)")
    missing = [b for b in REQUIRED_BINARIES if not os.access(os.path.join(CYRUS_BIN, b), os.X_OK)]
    if missing:
        raise CyrusError("missing %s in %s (packages cyrus-imapd cyrus-replication)"
                         % (" ".join(missing), CYRUS_BIN))
    if shutil.which(SASLPASSWD) is None:
        raise CyrusError("saslpasswd2 missing (package sasl2-bin)")
    try:
        pwd.getpwnam("cyrus")
    except KeyError:
        raise CyrusError("no 'cyrus' user (package cyrus-common)")


def add_sasl_login(sasldb, realm, user, password):
    """Create or replace one sasldb entry.  -p reads the password from stdin
    (no echo, no prompt), -c creates, -u sets the realm."""
    subprocess.run([SASLPASSWD, "-f", sasldb, "-p", "-c", "-u", realm, user],
                   input=password.encode(), check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class CyrusInstance:
    """One Cyrus instance in `directory` (created; must not exist yet).

    logins: {user: password}; the admin login is added by itself.
    """

    ADMIN = "admin"

    def __init__(self, directory, servername, logins, admin_password="admin-secret",
                 extra_conf=None, hide_sieve_mailbox=False):
        self.dir = os.path.abspath(directory)
        self.servername = servername
        self.logins = dict(logins)
        self.admin_password = admin_password
        self.extra_conf = dict(extra_conf or {})
        self.host = netutil.HOST
        self.ports = {}
        self.master_pid = None
        # As a replication target: announce no SIEVE-MAILBOX in either
        # flavour, as replicad does not, so that sync_client replicates
        # Sieve scripts with APPLY SIEVE instead of as a #sieve mailbox.
        self.hide_sieve_mailbox = hide_sieve_mailbox
        self.banner_filter = None
        if hide_sieve_mailbox:
            self.extra_conf.setdefault("suppress_capabilities", "X-SIEVE-MAILBOX")

    # -- paths and credentials -------------------------------------------------

    @property
    def conf_path(self):
        return os.path.join(self.dir, "imapd.conf")

    @property
    def sasldb(self):
        return os.path.join(self.dir, "sasldb2")

    @property
    def master_log(self):
        return os.path.join(self.dir, "master.log")

    @property
    def imap_port(self):
        return self.ports["imap"]

    @property
    def lmtp_port(self):
        return self.ports["lmtp"]

    @property
    def csync_port(self):
        """Where replication clients connect for CSYNC (with
        hide_sieve_mailbox: the banner filter in front of sync_server)."""
        if self.banner_filter is not None:
            return self.banner_filter.port
        return self.ports["csync"]

    @property
    def sieve_port(self):
        return self.ports["sieve"]

    @property
    def admin(self):
        return (self.ADMIN, self.admin_password)

    def password(self, user):
        return self.logins[user]

    def describe(self):
        return "Cyrus %s (imap %d, csync %d)" % (self.servername, self.imap_port, self.csync_port)

    # -- configuration ------------------------------------------------------------

    def _imapd_conf(self):
        d = self.dir
        conf = [
            ("configdirectory", d + "/conf"),
            ("defaultpartition", "default"),
            ("partition-default", d + "/spool"),
            ("sievedir", d + "/sieve"),
            ("servername", self.servername),
            ("admins", self.ADMIN),
            ("allowplaintext", "yes"),
            ("sasl_pwcheck_method", "auxprop"),
            ("sasl_auxprop_plugin", "sasldb"),
            ("sasl_sasldb_path", self.sasldb),
            ("sasl_mech_list", "PLAIN LOGIN"),
            # netnews separator: alice sees INBOX.Sent, admin user.alice.Sent,
            # and the sync protocol always carries the internal user.alice.Sent
            ("unixhierarchysep", "no"),
            ("altnamespace", "no"),
            ("virtdomains", "off"),
            ("hashimapspool", "true"),
            ("lmtp_downcase_rcpt", "yes"),
            ("idlesocket", d + "/conf/socket/idle"),
            ("notifysocket", d + "/conf/socket/notify"),
            ("proc_path", d + "/conf/proc"),
            ("mboxname_lockpath", d + "/conf/lock"),
            ("syslog_prefix", "cyrus-" + self.servername),
            ("annotation_allow_undefined", "yes"),
            # Cyrus 3.6 defaults, spelled out because replication depends on
            # them: a DELETE becomes a RENAME to DELETED.*, an EXPUNGE keeps
            # the record (and its file) as \Expunged
            ("delete_mode", "delayed"),
            ("expunge_mode", "delayed"),
            # record every change in conf/sync/log (rolling replication)
            ("sync_log", "1"),
        ]
        keys = {k for k, _ in conf}
        for k, v in self.extra_conf.items():
            if k in keys:
                conf = [(ck, v if ck == k else cv) for ck, cv in conf]
            else:
                conf.append((k, v))
        return "".join("%s: %s\n" % kv for kv in conf)

    def _cyrus_conf(self):
        c = "-C " + self.conf_path
        b = CYRUS_BIN
        p = self.ports
        return (
            "START {\n"
            "  recover cmd=\"%(b)s/ctl_cyrusdb %(c)s -r\"\n"
            "}\n"
            "SERVICES {\n"
            "  imap  cmd=\"%(b)s/imapd %(c)s\" listen=\"%(h)s:%(imap)d\" prefork=0 maxchild=50\n"
            "  lmtp  cmd=\"%(b)s/lmtpd %(c)s -a\" listen=\"%(h)s:%(lmtp)d\" prefork=0 maxchild=10\n"
            "  csync cmd=\"%(b)s/sync_server %(c)s\" listen=\"%(h)s:%(csync)d\" prefork=0 maxchild=10\n"
            "  sieve cmd=\"%(b)s/timsieved %(c)s\" listen=\"%(h)s:%(sieve)d\" prefork=0 maxchild=10\n"
            "}\n"
            "EVENTS {\n"
            "  checkpoint cmd=\"%(b)s/ctl_cyrusdb %(c)s -c\" period=30\n"
            "}\n"
            "DAEMON {\n"
            "}\n" % dict(b=b, c=c, h=self.host, **p))

    def _create_tree(self):
        if os.path.exists(self.dir):
            raise CyrusError("%s exists already" % self.dir)
        for sub in ("conf/db", "conf/lock", "conf/log", "conf/msg", "conf/proc",
                    "conf/quota", "conf/socket", "conf/sync", "conf/user",
                    "conf/ptclient", "spool", "sieve", "run"):
            os.makedirs(os.path.join(self.dir, sub))
        with open(self.conf_path, "w") as f:
            f.write(self._imapd_conf())
        add_sasl_login(self.sasldb, self.servername, self.ADMIN, self.admin_password)
        for user, password in self.logins.items():
            # virtdomains: userid looks "jane@example.com" up as user jane
            # in realm example.com
            local, _, domain = user.rpartition("@")
            if local and domain:
                add_sasl_login(self.sasldb, domain, local, password)
            else:
                add_sasl_login(self.sasldb, self.servername, user, password)
        uid = pwd.getpwnam("cyrus").pw_uid
        gid = grp.getgrnam("mail").gr_gid
        for root, dirs, files in os.walk(self.dir):
            os.chown(root, uid, gid)
            for name in files:
                os.chown(os.path.join(root, name), uid, gid)
        os.chmod(self.dir, 0o750)
        probe = subprocess.run(["runuser", "-u", "cyrus", "--", "test", "-r", self.conf_path])
        if probe.returncode != 0:
            raise CyrusError("the cyrus user cannot read %s: a parent directory is not "
                             "traversable" % self.conf_path)

    # -- life cycle ---------------------------------------------------------------

    def start(self, attempts=3):
        """Create the instance and start master; returns when every service
        answers.  Retries with new ports when one was taken meanwhile."""
        self._create_tree()
        last_error = None
        for _ in range(attempts):
            self.ports = {name: netutil.free_port() for name in ("imap", "lmtp", "csync", "sieve")}
            with open(os.path.join(self.dir, "cyrus.conf"), "w") as f:
                f.write(self._cyrus_conf())
            try:
                self._start_master()
                self._wait_ready()
                if self.hide_sieve_mailbox:
                    self.banner_filter = BannerFilter(self.host, self.ports["csync"], [b"* SIEVE-MAILBOX"])
                return self
            except CyrusError as e:
                last_error = e
                self.stop()
        raise CyrusError("%s did not start: %s\n%s" % (self.servername, last_error, self.log_tail()))

    def _start_master(self):
        pidfile = os.path.join(self.dir, "master.pid")
        if os.path.exists(pidfile):
            os.unlink(pidfile)
        # -d: master daemonises (own session), so a later kill(0, SIGTERM) of
        # its shutdown reaches its own process group, never ours
        subprocess.run([CYRUS_BIN + "/master", "-C", self.conf_path,
                        "-M", os.path.join(self.dir, "cyrus.conf"),
                        "-p", pidfile, "-d", "-L", self.master_log],
                       stdin=subprocess.DEVNULL, check=True, timeout=30)
        if not netutil.wait_until(lambda: os.path.exists(pidfile) and os.path.getsize(pidfile) > 0, 15):
            raise CyrusError("master wrote no pid file")
        with open(pidfile) as f:
            self.master_pid = int(f.read().split()[0])

    def _wait_ready(self, timeout=30):
        for name, port in self.ports.items():
            if not netutil.wait_until(lambda: netutil.port_accepts(port) or not self._master_alive(),
                                      timeout):
                raise CyrusError("%s port %d did not come up" % (name, port))
            if not self._master_alive():
                raise CyrusError("master exited during start-up")
        # The port might have been taken by somebody else between our check
        # and master's bind: make sure the greetings name *this* instance.
        for name in ("imap", "csync", "lmtp"):
            greeting = netutil.read_greeting(self.ports[name])
            if self.servername.encode() not in greeting:
                raise CyrusError("port %d (%s) is not ours: %r" % (self.ports[name], name, greeting[:200]))

    def _master_alive(self):
        return self.master_pid is not None and netutil.pid_alive(self.master_pid)

    def _is_our_master(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return self.conf_path.encode() in f.read()
        except OSError:
            return False

    def stop(self, grace=15.0):
        """Stop master (SIGTERM: master forwards it to its children and waits
        for them), SIGKILL what is left after `grace` seconds."""
        if self.banner_filter is not None:
            self.banner_filter.close()
            self.banner_filter = None
        pid = self.master_pid
        self.master_pid = None
        if pid is None or not netutil.pid_alive(pid) or not self._is_our_master(pid):
            return
        kids = netutil.children_of(pid)
        netutil.terminate(pid, grace, kill_also=kids)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, max_bytes=4000):
        try:
            with open(self.master_log, "rb") as f:
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


def start_instances(instances):
    """Start several instances, returning when all are up (stops the started
    ones again if one fails)."""
    started = []
    try:
        for inst in instances:
            inst.start()
            started.append(inst)
    except BaseException:
        for inst in started:
            inst.stop()
        raise
    return instances


def stop_instances(instances, grace=15.0):
    """Stop several instances at once: SIGTERM all, then wait (the waits overlap)."""
    t0 = time.monotonic()
    pending = []
    for inst in instances:
        if inst.banner_filter is not None:
            inst.banner_filter.close()
            inst.banner_filter = None
        pid = inst.master_pid
        if pid and netutil.pid_alive(pid) and inst._is_our_master(pid):
            pending.append((inst, pid, netutil.children_of(pid)))
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        inst.master_pid = None
    for inst, pid, kids in pending:
        left = max(0.0, grace - (time.monotonic() - t0))
        netutil.terminate(pid, left, kill_also=kids)
