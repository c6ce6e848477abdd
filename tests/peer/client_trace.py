"""What sync_client sent and heard, from its own protocol trace.

Through TLS the logging relay sees only ciphertext, but sync_client run
with `-v -v` writes a trace of its protocol stream to stderr, above TLS and
COMPRESS: every buffer it writes is prefixed `>TIME>`, every buffer it
reads `<TIME<` (prot.c telemetry), wherever the buffer happens to start,
even in the middle of a line.  The trace begins once the session is set up
(after authentication, COMPRESS and APPLY CAPABILITIES), which is all a
test needs to know which replication commands ran and how they ended.

    commands = commands_from_trace(stderr_path, workdir)

returns wire_relay.WireCommand objects, as the relay's transcript does.
"""
import os
import re

import wire_relay

_MARK = re.compile(rb"([<>])(\d{9,11})\1")
# sync_client's syslog lines, copied to the same stderr (-v -v), between buffers
_SYSLOG = re.compile(rb"(?m)^[^\s<>]*sync_client\[\d+\]: [^\n]*\n")


def split_trace(data):
    """(client-to-server bytes, server-to-client bytes) of a trace."""
    c2s, s2c = [], []
    marks = list(_MARK.finditer(data))
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(data)
        (c2s if m.group(1) == b">" else s2c).append(data[m.end():end])
    return b"".join(c2s), b"".join(s2c)


def commands_from_trace(stderr_path, workdir):
    with open(stderr_path, "rb") as f:
        data = _SYSLOG.sub(b"", f.read())
    c2s, s2c = split_trace(data)
    c2s_path = os.path.join(workdir, "trace.c2s")
    s2c_path = os.path.join(workdir, "trace.s2c")
    with open(c2s_path, "wb") as f:
        f.write(c2s)
    with open(s2c_path, "wb") as f:
        f.write(s2c)
    return wire_relay.transcript_of(1, c2s_path, s2c_path, skip_banner=False)
