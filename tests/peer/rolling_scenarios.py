"""Scenario r: rolling replication on channels, -r -f FILE, and two clients
on one user at once (spec 5.3).

The master logs every change on two channels (`sync_log_channels: ref
target`), so two rolling clients (`sync_client -r -n ref`, `-r -n target`,
kept in the foreground with CYRUS_ISDAEMON) replicate the very same event
stream, one into the reference Cyrus, one into replicad:

  r.backlog     both work off the log of everything so far (populate and
                every earlier scenario's changes, user deletions and the
                rename included); the replicas then compare equal -- except
                for a renamed user (scenario i's frida), whose meta data is
                compared with the master instead: a Cyrus 3.6 replica files
                subscriptions, seen state and Sieve scripts under the INBOX's
                uniqueid, which the old user's tombstone shares after a
                rename, so the replayed APPLY UNUSER erin also wipes frida's
                subscriptions there (replicad keys them by userid)
  r.live        mail arrives while they run (LMTP, APPEND into a shared
                folder), flags change, a folder is created, a Sieve script
                changes, the shared quota root changes (a QUOTA event: the
                only way a shared root travels); both catch up (their
                channel logs drain) and compare equal, quota root included
  r.stop        both stop on their shutdown file, exit 0
  r.converged   -A into the target afterwards finds nothing to do
  r.file        sync_client -r -f FILE (a hand-written log) into both
  r.no-copyback sync_client -O (APPLY FORCE first) after new mail: exit 0,
                then a plain run finds nothing to do
  r.concurrent  two -u of the same user and one of another user at once,
                into replicad: all exit 0 (the master's own per-user sync
                lock serialises the two; replicad runs every APPLY as one
                write job, so the other user's commands interleave safely),
                replicadctl verify passes, and a final run finds nothing
"""
import os
import subprocess
import threading
import time

import mailgen
import netutil
import populate
import replica_compare
import sync_runner
from cyrus_instance import CYRUS_BIN
from imap_session import ImapSession, lmtp_deliver
from managesieve import ManageSieve
from wire_relay import WireRelay

CHANNELS = ("ref", "target")
DRAIN_TIMEOUT = 180       # the backlog of the whole test run
QUIET_FOR = 3.0           # a channel log counts as drained once absent this long


class RollingClient:
    """sync_client -r -n CHANNEL in the foreground, through a logging relay."""

    def __init__(self, master, server, channel, workdir):
        self.master = master
        self.channel = channel
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        self.relay = WireRelay(server.host, server.csync_port, os.path.join(workdir, "wire"))
        self.conf = sync_runner._write_client_config(master, sync_runner.client_config(
            master, netutil.HOST, self.relay.port, *master.admin, try_imap=False))
        # sync_client (as cyrus) polls for this file and exits when it appears
        self.shutdown_file = os.path.join(master.dir, "run", "shutdown-%s" % channel)
        argv = [CYRUS_BIN + "/sync_client", "-C", self.conf, "-v", "-v", "-r", "-n", channel,
                "-F", self.shutdown_file, "-d", "1"]
        self.out = open(os.path.join(workdir, "sync_client.stdout"), "wb")
        self.err = open(os.path.join(workdir, "sync_client.stderr"), "wb")
        # without CYRUS_ISDAEMON, -r puts itself in the background
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.out, stderr=self.err,
                                     start_new_session=True, env=dict(os.environ, CYRUS_ISDAEMON="1"))

    def log_path(self, name="log"):
        return os.path.join(self.master.dir, "conf", "sync", self.channel, name)

    def pending(self):
        return os.path.exists(self.log_path()) or os.path.exists(self.log_path("log-run"))

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        """Asks it to stop (shutdown file); returns its exit status and the
        commands it sent."""
        with open(self.shutdown_file, "w"):
            pass
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            sync_runner._stop_group(self.proc)
            rc = sync_runner.TIMED_OUT
        self.out.close()
        self.err.close()
        self.relay.close()
        for path in (self.shutdown_file, self.conf):
            if os.path.exists(path):
                os.unlink(path)
        return rc, self.relay.transcript()


def wait_drained(clients, timeout):
    """True once every client's channel log has stayed absent for QUIET_FOR."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while time.monotonic() < deadline:
        if any(not c.alive() for c in clients):
            return False
        if any(c.pending() for c in clients):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_FOR:
            return True
        time.sleep(0.25)
    return False


class RollingScenarios:
    def __init__(self, tests):
        self.t = tests
        self.clients = {}

    def workdir(self, label):
        self.t.run_no += 1
        return os.path.join(self.t.root, "runs", "%02d-r-%s" % (self.t.run_no, label))

    def compare_all(self, users, quota_roots=()):
        t = self.t
        ref, target, master = t.session(t.ref), t.session(t.target), t.session(t.master)
        try:
            result = replica_compare.compare_users(ref, target, users, master=master)
            replica_compare.compare_mailboxes(ref, target, populate.shared_internal_names(), result=result)
            replica_compare.compare_quotas(ref, target, quota_roots, result=result)
        finally:
            for c in (ref, target, master):
                c.close()
        if result.differences:
            return result.summary()
        return "", result.summary()

    def renamed_like_master(self, users):
        """GET META of each of `users`: the target's SEEN and LSUB must be the
        master's (SIEVE too, but for its LAST_UPDATE)."""
        t = self.t
        target, master = t.session(t.target), t.session(t.master)
        problems = []
        try:
            for user in users:
                mine = replica_compare.canon_reply(target.get_meta(user))
                theirs = replica_compare.canon_reply(master.get_meta(user))
                for reply in (mine, theirs):
                    for entry in reply.get("SIEVE", {}).values():
                        entry.pop("LAST_UPDATE", None)
                problems += replica_compare.diff(theirs, mine, "GET META %s" % user, ("master", "target"))
        finally:
            target.close()
            master.close()
        if problems:
            return "%d differences:\n    %s" % (len(problems), "\n    ".join(problems[:12]))
        return "", "%s as on the master" % ", ".join(users) if users else "no renamed user"

    def users_now(self):
        """The master's users at this point of the run (scenario i may have
        renamed erin to frida)."""
        master = self.t.session(self.t.master)
        try:
            return sorted(u for u in list(self.t.users) + ["frida"] if master.get_user(u).values("MAILBOX"))
        finally:
            master.close()

    # -- rolling ---------------------------------------------------------------------------

    def start(self):
        t = self.t
        for channel, server in zip(CHANNELS, (t.ref, t.target)):
            self.clients[channel] = RollingClient(t.master, server, channel, self.workdir("rolling-" + channel))
        time.sleep(1)
        dead = [c.channel for c in self.clients.values() if not c.alive()]
        if dead:
            return "rolling client(s) %s exited at once (see %s)" % (dead, self.clients[dead[0]].workdir)
        return ""

    def live_changes(self):
        t = self.t
        m = t.master
        rng = mailgen.user_rng(t.args.seed, "rolling", "live")
        for user in ("alice", "bob"):
            lmtp_deliver(m.host, m.lmtp_port, user, mailgen.make_message(rng, user, "rolling", 1))
        with ImapSession(m.host, m.imap_port, *m.admin) as admin:
            admin.append("shared.news", mailgen.make_message(rng, "shared", "rolling", 1))
            root, storage_kb, messages, more = populate.SHARED_QUOTA
            admin.setquota(root, storage_kb * 2, messages, **more)
        carol = t.users["carol"]
        with ImapSession(m.host, m.imap_port, carol.name, carol.password) as imap:
            imap.select("INBOX")
            uids = imap.uids()
            imap.store(uids[:2], "+FLAGS", ["\\Flagged", "$Rolling"])
            imap.close_mailbox()
        dave = t.users["dave"]
        with ImapSession(m.host, m.imap_port, dave.name, dave.password) as imap:
            imap.create("INBOX.Rolling")
            imap.append("INBOX.Rolling", mailgen.make_message(rng, "dave", "rolling", 2))
        alice = t.users["alice"]
        with ManageSieve(m.host, m.sieve_port, alice.name, alice.password) as sieve:
            sieve.put_script("rules", populate.RULES.replace("mallory", "mallory-rolling") % {
                "user": "alice", "seed": t.args.seed})
        return ""

    def stop_all(self):
        problems, notes = [], []
        for channel, client in self.clients.items():
            rc, commands = client.stop()
            applies = [c for c in commands if c.verb == "APPLY"]
            notes.append("%s: %d APPLY" % (channel, len(applies)))
            if rc != 0:
                problems.append("the %s client exited %s (%s)" % (channel, rc, client.workdir))
        self.clients = {}
        return "; ".join(problems), ", ".join(notes)

    # -- -r -f FILE ------------------------------------------------------------------------

    def from_file(self):
        t = self.t
        alice = t.users["alice"]
        rng = mailgen.user_rng(t.args.seed, "rolling", "file")
        with ImapSession(t.master.host, t.master.imap_port, alice.name, alice.password) as imap:
            imap.append("INBOX.Sent", mailgen.make_message(rng, "alice", "file", 1))
        path = os.path.join(t.master.dir, "run", "replay-by-hand")
        with open(path, "w") as f:
            f.write("MAILBOX user.alice.Sent\nMETA alice\n")
        # sync_client (as cyrus) opens it for writing: it locks the file
        owner = os.stat(t.master.conf_path)
        os.chown(path, owner.st_uid, owner.st_gid)
        runs = {}
        try:
            runs["ref"], runs["target"] = t.feed_both("r-file", ["-r", "-f", path], imap=False)
        finally:
            os.unlink(path)
        reason, note = t.expect_success(runs["target"], "csync", ["user.alice.Sent"])
        if reason:
            return reason, note
        compared = t.compare(runs, mailboxes=["user.alice.Sent"])
        if isinstance(compared, str) and compared:
            return compared
        return "", note + "; " + compared[1]

    # -- two clients at once -----------------------------------------------------------------

    def concurrent(self):
        t = self.t
        rng = mailgen.user_rng(t.args.seed, "rolling", "concurrent")
        for user in ("bob", "carol"):
            for i in range(3):
                lmtp_deliver(t.master.host, t.master.lmtp_port, user,
                             mailgen.make_message(rng, user, "concurrent", i))
        results = {}

        def run(label, user):
            results[label] = t.sync(t.target, "r-concurrent-" + label, ["-u", user], imap=False)

        threads = [threading.Thread(target=run, args=(label, user))
                   for label, user in (("bob-1", "bob"), ("bob-2", "bob"), ("carol", "carol"))]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        problems = []
        for label, result in sorted(results.items()):
            refused = [c for c in result.refusals() if "IMAP_SYNC_CHANGED" not in (c.reply or "")
                       and "IMAP_SYNC_CHECKSUM" not in (c.reply or "") and "IMAP_MAILBOX_LOCKED" not in (c.reply or "")]
            if refused:
                problems.append("%s: refused %s" % (label, "; ".join(str(c) for c in refused[:3])))
        binary = os.path.join(os.path.abspath(t.args.builddir), "server", "replicadctl")
        if os.access(binary, os.X_OK):
            verify = subprocess.run([binary, "-d", os.path.join(t.target.dir, "data"), "verify", "--all"],
                                    capture_output=True, text=True, timeout=120)
            if verify.returncode != 0:
                problems.append("replicadctl verify --all: %s" % (verify.stdout[-600:] or verify.stderr[-600:]))
        for user in ("bob", "carol"):
            reason = t.expect_converged("r-concurrent-%s-again" % user, ["-u", user], imap=False)
            if reason:
                problems.append("%s: %s" % (user, reason))
        if problems:
            return "; ".join(problems)
        return "", "exit codes %s" % ", ".join("%s %d" % (l, r.rc) for l, r in sorted(results.items()))

    def no_copyback(self):
        t = self.t
        rng = mailgen.user_rng(t.args.seed, "rolling", "no-copyback")
        lmtp_deliver(t.master.host, t.master.lmtp_port, "dave", mailgen.make_message(rng, "dave", "force", 1))
        run = t.sync(t.target, "r-no-copyback", ["-O", "-u", "dave"], imap=False)
        reason, note = t.expect_success(run, "csync", ["user.dave"])
        if not any(c.kind == "FORCE" and c.accepted for c in run.applies()):
            reason = "; ".join(filter(None, [reason, "no accepted APPLY FORCE"]))
        if reason:
            return reason, note
        again = t.expect_converged("r-no-copyback-again", ["-u", "dave"], imap=False)
        return again, note

    def scenario(self):
        t = self.t
        try:
            if not t.check("r.start", self.start):
                return
            t.check("r.backlog", lambda: "" if wait_drained(self.clients.values(), DRAIN_TIMEOUT)
                    else "the channel logs did not drain within %ds" % DRAIN_TIMEOUT)
            renamed = [u for u in self.users_now() if u == "frida"]
            t.check("r.backlog.compare",
                    lambda: self.compare_all([u for u in self.users_now() if u not in renamed]))
            t.check("r.backlog.renamed-user", lambda: self.renamed_like_master(renamed))
            if t.check("r.live", self.live_changes):
                t.check("r.live.caught-up", lambda: "" if wait_drained(self.clients.values(), 60)
                        else "the channel logs did not drain within 60s")
                t.check("r.live.compare", lambda: self.compare_all(
                    ["alice", "bob", "carol", "dave"], quota_roots=[populate.SHARED_QUOTA[0]]))
        finally:
            if self.clients:
                t.check("r.stop", self.stop_all)
        t.check("r.converged", lambda: t.expect_converged("r-all-again", ["-A"], imap=False))
        t.check("r.file", self.from_file)
        t.check("r.no-copyback", self.no_copyback)
        t.check("r.concurrent", self.concurrent)
