"""Loopback networking helpers shared by the peer harness: free ports, waiting
for listeners, and stopping processes we started.

Other engineers run Cyrus instances on the same machine, so ports are never
hard-coded: each one is picked at random below the kernel's ephemeral range
(where outgoing connections take their source ports) and checked by binding
it.  Between our check and the server's own bind somebody else may still take
it; callers verify they reached *their* server (greeting contents) and retry.
"""
import os
import random
import signal
import socket
import threading
import time

HOST = "127.0.0.1"

_PORT_RANGE = (20000, 32000)
_handed_out = set()
_lock = threading.Lock()


def free_port():
    """Return a TCP port on 127.0.0.1 that nobody listens on right now and
    that this process has not handed out before."""
    rng = random.SystemRandom()
    with _lock:
        for _ in range(500):
            port = rng.randint(*_PORT_RANGE)
            if port in _handed_out:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            finally:
                s.close()
            _handed_out.add(port)
            return port
    raise RuntimeError("no free TCP port found in %d-%d" % _PORT_RANGE)


def port_accepts(port, host=HOST, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def read_greeting(port, host=HOST, timeout=5.0, max_bytes=4096):
    """Connect, read what the server says first (up to max_bytes or until it
    pauses), close.  Used to make sure a port belongs to the expected server."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.settimeout(timeout)
        data = b""
        while len(data) < max_bytes:
            try:
                chunk = s.recv(max_bytes - len(data))
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if data.endswith(b"\n"):
                s.settimeout(0.2)   # more lines may follow right away
        return data


def wait_until(predicate, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still "exists"; treat it as gone
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children_of(pid):
    """Direct children of pid, from /proc (no 'ps' dependency)."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(entry))
    return kids


def terminate(pid, grace, kill_also=()):
    """SIGTERM pid, wait up to `grace` seconds, then SIGKILL it and every pid
    in kill_also that is still alive.  Only the given pids are signalled."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    wait_until(lambda: not pid_alive(pid), grace, 0.05)
    for p in [pid] + list(kill_also):
        if pid_alive(p):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
