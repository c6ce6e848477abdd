"""A small ManageSieve client (RFC 5804), enough to manage a user's scripts
on a Cyrus master the way a mail client does: timsieved stores them, and
sync_client replicates them (APPLY SIEVE / UNSIEVE / ACTIVATE_SIEVE).

    with ManageSieve(host, port, "alice", "alice-secret") as sieve:
        sieve.put_script("rules", "require [\\"fileinto\\"];\\n...")
        sieve.set_active("rules")          # "" deactivates every script
        sieve.delete_script("old")

Every command must answer OK; anything else raises SieveError with the
server's words.  Scripts are sent as bytes exactly as given (a str is
UTF-8 encoded), so CR LF or LF line ends reach the server unchanged.
"""
import base64
import re
import socket

MAX_LINE = 64 * 1024
_LITERAL_AT_END = re.compile(rb"\{(\d+)\+?\}\r?\n$")


class SieveError(RuntimeError):
    pass


def _quoted(text):
    if any(c in text for c in '"\\\r\n'):
        raise ValueError("not quotable for ManageSieve: %r" % text)
    return '"%s"' % text


class ManageSieve:
    def __init__(self, host, port, user, password, timeout=30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.rfile = self.sock.makefile("rb")
        self.capabilities = self._response("greeting")[1]
        self._command('AUTHENTICATE "PLAIN" %s' % _quoted(
            base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode()).decode()))

    # -- protocol ------------------------------------------------------------------

    def _line(self):
        line = self.rfile.readline(MAX_LINE)
        if not line:
            raise SieveError("connection closed by the server")
        # a literal at the end of a line continues after its bytes
        m = _LITERAL_AT_END.search(line)
        if m:
            line = line[:m.start()] + self.rfile.read(int(m.group(1))) + self._line()
        return line

    def _response(self, what):
        """(status line, [data lines]) once OK/NO/BYE arrives; raises unless OK."""
        data = []
        while True:
            line = self._line()
            word = line.split(b" ", 1)[0].strip().upper()
            if word in (b"OK", b"NO", b"BYE"):
                if word != b"OK":
                    raise SieveError("%s: %s" % (what, line.decode("utf-8", "replace").strip()))
                return line, data
            data.append(line)

    def _command(self, text, payload=None):
        wire = text.encode()
        if payload is not None:
            wire += b" {%d+}\r\n" % len(payload) + payload
        self.sock.sendall(wire + b"\r\n")
        return self._response(text.split(" ", 1)[0])

    # -- commands -----------------------------------------------------------------------

    def put_script(self, name, script):
        data = script.encode() if isinstance(script, str) else bytes(script)
        self._command("PUTSCRIPT %s" % _quoted(name), data)

    def set_active(self, name):
        self._command("SETACTIVE %s" % _quoted(name))

    def delete_script(self, name):
        self._command("DELETESCRIPT %s" % _quoted(name))

    def list_scripts(self):
        """[(name, active)] as the server lists them."""
        _, lines = self._command("LISTSCRIPTS")
        out = []
        for line in lines:
            m = re.match(rb'^"([^"]*)"( ACTIVE)?', line.strip())
            if m:
                out.append((m.group(1).decode(), bool(m.group(2))))
        return out

    def close(self):
        try:
            self.sock.sendall(b"LOGOUT\r\n")
            self.rfile.readline(MAX_LINE)
        except OSError:
            pass
        finally:
            self.rfile.close()
            self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
