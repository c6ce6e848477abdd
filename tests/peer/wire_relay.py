"""A logging TCP relay between sync_client and a replica, so tests can see
exactly which commands the client sent and what the replica answered.

Bytes are forwarded unchanged.  A decoded copy of each direction of each
connection is written to LOGDIR/connN.c2s and LOGDIR/connN.s2c:
CSYNC sessions switch to raw DEFLATE (RFC 1951, both directions) right after
the replica's OK to `COMPRESS DEFLATE` (spec 1.4); the relay follows that
switch and logs the inflated stream.  The IMAP flavour never compresses.

After the session, transcript() parses the decoded copies into WireCommand
objects (one per client command, paired with the replica's status line).
"""
import os
import socket
import threading
import zlib

import dlist

CSYNC_VERBS = {"AUTHENTICATE", "STARTTLS", "COMPRESS", "NOOP", "EXIT", "APPLY", "GET",
               "RESTART", "RESTORE"}
# IMAP-flavour replication commands and their CSYNC equivalents
IMAP_SYNC_VERBS = {"SYNCAPPLY": "APPLY", "SYNCGET": "GET", "SYNCRESTART": "RESTART",
                   "SYNCRESTORE": "RESTORE"}


class WireCommand:
    """One command of sync_client, flavour-independent: verb is APPLY, GET,
    RESTART, ... (SYNCAPPLY counts as APPLY); kind is the word after it
    (MESSAGE, MAILBOX, USER, ...)."""

    def __init__(self, conn, tag, wire_verb, kind, argument, reply=None):
        self.conn = conn
        self.tag = tag
        self.wire_verb = wire_verb
        self.verb = IMAP_SYNC_VERBS.get(wire_verb, wire_verb)
        self.kind = kind
        self.argument = argument
        self.reply = reply          # status line text, e.g. "OK success"

    @property
    def flavour(self):
        if self.wire_verb in IMAP_SYNC_VERBS:
            return "imap"
        if self.tag is None:
            return "csync"
        return "imap"

    @property
    def accepted(self):
        return self.reply is not None and self.reply.startswith("OK")

    def __str__(self):
        s = " ".join(x for x in (self.tag, self.wire_verb, self.kind, self.argument) if x)
        return s + (" -> " + self.reply if self.reply else "")


def _summarise_argument(kind, value):
    if isinstance(value, dlist.KvList):
        if kind in ("MAILBOX", "LOCAL_MAILBOX", "SUB", "UNSUB", "ANNOTATION", "UNANNOTATION", "EXPUNGE"):
            return dlist.text(value.get("MBOXNAME"))
        if kind in ("RENAME", "LOCAL_RENAME"):
            return "%s -> %s" % (dlist.text(value.get("OLDMBOXNAME")), dlist.text(value.get("NEWMBOXNAME")))
        if kind in ("QUOTA", "UNQUOTA"):
            return dlist.text(value.get("ROOT"))
        if kind == "SEEN":
            return "%s %s" % (dlist.text(value.get("USERID")), dlist.text(value.get("UNIQUEID")))
        if kind in ("SIEVE", "UNSIEVE", "ACTIVATE_SIEVE", "UNACTIVATE_SIEVE"):
            return " ".join(dlist.text(value.get(k)) for k in ("USERID", "FILENAME") if value.get(k) is not None)
    if kind == "MESSAGE" and isinstance(value, list):
        return "%d files" % len(value)
    t = dlist.text(value)
    return t if len(t) < 120 else t[:117] + "..."


def parse_command(conn, line):
    words = line.split(b" ", 3)
    first = words[0].decode("ascii", "replace")
    if first.upper() in CSYNC_VERBS:
        tag, rest = None, line
    else:
        tag, rest = first, line[len(words[0]) + 1:]
    head = rest.split(b" ", 2)
    verb = head[0].decode("ascii", "replace").upper()
    if verb in ("AUTHENTICATE",):
        mech = head[1].decode("ascii", "replace") if len(head) > 1 else ""
        return WireCommand(conn, tag, verb, mech, "")   # never log the credentials
    kind = head[1].decode("ascii", "replace").upper() if len(head) > 1 else ""
    argument = ""
    if len(head) > 2:
        try:
            values = dlist.parse_values(head[2])
            argument = _summarise_argument(kind, values[0] if len(values) == 1 else values)
        except (dlist.DlistError, IndexError):
            argument = head[2][:100].decode("utf-8", "replace")
    return WireCommand(conn, tag, verb, kind, argument)


def transcript_of(conn, c2s_path, s2c_path, skip_banner=True):
    """[WireCommand] from one connection's decoded streams, replies paired
    in order.  skip_banner: the server's stream starts with the banner or
    greeting (up to `* OK`), which answers no command."""
    commands = []
    with open(c2s_path, "rb") as f:
        reader = dlist.LineReader(f)
        while True:
            try:
                line = reader.read()
            except dlist.DlistError:
                break
            if line is None:
                break
            if line.strip():
                commands.append(parse_command(conn, line))
    with open(s2c_path, "rb") as f:
        reader = dlist.LineReader(f)
        try:
            if skip_banner:
                line = reader.read()
                while line is not None and not line[:4].upper() == b"* OK":
                    line = reader.read()
            for cmd in commands:
                line = reader.read()
                while line is not None and line.startswith(b"* "):
                    line = reader.read()
                if line is None:
                    break
                words = line.decode("utf-8", "replace").split(" ")
                if cmd.tag and words and words[0] == cmd.tag:
                    words = words[1:]
                cmd.reply = " ".join(words)[:200]
        except dlist.DlistError:
            pass
    return commands


class _Connection:
    def __init__(self, index, client, server, logdir):
        self.index = index
        self.client = client
        self.server = server
        self.c2s_path = os.path.join(logdir, "conn%d.c2s" % index)
        self.s2c_path = os.path.join(logdir, "conn%d.s2c" % index)
        self.c2s_log = open(self.c2s_path, "wb")
        self.s2c_log = open(self.s2c_path, "wb")
        self.lock = threading.Lock()
        self.c2s_inflate = None
        self.s2c_inflate = None
        self.compress_tag = None        # tag of a pending COMPRESS (b"" = untagged)
        self.c2s_scan = True            # still looking for COMPRESS in the clear text
        self.c2s_buf = b""
        self.s2c_buf = b""
        self.threads = [threading.Thread(target=self._pump, args=(client, server, self._seen_c2s), daemon=True),
                        threading.Thread(target=self._pump, args=(server, client, self._seen_s2c), daemon=True)]
        for t in self.threads:
            t.start()

    def _pump(self, src, dst, observe):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                # observe first: the state switch for COMPRESS must be in
                # place before the peer can react to these bytes
                observe(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
                try:
                    sock.shutdown(how)
                except OSError:
                    pass

    def _seen_c2s(self, data):
        with self.lock:
            if self.c2s_inflate is not None:
                self.c2s_log.write(self.c2s_inflate.decompress(data))
                return
            self.c2s_log.write(data)
            if not self.c2s_scan:
                return
            self.c2s_buf += data
            while b"\n" in self.c2s_buf:
                line, self.c2s_buf = self.c2s_buf.split(b"\n", 1)
                words = line.strip().split(b" ")
                upper = [w.upper() for w in words[:2]]
                if upper[:1] == [b"COMPRESS"]:
                    self.compress_tag = b""
                elif upper[1:2] == [b"COMPRESS"]:
                    self.compress_tag = words[0]
                elif upper[:1] in ([b"APPLY"], [b"GET"]) or upper[1:2] in ([b"SYNCAPPLY"], [b"SYNCGET"]):
                    # replication work has begun: COMPRESS can no longer come,
                    # and message bodies must not be scanned for it
                    self.c2s_scan = False
                    self.c2s_buf = b""
                    return
            if len(self.c2s_buf) > 1 << 16:
                self.c2s_scan = False
                self.c2s_buf = b""

    def _seen_s2c(self, data):
        with self.lock:
            if self.s2c_inflate is not None:
                self.s2c_log.write(self.s2c_inflate.decompress(data))
                return
            if self.compress_tag is None:
                self.s2c_log.write(data)
                return
            buf = self.s2c_buf + data
            self.s2c_buf = b""
            pos = 0
            while True:
                nl = buf.find(b"\n", pos)
                if nl < 0:
                    self.s2c_log.write(buf[pos:])
                    return
                line = buf[pos:nl + 1]
                self.s2c_log.write(line)
                pos = nl + 1
                prefix = self.compress_tag + b" " if self.compress_tag else b""
                if line.startswith(prefix):
                    word = line[len(prefix):].split(b" ", 1)[0].strip().upper()
                    if word in (b"OK", b"NO", b"BAD"):
                        self.compress_tag = None
                        self.c2s_scan = False
                        if word == b"OK":
                            # from the next byte on both directions are deflated
                            self.c2s_inflate = zlib.decompressobj(-15)
                            self.s2c_inflate = zlib.decompressobj(-15)
                            self.s2c_log.write(self.s2c_inflate.decompress(buf[pos:]))
                        else:
                            self.s2c_log.write(buf[pos:])
                        return

    def join(self, timeout):
        for t in self.threads:
            t.join(timeout)
        for sock in (self.client, self.server):
            try:
                sock.close()
            except OSError:
                pass
        with self.lock:
            self.c2s_log.close()
            self.s2c_log.close()

    # -- analysis ---------------------------------------------------------------------

    def transcript(self):
        """[WireCommand] of this connection, replies paired in order (the
        protocol is strictly request/response)."""
        return transcript_of(self.index, self.c2s_path, self.s2c_path)


class WireRelay:
    """Listens on a free 127.0.0.1 port and relays every connection to
    (host, port).  Use as a context manager; `port` is where clients go."""

    def __init__(self, host, port, logdir):
        self.target = (host, port)
        self.logdir = logdir
        os.makedirs(logdir, exist_ok=True)
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.connections = []
        self.errors = []
        self.closing = False
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.acceptor.start()

    def _accept_loop(self):
        while not self.closing:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.closing:
                client.close()
                return
            try:
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError as e:
                self.errors.append("relay could not reach %s:%d: %s" % (self.target + (e,)))
                client.close()
                continue
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections.append(_Connection(len(self.connections) + 1, client, server, self.logdir))

    def close(self, timeout=10.0):
        self.closing = True
        try:
            # shutdown() wakes a thread blocked in accept() (close() does not)
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.acceptor.join(2)
        for c in self.connections:
            c.join(timeout)

    def transcript(self):
        commands = []
        for c in self.connections:
            commands += c.transcript()
        return commands

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
