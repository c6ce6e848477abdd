"""The replication targets the benchmark compares, each started fresh for
every run and measured the same way:

    cyrus-csync     Cyrus sync_server (sync_try_imap: no)
    replicad-csync  replicad, CSYNC flavour
    replicad-imap   replicad, IMAP flavour (sync_try_imap: yes)
    cyrus-imap      Cyrus imapd as replication target (IMAP flavour)
    null            bench/null_target.py: stores nothing (IMAP flavour)

`serving_pids()` are the processes whose CPU and memory count as the
replica's; `reaped_cpu()` adds the CPU of those that have already exited
(Cyrus's master collects its children's times when it reaps them).
"""
import os
import re
import signal
import subprocess
import sys

import netutil
from cyrus_instance import CyrusInstance
from replica import Replicad

HERE = os.path.dirname(os.path.abspath(__file__))
CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_stat_fields(pid):
    """Fields of /proc/PID/stat after the command name (index 0 = state)."""
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid):
    """utime + stime of a live process."""
    fields = proc_stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children_cpu_seconds(pid):
    """cutime + cstime: the CPU of pid's children that it has reaped."""
    fields = proc_stat_fields(pid)
    return (int(fields[13]) + int(fields[14])) / CLK_TCK


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


class Target:
    name = "?"
    try_imap = False
    admin = ("admin", "admin-secret")
    keeps_data = True   # a second sync finds nothing to do (not so for the null target)

    def start(self, directory):
        raise NotImplementedError

    def stop(self):
        """Stops it; returns a dict of figures it reports about itself."""
        raise NotImplementedError

    def serving_pids(self):
        raise NotImplementedError

    def all_pids(self):
        """Every process to attach strace to before a sync."""
        return self.serving_pids()

    def reaped_cpu(self):
        return 0.0


class CyrusTarget(Target):
    def __init__(self, imap):
        self.imap = imap
        self.try_imap = imap
        self.name = "cyrus-imap" if imap else "cyrus-csync"
        self.process_name = b"imapd" if imap else b"sync_server"
        self.instance = None

    def label(self):
        return "Cyrus imapd" if self.imap else "Cyrus sync_server"

    def start(self, directory):
        self.instance = CyrusInstance(directory, "bench-%s" % self.name, {}, admin_password=self.admin[1])
        self.instance.start()
        self.host = self.instance.host
        self.port = self.instance.imap_port if self.imap else self.instance.csync_port
        return self

    def _children(self):
        return netutil.children_of(self.instance.master_pid) if self.instance.master_pid else []

    def serving_pids(self):
        out = []
        for pid in self._children():
            argv = cmdline(pid)
            if argv and os.path.basename(argv[0]) == self.process_name:
                out.append(pid)
        return out

    def all_pids(self):
        return [self.instance.master_pid] + self._children()

    def reaped_cpu(self):
        try:
            return children_cpu_seconds(self.instance.master_pid)
        except (OSError, TypeError):
            return 0.0

    def stop(self):
        self.instance.stop()
        self.instance.remove()
        return {}


class ReplicadTarget(Target):
    def __init__(self, builddir, imap):
        self.builddir = builddir
        self.try_imap = imap
        self.name = "replicad-imap" if imap else "replicad-csync"
        self.replicad = None

    def label(self):
        return "replicad IMAP" if self.try_imap else "replicad CSYNC"

    def start(self, directory):
        self.replicad = Replicad(self.builddir, directory, servername="bench-replicad",
                                 admin_password=self.admin[1]).start()
        self.host = self.replicad.host
        self.port = self.replicad.port
        return self

    def serving_pids(self):
        return [self.replicad.proc.pid] if self.replicad and self.replicad.alive() else []

    def stop(self):
        status = self.replicad.stop()
        figures = {"exit": status}
        # "replicad stopped: connections=N commits=N jobs=N": commits of a
        # durable store are its fsyncs (one per commit).
        m = re.findall(r"replicad stopped: .*?commits=(\d+) jobs=(\d+)", self.replicad.log_tail(20000))
        if m:
            figures["commits"], figures["jobs"] = int(m[-1][0]), int(m[-1][1])
        return figures


class NullTarget(Target):
    name = "null"
    try_imap = True
    keeps_data = False

    def __init__(self):
        self.proc = None

    def label(self):
        return "null target"

    def start(self, directory):
        os.makedirs(directory, exist_ok=True)
        self.host = netutil.HOST
        for _ in range(3):
            self.port = netutil.free_port()
            log = open(os.path.join(directory, "null_target.log"), "wb")
            self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "null_target.py"), str(self.port)],
                                         stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
            log.close()
            if netutil.wait_until(lambda: self.proc.poll() is not None or netutil.port_accepts(self.port), 10) \
                    and self.proc.poll() is None and b"null target" in netutil.read_greeting(self.port):
                return self
            self.stop()
        raise RuntimeError("the null target did not start")

    def serving_pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        return {}


def make_targets(names, builddir):
    known = {
        "cyrus-csync": lambda: CyrusTarget(imap=False),
        "replicad-csync": lambda: ReplicadTarget(builddir, imap=False),
        "replicad-imap": lambda: ReplicadTarget(builddir, imap=True),
        "cyrus-imap": lambda: CyrusTarget(imap=True),
        "null": NullTarget,
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError("unknown target(s) %s; known: %s" % (", ".join(unknown), ", ".join(known)))
    return [known[n]() for n in names]
