"""Scenario v: virtual domains, `^` names and a domain quota root.

A master of its own with `virtdomains: userid` and `unixhierarchysep: yes`
(users see INBOX/Sent; a '.' inside a name is then data, which Cyrus writes
'^' in its internal names), a reference Cyrus configured alike, and a
replicad of its own.  The data set (as the users over IMAP and ManageSieve,
as the global admin, over LMTP):

  jane@example.com       INBOX, Sent (special-use), Work, Work/2024,
                         "Réunions v1.2" (non-ASCII, space, dot), a quota
                         root on STORAGE and MESSAGE, a Sieve script (active),
                         Work shared with john.doe@example.com
  john.doe@example.com   a dot in the user name (example.com!user.john^doe),
                         his \\Seen state on jane's Work (APPLY SEEN)
  joe@example.org        another domain
  shared.news@example.com  a shared folder of the domain, ACL for anyone

No domain-wide quota root ("example.com!") here: with unixhierarchysep: yes
the Cyrus reference files the root the client sends under a name that
governs nothing, so there is nothing to compare against.  The byte-exact
replay of recorded domain sessions (unixhierarchysep: no) covers it.

Runs: -u jane@example.com (CSYNC), -A (IMAP flavour: users of every
domain, then the domain's shared folders in mailbox mode), a folder of
jane's deleted (a RENAME into example.com!DELETED.*) and -u again.  After
each: GET USER / GET META / GET FULLMAILBOX of every user, the shared
folders and the quota roots equal to the reference's; a repeat run finds
nothing to do.
"""
import os

import mailgen
import replica_compare
import sync_runner
from cyrus_instance import CyrusInstance, start_instances, stop_instances
from imap_session import ImapSession, lmtp_deliver
from managesieve import ManageSieve
from replica import Replicad

USERS = {"jane@example.com": "jane-secret", "john.doe@example.com": "john-secret",
         "joe@example.org": "joe-secret"}
DOMAIN_CONF = {"virtdomains": "userid", "unixhierarchysep": "yes"}
JANE_FOLDERS = (("INBOX/Sent", "\\Sent"), ("INBOX/Work", None), ("INBOX/Work/2024", None),
                ("INBOX/Réunions v1.2", None))
SHARED = "shared/news@example.com"
SHARED_INTERNAL = ["example.com!shared", "example.com!shared.news"]
QUOTA_ROOTS = ["example.com!user.jane"]
SCRIPT = """require ["fileinto"];
# domain rules of %(user)s
if header :contains "subject" "work" { fileinto "INBOX/Work"; stop; }
keep;
"""


class DomainScenarios:
    def __init__(self, tests):
        self.t = tests
        self.master = self.ref = self.target = None

    # -- environment ---------------------------------------------------------------------

    def start(self):
        t = self.t
        tag = os.path.basename(t.root)[-6:]
        self.master = CyrusInstance(os.path.join(t.root, "dmaster"), "peer-dmaster-" + tag, USERS,
                                    extra_conf=DOMAIN_CONF)
        self.ref = CyrusInstance(os.path.join(t.root, "dref"), "peer-dref-" + tag, {},
                                 extra_conf=DOMAIN_CONF, hide_sieve_mailbox=True)
        start_instances([self.master, self.ref])
        self.target = Replicad(t.args.builddir, os.path.join(t.root, "replicad-domains")).start()

    def stop(self):
        if self.target is not None:
            self.target.stop()
        stop_instances([i for i in (self.master, self.ref) if i is not None])

    def populate(self):
        m = self.master
        rng = mailgen.user_rng(self.t.args.seed, "domains", "populate")
        with ImapSession(m.host, m.imap_port, *m.admin) as admin:
            for user in USERS:
                local, domain = user.split("@")
                admin.create("user/%s@%s" % (local, domain))
            admin.setquota("user/jane@example.com", 300_000, 5_000)
            admin.create(SHARED)
            admin.setacl(SHARED, "anyone", "lrs")
            admin.setacl(SHARED, m.ADMIN, "lrswipkxtecda")
            for i in range(2):
                admin.append(SHARED, mailgen.make_message(rng, "shared", "news", i))
        for user, password in USERS.items():
            with ImapSession(m.host, m.imap_port, user, password) as imap:
                folders = JANE_FOLDERS if user.startswith("jane@") else (("INBOX/Sent", "\\Sent"),)
                for folder, special in folders:
                    imap.create(folder, special)
                for folder in ["INBOX"] + [f for f, _ in folders]:
                    for i in range(2):
                        imap.append(folder, mailgen.make_message(rng, user, folder, i),
                                    ["\\Seen"] if i == 0 else [])
                    imap.subscribe(folder)
                imap.setmetadata("INBOX", {"/private/comment": "private comment of %s" % user})
                if user.startswith("jane@"):
                    imap.setacl("INBOX/Work", "john.doe@example.com", "lrs")
            lmtp_deliver(m.host, m.lmtp_port, user, mailgen.make_message(rng, user, "lmtp", 0))
        with ManageSieve(m.host, m.sieve_port, "jane@example.com", USERS["jane@example.com"]) as sieve:
            sieve.put_script("rules", SCRIPT % {"user": "jane@example.com"})
            sieve.set_active("rules")
        # john.doe reads jane's Work: his seen state on a folder he does not own
        with ImapSession(m.host, m.imap_port, "john.doe@example.com", USERS["john.doe@example.com"]) as imap:
            imap.select("user/jane/Work")
            imap.store(imap.uids()[:1], "+FLAGS", ["\\Seen"])
            imap.close_mailbox()

    # -- runs and checks ------------------------------------------------------------------

    def sync(self, server, label, mode_args, imap):
        t = self.t
        t.run_no += 1
        workdir = os.path.join(t.root, "runs", "%02d-v-%s" % (t.run_no, label))
        return sync_runner.run_sync_client(self.master, server.host,
                                           server.imap_port if imap else server.csync_port,
                                           mode_args, imap, workdir, self.master.admin, 90)

    def compare(self, users, shared=False):
        ref = self.t.session(self.ref)
        target = self.t.session(self.target)
        master = self.t.session(self.master)
        try:
            result = replica_compare.compare_users(ref, target, users, master=master)
            if shared:
                replica_compare.compare_mailboxes(ref, target, SHARED_INTERNAL, result=result)
            # jane has a Sieve script: the reference bumps her root's MODSEQ
            replica_compare.compare_quotas(ref, target, QUOTA_ROOTS, result=result,
                                           modseq_made_up=["example.com!user.jane"])
        finally:
            for c in (ref, target, master):
                c.close()
        if result.differences:
            return result.summary()
        return "", result.summary()

    def replicate(self, name, mode_args, imap, users, shared=False, must_apply=()):
        t = self.t
        runs = {}
        flavour = "imap" if imap else "csync"

        def initial():
            runs["ref"] = self.sync(self.ref, name + "-ref", mode_args, imap)
            runs["target"] = self.sync(self.target, name + "-target", mode_args, imap)
            if runs["ref"].rc != 0:
                return "the reference run failed: " + runs["ref"].explain()
            return t.expect_success(runs["target"], flavour, must_apply)

        def converged():
            run = self.sync(self.target, name + "-again", mode_args, imap)
            work = [c for c in run.applies() if c.kind != "CAPABILITIES"]
            if run.rc != 0 or work:
                return "rc %s, still work: %s" % (run.rc, "; ".join(str(c) for c in work[:6]))
            return ""

        if not t.check("v.%s.replicate" % name, initial):
            return
        t.check("v.%s.compare" % name, lambda: self.compare(users, shared))
        t.check("v.%s.converged" % name, converged)

    def scenario(self):
        t = self.t
        if t.args.target != "replicad":
            return
        try:
            def setup():
                self.start()
                self.populate()
                return ""

            if not t.check("v.setup", setup):
                return
            self.replicate("jane-csync", ["-u", "jane@example.com"], False, ["jane@example.com"],
                           must_apply=["example.com!user.jane", "example.com!user.jane.R&AOk-unions v1^2"])
            self.replicate("all-imap", ["-A"], True, sorted(USERS), shared=True,
                           must_apply=["example.com!user.john^doe", "example.org!user.joe",
                                       "example.com!shared.news"])

            def delete():
                with ImapSession(self.master.host, self.master.imap_port, "jane@example.com",
                                 USERS["jane@example.com"]) as imap:
                    imap.delete("INBOX/Work/2024")
                return ""

            if t.check("v.delete-folder", delete):
                self.replicate("jane-deleted", ["-u", "jane@example.com"], False, ["jane@example.com"])
        finally:
            self.stop()
