"""A small replication client of our own, to ask a replica what it holds.

Speaks both flavours of the Cyrus 3.6 replication protocol (spec 1.1-1.7):
    csync   banner `* ...` lines ending in `* OK`, untagged commands
            (`AUTHENTICATE PLAIN <b64>`, `GET USER alice`), untagged status
            lines (`OK success`, `NO Permission denied`)
    imap    greeting `* OK [CAPABILITY ...]`, tagged commands
            (`A01 AUTHENTICATE PLAIN <b64>`, `T1 SYNCGET USER alice`),
            tagged status lines
It never compresses and never pipelines.  Replies are parsed into dlist
values (dlist.py): `* NAME value` data lines become (NAME, value) pairs.

Example:
    with SyncClient(host, port) as c:
        c.authenticate_plain("admin", "secret")
        reply = c.get_user("alice")
        for name, value in reply.data: ...
"""
import base64
import socket

import dlist


class ProtocolError(RuntimeError):
    pass


class Status:
    """The final line of a reply: word (OK/NO/BAD/BYE or '+' for a SASL
    continuation) and the text after it, tag removed."""

    def __init__(self, word, text, raw):
        self.word = word
        self.text = text
        self.raw = raw

    @property
    def ok(self):
        return self.word == "OK"

    def __str__(self):
        return ("%s %s" % (self.word, self.text)).strip()


class Reply:
    def __init__(self, data, status):
        self.data = data          # [(NAME, value)]
        self.status = status

    @property
    def ok(self):
        return self.status.ok

    def values(self, name):
        return [v for n, v in self.data if n == name]

    def __str__(self):
        return "%d data lines, %s" % (len(self.data), self.status)


class SyncClient:
    def __init__(self, host, port, flavour="csync", timeout=60.0, ssl_context=None):
        """ssl_context: speak TLS from the first byte (a listen_tls port)."""
        if flavour not in ("csync", "imap"):
            raise ValueError("flavour must be csync or imap")
        self.flavour = flavour
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ssl_context is not None:
            self.sock = ssl_context.wrap_socket(self.sock)
        self.rfile = self.sock.makefile("rb", buffering=1 << 16)
        self.reader = dlist.LineReader(self.rfile)
        self.tag_counter = 0
        self.banner = self._read_banner()

    # -- framing ---------------------------------------------------------------------

    def _line(self):
        try:
            line = self.reader.read()
        except socket.timeout:
            raise ProtocolError("timed out waiting for the server")
        if line is None:
            raise ProtocolError("server closed the connection")
        return line

    def _read_banner(self):
        """csync: capability lines up to `* OK`; imap: the greeting line (an
        IMAP client reads only the first line, but a combined banner as in
        spec 1.7.1 may carry `* NAME` lines first: read up to `* OK` too)."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if line[:4].upper() in (b"* OK", b"* BY") or len(lines) > 50:
                return lines

    def sasl_mechanisms(self):
        mechs = []
        for line in self.banner:
            words = line.split()
            if len(words) >= 2 and words[0] == b"*" and words[1].upper() == b"SASL":
                mechs += [w.decode() for w in words[2:]]
            for w in words:
                if w.upper().startswith(b"AUTH="):
                    mechs.append(w[5:].rstrip(b"]").decode())
        return mechs

    def _next_tag(self, prefix):
        self.tag_counter += 1
        return "%s%d" % (prefix, self.tag_counter)

    def send_raw(self, line):
        if isinstance(line, str):
            line = line.encode()
        self.sock.sendall(line + b"\r\n")

    def _status(self, line, tag):
        words = line.split(b" ", 2 if tag else 1)
        if tag:
            if words[0].decode("ascii", "replace") != tag:
                raise ProtocolError("expected tag %s, got %r" % (tag, line[:200]))
            words = words[1:]
        word = words[0].decode("ascii", "replace")
        text = words[1].decode("utf-8", "replace") if len(words) > 1 else ""
        return Status(word, text, line)

    def read_reply(self, tag=None):
        """Data lines up to the status line (or a `+ ` continuation)."""
        data = []
        while True:
            line = self._line()
            if line.startswith(b"* "):
                try:
                    values = dlist.parse_values(line[2:], keep_files=True)
                except dlist.DlistError as e:
                    raise ProtocolError("unparseable data line %r: %s" % (line[:200], e))
                if not values or not isinstance(values[0], bytes):
                    raise ProtocolError("data line without a name: %r" % line[:200])
                name = values[0].decode("ascii", "replace")
                value = values[1] if len(values) == 2 else values[1:]
                data.append((name, value))
                continue
            if line.startswith(b"+"):
                return Reply(data, Status("+", line[2:].decode("ascii", "replace"), line))
            return Reply(data, self._status(line, tag))

    def command(self, words):
        """Send one command (bytes after the tag, e.g. b'GET USER alice' or,
        in the IMAP flavour, b'SYNCGET USER alice') and read its reply."""
        if isinstance(words, str):
            words = words.encode()
        if self.flavour == "imap":
            tag = self._next_tag("T")
            self.send_raw(tag.encode() + b" " + words)
            return self.read_reply(tag)
        self.send_raw(words)
        return self.read_reply(None)

    # -- session -------------------------------------------------------------------------

    def authenticate_plain(self, user, password):
        """PLAIN with an initial response and empty authzid, as sync_client
        sends it.  Returns the Status (check .ok)."""
        ir = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
        if self.flavour == "imap":
            tag = "A01"
            self.send_raw(b"A01 AUTHENTICATE PLAIN " + ir)
            return self.read_reply(tag).status
        self.send_raw(b"AUTHENTICATE PLAIN " + ir)
        return self.read_reply(None).status

    def _verb(self, csync_word):
        return ("SYNC" + csync_word) if self.flavour == "imap" else csync_word

    def get(self, what, argument):
        return self.command(self._verb("GET").encode() + b" " + what.encode() + b" "
                            + dlist.encode_value(argument))

    def apply(self, what, argument):
        return self.command(self._verb("APPLY").encode() + b" " + what.encode() + b" "
                            + dlist.encode_value(argument))

    def get_user(self, user):
        return self.get("USER", user)

    def get_meta(self, user):
        return self.get("META", user)

    def get_mailboxes(self, names):
        return self.get("MAILBOXES", list(names))

    def get_fullmailbox(self, name):
        return self.get("FULLMAILBOX", name)

    def fetch(self, mboxname, partition, uniqueid, guid, uid):
        return self.get("FETCH", dlist.KvList([
            ("MBOXNAME", mboxname), ("PARTITION", partition), ("UNIQUEID", uniqueid),
            ("GUID", guid), ("UID", str(uid))]))

    def close(self):
        """EXIT (csync) or LOGOUT (imap), then close; never raises."""
        try:
            self.sock.settimeout(5)
            if self.flavour == "imap":
                self.send_raw(b"Q01 LOGOUT")
            else:
                self.send_raw(b"EXIT")
            self.rfile.readline(4096)
        except OSError:
            pass
        finally:
            try:
                self.rfile.close()
                self.sock.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def admin_session(host, port, credentials, flavour="csync", timeout=60.0, ssl_context=None):
    """Connect and authenticate; raises ProtocolError if refused."""
    c = SyncClient(host, port, flavour, timeout, ssl_context)
    status = c.authenticate_plain(*credentials)
    if not status.ok:
        c.close()
        raise ProtocolError("AUTHENTICATE as %s refused: %s" % (credentials[0], status))
    return c
