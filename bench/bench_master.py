"""The benchmark's master: a Cyrus 3.6 instance (tests/peer/cyrus_instance)
filled over IMAP APPEND as its users (tests/peer/imap_session), one thread
per user.

Workload: USERS users x MAILBOXES mailboxes (INBOX, Sent, Archive, Trash,
then Folder5, ...) x MESSAGES messages, sizes spread evenly over
[SIZE/2, 3*SIZE/2] (so SIZE is the mean), plain RFC 5322 text with the
headers real mail has, deterministic for a seed.  60% \\Seen, some \\Flagged.

A populated master is kept in the work directory and reused by the next
run with the same workload (the marker file records it).
"""
import json
import os
import random
import threading
import time

import mailgen
import netutil
from cyrus_instance import CyrusError, CyrusInstance
from imap_session import ImapSession

FOLDERS = ("INBOX", "INBOX.Sent", "INBOX.Archive", "INBOX.Trash")
_WORDS = ("replication mailbox quota annotation modseq uidvalidity expunge seen flagged "
          "answered draft keyword folder archive message record partition checksum "
          "literal server client status report meeting budget schedule review").split()


class Workload:
    def __init__(self, users=5, mailboxes=4, messages=500, size=10240, seed=7):
        self.users = users
        self.mailboxes = mailboxes
        self.messages = messages
        self.size = size
        self.seed = seed

    @property
    def total_messages(self):
        return self.users * self.mailboxes * self.messages

    def folders(self):
        extra = ["INBOX.Folder%d" % i for i in range(len(FOLDERS) + 1, self.mailboxes + 1)]
        return list(FOLDERS[:self.mailboxes]) + extra

    def user_names(self):
        return ["user%02d" % i for i in range(1, self.users + 1)]

    def describe(self):
        return "%d users x %d mailboxes x %d messages of ~%d bytes (%d messages)" % (
            self.users, self.mailboxes, self.messages, self.size, self.total_messages)

    def key(self):
        return {"users": self.users, "mailboxes": self.mailboxes, "messages": self.messages,
                "size": self.size, "seed": self.seed}


class ReusableCyrus(CyrusInstance):
    """A CyrusInstance that can also start again on a directory an earlier
    run created (new ports, same data)."""

    def start_existing(self, attempts=3):
        last_error = None
        for _ in range(attempts):
            self.ports = {name: netutil.free_port() for name in ("imap", "lmtp", "csync", "sieve")}
            with open(os.path.join(self.dir, "cyrus.conf"), "w") as f:
                f.write(self._cyrus_conf())
            try:
                self._start_master()
                self._wait_ready()
                return self
            except CyrusError as e:
                last_error = e
                self.stop()
        raise CyrusError("%s did not start again: %s" % (self.servername, last_error))


def make_message(rng, owner, folder, index, mean_size):
    target = rng.randint(mean_size // 2, mean_size + mean_size // 2)
    date = mailgen.BASE_TIME + rng.randint(0, 365 * 86400)
    head = ("Return-Path: <sender@example.org>\r\n"
            "Message-ID: <%s.%s.%d.%08x@bench.test>\r\n"
            "Date: %s\r\n"
            "From: Bench Sender <sender@example.org>\r\n"
            "To: %s@bench.test\r\n"
            "Subject: %s #%d %s\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n\r\n" % (
                owner, folder.replace(".", "_"), index, rng.getrandbits(32), mailgen.rfc5322_date(date),
                owner, rng.choice(("Status report", "Re: meeting notes", "Invoice", "Release plan")),
                index, rng.choice(_WORDS))).encode()
    lines = [head]
    size = len(head)
    while size < target:
        line = (" ".join(rng.choice(_WORDS) for _ in range(10)) + "\r\n").encode()
        lines.append(line)
        size += len(line)
    return mailgen.Message(b"".join(lines), date, "plain")


def _fill_user(master, user, password, workload, errors):
    try:
        rng = random.Random("%s/%s" % (workload.seed, user))
        with ImapSession(master.host, master.imap_port, *master.admin) as admin:
            admin.create("user." + user)
        with ImapSession(master.host, master.imap_port, user, password) as imap:
            for folder in workload.folders():
                if folder != "INBOX":
                    imap.create(folder)
                for i in range(workload.messages):
                    flags = []
                    if rng.random() < 0.6:
                        flags.append("\\Seen")
                    if rng.random() < 0.15:
                        flags.append("\\Flagged")
                    imap.append(folder, make_message(rng, user, folder, i, workload.size), flags)
    except Exception as e:   # reported by the caller; the other users carry on
        errors.append("%s: %s" % (user, e))


def open_master(workdir, workload, log=print):
    """A started, populated master for `workload` under workdir/master."""
    directory = os.path.join(workdir, "master")
    marker = os.path.join(workdir, "master.populated")
    passwords = {u: "%s-secret" % u for u in workload.user_names()}
    master = ReusableCyrus(directory, "bench-master", passwords)
    if os.path.exists(marker):
        with open(marker) as f:
            if json.load(f) == workload.key():
                master.start_existing()
                log("# master: reusing %s (%s)" % (directory, workload.describe()))
                return master
    if os.path.exists(directory):
        master.remove()
    if os.path.exists(marker):
        os.unlink(marker)
    master.start()
    t0 = time.monotonic()
    errors = []
    threads = [threading.Thread(target=_fill_user, args=(master, u, p, workload, errors))
               for u, p in passwords.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        master.stop()
        raise RuntimeError("populating the master failed: " + "; ".join(errors))
    with open(marker, "w") as f:
        json.dump(workload.key(), f)
    log("# master: populated %s in %.1f s" % (workload.describe(), time.monotonic() - t0))
    return master
