#!/usr/bin/env python3
"""null_target.py PORT: a replica that stores nothing and agrees to everything.

It shows the ceiling the stock sync_client puts on any replica: the time a
full sync takes when the replica costs nothing.  Both flavours on one port
(the greeting is a CSYNC banner whose `* OK` line carries the IMAP
capabilities, as replicad's).  GET answers nothing (an empty replica),
RESERVE reports every GUID missing (so every message is uploaded), the bytes
of every literal are read and dropped, every other command is answered OK.
Any login is accepted (loopback only).  One thread per connection; runs
until killed.
"""
import re
import socket
import sys
import threading

HOST = "127.0.0.1"
GREETING = (b"* SASL PLAIN\r\n"
            b"* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR] null target ready\r\n")
# A line ends in a literal announcement: {N}, {N+} or a file literal %{part guid N}.
LITERAL_AT_END = re.compile(rb"(?:\{(\d+)\+?\}|%\{[^ }]+ [0-9a-fA-F]{40} (\d+)\})$")
GUID = re.compile(rb"\b[0-9a-fA-F]{40}\b")
CSYNC_VERBS = {b"AUTHENTICATE", b"APPLY", b"GET", b"RESTART", b"NOOP", b"EXIT", b"STARTTLS", b"COMPRESS"}
MAX_LINE = 1 << 20


class Closed(Exception):
    pass


def read_command(reader, scratch):
    """One command with its literals skipped: the text around them, for the reply."""
    parts = []
    while True:
        line = reader.readline(MAX_LINE)
        if not line:
            raise Closed()
        line = line.rstrip(b"\r\n")
        m = LITERAL_AT_END.search(line)
        if not m:
            parts.append(line)
            return b"".join(parts)
        parts.append(line[:m.start()] + b"<literal>")
        left = int(m.group(1) or m.group(2))
        view = memoryview(scratch)
        while left:
            n = reader.readinto(view[:min(left, len(scratch))])
            if not n:
                raise Closed()
            left -= n


def serve(conn):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = conn.makefile("rb", buffering=1 << 20)
    scratch = bytearray(1 << 20)
    conn.sendall(GREETING)
    try:
        while True:
            cmd = read_command(reader, scratch)
            words = cmd.split(b" ")
            tagged = words[0].upper() not in CSYNC_VERBS
            tag = words[0] + b" " if tagged else b""
            rest = words[1:] if tagged else words
            verb = rest[0].upper() if rest else b""
            kind = rest[1].upper() if len(rest) > 1 else b""
            if verb == b"AUTHENTICATE":
                caps = b"[CAPABILITY IMAP4rev1 X-REPLICATION] " if tagged else b""
                reply = tag + b"OK " + caps + b"Success (null target)\r\n"
            elif verb == b"CAPABILITY":
                reply = b"* CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN SASL-IR\r\n" + tag + b"OK Completed\r\n"
            elif verb in (b"EXIT", b"LOGOUT"):
                conn.sendall(tag + b"OK Finished\r\n")
                return
            elif verb in (b"APPLY", b"SYNCAPPLY") and kind == b"RESERVE":
                guids = GUID.findall(cmd)
                reply = (b"* MISSING (" + b" ".join(guids) + b")\r\n" if guids else b"") + tag + b"OK success\r\n"
            else:
                reply = tag + b"OK success\r\n"
            conn.sendall(reply)
    except (Closed, OSError):
        pass
    finally:
        conn.close()


def main():
    port = int(sys.argv[1])
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((HOST, port))
    listener.listen(16)
    print("null target listening on %s:%d" % (HOST, port), flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
