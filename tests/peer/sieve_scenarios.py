"""Scenario s: Sieve scripts change on the master (ManageSieve, as a mail
client changes them) and replicate without SIEVE-MAILBOX (spec 3.9, 4.1):
APPLY SIEVE / UNSIEVE / ACTIVATE_SIEVE in user mode (-u) and meta mode (-s),
both flavours.  Each change is fed to the reference Cyrus and to the target;
GET USER / GET META must then agree (replica_compare), and a repeat run must
find nothing to do.

One change is answered differently on purpose: when the master has no
active script any more, the client sends `UNSIEVE <x>.bc` (there is no
UNACTIVATE_SIEVE in 3.6's client).  Cyrus ignores it, keeps <x> active and
gets the same UNSIEVE on every later run; replicad deactivates <x>.  For
that user the target is compared with the master, and the reference's
endless UNSIEVE is checked as the known Cyrus behaviour it is.
"""
import populate
from dlist import text as dlist_text
from managesieve import ManageSieve

# The script dave gets first, and alice's rules after their change.
WELCOME = """require ["imap4flags"];
# welcome rules of %(user)s
if header :contains "subject" "welcome" { addflag "$Welcome"; }
keep;
"""
RULES_V2 = populate.RULES.replace("Invoice", "Invoice/Receipt")


class SieveScenarios:
    def __init__(self, tests):
        self.t = tests          # run_peer_tests.PeerTests

    # -- helpers -----------------------------------------------------------------------

    def change(self, user, put=(), activate=None, delete=()):
        """Scripts of `user` on the master: upload (name, template) pairs,
        then SETACTIVE `activate` ("" = none), then delete names."""
        u = self.t.users[user]
        with ManageSieve(self.t.master.host, self.t.master.sieve_port, u.name, u.password) as sieve:
            for name, template in put:
                sieve.put_script(name, template % {"user": u.name, "seed": self.t.args.seed})
            if activate is not None:
                sieve.set_active(activate)
            for name in delete:
                sieve.delete_script(name)
            return ", ".join("%s%s" % (name, " (active)" if active else "")
                             for name, active in sieve.list_scripts()) or "no scripts"

    @staticmethod
    def sieve_commands(run):
        return [c for c in run.applies() if c.kind.endswith("SIEVE")]

    def replicate(self, name, mode_args, imap, users, want_kinds):
        """One run into the reference and the target, then compare and
        converge.  want_kinds: SIEVE command kinds the target must receive."""
        runs = {}
        flavour = "imap" if imap else "csync"

        def initial():
            runs["ref"], runs["target"] = self.t.feed_both("s-" + name.replace(".", "-"), mode_args, imap)
            reason, note = self.t.expect_success(runs["target"], flavour)
            sent = sorted({c.kind for c in self.sieve_commands(runs["target"])})
            missing = [k for k in want_kinds if k not in sent]
            if missing:
                reason = "; ".join(filter(None, [reason, "no APPLY %s was sent (sent: %s)" % (
                    " / ".join(missing), " ".join(sent) or "none")]))
            return reason, note + "; " + " ".join(str(c) for c in self.sieve_commands(runs["target"]))

        self.t.check("s.%s.replicate" % name, initial)
        self.t.check("s.%s.compare" % name, lambda: self.t.compare(runs, users=users))
        self.t.check("s.%s.converged" % name,
                     lambda: self.t.expect_converged("s-%s-again" % name.replace(".", "-"), mode_args, imap))

    def sieve_lines(self, server, user):
        """{filename: (GUID, ISACTIVE)} of GET META on `server`."""
        session = self.t.session(server)
        try:
            reply = session.get_meta(user)
        finally:
            session.close()
        out = {}
        for value in reply.values("SIEVE"):
            text = {k: dlist_text(value.get(k)) for k in ("FILENAME", "GUID", "ISACTIVE")}
            out[text["FILENAME"]] = (text["GUID"], text["ISACTIVE"])
        return out

    def deactivation(self, user):
        """erin's master has no active script any more (spec 3.9)."""
        runs = {}

        def replicate():
            runs["ref"], runs["target"] = self.t.feed_both("s-deactivate", ["-s", user], imap=False)
            reason, note = self.t.expect_success(runs["target"], "csync")
            unsieve = [c for c in self.sieve_commands(runs["target"]) if c.kind == "UNSIEVE"]
            if not unsieve:
                reason = "; ".join(filter(None, [reason, "no APPLY UNSIEVE <x>.bc was sent"]))
            return reason, note

        def like_the_master():
            master, target = self.sieve_lines(self.t.master, user), self.sieve_lines(self.t.target, user)
            if master != target:
                return "master %s, target %s" % (master, target)
            if any(active == "1" for _, active in target.values()):
                return "the target still reports an active script: %s" % target
            return "", "%d scripts, none active" % len(target)

        def cyrus_loops():
            # The reference keeps <x> active, so its next run sends the same
            # UNSIEVE again: Cyrus's behaviour, which replicad does not copy.
            run = self.t.sync(self.t.ref, "s-deactivate-ref-again", ["-s", user], imap=False)
            again = [str(c) for c in self.sieve_commands(run) if c.kind == "UNSIEVE"]
            if run.rc != 0 or not again:
                return "expected the reference to get UNSIEVE again (rc %s, sent %s)" % (
                    run.rc, [str(c) for c in run.applies()])
            return "", "Cyrus again: " + "; ".join(again)

        self.t.check("s.deactivate.replicate", replicate)
        if self.t.args.target == "cyrus":
            # the harness's self-test: a Cyrus target behaves as the reference
            self.t.check("s.deactivate.compare", lambda: self.t.compare(runs, users=[user]))
            return
        self.t.check("s.deactivate.like-master", like_the_master)
        self.t.check("s.deactivate.converged",
                     lambda: self.t.expect_converged("s-deactivate-again", ["-s", user], imap=False))
        self.t.check("s.deactivate.cyrus-loops", cyrus_loops)

    # -- the scenario --------------------------------------------------------------------

    def scenario(self):
        t = self.t
        done = {}

        def mutate():
            done["alice"] = self.change("alice", put=[("rules", RULES_V2)], delete=["vacation"])
            done["bob"] = self.change("bob", put=[("second", populate.FILTERS)], activate="second")
            done["carol"] = self.change("carol", activate="filters")
            done["dave"] = self.change("dave", put=[("welcome", WELCOME)], activate="welcome")
            done["erin"] = self.change("erin", activate="")
            return "", "; ".join("%s: %s" % kv for kv in sorted(done.items()))

        def everybody():
            # Every user on both replicas first (scenario c did so already
            # when it ran; then this finds nothing to do).
            runs = {}
            runs["ref"], runs["target"] = t.feed_both("s-all", ["-A"], imap=False)
            for name, run in sorted(runs.items()):
                if run.rc != 0:
                    return "-A into the %s failed: %s" % (name, run.explain())
            return ""

        if not t.check("s.all.initial", everybody) or not t.check("s.mutate-master", mutate):
            return
        # a changed active script and a deleted one, user mode, CSYNC
        self.replicate("csync-user", ["-u", "alice"], False, ["alice"], ["SIEVE", "UNSIEVE"])
        # a new script becomes active (the old .bc is "deleted"), meta mode, IMAP
        self.replicate("imap-meta", ["-s", "bob"], True, ["bob"], ["SIEVE", "UNSIEVE", "ACTIVATE_SIEVE"])
        # an existing script becomes active, meta mode, CSYNC
        self.replicate("csync-meta", ["-s", "carol"], False, ["carol"], ["ACTIVATE_SIEVE"])
        # a user's first script, user mode, IMAP
        self.replicate("imap-user", ["-u", "dave"], True, ["dave"], ["SIEVE", "ACTIVATE_SIEVE"])
        self.deactivation("erin")
        if t.args.target == "cyrus":
            return      # a Cyrus target gets erin's UNSIEVE <x>.bc forever, as the reference does
        # everybody, once more: nothing left to do anywhere
        t.check("s.all.converged", lambda: t.expect_converged("s-all-again", ["-A"], imap=False))
