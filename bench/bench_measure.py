"""Measuring one replication run: sync_client -A from the master straight
into a target (no relay in between, no -v tracing), timed, with the
client's own CPU from wait4(), the replica's CPU from /proc, and its memory
sampled while the run goes on (the kernel keeps a peak of the resident set,
VmHWM, but none of RssAnon).

fsyncs are counted in a separate pass under strace (ptrace slows every
traced system call, so timed runs are never traced).
"""
import os
import re
import signal
import subprocess
import threading
import time

from cyrus_instance import CYRUS_BIN
from sync_runner import client_config

import bench_targets

SYNC_SYSCALLS = ("fsync", "fdatasync", "sync_file_range", "msync", "syncfs", "sync")


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def _status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class MemorySampler:
    """Polls VmHWM and RssAnon of the target's serving processes; keeps the
    largest value seen for any one of them."""

    def __init__(self, target, interval=0.02):
        self.target = target
        self.interval = interval
        self.peak_hwm_kb = 0
        self.peak_anon_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self):
        for pid in self.target.serving_pids():
            self.peak_hwm_kb = max(self.peak_hwm_kb, _status_kb(pid, "VmHWM:"))
            self.peak_anon_kb = max(self.peak_anon_kb, _status_kb(pid, "RssAnon:"))

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()   # the final VmHWM of those still alive
        return False


def replica_cpu(target):
    """CPU seconds of the target's serving processes so far (live + reaped)."""
    total = target.reaped_cpu()
    for pid in target.serving_pids():
        try:
            total += bench_targets.cpu_seconds(pid)
        except OSError:
            pass
    return total


def write_client_config(master, target, workdir):
    """sync_client's own imapd.conf: the master's without sync_* keys, plus
    where to replicate to.  Readable by the cyrus user, private otherwise."""
    text = client_config(master, target.host, target.port, target.admin[0], target.admin[1], target.try_imap)
    path = os.path.join(master.dir, "run", "bench-sync-client-%d.conf" % os.getpid())
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o640)
    st = os.stat(master.conf_path)
    os.chown(path, st.st_uid, st.st_gid)
    return path


class ClientRun:
    def __init__(self, rc, wall, cpu, maxrss_kb, stderr_path):
        self.rc = rc
        self.wall = wall
        self.cpu = cpu
        self.maxrss_kb = maxrss_kb
        self.stderr_path = stderr_path

    def stderr_tail(self, max_bytes=1500):
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - max_bytes))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _kill_group(pid):
    """sync_client runs in a session of its own: end that group, nothing else."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_sync_client(config_path, workdir, label, timeout):
    """sync_client -A; wall time, and its CPU and peak RSS from wait4()."""
    stderr_path = os.path.join(workdir, "%s.sync_client.stderr" % label)
    argv = [os.path.join(CYRUS_BIN, "sync_client"), "-C", config_path, "-A"]
    with open(stderr_path, "wb") as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True)
        # sync_client retries refused logins forever: a timer ends the run.
        timer = threading.Timer(timeout, _kill_group, args=(proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ClientRun(proc.returncode, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, stderr_path)


def measure_sync(master, target, workdir, label, timeout):
    """One timed full sync plus its no-op re-run into a started target."""
    config = write_client_config(master, target, workdir)
    try:
        load_before = loadavg()
        cpu_before = replica_cpu(target)
        with MemorySampler(target) as memory:
            full = run_sync_client(config, workdir, label + "-full", timeout)
            cpu_after = replica_cpu(target)
        # Into a target that stores nothing a second run sends everything again.
        noop = run_sync_client(config, workdir, label + "-noop", timeout) if target.keeps_data else None
        return {
            "rc": full.rc,
            "wall": full.wall,
            "replica_cpu": cpu_after - cpu_before,
            "replica_hwm_kb": memory.peak_hwm_kb,
            "replica_anon_kb": memory.peak_anon_kb,
            "client_cpu": full.cpu,
            "client_rss_kb": full.maxrss_kb,
            "noop_wall": noop.wall if noop else None,
            "noop_rc": noop.rc if noop else 0,
            "load": (load_before + loadavg()) / 2,
            "stderr": full.stderr_tail() if full.rc != 0 else "",
        }
    finally:
        os.unlink(config)


_STRACE_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


def count_syncs(master, target, workdir, label, timeout):
    """A full sync with strace attached to every process of the target:
    how many fsync-like calls it made.  Returns (calls, {syscall: calls}, rc)."""
    out = os.path.join(workdir, "%s.strace" % label)
    argv = ["strace", "-f", "-c", "-qq", "-o", out, "-e", "trace=" + ",".join(SYNC_SYSCALLS)]
    for pid in target.all_pids():
        argv += ["-p", str(pid)]
    tracer = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, start_new_session=True)
    time.sleep(0.5)   # let it attach
    config = write_client_config(master, target, workdir)
    try:
        run = run_sync_client(config, workdir, label + "-strace", timeout)
    finally:
        os.unlink(config)
        time.sleep(0.3)
        tracer.send_signal(signal.SIGINT)   # detach; -c writes its table now
        try:
            tracer.wait(30)
        except subprocess.TimeoutExpired:
            tracer.kill()
            tracer.wait(5)
    calls = {}
    try:
        with open(out) as f:
            for line in f:
                m = _STRACE_ROW.match(line)
                if m and m.group(2) in SYNC_SYSCALLS:
                    calls[m.group(2)] = int(m.group(1))
    except OSError:
        pass
    return sum(calls.values()), calls, run.rc
