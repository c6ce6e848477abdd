"""Scenario i: intermediates, and a user renamed on the master.

Intermediates (spec 3.3.5 step 2, 4.6): a 3.6 master gets one when a
folder with children is deleted by force -- here, as in the recorded
transcripts, by an APPLY UNMAILBOX sent to the master's own sync_server.
dave's new folder Projects (with Projects.Sub) becomes an intermediate
before any replica saw it; mailbox mode (-m) then sends it in the short
form, and both replicas must report it alike (MBOXTYPE ei, PARTITION NIL,
ACL "", OPTIONS "", FOLDERMODSEQ), and converge.

A user rename (admin RENAME user.erin user.frida, allowusermoves on the
master): the INBOX and every folder keep their uniqueids under new names.
`-u frida` then meets mailboxes the replica holds under erin's names
(IMAP_MAILBOX_MOVED on a Cyrus replica) and `-u erin` does nothing (the
master keeps tombstones of erin's names): 3.6's client cannot follow a
user rename in user mode.  Each run must end the same way on the reference
and on the target (exit code and the commands refused).  Then APPLY UNUSER
erin (sent by hand to both) removes everything of erin -- mailboxes,
subscriptions, seen state, her Sieve script -- and `-u frida` uploads
frida, who compares equal and converges.
"""
import csync_client
from dlist import text as dlist_text
from imap_session import ImapSession

OLD, NEW = "erin", "frida"


class HierarchyScenarios:
    def __init__(self, tests):
        self.t = tests

    # -- intermediates ----------------------------------------------------------------------

    def intermediate(self):
        t = self.t
        dave = t.users["dave"]
        names = ["user.dave.Projects", "user.dave.Projects.Sub"]
        runs = {}

        def make():
            with ImapSession(t.master.host, t.master.imap_port, dave.name, dave.password) as imap:
                imap.create("INBOX.Projects")
                imap.create("INBOX.Projects.Sub")
            # a forced delete of a folder with children leaves an intermediate
            master = csync_client.admin_session(t.master.host, t.master.csync_port, t.master.admin)
            try:
                reply = master.apply("UNMAILBOX", names[0])
                if not reply.ok:
                    return "the master's sync_server answered %s" % reply.status
                listed = master.get_mailboxes(names)
            finally:
                master.close()
            types = {dlist_text(v.get("MBOXNAME")): dlist_text(v.get("MBOXTYPE"))
                     for v in listed.values("MAILBOX")}
            if types.get(names[0]) != "ei":
                return "the master did not make %s an intermediate: %s" % (names[0], types)
            return ""

        def replicate():
            runs["ref"], runs["target"] = t.feed_both("i-intermediate", ["-m"] + names, imap=False)
            reason, note = t.expect_success(runs["target"], "csync", names)
            return reason, note

        if not t.check("i.intermediate.make", make):
            return
        t.check("i.intermediate.replicate", replicate)
        t.check("i.intermediate.compare", lambda: t.compare(runs, mailboxes=names))

        def again_like_cyrus():
            # An intermediate is reported with HIGHESTMODSEQ 0 while the master
            # sends 1, so mailbox mode sends it on every run -- to a Cyrus
            # replica as to replicad.  Both must find the same to do.
            ref, target = t.feed_both("i-intermediate-again", ["-m"] + names, imap=False)
            work = {}
            for side, run in (("ref", ref), ("target", target)):
                if run.rc != 0:
                    return "the %s's repeat run failed: %s" % (side, run.explain())
                work[side] = sorted("%s %s -> %s" % (c.kind, c.argument, c.reply)
                                    for c in run.applies() if c.kind != "CAPABILITIES")
            if work["ref"] != work["target"]:
                return "repeat runs differ: reference %s, target %s" % (work["ref"], work["target"])
            return "", "both: %s" % ("; ".join(work["target"]) or "nothing to do")

        t.check("i.intermediate.again", again_like_cyrus)

    # -- a user renamed ------------------------------------------------------------------------

    @staticmethod
    def outcome(run):
        """What a run came to: its exit code and the commands refused."""
        return run.rc, sorted("%s %s -> %s" % (c.kind, c.argument, c.reply) for c in run.refusals())

    def rename_user(self):
        t = self.t

        def rename():
            with ImapSession(t.master.host, t.master.imap_port, *t.master.admin) as admin:
                admin.rename("user." + OLD, "user." + NEW)
            return ""

        def same_outcome(label, mode_args):
            def check():
                ref, target = t.feed_both(label, mode_args, imap=False)
                if self.outcome(ref) != self.outcome(target):
                    return "the reference ended %s, the target %s (%s)" % (
                        self.outcome(ref), self.outcome(target), target.explain())
                rc, refused = self.outcome(target)
                return "", "both: exit %d%s" % (rc, ", refused " + "; ".join(refused) if refused else "")
            return check

        def old_user_gone():
            problems = []
            for server in (t.ref, t.target):
                session = t.session(server)
                try:
                    held = session.get_user(OLD).data + session.get_meta(OLD).data
                finally:
                    session.close()
                if held:
                    problems.append("%s still holds %s of %s" % (
                        "the reference" if server is t.ref else "the target",
                        ", ".join(sorted({name for name, _ in held})), OLD))
            return "; ".join(problems)

        def unuser():
            # What neither -u run does: remove the old user (as an operator, or
            # a rolling client replaying the USER event, would).  Everything of
            # erin goes, her Sieve script and subscriptions included.
            problems = []
            for server in (t.ref, t.target):
                session = t.session(server)
                try:
                    reply = session.apply("UNUSER", OLD)
                    if not reply.ok:
                        problems.append("%s answered %s" % (server.describe(), reply.status))
                finally:
                    session.close()
            return "; ".join(problems)

        if not t.check("i.rename.master", rename):
            return
        # Cyrus 3.6's client cannot follow a user rename in user mode: -u of
        # the new name meets the uniqueids under the old names
        # (IMAP_MAILBOX_MOVED), -u of the old name finds the master's
        # tombstones and does nothing.  replicad must end each run as Cyrus does.
        t.check("i.rename.new-user-first", same_outcome("i-rename-new", ["-u", NEW]))
        t.check("i.rename.old-user", same_outcome("i-rename-old", ["-u", OLD]))
        t.check("i.rename.unuser", unuser)
        t.check("i.rename.old-user-gone", old_user_gone)
        runs = {}

        def new_user():
            runs["ref"], runs["target"] = t.feed_both("i-rename-new-again", ["-u", NEW], imap=False)
            return t.expect_success(runs["target"], "csync", ["user." + NEW])

        t.check("i.rename.new-user", new_user)
        t.check("i.rename.compare", lambda: t.compare(runs, users=[NEW]))
        t.check("i.rename.converged", lambda: t.expect_converged("i-rename-again", ["-u", NEW], imap=False))

    def scenario(self):
        t = self.t

        def everybody():
            # every user on both replicas first (scenario c did so already
            # when it ran; then this finds nothing to do)
            ref, target = t.feed_both("i-all", ["-A"], imap=False)
            failed = [name for name, run in (("reference", ref), ("target", target)) if run.rc != 0]
            return "-A failed into the %s" % " and the ".join(failed) if failed else ""

        if not t.check("i.all.initial", everybody):
            return
        self.intermediate()
        self.rename_user()
