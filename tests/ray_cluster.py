"""A real multi-node Ray cluster on one machine, for tests: a head and worker nodes as separate `ray start` processes.

Every node binds 127.0.0.1 on free ports, runs with token authentication set explicitly and
identically (`RAY_AUTH_MODE=token`, one random `RAY_AUTH_TOKEN` per cluster), has no dashboard,
and carries a custom resource named after it. Each node runs `ray start --block` in its own
process group, so that one node can be killed alone (`kill_node`). `stop()` kills every group
and then any process that still carries this cluster's token in its environment (Ray's workers
start their own sessions); it never calls `ray stop`, which stops every Ray on the machine.

Worker nodes can audit file writes: with `audit_dir` and `watch`, a `sitecustomize` on their
PYTHONPATH records, per process, every file under `watch` that a Python process on that node
opens for writing, renames into place, deletes or opens as SQLite (`<node>-<pid>.log`).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SITECUSTOMIZE = """
import os, sys
_dir, _watch, _node = os.environ.get("ACTOT_AUDIT_DIR"), os.environ.get("ACTOT_AUDIT_WATCH"), os.environ.get("ACTOT_NODE")
if _dir and _watch:
    _busy = []
    def _hook(event, args):
        if _busy:
            return
        if event == "open":
            path, mode, flags = args
            writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                mode is None and isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT))
            paths = [path] if writes else []
        elif event == "os.rename":
            paths = [args[1]]
        elif event in ("os.remove", "sqlite3.connect"):
            paths = [args[0]]
        else:
            return
        for p in paths:
            if isinstance(p, int):
                continue
            try:
                p = os.path.abspath(os.fsdecode(p))
            except TypeError:
                continue
            if p.startswith(_watch):
                _busy.append(1)
                try:
                    with open(os.path.join(_dir, f"{_node}-{os.getpid()}.log"), "a") as log:
                        log.write(f"{event}\\t{p}\\n")
                finally:
                    _busy.pop()
    sys.addaudithook(_hook)
"""


_GIVEN: set[int] = set()


# Ports are handed out from a block of this pytest process's own (one per xdist worker: gw0, gw1, ...), between
# Ray's worker ports (10002-19999) and the kernel's ephemeral ones (32768 and up): no other test process, and no
# process that binds port 0, is given a port that this one has handed out and Ray binds late.
_BLOCK = 1000
_FIRST = 20000 + (_BLOCK * int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)) % 12000


def free_port() -> int:
    """A port free now and not handed out before by this process (Ray binds some ports late)."""
    for port in range(_FIRST, _FIRST + _BLOCK):
        if port in _GIVEN:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port left in {_FIRST}-{_FIRST + _BLOCK - 1}")


class LocalCluster:
    def __init__(self, workers=("node_b", "node_c"), cpus_per_worker: int = 1, audit_watch: Path | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="rc", dir="/tmp"))  # short: Ray's socket paths have a length limit
        self.workers, self.cpus = list(workers), cpus_per_worker
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.token = secrets.token_hex(24)
        self.env = {
            **os.environ,
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": self.token,
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONPATH": str(ROOT),
            # notice a dead node in ~3 s rather than ~30 s
            "RAY_health_check_period_ms": "1000",
            "RAY_health_check_failure_threshold": "3",
        }
        self.env.pop("RAY_ADDRESS", None)
        self.audit_dir = None
        if audit_watch is not None:
            self.audit_dir = self.dir / "audit"
            (self.dir / "site").mkdir()
            self.audit_dir.mkdir()
            (self.dir / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
            self.audit_watch = str(audit_watch)
        self.nodes: dict[str, subprocess.Popen] = {}

    def client_env(self, **extra) -> dict:
        """The environment of a driver that joins this cluster (same auth mode and token)."""
        env = {k: v for k, v in self.env.items() if not k.startswith("RAY_health")}
        return {**env, "RAY_ADDRESS": self.address, **extra}

    def _ports(self) -> list[str]:
        return [
            "--node-ip-address",
            "127.0.0.1",
            "--node-manager-port",
            str(free_port()),
            "--object-manager-port",
            str(free_port()),
            "--metrics-export-port",
            str(free_port()),
            "--runtime-env-agent-port",
            str(free_port()),
            "--dashboard-agent-listen-port",
            str(free_port()),
            "--dashboard-agent-grpc-port",
            str(free_port()),
            "--disable-usage-stats",
            "--block",
        ]

    def _start(self, name: str, args: list[str], env: dict) -> None:
        log = open(self.dir / f"{name}.log", "w")
        # `python -m ray.scripts.scripts`: the `ray` of this interpreter, whether or not its bin/ is on PATH
        self.nodes[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ray.scripts.scripts",
                "start",
                *args,
                "--resources",
                f'{{"{name}": 1}}',
                *self._ports(),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

    def start(self, timeout_s: float = 120.0) -> "LocalCluster":
        # The head runs no trial (0 CPUs): trials land on the worker nodes only.
        self._start(
            "head",
            [
                "--head",
                "--port",
                str(self.port),
                "--num-cpus",
                "0",
                "--include-dashboard=false",
                "--temp-dir",
                str(self.dir / "ray"),
            ],
            self.env,
        )
        for name in self.workers:
            env = dict(self.env, ACTOT_NODE=name)
            if self.audit_dir is not None:
                env.update(
                    PYTHONPATH=f"{self.dir / 'site'}:{ROOT}",
                    ACTOT_AUDIT_DIR=str(self.audit_dir),
                    ACTOT_AUDIT_WATCH=self.audit_watch,
                )
            self._start(name, ["--address", self.address, "--num-cpus", str(self.cpus)], env)
            # One node at a time: two raylets starting together on one machine raced for a port here.
            self.wait_for_nodes(len(self.nodes), timeout_s)
        return self

    def wait_for_nodes(self, count: int, timeout_s: float) -> None:
        """Wait (in a child process: this one keeps no Ray state) until `count` nodes are alive."""
        script = (
            "import sys, time, ray\n"
            "deadline = time.time() + float(sys.argv[2])\n"
            "while True:\n"
            "    try:\n"
            "        ray.init(address=sys.argv[1], logging_level='ERROR'); break\n"
            "    except Exception:\n"
            "        if time.time() > deadline: raise\n"
            "        time.sleep(1)\n"
            "while sum(n['Alive'] for n in ray.nodes()) < int(sys.argv[3]):\n"
            "    assert time.time() < deadline, ray.nodes()\n"
            "    time.sleep(0.5)\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script, self.address, str(timeout_s), str(count)],
            env=self.client_env(),
            capture_output=True,
            text=True,
            timeout=timeout_s + 30,
        )
        assert done.returncode == 0, done.stderr[-3000:] + self.logs()

    def kill_node(self, name: str) -> None:
        proc = self.nodes[name]
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=30)

    def logs(self) -> str:
        return "".join(f"\n--- {p.name}\n" + p.read_text()[-1500:] for p in sorted(self.dir.glob("*.log")))

    def leftovers(self) -> list[int]:
        """Processes that carry this cluster's token in their environment (ours, whatever their group)."""
        needle = f"RAY_AUTH_TOKEN={self.token}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != os.getpid():
                try:
                    if needle in (entry / "environ").read_bytes():
                        found.append(int(entry.name))
                except OSError:
                    continue
        return found

    def stop(self) -> None:
        for name in list(self.nodes):
            self.kill_node(name)
        deadline = time.time() + 20
        while (left := self.leftovers()) and time.time() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        shutil.rmtree(self.dir, ignore_errors=True)
