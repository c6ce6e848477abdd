"""Scenario t: secure transports and SASL mechanisms with the real sync_client.

Two more replicad instances, each with its own empty store, are fed users
the reference Cyrus already holds, and must then answer like it:

  tls   a certificate, `allowplaintext: no` and only PLAIN/LOGIN (plus
        EXTERNAL, offered after TLS to a client certificate from the test CA):
        the banner lists no mechanism before TLS, so sync_client sends
        STARTTLS by itself (spec 1.3.1).  Also a listen_tls port for
        `sync_host: host:port/tls`.  admins: admin and sync-master.
  sasl  no TLS; SCRAM-SHA-256, SCRAM-SHA-1, DIGEST-MD5, PLAIN, LOGIN; the
        client is made to pick one with force_sasl_client_mech.

Under TLS the logging relay sees only ciphertext, so the commands come from
sync_client's own protocol trace (client_trace.py) and what happened on the
replica side from its log (TLS facts, login mechanism, deflate totals).
Scripted sessions with `openssl s_client` and Python's ssl module check
what sync_client cannot show: STARTTLS by hand, bytes pipelined after
STARTTLS, IMAP COMPRESS.
"""
import base64
import os
import re
import select
import socket
import ssl
import subprocess
import time
import zlib

import csync_client
import replica_compare
import sync_runner
from replica import Replicad
from tls_pki import TestPki

RUN_TIMEOUT = 90
REFUSED_TIMEOUT = 8          # sync_client retries a refused login forever
IMAP_WALL_LIMIT = 8.0        # a fallback to CSYNC alone would cost 10 s
EXTERNAL_ADMIN = "sync-master"
EXTERNAL_OUTSIDER = "outsider"
_LOG_LINE = re.compile(r"^\S+ (s\d+) (.*)$")


def client_tls():
    """A TLS client context that, like sync_client, checks nothing."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def sessions_in(lines):
    """{session id: [messages]} from replicad log lines, in order."""
    out = {}
    for line in lines:
        m = _LOG_LINE.match(line)
        if m:
            out.setdefault(m.group(1), []).append(m.group(2))
    return out


def _plain_token(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())


def _read_until(sock, marker, timeout=10, inflate=None):
    """Bytes until `marker` (or close/timeout); `inflate` decompresses."""
    sock.settimeout(timeout)
    data = b""
    while marker not in data:
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ssl.SSLError, ConnectionError):
            break
        if not chunk:
            break
        data += inflate.decompress(chunk) if inflate else chunk
    return data


def _closed_within(sock, seconds):
    sock.settimeout(seconds)
    data = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return True, data
            data += chunk
    except socket.timeout:
        return False, data
    except (ConnectionError, ssl.SSLError):
        return True, data


class SClient:
    """A scripted `openssl s_client` session: send a line, wait for a reply."""

    def __init__(self, args):
        self.proc = subprocess.Popen(["openssl", "s_client"] + args + ["-quiet", "-crlf"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        self.out = b""
        self.pos = 0         # output before this answered earlier expects

    def expect(self, pattern, timeout=10):
        """Output up to the first match of `pattern` after the last one."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while True:
            m = regex.search(self.out, self.pos)
            if m:
                seen, self.pos = self.out[self.pos:m.end()], m.end()
                return seen
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise RuntimeError("s_client: no %r within %ds; got %r" % (pattern, timeout, self.out[-400:]))
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("s_client ended; no %r in %r" % (pattern, self.out[-400:]))
            self.out += chunk

    def send(self, line):
        self.proc.stdin.write(line + b"\n")   # -crlf makes it CRLF
        self.proc.stdin.flush()

    def close(self):
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class TlsScenarios:
    def __init__(self, tests):
        self.t = tests
        self.pki = None
        self.tls = None      # replicad: certificate, allowplaintext no, listen_tls
        self.sasl = None     # replicad: SCRAM, DIGEST-MD5, PLAIN, LOGIN, no TLS

    # -- set-up ----------------------------------------------------------------------

    def start(self):
        root = self.t.root
        self.pki = TestPki(os.path.join(root, "pki"))
        self.pki.client(EXTERNAL_ADMIN)
        self.pki.client(EXTERNAL_OUTSIDER)
        builddir = self.t.args.builddir
        self.tls = Replicad(builddir, os.path.join(root, "replicad-tls"), listen_tls=True, extra_conf=[
            ("admins", "admin " + EXTERNAL_ADMIN),
            ("allowplaintext", "no"),
            ("sasl_mech_list", "EXTERNAL PLAIN LOGIN"),
            ("tls_server_cert", self.pki.server_cert),
            ("tls_server_key", self.pki.server_key),
            ("tls_client_ca_file", self.pki.ca_cert)]).start()
        self.sasl = Replicad(builddir, os.path.join(root, "replicad-sasl"), extra_conf=[
            ("sasl_mech_list", "SCRAM-SHA-256 SCRAM-SHA-1 DIGEST-MD5 PLAIN LOGIN")]).start()
        return ""

    def stop(self):
        for r in (self.tls, self.sasl):
            if r is not None:
                r.stop()

    # -- helpers ---------------------------------------------------------------------

    def run(self, replica, label, user, imap, implicit_tls=False, extra=None, credentials=None,
            timeout=RUN_TIMEOUT):
        """sync_client -u user into `replica`; the result carries the
        replica's log of those connections as .sessions."""
        self.t.run_no += 1
        workdir = os.path.join(self.t.root, "runs", "%02d-t-%s" % (self.t.run_no, label))
        offset = replica.log_offset()
        port = replica.tls_port if implicit_tls else replica.port
        result = sync_runner.run_sync_client(
            self.t.master, replica.host, port, ["-u", user], imap, workdir,
            credentials or self.t.master.admin, timeout, implicit_tls=implicit_tls,
            extra_conf=extra, trace_commands=True)
        # the replica logs a connection's end a moment after the client left
        deadline = time.monotonic() + 3
        while True:
            sessions = sessions_in(replica.log_since(offset))
            ended = all(any(m.startswith("disconnected") for m in s) for s in sessions.values())
            if ended or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        result.sessions = sessions
        return result

    def refresh_reference(self, user):
        """The reference Cyrus gets the master's latest state of `user`."""
        self.t.run_no += 1
        workdir = os.path.join(self.t.root, "runs", "%02d-t-ref-%s" % (self.t.run_no, user))
        run = sync_runner.run_sync_client(self.t.master, self.t.ref.host, self.t.ref.csync_port,
                                          ["-u", user], False, workdir, self.t.master.admin, RUN_TIMEOUT)
        return run

    def compare(self, replica, users):
        """GET USER/FULLMAILBOX of `users` from the reference and the replica
        (over its TLS port, when it has one) must agree."""
        ref = self.t.session(self.t.ref)
        try:
            if replica.listen_tls:
                target = csync_client.admin_session(replica.host, replica.tls_port, replica.admin,
                                                    ssl_context=client_tls())
            else:
                target = csync_client.admin_session(replica.host, replica.port, replica.admin)
            try:
                result = replica_compare.compare_users(ref, target, users)
            finally:
                target.close()
        finally:
            ref.close()
        # The reference was fed run by run, this replica in one fresh run.
        # Cyrus bumps a quota root's MODSEQ when its usage changes, and
        # sync_client resends QUOTA only when a *limit* changed, so a fresh
        # replica (Cyrus's as well) legitimately holds a newer MODSEQ than
        # the reference.  The main scenarios compare like with like and check
        # MODSEQ exactly; here it is set aside.
        result.differences = [d for d in result.differences
                              if not re.search(r"\.QUOTA\.[^:]*\.MODSEQ:", d)]
        if result.differences:
            return result.summary()
        if not result.mailboxes:
            return "nothing was compared"
        return "", result.summary()

    @staticmethod
    def login_line(run, **want):
        """The `login ...` message of the run whose fields match `want`
        (user=, admin=, flavour=, mech=, tls=); a failure reason if none."""
        logins = [m for s in run.sessions.values() for m in s if m.startswith("login ")]
        for line in logins:
            fields = dict(kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)
            if all(fields.get(k) == v for k, v in want.items()):
                return ""
        return "no login with %s in the replica's log (logins: %s)" % (
            " ".join("%s=%s" % kv for kv in want.items()), "; ".join(logins) or "none")

    @staticmethod
    def logged(run, prefix):
        return [m for s in run.sessions.values() for m in s if m.startswith(prefix)]

    def replicated(self, run, wire_flavour, must_apply, **login):
        """rc 0, the flavour, nothing refused, the mailboxes in must_apply
        applied, and the login as wanted.  Returns (reason, note)."""
        problems = []
        if run.rc != 0:
            problems.append("sync_client exit code %s" % run.rc)
        if run.flavours() != [wire_flavour]:
            problems.append("replicated in flavour(s) %s, expected %s" % (run.flavours() or "none", wire_flavour))
        if run.refusals():
            problems.append("refused: " + "; ".join(str(c) for c in run.refusals()[:5]))
        applied = {c.argument for c in run.applies(("MAILBOX",)) if c.accepted}
        missing = [m for m in must_apply if m not in applied]
        if missing:
            problems.append("no accepted APPLY MAILBOX for " + ", ".join(missing))
        if not run.sent("GET"):
            problems.append("no GET was sent")
        note = "%d APPLY in %.1fs" % (len(run.applies()), run.wall)
        why = self.login_line(run, **login)
        if why:
            problems.append(why)
        if wire_flavour == "imap":
            if run.connections != 1:
                problems.append("%d connections (a fallback to CSYNC?)" % run.connections)
            if run.wall >= IMAP_WALL_LIMIT:
                problems.append("took %.1fs (the fallback delay?)" % run.wall)
        if problems:
            problems.append(run.explain())
        return "; ".join(problems), note

    def converged(self, run):
        if run.rc != 0:
            return "repeat run failed: " + run.explain()
        work = [c for c in run.applies() if c.kind not in ("CAPABILITIES",)]
        if work:
            return "the repeat run still found work: %s" % "; ".join(str(c) for c in work[:8])
        if not run.sent("GET"):
            return "the repeat run asked nothing: " + run.explain()
        return ""

    def replicate(self, name, replica, account, imap, implicit_tls=False, extra=None, extra_checks=None,
                  fresh=True, **login):
        """sync_client -u ACCOUNT into `replica`: checks NAME, NAME.compare
        and, for an account new to the replica (fresh), NAME.converged.
        `login` are the fields the replica's login line must show."""
        flavour = "imap" if imap else "csync"
        runs = {}

        def initial():
            ref = self.refresh_reference(account)
            if ref.rc != 0:
                return "the reference run failed: " + ref.explain()
            runs["run"] = run = self.run(replica, name, account, imap, implicit_tls, extra)
            reason, note = self.replicated(run, flavour, ["user." + account] if fresh else [], **login)
            for check in extra_checks or ():
                more = check(run)
                if more:
                    reason = "; ".join(x for x in (reason, more) if x)
            return reason, note

        if not self.t.check(name, initial):
            return
        self.t.check(name + ".compare", lambda: self.compare(replica, [account]))
        if fresh:
            self.t.check(name + ".converged", lambda: self.converged(
                self.run(replica, name + "-again", account, imap, implicit_tls, extra)))

    # -- checks on the replica's log ------------------------------------------------

    def starttls_used(self, run):
        done = self.logged(run, 'cmd="STARTTLS" result="OK Begin TLS negotiation now"')
        tls = self.logged(run, "tls protocol=")
        if not done or not tls:
            return "no STARTTLS and handshake in the replica's log"
        return ""

    def implicit_tls_used(self, run):
        if not self.logged(run, "accepted") or not any("tls=implicit" in m for m in self.logged(run, "accepted")):
            return "the replica saw no implicit-TLS connection"
        return ""

    def compressed(self, run):
        totals = self.logged(run, "deflate in=")
        if not totals:
            return "no COMPRESS DEFLATE session in the replica's log"
        return ""

    # -- scripted sessions ------------------------------------------------------------

    def s_client_starttls_imap(self, user):
        """openssl s_client -starttls imap, by hand: login after TLS, a SYNCGET."""
        s = SClient(["-connect", "%s:%d" % (self.tls.host, self.tls.port), "-starttls", "imap"])
        try:
            # s_client reads the greeting, asks for CAPABILITY and sends
            # STARTTLS by itself; stdin is read once TLS is up
            s.send(b"a1 AUTHENTICATE PLAIN " + _plain_token(*self.tls.admin))
            out = s.expect(rb"a1 (OK|NO|BAD)[^\n]*\n")
            if not re.search(rb"a1 OK \[CAPABILITY [^]]*X-REPLICATION[^]]*\] Success \(tls protection\)", out):
                return "login answered %r" % out[-300:]
            s.send(b"a2 SYNCGET USER " + user.encode())
            out = s.expect(rb"a2 (OK|NO|BAD)[^\n]*\n")
            if b"a2 OK success" not in out or b"* MAILBOX %(" not in out:
                return "SYNCGET USER answered %r" % out[-300:]
            s.send(b"a3 LOGOUT")
            s.expect(rb"a3 OK")
            return ""
        finally:
            s.close()

    def s_client_implicit_csync(self, user):
        """openssl s_client on the listen_tls port, CSYNC by hand."""
        s = SClient(["-connect", "%s:%d" % (self.tls.host, self.tls.tls_port)])
        try:
            banner = s.expect(rb"\* OK [^\n]*\n")
            if b"* STARTTLS" in banner or b"* SASL PLAIN" not in banner or b"* COMPRESS DEFLATE" not in banner:
                return "banner %r" % banner[-400:]
            s.send(b"AUTHENTICATE PLAIN " + _plain_token(*self.tls.admin))
            out = s.expect(rb"(OK|NO|BAD) [^\n]*\n")
            if not out.endswith(b"OK Success (tls protection)\r\n"):
                return "login answered %r" % out[-200:]
            s.send(b"GET USER " + user.encode())
            out = s.expect(rb"\n(OK|NO|BAD) [^\n]*\n")
            if not out.endswith(b"OK success\r\n") or b"* MAILBOX %(" not in out:
                return "GET USER answered %r" % out[-300:]
            s.send(b"EXIT")
            s.expect(rb"OK Finished")
            return ""
        finally:
            s.close()

    def injection_in_same_segment(self, user):
        """STARTTLS and a login in one segment: the login is dropped, not
        run inside the TLS session (the CVE-2021-33515 class)."""
        sock = socket.create_connection((self.tls.host, self.tls.port), timeout=10)
        try:
            _read_until(sock, b"server ready\r\n")
            sock.sendall(b"STARTTLS\r\nAUTHENTICATE PLAIN " + _plain_token(*self.tls.admin) + b"\r\n")
            ok = _read_until(sock, b"\r\n")
            if ok != b"OK Begin TLS negotiation now\r\n":
                return "STARTTLS answered %r" % ok[:200]
            tls = client_tls().wrap_socket(sock)
            banner = _read_until(tls, b"server ready\r\n")
            if b"OK Success" in banner or b"* STARTTLS" in banner or b"* SASL PLAIN LOGIN" not in banner:
                return "after the handshake: %r" % banner[:300]
            tls.sendall(b"GET USER " + user.encode() + b"\r\n")
            reply = _read_until(tls, b"\r\n")
            if reply != b"NO Please authenticate first\r\n":
                return "the injected login took effect: GET USER answered %r" % reply[:200]
            return ""
        finally:
            sock.close()

    def cleartext_after_switch(self, user):
        """Clear text sent after the OK is fed to TLS: the handshake fails and
        the connection closes; nothing of it is executed."""
        sock = socket.create_connection((self.tls.host, self.tls.port), timeout=10)
        try:
            _read_until(sock, b"server ready\r\n")
            sock.sendall(b"STARTTLS\r\n")
            if _read_until(sock, b"\r\n") != b"OK Begin TLS negotiation now\r\n":
                return "STARTTLS refused"
            time.sleep(0.2)
            sock.sendall(b"AUTHENTICATE PLAIN " + _plain_token(*self.tls.admin) + b"\r\nGET USER "
                         + user.encode() + b"\r\n")
            closed, data = _closed_within(sock, 10)
            if b"OK Success" in data or b"MAILBOX" in data:
                return "clear text was executed: %r" % data[:200]
            return "" if closed else "the connection stayed open"
        finally:
            sock.close()

    def imap_compress(self, user):
        """IMAP COMPRESS=DEFLATE above TLS (sync_client never uses it)."""
        sock = client_tls().wrap_socket(socket.create_connection((self.tls.host, self.tls.tls_port), timeout=10))
        try:
            _read_until(sock, b"server ready\r\n")
            sock.sendall(b"A01 AUTHENTICATE PLAIN " + _plain_token(*self.tls.admin) + b"\r\n")
            login = _read_until(sock, b"\r\n")
            if not login.startswith(b"A01 OK") or b"COMPRESS=DEFLATE" not in login:
                return "login answered %r" % login[:300]
            sock.sendall(b"Z01 COMPRESS DEFLATE\r\n")
            ok = _read_until(sock, b"\r\n")
            if ok != b"Z01 OK DEFLATE active\r\n":
                return "COMPRESS answered %r" % ok[:200]
            out = zlib.compressobj(6, zlib.DEFLATED, -15)
            inflate = zlib.decompressobj(-15)

            def command(line, tag):
                sock.sendall(out.compress(line + b"\r\n") + out.flush(zlib.Z_SYNC_FLUSH))
                return _read_until(sock, b"\r\n" + tag + b" ", inflate=inflate) + \
                    _read_until(sock, b"\r\n", inflate=inflate)

            got = command(b"S1 SYNCGET USER " + user.encode(), b"S1")
            if b"* MAILBOX %(" not in got or b"S1 OK success" not in got:
                return "SYNCGET USER, compressed, answered %r" % got[-300:]
            again = command(b"Z02 COMPRESS DEFLATE", b"Z02")
            if b"Z02 NO Compression already active: DEFLATE" not in again:
                return "a second COMPRESS answered %r" % again[-200:]
            return ""
        finally:
            sock.close()

    def sync_client_compressed(self, user):
        """Without TLS the relay reads the session: the banner offers COMPRESS
        DEFLATE, sync_client asks for it after login, and the rest of the
        session (which the relay inflates to log it) goes through."""
        run = self.t.sync(self.t.target, "t-compress-csync", ["-u", user], imap=False)
        compress = run.sent("COMPRESS")
        problems = []
        if run.rc != 0:
            problems.append("sync_client exit code %s" % run.rc)
        if [c.reply for c in compress] != ["OK DEFLATE active"]:
            problems.append("COMPRESS: %s" % ("; ".join(str(c) for c in compress) or "never sent"))
        if not run.sent("GET"):
            problems.append("nothing after COMPRESS")
        if problems:
            return "; ".join(problems) + " (" + run.explain() + ")"
        return "", "%d commands after COMPRESS" % (len(run.commands) - 2)

    # -- the scenario ----------------------------------------------------------------

    def scenario(self):
        # Users are compared with the reference Cyrus, so erin is left out:
        # scenario s leaves the reference with a Sieve entry the master no
        # longer has (a Cyrus replica's own behaviour, spec 3.9).
        t = self.t
        if not t.check("t.setup", self.start):
            return
        admin_cert, admin_key = self.pki.client(EXTERNAL_ADMIN)
        outsider_cert, outsider_key = self.pki.client(EXTERNAL_OUTSIDER)

        t.check("t.compress.sync-client-csync", lambda: self.sync_client_compressed("dave"))

        # allowplaintext: no -> no mechanism before TLS -> sync_client starts TLS
        self.replicate("t.starttls.csync", self.tls, "dave", False, extra_checks=[self.starttls_used],
                       user="admin", flavour="csync", mech="PLAIN", tls="yes")
        self.replicate("t.starttls.imap", self.tls, "carol", True, extra_checks=[self.starttls_used],
                       user="admin", flavour="imap", mech="PLAIN", tls="yes")
        # host:port/tls; the CSYNC banner offers COMPRESS, so it runs above TLS
        self.replicate("t.implicit.csync-compress", self.tls, "alice", False, implicit_tls=True,
                       extra_checks=[self.implicit_tls_used, self.compressed],
                       user="admin", flavour="csync", mech="PLAIN", tls="yes")
        self.replicate("t.implicit.imap", self.tls, "bob", True, implicit_tls=True,
                       extra_checks=[self.implicit_tls_used],
                       user="admin", flavour="imap", mech="PLAIN", tls="yes")
        # a client certificate: EXTERNAL, and `admins` decides
        cert = {"tls_client_cert": admin_cert, "tls_client_key": admin_key}
        self.replicate("t.external.admin-csync", self.tls, "dave", False, extra=cert, fresh=False,
                       user=EXTERNAL_ADMIN, admin="yes", flavour="csync", mech="EXTERNAL")
        self.replicate("t.external.admin-imap", self.tls, "carol", True, extra=cert, fresh=False,
                       user=EXTERNAL_ADMIN, admin="yes", flavour="imap", mech="EXTERNAL")

        def outsider():
            run = self.run(self.tls, "external-outsider", "dave", False, timeout=REFUSED_TIMEOUT,
                           extra={"tls_client_cert": outsider_cert, "tls_client_key": outsider_key})
            problems = []
            if run.rc == 0:
                problems.append("sync_client exit code 0")
            why = self.login_line(run, user=EXTERNAL_OUTSIDER, admin="no", mech="EXTERNAL")
            if why:
                problems.append(why)
            done = [m for m in self.logged(run, 'cmd="APPLY') + self.logged(run, 'cmd="GET') if ' result="OK' in m]
            if done:
                problems.append("the replica accepted: " + "; ".join(done[:5]))
            if not self.logged(run, 'cmd="APPLY') and not self.logged(run, 'cmd="GET'):
                problems.append("no sync command reached the replica")
            return "; ".join(problems)

        t.check("t.external.non-admin-refused", outsider)

        # scripted sessions
        t.check("t.s_client.starttls-imap", lambda: self.s_client_starttls_imap("dave"))
        t.check("t.s_client.implicit-csync", lambda: self.s_client_implicit_csync("dave"))
        t.check("t.starttls.pipelined-injection", lambda: self.injection_in_same_segment("dave"))
        t.check("t.starttls.cleartext-after-switch", lambda: self.cleartext_after_switch("dave"))
        t.check("t.compress.imap-over-tls", lambda: self.imap_compress("dave"))

        # SASL mechanisms chosen by the master (spec 1.2.1, 1.6.1)
        for mech, csync_user, imap_user in (("SCRAM-SHA-256", "dave", "carol"), ("DIGEST-MD5", "alice", "bob")):
            force = {"force_sasl_client_mech": mech}
            self.replicate("t.sasl.%s-csync" % mech.lower(), self.sasl, csync_user, False, extra=force,
                           user="admin", flavour="csync", mech=mech)
            self.replicate("t.sasl.%s-imap" % mech.lower(), self.sasl, imap_user, True, extra=force,
                           user="admin", flavour="imap", mech=mech)
