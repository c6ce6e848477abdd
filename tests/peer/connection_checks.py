"""Connection handling of replicad, against its own instances (no Cyrus
needed): IPv6 listeners, the connection limit, and the two idle timeouts.

Each check returns "" when it holds, or the reason it does not."""
import base64
import os
import socket
import time

from replica import Replicad

ADMIN_AUTH = None  # set per instance


def _connect(port, host="127.0.0.1", family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, port))
    return s


def _greeted(port, tries=50):
    """A connection that got the greeting.  The server notices the close of
    an earlier connection only when it reads its EOF, so right after a check
    that held every slot a new connection may still be refused: retry."""
    for _ in range(tries):
        s = _connect(port)
        greeting = _read_until(s, b"server ready\r\n")
        if b"server ready" in greeting:
            return s
        s.close()
        time.sleep(0.1)
    raise RuntimeError("no greeting: %r" % greeting[:200])


def _read_until(sock, marker, timeout=10):
    """Reads until `marker` arrives or the peer closes; returns the bytes."""
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
    return data


def _closed_within(sock, seconds):
    """True if the peer closes the connection within `seconds`."""
    sock.settimeout(seconds)
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True
    except socket.timeout:
        return False
    except ConnectionResetError:
        return True


def _login(sock, replicad):
    user, password = replicad.admin
    token = base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
    sock.sendall(b"AUTHENTICATE PLAIN " + token + b"\r\n")
    return _read_until(sock, b"\r\n")


def check_ipv6(replicad):
    """Both flavours on [::1] as well as on 127.0.0.1."""
    s = _connect(replicad.port, "::1", socket.AF_INET6)
    try:
        greeting = _read_until(s, b"server ready\r\n")
        if b"* OK [CAPABILITY" not in greeting:
            return "no greeting on [::1]: %r" % greeting[:200]
        reply = _login(s, replicad)
        if not reply.startswith(b"OK Success"):
            return "login over IPv6 answered %r" % reply
        s.sendall(b"NOOP\r\n")
        reply = _read_until(s, b"\r\n")
        return "" if reply == b"OK Noop completed\r\n" else "NOOP over IPv6 answered %r" % reply
    finally:
        s.close()


def check_connection_limit(replicad, limit):
    """`limit` connections are served; the next one is told why and closed."""
    held = []
    try:
        for _ in range(limit):
            s = _connect(replicad.port)
            if b"server ready" not in _read_until(s, b"server ready\r\n"):
                return "connection %d of %d was not greeted" % (len(held) + 1, limit)
            held.append(s)
        extra = _connect(replicad.port)
        answer = _read_until(extra, b"\r\n")
        closed = _closed_within(extra, 5)
        extra.close()
        if not answer.startswith(b"* BYE Too many connections"):
            return "connection %d answered %r" % (limit + 1, answer[:200])
        if not closed:
            return "the refused connection stayed open"
        # one of the held connections leaves: a new one is served again
        held.pop().close()
        held.append(_greeted(replicad.port))
        return ""
    finally:
        for s in held:
            s.close()
        # let replicad see these go before the next check connects: libuv may
        # accept a new connection before it reads the old ones' end
        time.sleep(0.3)


def check_preauth_timeout(replicad, seconds):
    """A connection that never authenticates is closed after preauth_timeout."""
    s = _greeted(replicad.port)
    try:
        t0 = time.monotonic()
        if not _closed_within(s, seconds + 5):
            return "still open %.1fs after the greeting" % (time.monotonic() - t0)
        took = time.monotonic() - t0
        return "" if took >= seconds - 0.5 else "closed too early (%.1fs)" % took
    finally:
        s.close()


def check_idle_timeout(replicad, seconds):
    """An authenticated connection that goes quiet is closed after sync_timeout,
    and one that keeps talking is not."""
    s = _greeted(replicad.port)
    try:
        if not _login(s, replicad).startswith(b"OK Success"):
            return "admin login failed"
        # talk for longer than the timeout: must stay open
        deadline = time.monotonic() + seconds + 1
        while time.monotonic() < deadline:
            s.sendall(b"NOOP\r\n")
            if _read_until(s, b"\r\n") != b"OK Noop completed\r\n":
                return "closed while the client was active"
            time.sleep(seconds / 3.0)
        t0 = time.monotonic()
        if not _closed_within(s, seconds + 5):
            return "still open %.1fs after going idle" % (time.monotonic() - t0)
        return ""
    finally:
        s.close()


def run(check, builddir, root):
    """Runs every check through `check(name, fn)` against fresh instances."""
    limits = Replicad(builddir, os.path.join(root, "replicad-limits"),
                      extra_conf=[("maxconnections", "3"), ("preauth_timeout", "2s"),
                                  ("sync_timeout", "3s")],
                      also_listen_ipv6=socket.has_ipv6)
    limits.start()
    try:
        if socket.has_ipv6:
            check("h.listen.ipv6", lambda: check_ipv6(limits))
        check("h.connections.limit", lambda: check_connection_limit(limits, 3))
        check("h.connections.preauth-timeout", lambda: check_preauth_timeout(limits, 2))
        check("h.connections.idle-timeout", lambda: check_idle_timeout(limits, 3))
    finally:
        limits.stop()
