"""Where a run's metrics go: W&B (online, offline or disabled) and a parquet history.

The parquet file (`history.parquet` in the run folder: a `step` column and one column per
metric) is rewritten atomically at every log, so a killed run keeps what it had logged. The
summary (status, stop reason, best values) goes to W&B and to `summary.json` beside it.
W&B mode `auto` is online when an API key is configured and offline otherwise; the key
itself is never written into the config, the history or any log.
A run whose output goes to a file prints a `progress_line` per log step instead of a bar; its ETA
reads as `duration` writes it, as does a sweep's progress line.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def resolve_wandb_mode(mode: str) -> str:
    if mode != "auto":
        return mode
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def write_history(path: Path, rows: list[dict]) -> None:
    keys = ["step"] + sorted({k for r in rows for k in r} - {"step"})
    table = pa.table(
        {k: pa.array([r.get(k) for r in rows], type=pa.int64() if k == "step" else pa.float64()) for k in keys}
    )
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


class RunLog:
    """Log metric dicts by step to W&B and to `run_dir/history.parquet`."""

    def __init__(
        self,
        run_dir: Path,
        name: str,
        config: dict,
        wandb_cfg,
        rows: list[dict] | None = None,
        run_id: str | None = None,
    ):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.history_path = self.run_dir / "history.parquet"
        self.rows = list(rows or [])
        self.mode = resolve_wandb_mode(wandb_cfg.mode)
        self.wandb_run = None
        if self.mode != "disabled":
            import wandb

            self.wandb_run = wandb.init(
                project=wandb_cfg.project,
                entity=wandb_cfg.entity,
                group=wandb_cfg.group,
                name=name,
                id=run_id,
                resume="allow" if run_id else None,
                config=config,
                dir=str(self.run_dir),
                mode=self.mode,
                reinit="create_new",
            )

    def log(self, step: int, metrics: dict) -> None:
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        self.rows = [r for r in self.rows if r["step"] < step] + [row]
        write_history(self.history_path, self.rows)
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in metrics.items() if not math.isnan(float(v))}, step=step)

    def summary(self, values: dict) -> None:
        """The run's summary (status, stop reason, best values): to W&B and to `summary.json`."""
        (self.run_dir / "summary.json").write_text(json.dumps(values, indent=2, default=str))
        if self.wandb_run is not None:
            self.wandb_run.summary.update(values)

    def finish(self, exit_code: int = 0) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish(exit_code=exit_code)
            self.wandb_run = None


def duration(seconds: float) -> str:
    """12m05s, 0m40s, 1h41m: an ETA as a progress line shows it."""
    seconds = int(round(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"
    )


def progress_line(name: str, step: int, start_step: int, steps: int, elapsed_s: float, metrics: dict) -> str:
    """One log step for a log file: where the run is, its s/step (evaluations included) and when it ends."""
    per_step = elapsed_s / max(1, step - start_step)
    shown = " ".join(
        f"{k}={metrics[k]:.4g}"
        for k in ("train/l1_loss", "eval/avg_l1", "ot_pi_sum", "eval/success")
        if isinstance(metrics.get(k), float)
    )
    return (
        f"[train] {name} step {step}/{steps} ({100 * step / steps:.0f}%), {per_step:.3f} s/step, "
        f"ETA {duration(per_step * (steps - step))}: {shown}"
    )


CURVES = (("eval/avg_l1", "train/l1_loss"), ("ot_pi_sum", "ot_pi_diag"), ("ot_loss",), ("ot_cost(state)",))


def plot_history(rows: list[dict], path: Path, title: str = "") -> Path | None:
    """One run's metrics by step, four panels (L1s, plan mass, OT loss, state-space cost)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        return None
    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.4))
    for ax, keys in zip(axes, CURVES):
        for key in keys:
            points = [(r["step"], r[key]) for r in rows if key in r and math.isfinite(r[key])]
            if points:
                ax.plot(*zip(*points), marker=".", label=key)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
