"""Helpers shared by the macro benchmarks (sync_macro.py, scale_diff.py).

Python 3 standard library only. Everything runs on loopback against a real nginx started by
tools/test_upstream/serve.py; processes started here are waited for or stopped by PID.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(HERE)
UPSTREAM_DIR = os.path.join(SOURCE_DIR, "tools", "test_upstream")
GENERATE = os.path.join(UPSTREAM_DIR, "generate.py")
SERVE = os.path.join(UPSTREAM_DIR, "serve.py")


# Scheduling priority (nice value) of every measured command and of nginx; set by --nice. On a
# shared machine a negative value (root only) keeps other work from stretching the wall times.
NICE = 0


def niced(argv: list[str]) -> list[str]:
    return ["nice", "-n", str(NICE), *argv] if NICE else argv


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def loadavg() -> float:
    """The 1-minute load average (the machine may be shared: figures are read next to it)."""
    with open("/proc/loadavg") as stream:
        return float(stream.read().split()[0])


def drop_caches() -> bool:
    """sync, then drop the page cache when running as root; False when it could not."""
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as stream:
            stream.write("3\n")
        return True
    except OSError:
        return False


@dataclasses.dataclass
class Measured:
    """One child process: wall time, CPU (user + sys), peak RSS, exit status, output."""

    wall_s: float
    user_s: float
    sys_s: float
    maxrss_mib: float
    status: int
    stdout: str
    stderr: str

    @property
    def cpu_s(self) -> float:
        return self.user_s + self.sys_s


def measure(argv: list[str], cwd: Optional[str] = None, check: bool = True) -> Measured:
    """Runs `argv` to completion; CPU and peak RSS are the child's own, from GNU time.

    Not os.wait4: on Linux a child's ru_maxrss starts from the RSS of the process that forked it
    (the high-water mark survives exec), which would report this Python process's size.
    /usr/bin/time is small, so its children start near zero.
    """
    time_bin = "/usr/bin/time"
    if not os.access(time_bin, os.X_OK):
        raise RuntimeError("/usr/bin/time not found: apt-get install time")
    fd, report = tempfile.mkstemp(prefix="cistern-bench-time-")
    os.close(fd)
    try:
        started = time.monotonic()
        proc = subprocess.run(niced([time_bin, "-o", report, "-f", "%e %U %S %M %x", *argv]), cwd=cwd,
                              capture_output=True, text=True, errors="replace",
                              stdin=subprocess.DEVNULL)
        wall = time.monotonic() - started
        with open(report) as stream:
            fields = stream.read().split()
    finally:
        os.remove(report)
    # On a signal GNU time writes "Command terminated by signal N" first; the format line is last.
    elapsed, user, sys_s, rss_kib, status = fields[-5:]
    result = Measured(wall, float(user), float(sys_s), int(rss_kib) / 1024.0, int(status),
                      proc.stdout, proc.stderr)
    if check and result.status != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {result.status}:\n{proc.stdout}{proc.stderr}")
    return result


# --------------------------------------------------------------------------- nginx


class Server:
    """A serve.py nginx over one tree, stopped by its PID (serve.py stop) on close()."""

    def __init__(self, workdir: str, tree: str):
        self.workdir = workdir
        os.makedirs(workdir, exist_ok=True)
        out = subprocess.run([sys.executable, SERVE, "start", "--workdir", workdir, "--tree", tree],
                             capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            raise RuntimeError(f"serve.py start failed:\n{out.stdout}{out.stderr}")
        self.info = json.loads(out.stdout.strip().splitlines()[-1])
        self.url: str = self.info["https_url"]
        self.ca: str = self.info["ca_file"]
        self.access_log: str = self.info["access_log"]
        if NICE:
            for pid in self.pids():
                subprocess.run(["renice", "-n", str(NICE), "-p", str(pid)], check=True,
                               capture_output=True)

    def pids(self) -> list[int]:
        """nginx's master and its workers."""
        master = int(self.info["pid"])
        children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True)
        return [master, *(int(p) for p in children.stdout.split())]

    def cpu_ticks(self) -> dict[int, int]:
        """User + system CPU clock ticks used so far by each of nginx's processes."""
        ticks = {}
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/stat") as stream:
                    fields = stream.read().rsplit(")", 1)[1].split()
                ticks[pid] = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
            except (FileNotFoundError, IndexError):
                pass
        return ticks

    def cpu_since(self, before: dict[int, int]) -> float:
        """CPU seconds nginx used since `before` (workers started by a reload count from zero)."""
        after = self.cpu_ticks()
        return sum(t - before.get(pid, 0) for pid, t in after.items()) / os.sysconf("SC_CLK_TCK")

    def reload(self, tree: str) -> None:
        subprocess.run([sys.executable, SERVE, "reload", "--workdir", self.workdir, "--tree", tree],
                       check=True, timeout=600)

    def log_size(self) -> int:
        """Byte offset of the access log's end; lines after it belong to the next step."""
        return os.path.getsize(self.access_log) if os.path.exists(self.access_log) else 0

    def log_since(self, offset: int) -> list["LogLine"]:
        # nginx writes a line when a request completes; the client has its response by then, so a
        # short settle covers the last line of a run that just ended.
        time.sleep(0.2)
        with open(self.access_log, "rb") as stream:
            stream.seek(offset)
            text = stream.read().decode(errors="replace")
        return [line for line in (LogLine.parse(raw) for raw in text.splitlines()) if line]

    def close(self) -> None:
        subprocess.run([sys.executable, SERVE, "stop", "--workdir", self.workdir], timeout=60)


# serve.py's LOG_FORMAT: $remote_addr [$time_local] "$request" $status $body_bytes_sent
# "$http_accept" $server_protocol $connection "$http_range" "$http_accept_encoding"
# "$http_user_agent" $request_time
_LOG_RE = re.compile(r'^(\S+) \[([^\]]*)\] "(\S+) (\S+) [^"]*" (\d+) (\d+) "([^"]*)" (\S+) (\d+) '
                     r'"([^"]*)" "([^"]*)" "([^"]*)" (\S+)$')


@dataclasses.dataclass
class LogLine:
    method: str
    path: str
    status: int
    body_bytes: int
    accept: str
    protocol: str
    connection: int
    accept_encoding: str
    user_agent: str

    @staticmethod
    def parse(raw: str) -> Optional["LogLine"]:
        match = _LOG_RE.match(raw)
        if not match:
            return None
        g = match.groups()
        return LogLine(g[2], g[3], int(g[4]), int(g[5]), g[6], g[7], int(g[8]), g[10], g[11])


@dataclasses.dataclass
class Traffic:
    """What nginx saw during one step."""

    requests: int
    connections: int
    protocols: str
    packages_requests: int
    body_bytes: int
    statuses: dict[int, int]

    @staticmethod
    def of(lines: list[LogLine]) -> "Traffic":
        statuses: dict[int, int] = {}
        for line in lines:
            statuses[line.status] = statuses.get(line.status, 0) + 1
        return Traffic(len(lines), len({line.connection for line in lines}),
                       ",".join(sorted({line.protocol for line in lines})),
                       sum(1 for line in lines if line.path.startswith("/packages/")),
                       sum(line.body_bytes for line in lines), statuses)


# --------------------------------------------------------------------------- cistern


def find_binary(build_dir: str, relative: str) -> str:
    path = os.path.join(build_dir, relative)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} not found: build it first "
                           f"(ninja -C {build_dir} {os.path.basename(relative)})")
    return path


_SUMMARY_RE = re.compile(r"sync (\w+): generation (\d+), serial (\S+), (\d+) projects synced, "
                         r"(\d+) deferred, (\d+) files \(([^)]*)\) fetched, (\d+) removed")


@dataclasses.dataclass
class SyncResult:
    run: Measured
    traffic: Traffic
    lines: list[LogLine]
    nginx_cpu_s: float = 0.0
    outcome: str = ""
    projects_synced: int = -1
    deferred: int = -1
    files_fetched: int = -1
    files_removed: int = -1


def cistern_sync(cistern: str, config: str, mirror: str, server: Server,
                 jobs: Optional[int] = None, cold: bool = False,
                 extra: Optional[list[str]] = None) -> SyncResult:
    """One `cistern sync` of `mirror` from `server`, measured, with nginx's view of it."""
    argv = [cistern, "--config", config, "sync", "--mirror", mirror, "--upstream", server.url,
            "--ca-file", server.ca]
    if jobs:
        argv += ["--jobs", str(jobs)]
    argv += extra or []
    if cold:
        drop_caches()
    offset = server.log_size()
    nginx_before = server.cpu_ticks()
    run = measure(argv, check=False)
    nginx_cpu = server.cpu_since(nginx_before)
    lines = server.log_since(offset)
    result = SyncResult(run, Traffic.of(lines), lines, nginx_cpu_s=nginx_cpu)
    match = _SUMMARY_RE.search(run.stdout)
    if match:
        result.outcome = match.group(1)
        result.projects_synced = int(match.group(4))
        result.deferred = int(match.group(5))
        result.files_fetched = int(match.group(6))
        result.files_removed = int(match.group(8))
    if run.status != 0:
        log(f"cistern sync exited {run.status}:\n{run.stdout}{run.stderr[-4000:]}")
    return result


def write_config(path: str) -> str:
    """An explicit, empty cistern.toml: the run uses the documented defaults, never a
    cistern.toml from the current directory or /etc."""
    with open(path, "w") as stream:
        stream.write("# cistern benchmark: every key at its default (config/cistern.toml)\n")
    return path


def tree_stats(root: str, sub: str = "packages") -> tuple[int, int]:
    """(files, bytes) of the regular files below root/sub."""
    files = size = 0
    for dirpath, _, filenames in os.walk(os.path.join(root, sub)):
        for name in filenames:
            files += 1
            size += os.lstat(os.path.join(dirpath, name)).st_size
    return files, size


def relative_files(root: str, sub: str) -> set[str]:
    out = set()
    base = os.path.join(root, sub)
    for dirpath, _, filenames in os.walk(base):
        for name in filenames:
            out.add(os.path.relpath(os.path.join(dirpath, name), root))
    return out


def remove_tree(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def verdict(ok: Optional[bool]) -> str:
    return "n/a" if ok is None else ("ok" if ok else "MISSED")
