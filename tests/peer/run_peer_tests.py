#!/usr/bin/env python3
"""Real-peer tests: Cyrus 3.6's own sync_client replicates into replicad.

One Cyrus master is populated once (populate.py).  Two replication targets
are fed the same runs: a fresh Cyrus (whose sync_server / imapd answers are
the reference) and the target under test (replicad from --builddir, or a
second Cyrus with --target cyrus, which proves the harness itself).  After
each run both are asked the same GET USER / GET FULLMAILBOX questions and
must answer the same, field by field; a repeated run must find nothing to do.

Scenarios (each check prints `PASS name` or `FAIL name: reason`):
  a  sync_client -u alice, CSYNC (sync_try_imap: no)
  b  sync_client -u bob, IMAP flavour (sync_try_imap: yes) on the same
     port, without the 10 s fallback delay
  f  wrong password and a valid non-admin are refused in both flavours
     (exact replies, and sync_client replicates nothing)
  c  sync_client -A
  d  changes on the master, incremental -u runs in both flavours
  e  -m user.alice.Sent (CSYNC) and -m user.carol.Sent (IMAP flavour)
  s  Sieve scripts changed on the master (ManageSieve): changed, deleted,
     newly active, first script, deactivated; -u and -s, both flavours
  x  a replicad with a short deleted_expire removes a DELETED.* mailbox
     once it is old enough, with the bodies nothing else uses
  i  an intermediate sent in its short form (-m); a user renamed on the
     master (-u of the new name, of the old name, of the new name again)
  r  rolling replication: sync_client -r on a channel per replica while mail
     arrives; -r -f FILE; two -u of one user at once
  v  virtual domains (a master of its own with virtdomains: userid and
     unixhierarchysep: yes): ^ names, shared folders of a domain
  o  operations: every replicadctl command on the filled target, backups
     taken while a sync runs, SIGTERM in the middle of a sync, the systemd
     notify socket and socket activation (replicad target only)
  g  replicad stops cleanly on SIGTERM (replicad target only)
  h  connection handling: IPv6 listener, maxconnections, preauth and idle timeouts
  t  TLS, COMPRESS and SASL mechanisms: sync_client over STARTTLS (which
     allowplaintext: no makes it choose) and over host:port/tls in both
     flavours, compressed; EXTERNAL with an admin's and an outsider's client
     certificate; SCRAM-SHA-256 and DIGEST-MD5 forced on the client;
     openssl s_client by hand; input pipelined after STARTTLS (replicad only)
The last line of output is `N passed, N failed`.  Run as root.

    run_peer_tests.py --builddir /work/build [--target replicad|cyrus] [--keep]
"""
import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import connection_checks                               # noqa: E402
import csync_client                                    # noqa: E402
import cyrus_instance                                  # noqa: E402
import mutate                                          # noqa: E402
import ops_scenarios                                   # noqa: E402
import netutil                                         # noqa: E402
import populate                                        # noqa: E402
import replica_compare                                 # noqa: E402
import sync_runner                                     # noqa: E402
import domain_scenarios                                # noqa: E402
import expiry_scenarios                                # noqa: E402
import hierarchy_scenarios                             # noqa: E402
import rolling_scenarios                               # noqa: E402
import sieve_scenarios                                 # noqa: E402
import tls_scenarios                                   # noqa: E402
from dlist import FileLiteral, KvList, text as dlist_text   # noqa: E402
from replica import Replicad                           # noqa: E402

NONADMIN = ("nonadmin", "nonadmin-secret")
RUN_TIMEOUT = 90            # a run takes seconds; a stuck replica must not stall the suite
ALL_TIMEOUT = 240
PROBE_TIMEOUT = 10
REFUSED_TIMEOUT = 8          # sync_client retries a refused login forever
IMAP_WALL_LIMIT = 8.0        # the CSYNC fallback alone would cost 10 s
SESSION_SETUP = ("CAPABILITIES",)   # APPLY CAPABILITIES opens every session


class TargetDown(RuntimeError):
    pass


class Results:
    def __init__(self):
        self.tests = []

    def record(self, name, reason, note=""):
        ok = not reason
        self.tests.append({"name": name, "ok": ok, "reason": reason or "", "note": note})
        if ok:
            print("PASS %s%s" % (name, " (%s)" % note if note else ""), flush=True)
        else:
            print("FAIL %s: %s" % (name, reason.replace("\n", "\n    ")), flush=True)

    @property
    def passed(self):
        return sum(1 for t in self.tests if t["ok"])

    @property
    def failed(self):
        return sum(1 for t in self.tests if not t["ok"])


class PeerTests:
    def __init__(self, args):
        self.args = args
        self.results = Results()
        self.root = tempfile.mkdtemp(prefix="replicad-peer-", dir="/tmp")
        # the cyrus user must be able to traverse it (mkdtemp makes it 0700)
        os.chmod(self.root, 0o755)
        self.users = {u.name: u for u in populate.default_users()}
        self.master = self.ref = self.target = None
        self.run_no = 0
        self.target_down = None      # set once the target stopped answering
        self.death_reported = False
        self.mutation_log = []

    # -- environment ---------------------------------------------------------------------

    def setup(self):
        cyrus_instance.check_prerequisites()
        tag = os.path.basename(self.root)[-6:]
        self.master = cyrus_instance.CyrusInstance(
            os.path.join(self.root, "master"), "peer-master-" + tag,
            {u.name: u.password for u in self.users.values()},
            # scenario i renames a user; scenario r runs a rolling client per replica
            extra_conf={"allowusermoves": "yes", "sync_log_channels": "ref target"})
        # Replication targets offer no SIEVE-MAILBOX, like replicad (spec 3.15):
        # scripts then travel as APPLY SIEVE to both, comparably.
        self.ref = cyrus_instance.CyrusInstance(
            os.path.join(self.root, "ref"), "peer-ref-" + tag, dict([NONADMIN]), hide_sieve_mailbox=True)
        instances = [self.master, self.ref]
        if self.args.target == "cyrus":
            self.target = cyrus_instance.CyrusInstance(
                os.path.join(self.root, "target"), "peer-target-" + tag, dict([NONADMIN]),
                hide_sieve_mailbox=True)
            instances.append(self.target)
        cyrus_instance.start_instances(instances)
        if self.args.target == "replicad":
            self.target = Replicad(self.args.builddir, os.path.join(self.root, "replicad"),
                                   nonadmin_password=NONADMIN[1]).start()
        t0 = time.monotonic()
        stats = populate.populate(self.master, list(self.users.values()), seed=self.args.seed)
        print("# master populated: %s users, %s in %.1fs" % (len(self.users), stats, time.monotonic() - t0),
              flush=True)
        print("# target: %s; reference: %s" % (self.target.describe(), self.ref.describe()), flush=True)

    def teardown(self):
        servers = [s for s in (self.master, self.ref, self.target)
                   if isinstance(s, cyrus_instance.CyrusInstance)]
        if isinstance(self.target, Replicad):
            self.target.stop()
        cyrus_instance.stop_instances(servers)

    # -- helpers -------------------------------------------------------------------------

    def check(self, name, fn):
        """Run one check: fn returns None/"" on success or a failure reason,
        or a (reason, note) pair whose note is shown on success."""
        note = ""
        try:
            reason = fn()
            if isinstance(reason, tuple):
                reason, note = reason
        except Exception as e:           # a check that blows up has failed
            reason = "%s: %s" % (type(e).__name__, e)
            if self.args.verbose:
                traceback.print_exc()
        if reason and isinstance(self.target, Replicad) and not self.target.alive() \
                and not self.death_reported:
            self.death_reported = True      # once is enough
            reason += "\nreplicad is no longer running (exit status %s); its log ends:\n%s" % (
                self.target.exit_status(), self.target.log_tail(1500))
        self.results.record(name, reason, note)
        return not reason

    def sync(self, server, label, mode_args, imap, credentials=None, timeout=RUN_TIMEOUT):
        self.run_no += 1
        port = server.imap_port if imap else server.csync_port
        if server is self.target:
            self.probe_target(port)
        workdir = os.path.join(self.root, "runs", "%02d-%s" % (self.run_no, label))
        return sync_runner.run_sync_client(self.master, server.host, port, mode_args, imap, workdir,
                                           credentials or self.master.admin, timeout)

    def probe_target(self, port):
        """Fail fast when the target is gone or does not greet any more:
        sync_client would retry (or wait) until its timeout in every later
        run, and the suite must stay bounded."""
        if self.target_down:
            raise TargetDown(self.target_down)
        if isinstance(self.target, Replicad) and not self.target.alive():
            self.target_down = "replicad is not running"
            raise TargetDown(self.target_down)
        try:
            greeting = netutil.read_greeting(port, self.target.host, timeout=PROBE_TIMEOUT)
        except OSError as e:
            greeting = ("connection failed: %s" % e).encode()
        if not greeting.startswith(b"* "):
            self.target_down = "the target did not greet within %ds on port %d (%r)" % (
                PROBE_TIMEOUT, port, greeting[:80])
            raise TargetDown(self.target_down)

    def feed_both(self, label, mode_args, imap, timeout=RUN_TIMEOUT):
        """The same run into the reference Cyrus and into the target."""
        ref = self.sync(self.ref, label + "-ref", mode_args, imap, timeout=timeout)
        target = self.sync(self.target, label + "-target", mode_args, imap, timeout=timeout)
        return ref, target

    def session(self, server, flavour="csync", credentials=None):
        port = server.imap_port if flavour == "imap" else server.csync_port
        if server is self.target:
            self.probe_target(port)
        return csync_client.admin_session(server.host, port, credentials or server.admin, flavour)

    def compare(self, runs, users=None, mailboxes=None):
        """Compare reference and target after runs["ref"] (and runs["target"])."""
        if "ref" not in runs:
            return "not compared: the run before did not happen"
        ref_run = runs["ref"]
        if ref_run.rc != 0:
            return "the reference Cyrus run failed, nothing to compare against: " + ref_run.explain()
        ref = self.session(self.ref)
        try:
            target = self.session(self.target)
            try:
                if users and isinstance(self.target, Replicad):
                    # the master's own answers, for the values a Cyrus replica
                    # makes up and replicad keeps as the master sent them
                    master = self.session(self.master)
                    try:
                        result = replica_compare.compare_users(ref, target, users, master=master)
                    finally:
                        master.close()
                elif users:
                    result = replica_compare.compare_users(ref, target, users)
                else:
                    result = replica_compare.compare_mailboxes(ref, target, mailboxes)
            finally:
                target.close()
        finally:
            ref.close()
        if result.differences:
            return result.summary()
        if not result.mailboxes:
            return "nothing was compared (the reference holds none of the mailboxes)"
        return "", result.summary()

    @staticmethod
    def expect_success(run, flavour, must_apply=()):
        """rc 0, one flavour, every command accepted, and an accepted APPLY
        MAILBOX for each name in must_apply.  Returns (reason, note)."""
        problems = []
        if run.rc != 0:
            problems.append("sync_client exit code %s" % run.rc)
        if run.flavours() != [flavour]:
            problems.append("replicated in flavour(s) %s, expected %s" % (run.flavours() or "none", flavour))
        if run.refusals():
            problems.append("refused: " + "; ".join(str(c) for c in run.refusals()[:5]))
        applied = {c.argument for c in run.applies(("MAILBOX",)) if c.accepted}
        missing = [m for m in must_apply if m not in applied]
        if missing:
            problems.append("no accepted APPLY MAILBOX for " + ", ".join(missing))
        if not run.applies():
            problems.append("no APPLY was sent at all")
        note = "%d APPLY in %.1fs" % (len(run.applies()), run.wall)
        if problems:
            return "; ".join(problems) + " (" + run.explain() + ")", note
        return "", note

    def expect_converged(self, label, mode_args, imap):
        run = self.sync(self.target, label, mode_args, imap)
        if run.rc != 0:
            return "repeat run failed: " + run.explain()
        work = [c for c in run.applies() if c.kind not in SESSION_SETUP]
        if work:
            return "the repeat run still found work (%d APPLY): %s" % (
                len(work), "; ".join(str(c) for c in work[:8]))
        if not run.sent("GET"):
            return "the repeat run asked nothing (no GET): %s" % run.explain()
        return ""

    # -- scenarios -----------------------------------------------------------------------

    def scenario_a(self):
        runs = {}

        def initial():
            runs["ref"], runs["target"] = self.feed_both("a-csync-alice", ["-u", "alice"], imap=False)
            return self.expect_success(runs["target"], "csync", self.users["alice"].internal_names())

        self.check("a.csync-user.initial", initial)
        self.check("a.csync-user.compare", lambda: self.compare(runs, users=["alice"]))
        self.check("a.csync-user.converged",
                   lambda: self.expect_converged("a-csync-alice-again", ["-u", "alice"], imap=False))

    def scenario_b(self):
        runs = {}

        def initial():
            runs["ref"], runs["target"] = self.feed_both("b-imap-bob", ["-u", "bob"], imap=True)
            run = runs["target"]
            reason, note = self.expect_success(run, "imap", self.users["bob"].internal_names())
            problems = [reason] if reason else []
            if run.connections != 1:
                problems.append("%d connections (an IMAP attempt fell back to CSYNC?)" % run.connections)
            if run.wall >= IMAP_WALL_LIMIT:
                problems.append("took %.1fs (limit %.0fs: the fallback delay?)" % (run.wall, IMAP_WALL_LIMIT))
            return "; ".join(problems), note

        self.check("b.imap-user.initial", initial)
        self.check("b.imap-user.compare", lambda: self.compare(runs, users=["bob"]))
        self.check("b.imap-user.converged",
                   lambda: self.expect_converged("b-imap-bob-again", ["-u", "bob"], imap=True))

    def _refused_session(self, flavour, credentials, want_auth_ok, judge):
        port = self.target.imap_port if flavour == "imap" else self.target.csync_port
        self.probe_target(port)
        client = csync_client.SyncClient(self.target.host, port, flavour, timeout=30)
        try:
            status = client.authenticate_plain(*credentials)
            if status.ok != want_auth_ok:
                return "AUTHENTICATE as %s answered %r" % (credentials[0], str(status))
            if not want_auth_ok:
                return "" if status.word == "NO" else "AUTHENTICATE answered %r, expected NO" % str(status)
            problems = []
            for what, reply in (("GET USER", client.get_user("erin")),
                                ("APPLY SUB", client.apply("SUB", _sub_kvlist("erin", "user.erin")))):
                verdict = judge(reply.status)
                if verdict:
                    problems.append("%s: %s" % (what, verdict))
                if reply.data:
                    problems.append("%s returned data: %r" % (what, reply.data[:2]))
            return "; ".join(problems)
        finally:
            client.close()

    def scenario_f(self):
        def csync_denied(status):
            if status.word == "NO" and status.text.startswith("Permission denied"):
                return ""
            return "answered %r, expected 'NO Permission denied'" % str(status)

        def imap_denied(status):
            if status.word == "NO" or (status.word == "BAD" and status.text.startswith("Unrecognized command")):
                return ""
            return "answered %r, expected 'BAD Unrecognized command' or NO" % str(status)

        wrong = ("admin", "not-the-password")
        self.check("f.csync.wrong-password", lambda: self._refused_session("csync", wrong, False, None))
        self.check("f.csync.non-admin", lambda: self._refused_session("csync", NONADMIN, True, csync_denied))
        self.check("f.imap.wrong-password", lambda: self._refused_session("imap", wrong, False, None))
        self.check("f.imap.non-admin", lambda: self._refused_session("imap", NONADMIN, True, imap_denied))

        for flavour, who, creds in (("csync", "wrong-password", wrong), ("csync", "non-admin", NONADMIN),
                                    ("imap", "wrong-password", wrong), ("imap", "non-admin", NONADMIN)):
            def refused(flavour=flavour, who=who, creds=creds):
                run = self.sync(self.target, "f-%s-%s" % (flavour, who), ["-u", "erin"],
                                imap=flavour == "imap", credentials=creds, timeout=REFUSED_TIMEOUT)
                problems = []
                if run.rc == 0:
                    problems.append("sync_client exit code 0")
                done = [c for c in run.commands
                        if c.accepted and c.verb in ("APPLY", "GET") and c.kind not in SESSION_SETUP]
                if done:
                    problems.append("the replica accepted: " + "; ".join(str(c) for c in done[:5]))
                if not run.commands:
                    problems.append("sync_client never reached the replica")
                session = self.session(self.target)
                try:
                    held = session.get_user("erin")
                finally:
                    session.close()
                if held.data:
                    problems.append("the replica now holds %d items of erin" % len(held.data))
                return "; ".join(problems) + (" (%s)" % run.explain() if problems else "")
            self.check("f.sync-client.%s-%s" % (flavour, who), refused)

    def scenario_c(self):
        runs = {}

        def initial():
            runs["ref"], runs["target"] = self.feed_both("c-all", ["-A"], imap=False, timeout=ALL_TIMEOUT)
            return self.expect_success(runs["target"], "csync",
                                       self.users["carol"].internal_names() + self.users["dave"].internal_names()
                                       + populate.shared_internal_names())

        def shared():
            # -A replicates shared mailboxes one by one in mailbox mode.  (Not
            # their quota root: 3.6's client sends QUOTA for a shared root only
            # in rolling mode, so neither replica has it after -A.)
            return self.compare(runs, mailboxes=populate.shared_internal_names())

        self.check("c.all.initial", initial)
        self.check("c.all.compare", lambda: self.compare(runs, users=sorted(self.users)))
        self.check("c.all.shared", shared)
        self.check("c.all.converged", lambda: self.expect_converged("c-all-again", ["-A"], imap=False))
        self.check("c.all.fetch", lambda: self.fetch_everything(sorted(self.users)))

    def fetch_everything(self, users):
        """GET FETCH (the copyback of spec 4.8) of every record the target
        lists: each file must come back as a file literal whose SHA-1 is the
        record's GUID, with the requested partition; an unknown UID gets NO."""
        session = self.session(self.target)
        problems, files, size = [], 0, 0
        try:
            for user in users:
                names = [dlist_text(v.get("MBOXNAME")) for v in session.get_user(user).values("MAILBOX")]
                for name in names:
                    for box in session.get_fullmailbox(name).values("MAILBOX"):
                        partition, uniqueid = dlist_text(box.get("PARTITION")), dlist_text(box.get("UNIQUEID"))
                        for rec in box.get("RECORD") or []:
                            guid, uid = dlist_text(rec.get("GUID")), dlist_text(rec.get("UID"))
                            reply = session.fetch(name, partition, uniqueid, guid, uid)
                            got = reply.values("MESSAGE")
                            f = got[0] if len(got) == 1 else None
                            if not reply.ok or not isinstance(f, FileLiteral):
                                problems.append("%s UID %s: %s %r" % (name, uid, reply.status, got[:1]))
                            elif f.sha1 != guid or str(f.size) != dlist_text(rec.get("SIZE")) \
                                    or f.partition != partition or f.guid != guid:
                                problems.append("%s UID %s: got %r (sha1 %s), record says GUID %s SIZE %s"
                                                % (name, uid, f, f.sha1, guid, dlist_text(rec.get("SIZE"))))
                            else:
                                files += 1
                                size += f.size
                        if box.get("RECORD"):
                            reply = session.fetch(name, partition, uniqueid, "0" * 40, 4000000000)
                            if reply.status.word != "NO":
                                problems.append("FETCH of a UID that %s does not hold answered %s" % (name, reply.status))
        finally:
            session.close()
        if problems:
            return "%d problems (first 8):\n%s" % (len(problems), "\n".join(problems[:8]))
        if not files:
            return "the target listed no records to fetch"
        return "", "%d files, %d bytes" % (files, size)

    def scenario_d(self):
        for flavour, user, tag in (("csync", "alice", "d1"), ("imap", "bob", "d2")):
            runs = {}
            imap = flavour == "imap"

            def changed(user=user, tag=tag):
                done = mutate.mutate_user(self.master, self.users[user], tag)
                self.mutation_log += ["%s: %s" % (user, d) for d in done]
                return ""

            def incremental(user=user, imap=imap, flavour=flavour):
                runs["ref"], runs["target"] = self.feed_both("d-%s-%s" % (flavour, user), ["-u", user], imap)
                return self.expect_success(runs["target"], flavour, ["user.%s" % user])

            if not self.check("d.%s.mutate-master" % flavour, changed):
                continue
            self.check("d.%s.incremental" % flavour, incremental)
            self.check("d.%s.compare" % flavour, lambda user=user: self.compare(runs, users=[user]))
            self.check("d.%s.converged" % flavour,
                       lambda user=user, imap=imap, flavour=flavour:
                       self.expect_converged("d-%s-%s-again" % (flavour, user), ["-u", user], imap))

    def scenario_e(self):
        for flavour, user, tag in (("csync", "alice", "e1"), ("imap", "carol", "e2")):
            runs = {}
            imap = flavour == "imap"
            mbox = "user.%s.Sent" % user

            def changed(user=user, tag=tag):
                mutate.new_mail(self.master, self.users[user], tag, folder="INBOX.Sent")
                mutate.change_flags(self.master, self.users[user], folder="INBOX.Sent")
                return ""

            def mailbox_mode(mbox=mbox, imap=imap, flavour=flavour):
                runs["ref"], runs["target"] = self.feed_both("e-%s-%s" % (flavour, mbox), ["-m", mbox], imap)
                run = runs["target"]
                reason, note = self.expect_success(run, flavour, [mbox])
                others = sorted({c.argument for c in run.applies(("MAILBOX",))} - {mbox})
                if others:
                    reason += "; mailbox mode touched other mailboxes too: %s" % ", ".join(others)
                return reason, note

            if not self.check("e.%s.mutate-master" % flavour, changed):
                continue
            self.check("e.%s.mailbox-mode" % flavour, mailbox_mode)
            self.check("e.%s.compare" % flavour, lambda mbox=mbox: self.compare(runs, mailboxes=[mbox]))
            self.check("e.%s.converged" % flavour,
                       lambda mbox=mbox, imap=imap, flavour=flavour:
                       self.expect_converged("e-%s-%s-again" % (flavour, mbox), ["-m", mbox], imap))

    def scenario_s(self):
        """Sieve scripts changing on the master (sieve_scenarios.py)."""
        sieve_scenarios.SieveScenarios(self).scenario()

    def scenario_i(self):
        """Intermediates and a user rename (hierarchy_scenarios.py)."""
        hierarchy_scenarios.HierarchyScenarios(self).scenario()

    def scenario_r(self):
        """Rolling replication and concurrent clients (rolling_scenarios.py)."""
        rolling_scenarios.RollingScenarios(self).scenario()

    def scenario_v(self):
        """Virtual domains (domain_scenarios.py)."""
        domain_scenarios.DomainScenarios(self).scenario()

    def scenario_x(self):
        """Expiry of DELETED.* mailboxes (expiry_scenarios.py)."""
        expiry_scenarios.ExpiryScenario(self).scenario()

    def scenario_o(self):
        """Operations (ops_scenarios.py)."""
        ops_scenarios.OpsScenarios(self).scenario()

    def scenario_g(self):
        if not isinstance(self.target, Replicad):
            return

        def stops():
            if not self.target.alive():
                return "replicad was not running any more"
            t0 = time.monotonic()
            rc = self.target.stop(grace=10)
            took = time.monotonic() - t0
            if rc != 0:
                return "exit status %s after SIGTERM (%.1fs); log ends:\n%s" % (rc, took, self.target.log_tail(1500))
            return ""

        self.check("g.replicad.sigterm", stops)

    def scenario_h(self):
        """Connection handling: IPv6, the connection limit, idle timeouts."""
        if self.args.target != "replicad":
            return
        connection_checks.run(self.check, self.args.builddir, self.root)

    def scenario_t(self):
        """Secure transports and SASL mechanisms (tls_scenarios.py)."""
        if self.args.target != "replicad":
            return
        scenarios = tls_scenarios.TlsScenarios(self)
        try:
            scenarios.scenario()
        finally:
            scenarios.stop()

    # -- driver --------------------------------------------------------------------------

    def run(self):
        scenarios = [("a", self.scenario_a), ("b", self.scenario_b), ("f", self.scenario_f),
                     ("c", self.scenario_c), ("d", self.scenario_d), ("e", self.scenario_e),
                     ("o", self.scenario_o),
                     ("t", self.scenario_t), ("h", self.scenario_h),
                     # s and x change the master's users: after t, whose fresh
                     # replicas are compared with the reference
                     ("s", self.scenario_s), ("x", self.scenario_x), ("i", self.scenario_i),
                     ("r", self.scenario_r),
                     ("v", self.scenario_v),
                     ("g", self.scenario_g)]
        try:
            try:
                self.setup()
            except Exception as e:
                reason = "%s: %s" % (type(e).__name__, e)
                self.results.record("setup", reason)
                for letter, _ in scenarios:
                    self.results.record("%s (not run)" % letter, "set-up failed")
                return
            for letter, scenario in scenarios:
                if self.args.only is None or letter in self.args.only:
                    scenario()
        finally:
            self.teardown()
            failed = self.results.failed
            if failed and not self.args.keep:
                print("# kept for inspection: %s" % self.root, flush=True)
            elif self.args.keep:
                print("# kept: %s" % self.root, flush=True)
            else:
                shutil.rmtree(self.root, ignore_errors=True)


def _sub_kvlist(user, mbox):
    return KvList([("USERID", user), ("MBOXNAME", mbox)])


def _terminate_on_signal(signum, frame):
    # turn SIGTERM/SIGHUP into an exception so every finally: block runs and
    # the processes we started are stopped
    raise SystemExit(128 + signum)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--builddir", required=False, default=None,
                    help="meson build directory holding server/replicad")
    ap.add_argument("--target", choices=("replicad", "cyrus"), default="replicad",
                    help="what to test: replicad (default) or a second Cyrus (harness self-test)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--only", metavar="LETTERS", help="run only these scenarios, e.g. 'at' (set-up always runs)")
    ap.add_argument("--results-json", help="also write the results to this file")
    ap.add_argument("-v", "--verbose", action="store_true", help="tracebacks for failing checks")
    args = ap.parse_args()
    if args.target == "replicad" and not args.builddir:
        ap.error("--builddir is required with --target replicad")

    signal.signal(signal.SIGTERM, _terminate_on_signal)
    signal.signal(signal.SIGHUP, _terminate_on_signal)
    t0 = time.monotonic()
    tests = PeerTests(args)
    tests.run()
    r = tests.results
    print("# peer tests took %.0fs" % (time.monotonic() - t0))
    if args.results_json:
        with open(args.results_json, "w") as f:
            json.dump({"passed": r.passed, "failed": r.failed, "tests": r.tests}, f, indent=1)
    print("%d passed, %d failed" % (r.passed, r.failed), flush=True)
    return 1 if r.failed or not r.tests else 0


if __name__ == "__main__":
    sys.exit(main())
