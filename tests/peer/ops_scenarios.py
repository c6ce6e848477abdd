"""Scenario o: operations.  replicadctl on stores the real sync_client
filled, hot backups and a SIGTERM in the middle of a sync, and the systemd
protocols (notify socket, watchdog, socket activation).

  o.ctl.*        every replicadctl command against the main target (filled
                 by scenarios a-e, replicad running), checked against what
                 the same replica answers over the protocol
  o.backup.*     a second replicad gets `sync_client -A`; backups are taken
                 while it runs, and every copy must open and verify clean
  o.shutdown.*   a third replicad gets SIGTERM in the middle of `-A`: it must
                 exit 0, and after a restart on the same data every mailbox
                 whose last APPLY MAILBOX was acknowledged must be there,
                 exactly as the complete copy of o.backup holds it
  o.trace.*      a directory named after the admin under <datadir>/trace:
                 sync_client's session is traced, credentials redacted
  o.hup.*        SIGHUP: the log file is reopened after a rename (logrotate)
                 and a replaced TLS certificate is served to new connections
  o.notify.*     a datagram socket as NOTIFY_SOCKET: READY=1 only once the
                 port accepts, WATCHDOG=1 with WATCHDOG_USEC, STOPPING=1 on
                 SIGTERM, exit 0; and a listening socket passed as fd 3
                 with LISTEN_FDS is served instead of the `listen` address
"""
import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import netutil
import replica_compare
import sync_runner
from cyrus_instance import add_sasl_login
from dlist import text as dlist_text
from replica import Replicad

SYNC_TIMEOUT = 240
STATUS_INTERVAL = "200ms"      # the test replicas report often
_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_]+="([^"\\]|\\.)*",?)*\})? '
                     r'([-+]?([0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|Inf)|NaN)$')


class OpsScenarios:
    def __init__(self, tests):
        self.t = tests
        self.complete = None       # the replicad of o.backup, once its sync has finished
        self.replicas = []         # every replicad started here, stopped at the end

    # -- helpers ---------------------------------------------------------------------------

    @property
    def ctl_binary(self):
        return os.path.join(os.path.abspath(self.t.args.builddir), "server", "replicadctl")

    def ctl(self, replica, *args, json_output=True, store=None):
        where = ["--store", store] if store else ["-d", os.path.join(replica.dir, "data")]
        argv = [self.ctl_binary] + where + (["--json"] if json_output else []) + list(args)
        return subprocess.run(argv, capture_output=True, timeout=120)

    def ctl_json(self, replica, *args, expect_rc=0, store=None):
        run = self.ctl(replica, *args, store=store)
        if run.returncode != expect_rc:
            raise AssertionError("replicadctl %s: exit %s, expected %s: %s" % (
                " ".join(args), run.returncode, expect_rc, (run.stderr or run.stdout).decode()[-800:]))
        return json.loads(run.stdout)

    def fresh_replica(self, name):
        replica = Replicad(self.t.args.builddir, os.path.join(self.t.root, name),
                           extra_conf=[("status_interval", STATUS_INTERVAL)])
        self.replicas.append(replica)
        return replica

    def sync_in_background(self, replica, label):
        """sync_client -A into `replica` on a thread; returns (thread, result dict)."""
        result = {}
        workdir = os.path.join(self.t.root, "runs", "o-%s" % label)

        def run():
            try:
                result["run"] = sync_runner.run_sync_client(
                    self.t.master, replica.host, replica.port, ["-A"], False, workdir,
                    self.t.master.admin, SYNC_TIMEOUT)
            except Exception as e:          # reported by the check that waits for it
                result["error"] = e
        thread = threading.Thread(target=run, name="sync-" + label, daemon=True)
        thread.start()
        return thread, result

    # -- o.ctl: every command on the main target -------------------------------------------

    def protocol_view(self, user):
        """{mailbox: GET FULLMAILBOX MAILBOX value} of user, from the target."""
        session = self.t.session(self.t.target)
        try:
            out = {}
            for box in session.get_user(user).values("MAILBOX"):
                name = dlist_text(box.get("MBOXNAME"))
                full = session.get_fullmailbox(name).values("MAILBOX")
                if full:
                    out[name] = full[0]
            return out
        finally:
            session.close()

    def ctl_checks(self):
        t = self.t
        target = t.target
        users = sorted(t.users)
        alice = self.protocol_view("alice")
        inbox = alice.get("user.alice")

        def info():
            out = self.ctl_json(target, "info")
            problems = []
            if out["format_version"] != 1:
                problems.append("format_version %s" % out["format_version"])
            if out["users"] < len(users):
                problems.append("%d users, the master has %d" % (out["users"], len(users)))
            if not out["records"] or not out["bodies"]:
                problems.append("no records or bodies counted: %s" % out)
            text = self.ctl(target, "info", json_output=False)
            if text.returncode != 0 or b"format_version:" not in text.stdout:
                problems.append("text form: %r" % text.stdout[:200])
            return "; ".join(problems), "%d users, %d mailboxes, %d records, %d bodies, %d bytes" % (
                out["users"], out["mailboxes"], out["records"], out["bodies"], out["file_bytes"])

        def users_cmd():
            rows = self.ctl_json(target, "users")
            listed = {r["user"]: r for r in rows}
            missing = [u for u in users if u not in listed]
            if missing:
                return "users lists no %s (it lists %s)" % (", ".join(missing), sorted(listed))
            live = sum(1 for box in alice.values() for rec in box.get("RECORD") or []
                       if "\\Expunged" not in [dlist_text(f) for f in rec.get("FLAGS") or []])
            if listed["alice"]["messages"] != live:
                return "alice: users says %d messages, GET FULLMAILBOX shows %d live records" % (
                    listed["alice"]["messages"], live)
            return ""

        def mailboxes():
            rows = self.ctl_json(target, "mailboxes", "alice")
            listed = sorted(r["name"] for r in rows)
            if listed != sorted(alice):
                return "mailboxes alice: %s\nGET USER alice: %s" % (listed, sorted(alice))
            self.ctl_json(target, "mailboxes", "nobody-at-all", expect_rc=1)
            return ""

        def show():
            if inbox is None:
                return "the target has no user.alice"
            out = self.ctl_json(target, "show", "user.alice")
            problems = []
            if out["uniqueid"] != dlist_text(inbox.get("UNIQUEID")):
                problems.append("uniqueid %s vs %s" % (out["uniqueid"], dlist_text(inbox.get("UNIQUEID"))))
            if str(out["last_uid"]) != dlist_text(inbox.get("LAST_UID")):
                problems.append("last_uid %s vs %s" % (out["last_uid"], dlist_text(inbox.get("LAST_UID"))))
            want = [(dlist_text(r.get("UID")), dlist_text(r.get("GUID"))) for r in inbox.get("RECORD") or []]
            got = [(str(r["uid"]), r["guid"]) for r in out["records"]]
            if got != want:
                problems.append("records differ: show %s, GET FULLMAILBOX %s" % (got[:5], want[:5]))
            if str(out["sync_crc"]) != dlist_text(inbox.get("SYNC_CRC")):
                problems.append("sync_crc %s vs %s" % (out["sync_crc"], dlist_text(inbox.get("SYNC_CRC"))))
            by_uniqueid = self.ctl_json(target, "show", out["uniqueid"])
            if by_uniqueid["name"] != "user.alice":
                problems.append("show by uniqueid found %s" % by_uniqueid["name"])
            return "; ".join(problems), "%d records" % len(got)

        def cat():
            if not inbox or not inbox.get("RECORD"):
                return "user.alice has no records to cat"
            checked = 0
            for rec in inbox.get("RECORD"):
                guid, size = dlist_text(rec.get("GUID")), int(dlist_text(rec.get("SIZE")))
                run = self.ctl(target, "cat", guid, json_output=False)
                if run.returncode != 0:
                    continue                 # an expunged record may have no body
                if hashlib.sha1(run.stdout).hexdigest() != guid or len(run.stdout) != size:
                    return "cat %s: %d bytes hashing to %s, record says SIZE %d" % (
                        guid, len(run.stdout), hashlib.sha1(run.stdout).hexdigest(), size)
                checked += 1
            if not checked:
                return "no message of user.alice could be read"
            return "", "%d messages" % checked

        def verify():
            problems = []
            for scope in ("--all", "alice", "carol"):
                run = self.ctl(target, "verify", scope)
                if run.returncode != 0:
                    problems.append("verify %s: exit %s: %s" % (scope, run.returncode,
                                                                 (run.stdout or run.stderr).decode()[-1500:]))
                    continue
                out = json.loads(run.stdout)
                if not out["clean"] or out["problem_count"]:
                    problems.append("verify %s: %s" % (scope, out["problems"][:5]))
            whole = json.loads(self.ctl(target, "verify").stdout or b"{}")
            return "; ".join(problems), "%s mailboxes, %s records, %s bodies" % (
                whole.get("mailboxes"), whole.get("records"), whole.get("bodies"))

        def status():
            out = self.fresh_status(target)
            rows = {r["user"]: r for r in out["users"]}
            problems = []
            if out["state"] != "running":
                problems.append("state %r" % out["state"])
            if out["applies"] <= 0 or out["last_commit_time"] <= 0:
                problems.append("no applies reported: %s" % {k: out[k] for k in ("applies", "last_commit_time")})
            for user in users:
                row = rows.get(user)
                if row is None or row["applies"] <= 0 or row["last_apply_time"] <= 0:
                    problems.append("no apply reported for %s: %s" % (user, row))
            text = self.ctl(target, "status", json_output=False)
            if text.returncode != 0 or b"LAST_APPLY_TIME" not in text.stdout:
                problems.append("text form: %r" % text.stdout[:300])
            return "; ".join(problems), "%d applies, %d users, %d sessions" % (
                out["applies"], len(rows), out["sessions"])

        def metrics():
            self.fresh_status(target)
            run = self.ctl(target, "metrics", json_output=False)
            if run.returncode != 0:
                return "exit %s: %s" % (run.returncode, run.stderr.decode()[-500:])
            text = run.stdout.decode()
            bad = [line for line in text.splitlines() if not line.startswith("#") and not _SAMPLE.match(line)]
            values = dict(line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
            problems = []
            if bad:
                problems.append("not exposition format: %s" % bad[:3])
            if values.get("replicad_up") != "1":
                problems.append("replicad_up %s" % values.get("replicad_up"))
            if float(values.get("replicad_applies_total", 0)) <= 0:
                problems.append("replicad_applies_total %s" % values.get("replicad_applies_total"))
            if 'replicad_user_last_apply_timestamp_seconds{user="alice"}' not in values:
                problems.append("no last-apply time for alice")
            if float(values.get('replicad_apply_duration_seconds_bucket{le="+Inf"}', 0)) <= 0:
                problems.append("empty latency histogram")
            return "; ".join(problems), "%d samples" % len(values)

        t.check("o.ctl.info", info)
        t.check("o.ctl.users", users_cmd)
        t.check("o.ctl.mailboxes", mailboxes)
        t.check("o.ctl.show", show)
        t.check("o.ctl.cat", cat)
        t.check("o.ctl.verify", verify)
        t.check("o.ctl.status", status)
        t.check("o.ctl.metrics", metrics)

    def fresh_status(self, replica):
        """`replicadctl status` once the daemon has rewritten its status file
        after this call began (it does every status_interval)."""
        since = time.time()
        out = None
        for _ in range(150):
            out = self.ctl_json(replica, "status")
            if out["status_written_time"] > since:
                return out
            time.sleep(0.1)
        return out

    # -- o.trace: a protocol trace of sync_client's session -------------------------------

    def trace_checks(self):
        t = self.t
        target = t.target
        trace_root = os.path.join(target.dir, "data", "trace")
        admin_dir = os.path.join(trace_root, target.ADMIN)

        def traced():
            os.makedirs(admin_dir)
            try:
                run = t.sync(target, "o-trace", ["-u", "alice"], False)
                files = sorted(os.listdir(admin_dir))
                texts = [open(os.path.join(admin_dir, f), "rb").read().decode("utf-8", "replace") for f in files]
            finally:
                shutil.rmtree(trace_root)        # tracing off again for the rest
            if run.rc != 0:
                return "sync_client failed: %s" % run.explain()
            if not texts:
                return "no trace file in %s" % admin_dir
            text = "\n".join(texts)
            problems = []
            if not re.search(r"^\S+ C: AUTHENTICATE \S+( <redacted>)?$", text, re.M):
                problems.append("no redacted AUTHENTICATE line")
            if not re.search(r"^\S+ C: GET USER alice$", text, re.M):
                problems.append("no GET USER alice line")
            if not re.search(r"^\S+ S: OK success$", text, re.M):
                problems.append("no reply line")
            secret = target.admin_password
            for form in (secret, base64.b64encode(b"\0admin\0" + secret.encode()).decode(),
                         base64.b64encode(secret.encode()).decode()):
                if form in text:
                    problems.append("the password appears as %r" % form)
            if problems:
                return "; ".join(problems) + "\n" + text[:1500]
            return "", "%d lines in %d file(s)" % (text.count("\n"), len(texts))

        t.check("o.trace.sync-client", traced)

    # -- o.hup: SIGHUP reopens the log and reloads the certificate -------------------------

    def hup_checks(self):
        t = self.t
        directory = os.path.join(t.root, "replicad-hup")
        pki = os.path.join(directory, "pki")
        os.makedirs(pki)
        cert, key = os.path.join(pki, "cert.pem"), os.path.join(pki, "key.pem")

        def make_cert(cn):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + cn],
                           check=True, capture_output=True)
        make_cert("first.replica.test")
        log_path = os.path.join(directory, "replicad.log")
        replica = Replicad(t.args.builddir, directory, listen_tls=True,
                           extra_conf=[("tls_server_cert", cert), ("tls_server_key", key),
                                       ("logfile", log_path)])
        self.replicas.append(replica)

        def served_cn():
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            with socket.create_connection((replica.host, replica.tls_port), timeout=10) as raw:
                with ctx.wrap_socket(raw) as tls:
                    der = tls.getpeercert(binary_form=True)
            pem = ssl.DER_cert_to_PEM_cert(der)
            out = subprocess.run(["openssl", "x509", "-noout", "-subject", "-nameopt", "RFC2253"],
                                 input=pem.encode(), capture_output=True, check=True).stdout.decode()
            return out.strip().split("CN=", 1)[-1]

        def reopen_and_reload():
            replica.start()
            before = served_cn()
            os.rename(log_path, log_path + ".1")       # as logrotate does
            make_cert("second.replica.test")
            os.kill(replica.proc.pid, signal.SIGHUP)
            reopened = netutil.wait_until(
                lambda: os.path.exists(log_path) and "TLS certificate reloaded" in open(log_path).read(), 10)
            after = served_cn()
            problems = []
            if not reopened:
                problems.append("no new log file with the reload in it; the old one ends:\n%s" %
                                _tail(log_path + ".1"))
            old = open(log_path + ".1").read()
            if "ready" not in old or "SIGHUP" in old:
                problems.append("the old file should hold the start and nothing after SIGHUP")
            if (before, after) != ("first.replica.test", "second.replica.test"):
                problems.append("served %s, then %s" % (before, after))
            if not replica.alive():
                problems.append("replicad died on SIGHUP")
            return "; ".join(problems)

        t.check("o.hup.reopen-log-reload-tls", reopen_and_reload)

    # -- o.backup: hot copies while a sync runs --------------------------------------------

    def backup_checks(self):
        t = self.t
        replica = self.fresh_replica("replicad-backup")
        replica.start()
        backups = []            # (path, taken while the sync ran)

        def during_sync():
            thread, result = self.sync_in_background(replica, "backup")

            def backup():
                dest = os.path.join(t.root, "backups", "copy-%02d" % (len(backups) + 1))
                running = thread.is_alive()
                run = self.ctl(replica, "backup", dest)
                if run.returncode != 0:
                    return "backup %d: exit %s: %s" % (len(backups) + 1, run.returncode, run.stderr.decode()[-500:])
                backups.append((dest, running and thread.is_alive()))
                return ""
            while thread.is_alive():
                failed = backup()
                if failed:
                    thread.join(SYNC_TIMEOUT)
                    return failed
                time.sleep(0.1)
            thread.join(SYNC_TIMEOUT)
            failed = backup()       # and one of the finished store
            if failed:
                return failed
            if "error" in result:
                return "sync_client could not run: %s" % result["error"]
            sync = result["run"]
            if sync.rc != 0:
                return "sync_client -A failed: %s" % sync.explain()
            self.complete = replica
            during = sum(1 for _, running in backups if running)
            if during == 0:
                return "the sync ended before a backup could be taken (%.1fs)" % sync.wall
            return "", "%d backups, %d during the %.1fs sync" % (len(backups), during, sync.wall)

        def copies_verify():
            if not backups:
                return "no backups were taken"
            counts = []
            for dest, _ in backups:
                run = self.ctl(replica, "verify", "--all", store=dest)
                if run.returncode != 0:
                    return "%s: verify exit %s: %s" % (dest, run.returncode,
                                                       (run.stdout or run.stderr).decode()[-1500:])
                counts.append(json.loads(run.stdout)["records"])
            final = self.ctl_json(replica, "info")["records"]
            if counts[-1] != final:
                return "the last copy holds %d records, the store %d" % (counts[-1], final)
            return "", "records per copy: %s" % counts

        t.check("o.backup.during-sync", during_sync)
        t.check("o.backup.copies-verify", copies_verify)

    # -- o.shutdown: SIGTERM in the middle of a sync ---------------------------------------

    def shutdown_checks(self):
        t = self.t
        replica = self.fresh_replica("replicad-sigterm")
        replica.start()
        state = {}

        def stops_mid_sync():
            offset = replica.log_offset()
            thread, result = self.sync_in_background(replica, "sigterm")
            # Stop once a few mailboxes are in, while more are on their way:
            # replicad logs each command as it answers it.
            applied = netutil.wait_until(lambda: self.mailboxes_applied(replica, offset) >= 3 or not thread.is_alive(),
                                         120, interval=0.005)
            mid_sync = thread.is_alive()
            rc = replica.stop(grace=20)
            # sync_client may keep reconnecting to a replica that is gone
            thread.join(15)
            if thread.is_alive():
                kill_children("sync_client")
                thread.join(30)
            if "error" in result:
                return "sync_client could not run: %s" % result["error"]
            state["run"] = result["run"]
            if rc != 0:
                return "exit status %s after SIGTERM; log ends:\n%s" % (rc, replica.log_tail(1500))
            if not applied or not mid_sync:
                return "the sync was over before SIGTERM (%s)" % result["run"].explain()
            final = self.ctl_json(replica, "status", expect_rc=3)
            if final["state"] != "stopped":
                return "status after the stop says %r" % final["state"]
            return ""

        def restarts():
            if "run" not in state:
                return "not checked: the stop did not happen"
            restart(replica)
            if not replica.alive():
                return "replicad did not start again: %s" % replica.log_tail(1500)
            return ""

        def acknowledged_kept():
            if "run" not in state or not replica.alive():
                return "not checked: the stop or the restart did not happen"
            if self.complete is None:
                return "not checked: o.backup has no complete copy to compare with"
            last = {}
            for c in state["run"].applies(("MAILBOX",)):
                last[c.argument] = c
            kept = sorted(name for name, c in last.items() if c.accepted)
            if not kept:
                return "no APPLY MAILBOX was acknowledged before the stop"
            # A mailbox's QUOTAROOT shows a quota root that exists: that came
            # with APPLY QUOTA, which may not have been acknowledged yet.
            quotas = {c.argument for c in state["run"].applies(("QUOTA",)) if c.accepted}
            differences = []
            complete = t.session(self.complete)
            try:
                stopped = t.session(replica)
                try:
                    for name in kept:
                        a = replica_compare.canon_reply(complete.get_fullmailbox(name))
                        b = replica_compare.canon_reply(stopped.get_fullmailbox(name))
                        for box in list(a.get("MAILBOX", {}).values()) + list(b.get("MAILBOX", {}).values()):
                            if box.get("QUOTAROOT") not in quotas:
                                box.pop("QUOTAROOT", None)
                        differences += replica_compare.diff(a, b, "GET FULLMAILBOX %s" % name, ("complete", "stopped"))
                finally:
                    stopped.close()
            finally:
                complete.close()
            if differences:
                return "%d differences:\n%s" % (len(differences), "\n".join(differences[:12]))
            return "", "%d acknowledged mailboxes of %d applied, all kept" % (len(kept), len(last))

        def verifies():
            if not replica.alive():
                return "not checked: replicad is not running"
            run = self.ctl(replica, "verify", "--all")
            if run.returncode != 0:
                return "verify exit %s: %s" % (run.returncode, (run.stdout or run.stderr).decode()[-1500:])
            return ""

        t.check("o.shutdown.sigterm-mid-sync", stops_mid_sync)
        t.check("o.shutdown.restarts", restarts)
        t.check("o.shutdown.acknowledged-kept", acknowledged_kept)
        t.check("o.shutdown.store-verifies", verifies)

    @staticmethod
    def mailboxes_applied(replica, offset):
        return sum(1 for line in replica.log_since(offset) if 'cmd="APPLY MAILBOX" result="OK' in line)

    # -- o.notify: systemd's protocols ----------------------------------------------------

    def notify_checks(self):
        t = self.t
        directory = os.path.join(t.root, "replicad-notify")
        os.makedirs(os.path.join(directory, "data"))
        port = netutil.free_port()
        conf = os.path.join(directory, "replicad.conf")
        sasldb = os.path.join(directory, "sasldb2")
        with open(conf, "w") as f:
            f.write("listen: 127.0.0.1:%d\ndatadir: %s\nadmins: admin\nstatus_interval: 200ms\n"
                    "sasl_pwcheck_method: auxprop\nsasl_auxprop_plugin: sasldb\nsasl_sasldb_path: %s\n"
                    "allowplaintext: yes\n" % (port, os.path.join(directory, "data"), sasldb))
        add_sasl_login(sasldb, "replicad", "admin", "admin-secret")
        binary = os.path.join(os.path.abspath(t.args.builddir), "server", "replicad")
        log_path = os.path.join(directory, "replicad.log")
        notify_name = "replicad-peer-notify-%d" % os.getpid()

        def notify_cycle():
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            listener.bind("\0" + notify_name)            # the abstract namespace: NOTIFY_SOCKET=@...
            listener.settimeout(20)
            env = dict(os.environ, NOTIFY_SOCKET="@" + notify_name, WATCHDOG_USEC="400000")
            with open(log_path, "ab") as log:
                proc = subprocess.Popen([binary, "-C", conf], env=env, stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, start_new_session=True)
            try:
                messages = []
                first = listener.recv(4096).decode()
                accepting_at_ready = netutil.port_accepts(port)
                messages.append(first)
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    messages.append(listener.recv(4096).decode())
                proc.send_signal(signal.SIGTERM)
                stopping = False
                while not stopping:
                    m = listener.recv(4096).decode()
                    messages.append(m)
                    stopping = "STOPPING=1" in m.split("\n")
                rc = proc.wait(20)
            except socket.timeout:
                proc.kill()
                proc.wait(5)
                return "no more notifications after %s; log:\n%s" % (messages, _tail(log_path))
            finally:
                listener.close()
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
            problems = []
            if not first.startswith("READY=1\n") or "\nSTATUS=" not in first:
                problems.append("first notification %r, expected READY=1 with STATUS=" % first)
            if not accepting_at_ready:
                problems.append("READY=1 came before the port accepted connections")
            pings = sum(1 for m in messages if m == "WATCHDOG=1")
            if pings < 4:
                problems.append("%d WATCHDOG=1 in 3s with WATCHDOG_USEC=400000" % pings)
            if not any(m.startswith("STATUS=") and "session" in m for m in messages[1:]):
                problems.append("no periodic STATUS=: %s" % messages[:6])
            if rc != 0:
                problems.append("exit status %s after SIGTERM" % rc)
            return "; ".join(problems), "READY, %d watchdog pings, STOPPING, exit 0" % pings

        def socket_activation():
            activated = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            activated.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            activated.bind((netutil.HOST, 0))
            activated.listen(16)
            activated_port = activated.getsockname()[1]
            fd = activated.fileno()

            def as_fd_3():
                os.dup2(fd, 3)
            # LISTEN_PID must be replicad's own pid: the shell's, which exec keeps.
            argv = ["/bin/sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=csync exec "$0" -C "$1"',
                    binary, conf]
            with open(log_path, "ab") as log:
                # preexec makes fd 3 our socket (dup2's copy is inheritable); Python
                # opens its own fds close-on-exec, so close_fds=False leaks nothing
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        close_fds=False, preexec_fn=as_fd_3, start_new_session=True)
            activated.close()
            try:
                greeting = b""
                if netutil.wait_until(lambda: netutil.port_accepts(activated_port), 20):
                    greeting = netutil.read_greeting(activated_port)
                configured_bound = netutil.port_accepts(port)
            finally:
                proc.send_signal(signal.SIGTERM)
                rc = proc.wait(20)
            problems = []
            if not greeting.startswith(b"* "):
                problems.append("the passed socket answered %r" % greeting[:80])
            if configured_bound:
                problems.append("the configured listen address was bound as well")
            if rc != 0:
                problems.append("exit status %s after SIGTERM" % rc)
            return "; ".join(problems) + ("\n" + _tail(log_path) if problems else "")

        t.check("o.notify.ready-watchdog-stopping", notify_cycle)
        t.check("o.notify.socket-activation", socket_activation)

    # -- driver -------------------------------------------------------------------------

    def scenario(self):
        if self.t.args.target != "replicad":
            return
        self.ctl_checks()
        self.trace_checks()
        try:
            self.hup_checks()
            self.backup_checks()
            self.shutdown_checks()
        finally:
            for replica in self.replicas:
                replica.stop()
        self.notify_checks()


def kill_children(name):
    """SIGKILL this process's children called `name` (and their groups)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        if comm == name and ppid == os.getpid():
            try:
                os.killpg(int(entry), signal.SIGKILL)
            except OSError:
                pass


def restart(replica):
    """Start a stopped Replicad again on its data directory and port."""
    with open(replica.log_path, "ab") as log:
        replica.proc = subprocess.Popen([replica.binary, "-C", replica.conf_path], stdin=subprocess.DEVNULL,
                                        stdout=log, stderr=log, start_new_session=True)
    netutil.wait_until(lambda: replica.proc.poll() is not None or netutil.port_accepts(replica.port), 20)


def _tail(path, max_bytes=1500):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - max_bytes))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""
