"""Deterministic changes on the master, to provoke incremental replication.

Each function does one kind of change as the user would make it (IMAP or
LMTP) and returns a one-line description for the test log.  `tag` makes
contents and names distinct between rounds.
"""
import mailgen
from imap_session import ImapSession, lmtp_deliver


def _session(master, user):
    return ImapSession(master.host, master.imap_port, user.name, user.password)


def new_mail(master, user, tag, folder="INBOX"):
    """Two APPENDs (one 8-bit) and, for INBOX, one LMTP delivery."""
    rng = mailgen.user_rng(tag, user.name, "new-mail-" + folder)
    with _session(master, user) as imap:
        imap.append(folder, mailgen.make_message(rng, user.name, folder + tag, 1, kind="plain"), ["\\Seen"])
        imap.append(folder, mailgen.make_message(rng, user.name, folder + tag, 2, kind="utf8"))
    if folder == "INBOX":
        lmtp_deliver(master.host, master.lmtp_port, user.name,
                     mailgen.make_message(rng, user.name, "lmtp" + tag, 3, kind="multipart"))
        return "2 APPEND + 1 LMTP into INBOX"
    return "2 APPEND into %s" % folder


def change_flags(master, user, folder="INBOX"):
    """+\\Flagged on the first message, -\\Seen on the second, a new keyword
    on the third, \\Answered on the fourth."""
    with _session(master, user) as imap:
        imap.select(folder)
        uids = imap.uids()
        if len(uids) < 4:
            raise RuntimeError("%s of %s has only %d messages" % (folder, user.name, len(uids)))
        imap.store([uids[0]], "+FLAGS", ["\\Flagged"])
        imap.store([uids[1]], "-FLAGS", ["\\Seen"])
        imap.store([uids[2]], "+FLAGS", ["$Label2"])
        imap.store([uids[3]], "+FLAGS", ["\\Answered"])
        imap.close_mailbox()
    return "flags changed on UIDs %s in %s" % (",".join(map(str, uids[:4])), folder)


def expunge(master, user, folder="INBOX", count=2):
    """Expunge the last `count` messages of folder."""
    with _session(master, user) as imap:
        imap.select(folder)
        uids = imap.uids()[-count:]
        imap.expunge_uids(uids)
        imap.close_mailbox()
    return "expunged UIDs %s from %s" % (",".join(map(str, uids)), folder)


def rename_folder(master, user, old, new):
    with _session(master, user) as imap:
        imap.rename(old, new)
    return "renamed %s -> %s" % (old, new)


def delete_folder(master, user, folder):
    with _session(master, user) as imap:
        imap.delete(folder)
    return "deleted %s" % folder


def mutate_user(master, user, tag):
    """The standard round of changes: new mail, flags, expunge, a rename and
    a delete (delete_mode delayed: replicated as a RENAME to DELETED.*)."""
    return [
        new_mail(master, user, tag),
        change_flags(master, user),
        expunge(master, user),
        rename_folder(master, user, "INBOX.Archive.2023", "INBOX.Archive.Year 2023"),
        delete_folder(master, user, "INBOX.Scratch"),
    ]
