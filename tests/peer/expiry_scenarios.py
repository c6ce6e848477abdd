"""Scenario x: replicad expires delayed-delete mailboxes itself (spec 3.4,
9.5).  A Cyrus master never tells its replica when it removes a
`DELETED.<name>.<hex time>` mailbox (cyr_expire -D leaves no tombstone), so
a replica must expire them on its own, as Cyrus replicas do with cyr_expire.

A replicad of its own (empty store, `deleted_expire` of a few seconds,
looking every second) gets a user whose folder the master has just deleted
(a RENAME into DELETED.*), keeps that DELETED mailbox while it is young,
and removes it -- with the message bodies nothing else uses -- once it is
older than the age, logging the counts; the user's other mailboxes stay as
they were, and the store stays consistent (`replicadctl verify --all`).
"""
import json
import os
import re
import subprocess
import time

import netutil
from dlist import text as dlist_text
from imap_session import ImapSession
from replica import Replicad

AGE = 8                     # seconds
PERIOD = 1                  # seconds between looks
USER = "carol"
FOLDER = "INBOX.Scratch"    # populate.FOLDERS has it; scenario d deletes only alice's and bob's


class ExpiryScenario:
    def __init__(self, tests):
        self.t = tests
        self.replica = None
        self.deleted_name = None
        self.before = {}        # mailbox name -> {uid: guid} on the expiry replica before expiry

    def ctl(self, *args):
        binary = os.path.join(os.path.abspath(self.t.args.builddir), "server", "replicadctl")
        return subprocess.run([binary, "-d", os.path.join(self.replica.dir, "data"), "--json"] + list(args),
                              capture_output=True, text=True, timeout=60)

    def bodies(self):
        run = self.ctl("info")
        if run.returncode != 0:
            raise RuntimeError("replicadctl info: %s" % (run.stderr or run.stdout))
        return json.loads(run.stdout)["bodies"]

    def holdings(self):
        """{mailbox name: {uid: guid}} of USER on the expiry replica."""
        session = self.t.session(self.replica)
        try:
            out = {}
            for box in session.get_user(USER).values("MAILBOX"):
                name = dlist_text(box.get("MBOXNAME"))
                records = {}
                for full in session.get_fullmailbox(name).values("MAILBOX"):
                    for rec in full.get("RECORD") or []:
                        records[dlist_text(rec.get("UID"))] = dlist_text(rec.get("GUID"))
                out[name] = records
            return out
        finally:
            session.close()

    def scenario(self):
        t = self.t
        if t.args.target != "replicad":
            return
        self.replica = Replicad(t.args.builddir, os.path.join(t.root, "replicad-expire"),
                                extra_conf=[("deleted_expire", "%ds" % AGE),
                                            ("deleted_expire_period", "%ds" % PERIOD)])
        try:
            self.replica.start()
            self.run_checks()
        finally:
            rc = self.replica.stop()
            t.check("x.stops", lambda: "" if rc == 0 else "exit status %s; log ends:\n%s" % (
                rc, self.replica.log_tail(1500)))

    def run_checks(self):
        t = self.t
        deleted_at = {}

        def replicate_fresh_deletion():
            user = t.users[USER]
            deleted_at["t"] = time.time()
            with ImapSession(t.master.host, t.master.imap_port, user.name, user.password) as imap:
                imap.delete(FOLDER)
            run = t.sync(self.replica, "x-delete", ["-u", USER], imap=False)
            reason, note = t.expect_success(run, "csync")
            self.before = self.holdings()
            names = [n for n in self.before if n.startswith("DELETED.user.%s.Scratch." % USER)]
            if len(names) != 1:
                return "expected one DELETED.user.%s.Scratch.* on the replica, it holds %s" % (
                    USER, sorted(self.before)), note
            self.deleted_name = names[0]
            if not self.before[self.deleted_name]:
                return "the deleted folder arrived without records", note
            return reason, "%s with %d records, %s" % (self.deleted_name, len(self.before[self.deleted_name]), note)

        if not t.check("x.young-deleted-kept", replicate_fresh_deletion):
            return
        bodies_before = self.bodies()
        log_offset = self.replica.log_offset()

        def expired():
            # gone within the age plus a period or two of its deletion time
            deadline = deleted_at["t"] + AGE + 3 * PERIOD + 5
            while time.time() < deadline:
                if self.deleted_name not in self.holdings():
                    break
                time.sleep(0.5)
            else:
                return "%s still there %.0fs after its deletion (age %ds)" % (
                    self.deleted_name, time.time() - deleted_at["t"], AGE)
            took = time.time() - deleted_at["t"]
            if took < AGE - 1:      # the name's time is whole seconds
                return "removed after %.1fs, before the age of %ds" % (took, AGE)
            lines = [l for l in self.replica.log_since(log_offset) if "deleted_expire: removed" in l]
            want = "removed 1 deleted mailboxes with %d records" % len(self.before[self.deleted_name])
            if not any(want in l for l in lines):
                return "no log line '%s' (got %s)" % (want, lines)
            return "", "after %.1fs: %s" % (took, lines[-1].split("deleted_expire: ", 1)[1])

        def bodies_freed():
            others = {g for name, recs in self.before.items() if name != self.deleted_name for g in recs.values()}
            only_there = set(self.before[self.deleted_name].values()) - others
            after = self.bodies()
            if bodies_before - after != len(only_there):
                return "%d bodies before, %d after; %d were used by the deleted folder only" % (
                    bodies_before, after, len(only_there))
            verify = self.ctl("verify", "--all")
            if verify.returncode != 0:
                return "replicadctl verify --all: %s" % (verify.stdout[-800:] or verify.stderr[-800:])
            return "", "%d bodies freed, store verified" % len(only_there)

        def others_untouched():
            now = self.holdings()
            expected = {n: r for n, r in self.before.items() if n != self.deleted_name}
            if now != expected:
                return "the user's other mailboxes changed: before %s, now %s" % (
                    sorted(expected), sorted(now))
            return "", "%d mailboxes as before" % len(now)

        t.check("x.expired", expired)
        t.check("x.bodies-freed", bodies_freed)
        t.check("x.others-untouched", others_untouched)
