"""A thin layer over imaplib for driving a Cyrus master as its users.

* every command is checked (ImapError on anything but OK);
* TCP_NODELAY: imaplib sends a literal and its CRLF in two writes, and
  without it every APPEND waits 40 ms for a delayed ACK;
* folder names are given as Unicode ("Boîte à idées") and sent as quoted
  modified UTF-7 (RFC 3501 5.1.3), which is also how Cyrus 3.6 names them
  internally and on the replication wire.
"""
import base64
import imaplib
import smtplib
import socket

import mailgen

for _cmd in ("SETMETADATA", "GETMETADATA", "SETQUOTA", "GETQUOTA"):
    imaplib.Commands.setdefault(_cmd, ("AUTH", "SELECTED"))


class ImapError(RuntimeError):
    pass


def mutf7(name):
    """Unicode -> IMAP modified UTF-7."""
    out, pending = [], []

    def flush():
        if pending:
            raw = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(raw).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def mailbox_arg(name):
    return quote(mutf7(name))


class ImapSession:
    def __init__(self, host, port, user, password, timeout=60):
        self.user = user
        self.imap = imaplib.IMAP4(host, port, timeout=timeout)
        self.imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.check(self.imap.login(user, password), "LOGIN %s" % user)

    @staticmethod
    def check(result, what):
        typ, data = result
        if typ != "OK":
            raise ImapError("%s: %s %r" % (what, typ, data))
        return data

    def simple(self, command, *args):
        return self.check(self.imap._simple_command(command, *args), "%s %s" % (command, " ".join(args)))

    def create(self, name, special_use=None):
        if special_use:
            return self.simple("CREATE", mailbox_arg(name), "(USE (%s))" % special_use)
        return self.simple("CREATE", mailbox_arg(name))

    def append(self, mailbox, message, flags=()):
        flagstr = "(" + " ".join(flags) + ")" if flags else None
        return self.check(self.imap.append(mailbox_arg(mailbox), flagstr,
                                           mailgen.imap_date(message.date), message.data),
                          "APPEND to %s" % mailbox)

    def select(self, mailbox):
        return self.check(self.imap.select(mailbox_arg(mailbox)), "SELECT %s" % mailbox)

    def uids(self):
        data = self.check(self.imap.uid("SEARCH", "ALL"), "UID SEARCH")
        return [int(x) for x in data[0].split()] if data and data[0] else []

    def store(self, uids, action, flags):
        uidset = ",".join(str(u) for u in uids)
        return self.check(self.imap.uid("STORE", uidset, action, "(" + " ".join(flags) + ")"),
                          "UID STORE %s %s" % (uidset, action))

    def expunge_uids(self, uids):
        self.store(uids, "+FLAGS.SILENT", ["\\Deleted"])
        # UID EXPUNGE (UIDPLUS) removes exactly these, not other \Deleted ones
        return self.check(self.imap.uid("EXPUNGE", ",".join(str(u) for u in uids)), "UID EXPUNGE")

    def close_mailbox(self):
        return self.check(self.imap.close(), "CLOSE")

    def subscribe(self, mailbox):
        return self.check(self.imap.subscribe(mailbox_arg(mailbox)), "SUBSCRIBE %s" % mailbox)

    def unsubscribe(self, mailbox):
        return self.check(self.imap.unsubscribe(mailbox_arg(mailbox)), "UNSUBSCRIBE %s" % mailbox)

    def rename(self, old, new):
        return self.check(self.imap.rename(mailbox_arg(old), mailbox_arg(new)), "RENAME %s" % old)

    def delete(self, mailbox):
        return self.check(self.imap.delete(mailbox_arg(mailbox)), "DELETE %s" % mailbox)

    def setacl(self, mailbox, who, rights):
        return self.check(self.imap.setacl(mailbox_arg(mailbox), who, rights), "SETACL %s" % mailbox)

    def setmetadata(self, mailbox, entries):
        """entries: {"/private/comment": "text", ...}; ASCII values (quoted)."""
        body = " ".join("%s %s" % (k, quote(v)) for k, v in entries.items())
        return self.simple("SETMETADATA", mailbox_arg(mailbox), "(" + body + ")")

    def setquota(self, root, storage_kb, messages, **more):
        """STORAGE and MESSAGE, plus any other resource by its name with
        '-' as '_' (X_ANNOTATION_STORAGE=..., X_NUM_FOLDERS=...)."""
        limits = [("STORAGE", storage_kb), ("MESSAGE", messages)]
        limits += [(name.replace("_", "-"), value) for name, value in sorted(more.items())]
        return self.simple("SETQUOTA", mailbox_arg(root),
                           "(" + " ".join("%s %d" % kv for kv in limits if kv[1] is not None) + ")")

    def logout(self):
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.logout()
        return False


def lmtp_deliver(host, port, recipient, message):
    """One delivery through lmtpd -a (pre-authenticated, no LMTP AUTH)."""
    with smtplib.LMTP(host, port) as lmtp:
        lmtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        refused = lmtp.sendmail("sender@example.org", [recipient], message.data)
        if refused:
            raise ImapError("LMTP delivery to %s refused: %r" % (recipient, refused))
