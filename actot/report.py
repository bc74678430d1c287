"""What a finished sweep tells a researcher: the ranked table, the reasons, the advice, a plot."""

from __future__ import annotations

from pathlib import Path

from actot.sweep.results import ResultsStore

# The seed log's advice, keyed by the rule that fired.
ADVICE = {
    "pi_collapse": "the plan lost its mass: raise ot.reg (e.g. to 3) or ot.tau (e.g. to 20), keep the diagonal prior",
    "ot_cost_diverging": "the state-space OT cost kept rising: lower ot.weight_label, or try embed-only (weight_label=0), "
                         "or lower ot.reg slightly",
    "non_finite": "a metric became NaN/Inf: lower the learning rate or lambda_ot, or raise ot.reg",
    "asha": "ASHA judged these behind their peers at a rung; more steps or a larger grace_period would tell more",
}


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def ranked_table(store: ResultsStore, limit: int = 20) -> str:
    """A plain-text table: rank, trial, status, final and best metric, success, knobs, why."""
    params = list(store.space.distributions)
    header = ["#", "trial", "status", f"final {store.metric}", "best@step", "eval/success±se",
              *[p.split(".", 1)[-1] for p in params], "why"]
    rows = []
    for rank, (trial_id, trial) in enumerate(store.ranked()[:limit], start=1):
        history = trial["history"]
        values = [(r[store.metric], r["step"]) for r in history if store.metric in r]
        best = (min if store.mode == "min" else max)(values, key=lambda p: p[0]) if values else None
        last = next((r for r in reversed(history) if "eval/success" in r), None)
        success = None if last is None else _fmt(last["eval/success"]) + (
            f"±{last['eval/success_se']:.2g}" if "eval/success_se" in last else "")
        if trial["status"] == "stopped":
            why = f"{trial['stop_rule']} at step {trial['stop_step']}: {trial['stop_reason']}"
        elif trial["status"] == "finished":
            why = "best final value" if rank == 1 else "finished"
            if trial.get("flags"):
                why += f"; flagged by {trial['flags']}"
        else:
            why = trial["status"]
        rows.append([str(rank), trial_id, trial["status"], _fmt(store.final_metric(trial)),
                     f"{best[0]:.4g}@{best[1]}" if best else "-", _fmt(success),
                     *[_fmt(trial["params"].get(p)) for p in params], why])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:-1], widths)) + "  " + r[-1] for r in [header, *rows]]
    lines.insert(1, "-" * min(160, len(lines[0])))
    return "\n".join(lines)


def advice(store: ResultsStore) -> list[str]:
    """One line per rule that fired: how many trials, where in the space, what the seed log advises."""
    lines = []
    by_rule: dict[str, list[dict]] = {}
    for trial in store.trials.values():
        if trial.get("stop_rule"):
            by_rule.setdefault(trial["stop_rule"], []).append(trial)
    for rule, trials in sorted(by_rule.items()):
        where = []
        for key in store.space.distributions:
            values = [t["params"][key] for t in trials if isinstance(t["params"].get(key), (int, float))]
            if values:
                where.append(f"{key} {min(values):.3g}..{max(values):.3g}")
        lines.append(f"{rule} stopped {len(trials)} trial(s) ({', '.join(where)}): {ADVICE.get(rule, 'see the rule')}")
    return lines


def plot_curves(store: ResultsStore, path: Path) -> Path | None:
    """eval metric and ot_pi_sum against step, one line per trial; rule-stopped trials dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not store.trials:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for trial_id, trial in store.trials.items():
        style = "--" if trial["status"] == "stopped" else "-"
        for ax, key in zip(axes, (store.metric, "ot_pi_sum")):
            points = [(r["step"], r[key]) for r in trial["history"] if key in r]
            if points:
                ax.plot(*zip(*points), style, label=trial_id if ax is axes[0] else None, alpha=0.8)
    for ax, key in zip(axes, (store.metric, "ot_pi_sum")):
        ax.set_xlabel("step")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[1].axhline(0.1, color="red", lw=0.8, ls=":")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle(f"{store.study_name}: dashed = stopped by a rule")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(store: ResultsStore, path: Path, plot: Path | None, finished: bool) -> Path:
    """The same summary as the console, as Markdown beside the results."""
    counts = ", ".join(f"{v} {k}" for k, v in sorted(store.counts().items()))
    lines = [f"# Sweep {store.study_name}", "",
             f"Space `{store.space.name}` ({store.space.description}); metric `{store.metric}` ({store.mode}).",
             f"Trials: {counts}." + ("" if finished else " **Interrupted**: resume with `resume=true`."), "",
             "```", ranked_table(store), "```", ""]
    lines += [f"- {line}" for line in advice(store)]
    if plot is not None:
        lines += ["", f"![{store.metric} and ot_pi_sum by step]({plot.name})"]
    path.write_text("\n".join(lines) + "\n")
    return path
