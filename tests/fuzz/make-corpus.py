#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, made from real replication traffic.

    tests/fuzz/make-corpus.py TRANSCRIPT_DIR [OUT_DIR]

TRANSCRIPT_DIR holds wire transcripts of Cyrus's sync_client talking to a
Cyrus replica (the `<name>.log` files written by the peer harness's logging
relay: `HH:MM:SS.mmm #<conn> C: <escaped line>`, literals abbreviated to
`  <literal N bytes> '<first bytes>'... (+M bytes)`).  OUT_DIR defaults to
tests/fuzz/corpus next to this script.  The corpora are committed; this script
is only needed to make them again.

The relay shortens literals, so a literal is rebuilt from the bytes it shows:
a plain literal keeps them and gets the matching length; a message file
literal `%{partition guid size}` keeps them too, and then gets the SHA-1 of
those bytes as its new GUID, which later lines of the same connection (the
RECORD of APPLY MAILBOX, RESERVE lists) follow, so an upload still matches the
records that use it.  Everything after STARTTLS (TLS records) is left out.
"""

import hashlib
import os
import re
import sys

LINE_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} #(\d+) ([CS]): ?(.*)$")
LITERAL_RE = re.compile(r"^  <literal (\d+) bytes> '(.*?)'(?:\.\.\. \(\+(\d+) bytes\))?$")
B64_NOTE_RE = re.compile(r"    ; base64-decoded: .*$")
LIT_HEADER_RE = re.compile(rb"\{(\d+)(\+?)\}$")
FILE_HEADER_RE = re.compile(rb"%\{([^ {}]+) ([0-9a-fA-F]{40}) (\d+)\}$")
GUID_RE = re.compile(rb"\b[0-9a-f]{40}\b")

MAX_FILE = 12 * 1024        # one corpus file
MAX_PER_TARGET = 48
MAX_FILE_LITERAL = 160      # bytes kept of each message body


def unescape(text):
    """Inverse of the relay's esc(): \\\\ \\t \\r \\n \\xHH, everything else as is."""
    out = bytearray()
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "\\":
                out.append(0x5C)
                i += 2
                continue
            if n in "trn":
                out.append({"t": 9, "r": 13, "n": 10}[n])
                i += 2
                continue
            if n == "x" and i + 3 < len(text):
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
        out.extend(c.encode("latin-1", errors="replace"))
        i += 1
    return bytes(out)


class Connection:
    def __init__(self, source, number):
        self.source = source
        self.number = number
        self.events = []          # ("C"|"S", line bytes) or ("L", literal bytes)
        self.tls = False


def read_transcript(path):
    conns = {}
    last_dir = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            m = LINE_RE.match(raw.rstrip("\n"))
            if not m:
                continue
            number, direction, text = int(m.group(1)), m.group(2), m.group(3)
            conn = conns.setdefault(number, Connection(os.path.basename(path), number))
            if conn.tls:
                continue
            if text.startswith("<") and text.endswith(">"):
                continue  # relay notes (COMPRESS switch, closes)
            lit = LITERAL_RE.match(text)
            if lit and last_dir.get(number) == direction:
                if direction == "C":
                    conn.events.append(("L", unescape(lit.group(2))))
                continue
            last_dir[number] = direction
            text = B64_NOTE_RE.sub("", text)
            conn.events.append((direction, unescape(text)))
            if direction == "C" and re.match(rb"^(\S+ )?STARTTLS$", unescape(text), re.I):
                conn.tls = True
    return [conns[k] for k in sorted(conns)]


class Command:
    def __init__(self):
        self.data = b""
        self.first_line = b""
        self.auth_response = False


def rebuild_commands(conn):
    """The client's commands as wire bytes, with literals rebuilt."""
    commands = []
    guid_map = {}
    current = None
    header = None             # the literal header that ends current.data (before its CRLF)
    auth_pending = False
    challenge_seen = False

    for kind, payload in conn.events:
        if kind == "S":
            if auth_pending:
                if payload.startswith(b"+ "):
                    challenge_seen = True
                elif not payload.startswith(b"* ") or re.match(rb"^\* (OK|NO|BAD|BYE)", payload):
                    auth_pending = False
                    challenge_seen = False
            continue
        if kind == "L":
            if current is None or header is None:
                continue
            body = payload
            fm = FILE_HEADER_RE.search(header)
            if fm:
                body = body[:MAX_FILE_LITERAL]
                guid = hashlib.sha1(body).hexdigest().encode()
                guid_map[fm.group(2).lower()] = guid
                new_header = b"%%{%s %s %d}" % (fm.group(1), guid, len(body))
            else:
                lm = LIT_HEADER_RE.search(header)
                new_header = b"{%d%s}" % (len(body), lm.group(2))
            current.data = current.data[:-len(header) - 2] + new_header + b"\r\n" + body
            header = None
            continue
        # A client line: it continues the command after a literal, or starts one.
        line = GUID_RE.sub(lambda m: guid_map.get(m.group(0), m.group(0)), payload)
        if current is None:
            current = Command()
            current.first_line = line
            current.auth_response = auth_pending and challenge_seen
            if re.match(rb"^(\S+ )?AUTHENTICATE ", line + b" ", re.I):
                auth_pending = True
                challenge_seen = False
        current.data += line + b"\r\n"
        m = FILE_HEADER_RE.search(line) or LIT_HEADER_RE.search(line)
        if m:
            header = line[m.start():]
        else:
            commands.append(current)
            current = None
    return commands


def flavour(commands):
    for c in commands:
        word = c.first_line.split(b" ", 1)[0].upper()
        if c.auth_response:
            continue
        return "csync" if word in (b"AUTHENTICATE", b"NOOP", b"EXIT", b"APPLY", b"GET",
                                   b"RESTART", b"COMPRESS", b"STARTTLS") else "imap"
    return "csync"


def is_login(c):
    return re.match(rb"^(\S+ )?(AUTHENTICATE|LOGIN)\b", c.first_line, re.I) is not None


def after_login(commands):
    """Commands that follow a completed admin login (the login itself excluded)."""
    out = []
    seen_login = False
    for c in commands:
        if is_login(c) or c.auth_response:
            seen_login = True
            continue
        if seen_login:
            out.append(c)
    return out


def packs(commands, limit):
    """Consecutive commands packed into files of at most `limit` bytes, in order."""
    out = []
    cur = b""
    for c in commands:
        if len(c.data) > limit:
            continue
        if len(cur) + len(c.data) > limit and cur:
            out.append(cur)
            cur = b""
        cur += c.data
    if cur:
        out.append(cur)
    return out


class Corpus:
    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        self.seen = set()
        self.items = []

    def add(self, label, data):
        if not data or len(data) > MAX_FILE:
            return
        digest = hashlib.sha1(data).hexdigest()
        if digest in self.seen:
            return
        self.seen.add(digest)
        self.items.append((re.sub(r"[^A-Za-z0-9_.-]", "_", label), digest[:8], data))

    def write(self):
        os.makedirs(self.dir, exist_ok=True)
        # regress-* files are inputs that once found a bug: they stay.
        for f in os.listdir(self.dir):
            if not f.startswith("regress-"):
                os.unlink(os.path.join(self.dir, f))
        # Spread the picks over all sources rather than the first few.
        step = max(1.0, len(self.items) / MAX_PER_TARGET)
        picked = [self.items[int(i * step)] for i in range(min(MAX_PER_TARGET, len(self.items)))]
        for label, digest, data in picked:
            with open(os.path.join(self.dir, "%s-%s" % (label, digest)), "wb") as f:
                f.write(data)
        return len(picked), sum(len(d) for _, _, d in picked)


# replicad.conf samples for fuzz_config: the shipped file is added by main();
# these cover every value form the reader knows, and the usual mistakes.
CONFIG_SAMPLES = {
    "all-keys": b"""listen: 127.0.0.1:2005 [::1]:2005 2006
datadir: /var/lib/replicad
servername: replica.example.org
admins: admin, repl
allowplaintext: on
maxmessagesize: 64M
lmdb_mapsize: 1T
maxconnections: 200
sync_timeout: 30m
preauth_timeout: 60s
failedloginpause: 3000ms
loglevel: debug
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: /etc/sasldb2
sasl_mech_list: PLAIN LOGIN SCRAM-SHA-256
""",
    "imapd-style": b"""# Cyrus-style file: comments, blank lines, CRLF, keys in any case
configdirectory: /var/lib/cyrus\r
Admins: admin\r
\r
AllowPlainText: yes\r
sasl_pwcheck_method: saslauthd\r
sync_timeout: 2h\r
""",
    "bad-values": b"""listen: localhost:99999 [::1:2005 *:
maxmessagesize: 5G
maxconnections: -1
sync_timeout: 10x
allowplaintext: maybe
lmdb_mapsize: 18446744073709551615T
""",
    "duplicates": b"""admins: a
ADMINS: b
no colon here
: no key
datadir:
""",
    "edge-numbers": b"""maxconnections: 9223372036854775808
failedloginpause: 18446744073709551615d
preauth_timeout: 0
maxmessagesize: 4294967295
listen: 0
""",
}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    corpora = {name: Corpus(out, name) for name in (
        "fuzz_command_parser", "fuzz_session_csync", "fuzz_session_imap",
        "fuzz_session_preauth", "fuzz_sasl_base64")}

    for name in sorted(os.listdir(src)):
        if not name.endswith(".log") or name.endswith(".client.log"):
            continue
        stem = name[:-4]
        for conn in read_transcript(os.path.join(src, name)):
            commands = rebuild_commands(conn)
            if not commands:
                continue
            label = "%s-%d" % (stem, conn.number)
            fl = flavour(commands)
            for i, c in enumerate(commands):
                corpora["fuzz_command_parser"].add("%s-%d" % (label, i), c.data)
                if is_login(c) or c.auth_response:
                    words = c.first_line.split(b" ")
                    token = words[-1] if is_login(c) else c.first_line
                    corpora["fuzz_sasl_base64"].add(label, token)
            # The session targets log in by themselves: give them what follows.
            for i, chunk in enumerate(packs(after_login(commands), MAX_FILE)):
                corpora["fuzz_session_" + fl].add("%s-%d" % (label, i), chunk)
            # The pre-login target sees the connection from its first byte.
            opening = b"".join(c.data for c in commands[:6])
            corpora["fuzz_session_preauth"].add(label, opening[:MAX_FILE])
            for server_line in (p for k, p in conn.events if k == "S" and p.startswith(b"+ ")):
                corpora["fuzz_sasl_base64"].add(label + "-challenge", server_line[2:])

    config = Corpus(out, "fuzz_config")
    shipped = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "replicad.conf")
    if os.path.exists(shipped):
        with open(shipped, "rb") as f:
            config.add("replicad.conf", f.read())
    for label, text in CONFIG_SAMPLES.items():
        config.add(label, text)
    corpora["fuzz_config"] = config

    total = 0
    for name, corpus in corpora.items():
        count, size = corpus.write()
        total += size
        print("%-22s %3d files %7d bytes" % (name, count, size))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
