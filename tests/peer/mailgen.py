"""Deterministic, realistic RFC 5322 messages for the peer tests.

Every message is a function of a random.Random the caller seeds, so the same
seed gives byte-identical messages (Cyrus still picks its own UIDVALIDITY,
uniqueids, modseqs and save dates).  Kinds:
    plain       7-bit text/plain
    utf8        text/plain; charset=utf-8, 8-bit body and an RFC 2047 subject
    multipart   multipart/mixed with a base64 application/octet-stream part
    big         multipart with a ~1 MB attachment
"""
import base64
import random
import time

KINDS = ("plain", "utf8", "multipart")

_WORDS = ("replication mailbox quota annotation modseq uidvalidity expunge "
          "seen flagged answered draft keyword folder archive message record "
          "partition checksum literal server client status report meeting "
          "budget schedule review release notes summary").split()
_UTF8_WORDS = ("Grüße", "naïve", "façade", "smørrebrød", "Ærø", "żółć", "Привет",
               "мир", "日本語", "テスト", "Ελληνικά", "café", "€uro")
_SENDERS = ("Mallory Example <mallory@example.org>", "Trent Test <trent@example.net>",
            "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.de>",
            "Peggy Prover <peggy@example.com>")
_SUBJECTS = ("Status report", "Re: meeting notes", "Invoice", "Fwd: schedule",
             "Quarterly review", "Release plan")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

BASE_TIME = 1_700_000_000          # 2023-11-14: all dates lie in the year after it


def rfc5322_date(ts):
    t = time.gmtime(ts)
    return "%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        _DAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


def imap_date(ts):
    """INTERNALDATE argument of APPEND."""
    t = time.gmtime(ts)
    return '"%02d-%s-%04d %02d:%02d:%02d +0000"' % (
        t.tm_mday, _MONTHS[t.tm_mon - 1], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


def _text(rng, nbytes, utf8):
    lines, line, size = [], [], 0
    while size < nbytes:
        word = rng.choice(_UTF8_WORDS) if utf8 and rng.random() < 0.3 else rng.choice(_WORDS)
        line.append(word)
        if len(line) >= 10:
            s = " ".join(line) + "\r\n"
            lines.append(s)
            size += len(s.encode("utf-8"))
            line = []
    if line:
        lines.append(" ".join(line) + "\r\n")
    return "".join(lines).encode("utf-8")


def _base64_lines(data):
    enc = base64.b64encode(data)
    return b"".join(enc[i:i + 76] + b"\r\n" for i in range(0, len(enc), 76))


class Message:
    def __init__(self, data, date, kind):
        self.data = data
        self.date = date          # seconds since the epoch (INTERNALDATE)
        self.kind = kind

    def __len__(self):
        return len(self.data)


def make_message(rng, owner, label, index, kind=None, date=None, subject=None):
    """One message for `owner`; `label` and `index` make the Message-ID unique."""
    kind = kind or rng.choice(KINDS)
    date = date if date is not None else BASE_TIME + rng.randint(0, 365 * 86400)
    subject = subject or "%s #%d %s" % (rng.choice(_SUBJECTS), index, rng.choice(_WORDS))
    msgid = "<%s.%s.%d.%08x@peer.test>" % (owner, label.replace(" ", "_"), index, rng.getrandbits(32))
    headers = ["Return-Path: <sender@example.org>",
               "Message-ID: " + msgid,
               "Date: " + rfc5322_date(date),
               "From: " + rng.choice(_SENDERS),
               "To: %s@peer.test" % owner,
               "MIME-Version: 1.0"]
    if kind == "plain":
        headers.append("Subject: " + subject)
        headers.append("Content-Type: text/plain; charset=us-ascii")
        body = _text(rng, rng.randint(300, 6000), utf8=False)
    elif kind == "utf8":
        headers.append("Subject: =?UTF-8?B?%s?=" % base64.b64encode(
            ("Grüße: " + subject).encode()).decode())
        headers.append("Content-Type: text/plain; charset=utf-8")
        headers.append("Content-Transfer-Encoding: 8bit")
        body = _text(rng, rng.randint(300, 6000), utf8=True)
    elif kind in ("multipart", "big"):
        headers.append("Subject: " + subject)
        boundary = "=_peer_%08x" % rng.getrandbits(32)
        headers.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
        size = 1_050_000 if kind == "big" else rng.randint(2000, 40000)
        name = rng.choice(("report.pdf", "photo.jpg", "data.bin", "archive.zip"))
        b = boundary.encode()
        body = (b"This is a multi-part message in MIME format.\r\n\r\n--" + b +
                b"\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" +
                _text(rng, 400, utf8=False) +
                b"\r\n--" + b + b"\r\n" +
                ('Content-Type: application/octet-stream; name="%s"\r\n'
                 "Content-Transfer-Encoding: base64\r\n"
                 'Content-Disposition: attachment; filename="%s"\r\n\r\n' % (name, name)).encode() +
                _base64_lines(rng.randbytes(size * 3 // 4)) +
                b"\r\n--" + b + b"--\r\n")
    else:
        raise ValueError("unknown message kind %r" % kind)
    head = "\r\n".join(headers).encode("utf-8") + b"\r\n\r\n"
    return Message(head + body, date, kind)


def user_rng(seed, owner, purpose):
    """An independent, reproducible stream per (seed, user, purpose)."""
    return random.Random("%s/%s/%s" % (seed, owner, purpose))
