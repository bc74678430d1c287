"""curves.png: the sweep's metric and ot_pi_sum against step, one line per trial; rule-stopped trials dashed."""

from __future__ import annotations

from pathlib import Path

from actot.report.load import Sweep


def plot_curves(sweep: Sweep, path: Path | None = None) -> Path | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not sweep.trials:
        return None
    path = Path(path or sweep.path / "curves.png")
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for trial in sweep.trials:
        style = "--" if trial.status == "stopped" else "-"
        for ax, key in zip(axes, (sweep.metric, "ot_pi_sum")):
            points = trial.finite(key)
            if points:
                ax.plot(*zip(*points), style, label=trial.display_name() if ax is axes[0] else None, alpha=0.8)
    for ax, key in zip(axes, (sweep.metric, "ot_pi_sum")):
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[1].axhline(0.1, color="red", lw=0.8, ls=":")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle(f"{sweep.name}: dashed = stopped by a rule")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
