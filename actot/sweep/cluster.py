"""Joining a Ray cluster: connect with a one-line error, and check that every node can run a trial.

A trial may land on any node, and it reads the datasets, the frame cache and (with a folder
`storage=`) the sweep folder at the paths the driver resolved. Before the Tuner starts, one
tiny task per node (0 CPUs, pinned to that node) checks those paths there, so that a node
without the data fails the sweep up front with its address, rather than each trial that lands
on it failing later.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

from actot.errors import ActotError

# Driver variables a trial should see on every node (a worker inherits its own node's environment, not ours).
PASSED_ENV = ("ACTOT_CACHE", "WANDB_MODE", "WANDB_DIR")


def connect(address: str) -> None:
    """`ray.init` on an existing cluster; a failure is one line with what to check."""
    import ray

    env = {k: os.environ[k] for k in PASSED_ENV if os.environ.get(k)}
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            configure_logging=True,
            logging_level="ERROR",
            log_to_driver=False,
            runtime_env={"env_vars": env} if env else None,
        )
    except Exception as err:  # noqa: BLE001 - Ray raises ConnectionError, RuntimeError, ValueError here
        raise ActotError(
            f"ray_address={address}: cannot join the Ray cluster ({str(err).strip().splitlines()[0]}); "
            "check the address (`ray status` on the head node) and that RAY_AUTH_MODE and the token "
            "(RAY_AUTH_TOKEN, or ~/.ray/auth_token) here match the cluster's (docs/cluster.md)"
        ) from err


def probe_node(paths: dict[str, str], writable: dict[str, str]) -> list[str]:
    """What this node lacks to run a trial: dataset paths that are missing, folders it cannot write.

    `writable` maps a key to a folder; "ACTOT_CACHE" with no folder means this node's own frame cache.
    """
    problems = [f"{key}={path} does not exist" for key, path in paths.items() if not Path(path).exists()]
    for key, folder in writable.items():
        folder = Path(folder or os.environ.get("ACTOT_CACHE", Path.home() / ".cache" / "actot")).expanduser()
        if key == "storage" and not folder.is_dir():
            problems.append(
                f"the sweep folder {folder} is not visible here (storage= must be a folder every node mounts, or s3://)"
            )
            continue
        try:
            make_writable_dir(folder, ".node-probe-")
        except OSError as err:
            problems.append(f"{key}: {folder} is not writable ({err.strerror or err})")
    return problems


def check_nodes(paths: dict[str, str], writable: dict[str, str], timeout_s: float = 300.0) -> int:
    """Run `probe_node` on every alive node that has CPUs or GPUs; return how many passed, or raise naming the others."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [
        n for n in ray.nodes() if n.get("Alive") and (n["Resources"].get("CPU", 0) or n["Resources"].get("GPU", 0))
    ]
    probe = ray.remote(num_cpus=0, max_retries=0)(probe_node)
    refs = {
        f"node {n['NodeManagerAddress']} ({n['NodeID'][:8]})": probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
        ).remote(paths, writable)
        for n in nodes
    }
    problems = []
    for node, ref in refs.items():
        try:
            problems += [f"{node}: {p}" for p in ray.get(ref, timeout=timeout_s)]
        except Exception as err:  # noqa: BLE001 - a node that died meanwhile or cannot start a worker
            problems.append(f"{node}: the check could not run ({type(err).__name__}: {str(err).splitlines()[0]})")
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        raise ActotError(
            f"ray cluster: not every node can run a trial: {shown}. Give every node the datasets at the "
            "same path (a shared mount or a copy) and a writable cache, and point storage= at a folder "
            "every node mounts or at s3:// (docs/cluster.md)"
        )
    return len(nodes)


def node_requirements(base_cfg, sweep_dir: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """(paths every node must have, folders every node must write) for this sweep.

    The embedded sim needs no dataset path: each node generates it into its cache (under an
    flock, renamed into place, so nodes sharing a cache take turns).
    """
    data = base_cfg.data
    paths = {f"data.{k}": getattr(data, k) for k in ("source", "target") if getattr(data, k, None)}
    writable = {"ACTOT_CACHE": data.cache_dir or ""}
    if data.cache_dir:
        writable = {"data.cache_dir": data.cache_dir}
    if sweep_dir:
        writable["storage"] = sweep_dir
    return paths, writable


def make_writable_dir(folder: Path, probe_prefix: str = ".write-test-") -> None:
    """Create `folder` and prove a file can be written in it (raises OSError): a read-only mount or a
    full disk shows here, in one line, and not in the middle of a trial. A node's check uses its own
    prefix, so that what a worker node writes in a shared sweep folder can be told from the driver's."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / f"{probe_prefix}{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    probe.write_text("ok")
    probe.unlink()
