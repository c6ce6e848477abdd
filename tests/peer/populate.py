"""The initial data set of the master, made the way real mail arrives: over
IMAP as the users (and as admin for what only an admin may do) and over LMTP.

For every user U (deterministic for a given seed):
  as admin  CREATE user.U; SETQUOTA (all users but one); SETMETADATA
            /shared/comment on user.U; SETACL on two folders
  as U      CREATE the folders of FOLDERS (special-use where it applies),
            APPEND messages to every mailbox (plain, 8-bit UTF-8, multipart
            with a base64 attachment; a ~1 MB one into some INBOXes) with
            flags \\Seen \\Flagged \\Answered \\Draft and keywords, later
            STORE changes, a few expunges, SUBSCRIBE (all but one folder),
            SETMETADATA /private/comment (and /shared/comment on Sent)
  via LMTP  deliveries into INBOX
  via ManageSieve  the user's Sieve scripts (SIEVE_SCRIPTS), one of them
            made active (all users but dave; carol's stays inactive)
As admin, shared (non-user) mailboxes too (SHARED): a hierarchy with
messages, an ACL for anyone, a space and non-ASCII in a name, and
a quota root on every resource Cyrus knows; carol's quota also limits all
four resources (STORAGE, MESSAGE, X-ANNOTATION-STORAGE, X-NUM-FOLDERS).
Finally every user's neighbour marks messages of the user's Archive \\Seen
(non-owner seen state: SEEN lines in GET USER of the reader).
"""
import mailgen
from imap_session import ImapSession, lmtp_deliver, mutf7
from managesieve import ManageSieve

# (folder below INBOX, special-use attribute)
FOLDERS = (
    ("Sent", "\\Sent"),
    ("Drafts", "\\Drafts"),
    ("Archive", "\\Archive"),
    ("Archive.2023", None),
    ("Trash", "\\Trash"),
    ("My Projects", None),         # a space in the name
    ("Boîte à idées", None),       # non-ASCII and spaces: mUTF-7 on the wire
    ("Scratch", None),             # mutate deletes it (special-use ones are protected)
)
UNSUBSCRIBED = "Boîte à idées"     # so that LSUB differs from the folder list

# Sieve scripts by name; "%(user)s" and "%(seed)s" are filled in.  bob's
# rules have CR LF line ends: scripts travel as the bytes the user uploaded.
RULES = """require ["fileinto", "imap4flags"];
# rules of %(user)s (seed %(seed)s)
if header :contains "subject" "Invoice" {
    fileinto "INBOX.Archive";
    stop;
}
if header :contains "from" "mallory" {
    addflag "\\\\Flagged";
}
keep;
"""
VACATION = """require ["vacation"];
vacation :days 7 :subject "Away" "%(user)s is away (seed %(seed)s).";
"""
FILTERS = """require ["fileinto"];
if size :over 500K { fileinto "INBOX.Archive"; }
"""
KEYWORDS = ("$Label1", "Project-X", "$Forwarded", "NonJunk")


# Shared mailboxes (created by admin, in this order) and their messages.
SHARED = (("shared", 1), ("shared.news", 3), ("shared.news.sports", 2), ("shared.Équipe commune", 1))
SHARED_QUOTA = ("shared", 500_000, 1_000, {"X_ANNOTATION_STORAGE": 100, "X_NUM_FOLDERS": 10})


def shared_internal_names():
    """The replication-protocol names of the shared mailboxes."""
    return [mutf7(name) for name, _ in SHARED]


class User:
    def __init__(self, name, password, quota=None, big_message=False, sieve=(), active_sieve=None,
                 quota_more=None):
        self.name = name
        self.password = password
        self.quota = quota                 # (storage KB, messages) or None
        self.quota_more = dict(quota_more or {})   # more resources: {"X_NUM_FOLDERS": 40, ...}
        self.big_message = big_message
        self.sieve = tuple(sieve)          # ((script name, template), ...)
        self.active_sieve = active_sieve   # name of the active script, or None

    def folders(self):
        return ["INBOX"] + ["INBOX." + f for f, _ in FOLDERS]

    def internal_names(self):
        """The replication-protocol names of the user's mailboxes."""
        return ["user." + self.name] + ["user.%s.%s" % (self.name, mutf7(f)) for f, _ in FOLDERS]


def default_users():
    return [
        User("alice", "alice-secret", quota=(4_000_000, 90_000), big_message=True,
             sieve=(("rules", RULES), ("vacation", VACATION)), active_sieve="rules"),
        User("bob", "bob-secret", quota=(3_000_000, 80_000), big_message=True,
             sieve=(("rules", RULES.replace("\n", "\r\n")),), active_sieve="rules"),
        User("carol", "carol-secret", quota=(2_000_000, 70_000), sieve=(("filters", FILTERS),),
             quota_more={"X_ANNOTATION_STORAGE": 2_000, "X_NUM_FOLDERS": 40}),
        User("dave", "dave-secret"),
        User("erin", "erin-secret", quota=(1_000_000, 60_000),
             sieve=(("vacation", VACATION),), active_sieve="vacation"),
    ]


class PopulateStats:
    def __init__(self):
        self.appended = 0
        self.bytes = 0
        self.expunged = 0
        self.delivered = 0
        self.scripts = 0

    def __str__(self):
        return "%d appended (%d bytes), %d expunged, %d via LMTP, %d Sieve scripts" % (
            self.appended, self.bytes, self.expunged, self.delivered, self.scripts)


def _flags_for(rng, folder):
    flags = []
    if rng.random() < 0.6:
        flags.append("\\Seen")
    if rng.random() < 0.15:
        flags.append("\\Flagged")
    if rng.random() < 0.1:
        flags.append("\\Answered")
    if folder.endswith("Drafts"):
        flags.append("\\Draft")
    for kw in KEYWORDS[:2]:
        if rng.random() < 0.1:
            flags.append(kw)
    return flags


def populate_user(master, user, users, seed, messages_per_folder, stats):
    rng = mailgen.user_rng(seed, user.name, "populate")
    others = [u.name for u in users if u.name != user.name]
    neighbour = others[0] if others else "anyone"

    with ImapSession(master.host, master.imap_port, *master.admin) as admin:
        admin.create("user." + user.name)
        if user.quota:
            admin.setquota("user." + user.name, *user.quota, **user.quota_more)
        admin.setmetadata("user." + user.name,
                          {"/shared/comment": "shared comment for %s (seed %s)" % (user.name, seed)})

    with ImapSession(master.host, master.imap_port, user.name, user.password) as imap:
        for folder, special in FOLDERS:
            imap.create("INBOX." + folder, special)
        for mailbox in user.folders():
            count = messages_per_folder + (2 if mailbox == "INBOX" else 0)
            for i in range(count):
                msg = mailgen.make_message(rng, user.name, mailbox, i)
                imap.append(mailbox, msg, _flags_for(rng, mailbox))
                stats.appended += 1
                stats.bytes += len(msg)
            if mailbox == "INBOX" and user.big_message:
                msg = mailgen.make_message(rng, user.name, mailbox, 999, kind="big")
                imap.append(mailbox, msg, ["\\Seen"])
                stats.appended += 1
                stats.bytes += len(msg)
            # later changes, as a mail client would make them
            imap.select(mailbox)
            uids = imap.uids()
            if len(uids) >= 3:
                imap.store([uids[1]], "+FLAGS", [KEYWORDS[2], KEYWORDS[3]])
                imap.store([uids[2]], "-FLAGS", ["\\Seen"])
                imap.store([uids[2]], "+FLAGS", ["\\Flagged"])
            if mailbox in ("INBOX", "INBOX.Archive") and len(uids) >= 4:
                imap.expunge_uids([uids[3]])
                stats.expunged += 1
            imap.close_mailbox()
        for mailbox in user.folders():
            if mailbox != "INBOX." + UNSUBSCRIBED:
                imap.subscribe(mailbox)
        imap.setmetadata("INBOX", {"/private/comment": "private comment of %s" % user.name})
        imap.setmetadata("INBOX.Sent", {"/private/comment": "%s's own note on Sent" % user.name,
                                        "/shared/comment": "Sent of %s" % user.name})

    with ImapSession(master.host, master.imap_port, *master.admin) as admin:
        admin.setacl("user.%s.Archive" % user.name, neighbour, "lrs")
        admin.setacl("user.%s.%s" % (user.name, "My Projects"), "anyone", "lr")

    for i in range(2):
        lmtp_deliver(master.host, master.lmtp_port, user.name,
                     mailgen.make_message(rng, user.name, "lmtp", 100 + i))
        stats.delivered += 1

    if user.sieve:
        with ManageSieve(master.host, master.sieve_port, user.name, user.password) as sieve:
            for name, template in user.sieve:
                sieve.put_script(name, template % {"user": user.name, "seed": seed})
                stats.scripts += 1
            if user.active_sieve:
                sieve.set_active(user.active_sieve)


def read_neighbours_archive(master, users):
    """Each user's neighbour (who has lrs on the owner's Archive) marks two of
    its messages \\Seen: seen state of a non-owner lives in the reader's seen
    database, which replication carries as SEEN lines / APPLY SEEN."""
    by_name = {u.name: u for u in users}
    for owner in users:
        others = [u.name for u in users if u.name != owner.name]
        if not others:
            continue
        reader = by_name[others[0]]
        with ImapSession(master.host, master.imap_port, reader.name, reader.password) as imap:
            imap.select("user.%s.Archive" % owner.name)
            uids = imap.uids()[:2]
            if uids:
                imap.store(uids, "+FLAGS", ["\\Seen"])
            imap.close_mailbox()


def populate_shared(master, seed, stats):
    """The shared mailboxes of SHARED, as an administrator makes them."""
    rng = mailgen.user_rng(seed, "shared", "populate")
    with ImapSession(master.host, master.imap_port, *master.admin) as admin:
        for name, count in SHARED:
            admin.create(name)
            admin.setacl(name, "anyone", "lrs")
            admin.setacl(name, master.ADMIN, "lrswipkxtecda")   # an admin may not append by default
            for i in range(count):
                msg = mailgen.make_message(rng, "shared", name, i)
                admin.append(name, msg, ["\\Seen"] if i == 0 else [])
                stats.appended += 1
                stats.bytes += len(msg)
        # (no SETMETADATA here: Cyrus 3.6.1's imapd aborts on it for a shared
        # mailbox, "assertion failed: user_isnamespacelocked(userid)")
        root, storage_kb, messages, more = SHARED_QUOTA
        admin.setquota(root, storage_kb, messages, **more)


def populate(master, users, seed=1, messages_per_folder=4):
    """Fill `master` (a started CyrusInstance) with the data set for `users`."""
    stats = PopulateStats()
    populate_shared(master, seed, stats)
    for user in users:
        populate_user(master, user, users, seed, messages_per_folder, stats)
    read_neighbours_archive(master, users)
    return stats
