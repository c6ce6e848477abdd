"""The dlist language of Cyrus replication (spec section 2), for the harness:
reading logical lines off a stream, parsing them into Python values, and
writing command arguments.

Value model (what parse_values returns):
    None            NIL
    bytes           atom, quoted string or literal (the wire makes no
                    difference for the reader; types are decided per key)
    list            ( ... )
    KvList          %( key value ... )
    FileLiteral     %{partition guid size} + bytes (APPLY MESSAGE, GET FETCH)

A *logical line* is one command or one reply line including every literal
it carries: a physical line that ends in `{N}`, `{N+}` or
`%{part guid N}` is followed by N raw bytes and then the rest of the line.
"""
import hashlib
import re

MAX_PHYSICAL_LINE = 16 << 20
MAX_LOGICAL_LINE = 512 << 20

_LITERAL_AT_END = re.compile(rb"(?:\{(\d{1,10})\+?\}|%\{[^ {}()]+ [^ {}()]+ (\d{1,10})\})\Z")
_LITERAL = re.compile(rb"\{(\d{1,10})(\+?)\}\r?\n")
_FILE_LITERAL = re.compile(rb"%\{([^ {}()]+) ([^ {}()]+) (\d{1,10})\}\r?\n")
_ATOM = re.compile(rb"[^ \t\r\n\v\f()\"]+")
_WHITESPACE = b" \t\r\n\v\f"


class DlistError(ValueError):
    pass


class KvList:
    """%( key value ... ): keeps wire order; lookups take the first
    occurrence of a key, as Cyrus' dlist_getchild does."""

    __slots__ = ("items",)

    def __init__(self, items=()):
        self.items = list(items)

    def get(self, key, default=None):
        for k, v in self.items:
            if k == key:
                return v
        return default

    def __contains__(self, key):
        return any(k == key for k, _ in self.items)

    def keys(self):
        seen = []
        for k, _ in self.items:
            if k not in seen:
                seen.append(k)
        return seen

    def __repr__(self):
        return "KvList(%r)" % (self.items,)


class FileLiteral:
    """A message file on the wire.  The bytes are kept only if the reader was
    asked to (keep_files); size and SHA-1 always."""

    __slots__ = ("partition", "guid", "size", "sha1", "data")

    def __init__(self, partition, guid, data, keep):
        self.partition = partition
        self.guid = guid
        self.size = len(data)
        self.sha1 = hashlib.sha1(data).hexdigest()
        self.data = bytes(data) if keep else None

    def __repr__(self):
        return "FileLiteral(%s %s %d)" % (self.partition, self.guid, self.size)


# -- reading logical lines ----------------------------------------------------------

class LineReader:
    """Reads logical lines from a binary file object (socket.makefile('rb'),
    an open file).  Lines are returned without their final CR LF; embedded
    literals keep their own framing so parse_values can walk them."""

    def __init__(self, rfile, max_logical=MAX_LOGICAL_LINE):
        self.rfile = rfile
        self.max_logical = max_logical

    def _physical(self):
        line = self.rfile.readline(MAX_PHYSICAL_LINE + 2)
        if not line:
            return None
        if not line.endswith(b"\n"):
            if len(line) > MAX_PHYSICAL_LINE:
                raise DlistError("line longer than %d bytes" % MAX_PHYSICAL_LINE)
            raise DlistError("stream ended inside a line: %r" % line[:200])
        return line[:-2] if line.endswith(b"\r\n") else line[:-1]

    def _exact(self, n):
        chunks, left = [], n
        while left:
            chunk = self.rfile.read(left)
            if not chunk:
                raise DlistError("stream ended inside a %d-byte literal" % n)
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def read(self):
        """The next logical line, or None at a clean end of stream."""
        line = self._physical()
        if line is None:
            return None
        parts = [line]
        total = len(line)
        while True:
            m = _LITERAL_AT_END.search(line)
            if not m:
                break
            n = int(m.group(1) or m.group(2))
            total += n
            if total > self.max_logical:
                raise DlistError("logical line longer than %d bytes" % self.max_logical)
            parts.append(b"\r\n")
            parts.append(self._exact(n))
            line = self._physical()
            if line is None:
                raise DlistError("stream ended after a literal")
            parts.append(line)
            total += len(line)
        return b"".join(parts)


# -- parsing --------------------------------------------------------------------------

class _Parser:
    def __init__(self, buf, keep_files):
        self.b = buf
        self.i = 0
        self.keep_files = keep_files

    def skip_ws(self):
        b, i, n = self.b, self.i, len(self.b)
        while i < n and b[i] in _WHITESPACE:
            i += 1
        self.i = i

    def at_end(self):
        self.skip_ws()
        return self.i >= len(self.b)

    def error(self, what):
        lo = max(0, self.i - 40)
        raise DlistError("%s at byte %d near %r" % (what, self.i, self.b[lo:self.i + 40]))

    def value(self):
        self.skip_ws()
        if self.i >= len(self.b):
            self.error("value expected")
        c = self.b[self.i]
        if c == 0x28:                                   # (
            self.i += 1
            return self.sequence()
        if c == 0x25:                                   # %
            nxt = self.b[self.i + 1:self.i + 2]
            if nxt == b"(":
                self.i += 2
                flat = self.sequence()
                if len(flat) % 2:
                    self.error("odd number of items in %(...)")
                return KvList((_key(flat[j]), flat[j + 1]) for j in range(0, len(flat), 2))
            if nxt == b"{":
                return self.file_literal()
            self.error("'%' must be followed by '(' or '{'")
        if c == 0x7B:                                   # {
            return self.literal()
        if c == 0x22:                                   # "
            return self.quoted()
        if c == 0x29:
            self.error("unexpected ')'")
        m = _ATOM.match(self.b, self.i)
        self.i = m.end()
        atom = m.group(0)
        return None if atom == b"NIL" else atom

    def sequence(self):
        out = []
        while True:
            self.skip_ws()
            if self.i >= len(self.b):
                self.error("missing ')'")
            if self.b[self.i] == 0x29:
                self.i += 1
                return out
            out.append(self.value())

    def literal(self):
        m = _LITERAL.match(self.b, self.i)
        if not m:
            self.error("bad literal")
        n = int(m.group(1))
        start = m.end()
        if start + n > len(self.b):
            self.error("literal runs past the end of the line")
        self.i = start + n
        return self.b[start:start + n]

    def file_literal(self):
        m = _FILE_LITERAL.match(self.b, self.i)
        if not m:
            self.error("bad file literal")
        n = int(m.group(3))
        start = m.end()
        if start + n > len(self.b):
            self.error("file literal runs past the end of the line")
        self.i = start + n
        data = memoryview(self.b)[start:start + n]
        return FileLiteral(m.group(1).decode(), m.group(2).decode(), data, self.keep_files)

    def quoted(self):
        out = bytearray()
        i, b = self.i + 1, self.b
        while True:
            if i >= len(b):
                self.error("unterminated quoted string")
            c = b[i]
            if c == 0x22:
                self.i = i + 1
                return bytes(out)
            if c in (0x0D, 0x0A):
                self.error("CR/LF inside a quoted string")
            if c == 0x5C:
                i += 1
                if i >= len(b):
                    self.error("unterminated quoted string")
                c = b[i]
            out.append(c)
            i += 1


def _key(v):
    if not isinstance(v, bytes):
        raise DlistError("kvlist key must be an atom, got %r" % (v,))
    return v.decode("ascii", "replace")


def parse_values(buf, keep_files=False):
    """All values of one logical line, in order."""
    p = _Parser(buf, keep_files)
    out = []
    while not p.at_end():
        out.append(p.value())
    return out


def parse_one(buf, keep_files=False):
    values = parse_values(buf, keep_files)
    if len(values) != 1:
        raise DlistError("expected one value, found %d" % len(values))
    return values[0]


# -- writing (client side: literals as {N+}, like sync_client) ----------------------

_ATOM_SAFE = re.compile(rb"[^\x00-\x20\x7f-\xff{()\"%*\\]{1,1023}\Z")
_QUOTE_SAFE = re.compile(rb"[^\x00\r\n\"%\\\x80-\xff]{0,1023}\Z")


def encode_string(s):
    """Encode one string value the way Cyrus' writer does (spec 2.3)."""
    if isinstance(s, str):
        s = s.encode("utf-8")
    if s != b"NIL" and _ATOM_SAFE.match(s):
        return s
    if _QUOTE_SAFE.match(s):
        return b'"' + s + b'"'
    return b"{%d+}\r\n" % len(s) + s


def encode_value(v):
    if v is None:
        return b"NIL"
    if isinstance(v, (bytes, str)):
        return encode_string(v)
    if isinstance(v, int):
        return b"%d" % v
    if isinstance(v, KvList):
        return b"%(" + b" ".join(encode_string(k) + b" " + encode_value(x) for k, x in v.items) + b")"
    if isinstance(v, (list, tuple)):
        return b"(" + b" ".join(encode_value(x) for x in v) + b")"
    raise TypeError("cannot encode %r" % (v,))


def text(v):
    """Human-readable form of a value, for reports."""
    if v is None:
        return "NIL"
    if isinstance(v, bytes):
        return v.decode("utf-8", "backslashreplace")
    if isinstance(v, KvList):
        return "%(" + " ".join("%s %s" % (k, text(x)) for k, x in v.items) + ")"
    if isinstance(v, list):
        return "(" + " ".join(text(x) for x in v) + ")"
    return repr(v)
