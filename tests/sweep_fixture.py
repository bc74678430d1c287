"""A hand-built sweep folder (results.parquet by pyarrow, sweep.json, optuna.db) whose numbers are known exactly.

Trials (metric eval/avg_l1, min; knobs ot.reg and ot.tau):
- t1   reg 2,    tau 10  finished, the seed's R1 numbers at steps 0, 50, 100
- t2   reg 0.01, tau 0.02 stopped by pi_collapse at step 50 (its 0.30 flatters it)
- t3-5 reg 1,    tau 5   finished, seeds 0, 1, 2: last eval/avg_l1 0.30, 0.31, 0.32
- t6-7 reg 0.5,  tau 2   finished, seeds 0, 1: last 0.315, 0.34 (n = 2: no interval)

`write_sweep` writes any other hand-made sweep (confirm trials included) through actot.sweepdir;
`paired_sweep` a paired one: configs on shared seeds and a baseline arm (co-training).
"""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pyarrow as pa
import pyarrow.parquet as pq

KNOBS = {
    "ot.reg": optuna.distributions.FloatDistribution(0.005, 5.0, log=True),
    "ot.tau": optuna.distributions.FloatDistribution(0.01, 30.0, log=True),
}

T1 = {  # step: metrics (the seed log's R1, first/best/last)
    0: {
        "train/loss": 15.15,
        "train/l1_loss": 0.5182,
        "eval/avg_l1": 0.6585,
        "ot_loss": 0.1658,
        "ot_pi_sum": 0.1536,
        "ot_pi_diag": 0.1536,
        "ot_cost(state)": 1246.0,
        "eval/success": 0.2,
    },
    50: {
        "train/loss": 3.0,
        "train/l1_loss": 0.2088,
        "eval/avg_l1": 0.3477,
        "ot_loss": 0.01351,
        "ot_pi_sum": 0.001345,
        "ot_pi_diag": 0.001345,
        "ot_cost(state)": 547.4,
        "eval/success": 0.6,
    },
    100: {
        "train/loss": 1.459,
        "train/l1_loss": 0.2298,
        "eval/avg_l1": 0.3535,
        "ot_loss": 0.09685,
        "ot_pi_sum": 0.03095,
        "ot_pi_diag": 0.03095,
        "ot_cost(state)": 1286.0,
        "eval/success": 0.5,
    },
}


def _trial(tid, reg, tau, status, evals, pi=0.2, cost=(100.0, 80.0, 60.0), seed=None, stop=None):
    rows = []
    for i, (step, value) in enumerate(zip((0, 50, 100), evals)):
        rows.append(
            {
                "trial_id": tid,
                "status": status,
                "stop_rule": stop and "pi_collapse",
                "stop_step": stop,
                "stop_reason": stop and "ot_pi_sum=1e-09 < 0.1 for 2 report(s) at step 50",
                "flags": None,
                "param/ot.reg": reg,
                "param/ot.tau": tau,
                "seed": seed,
                "step": step,
                "train/loss": 2.0 - i * 0.5,
                "eval/avg_l1": value,
                "ot_pi_sum": pi if not stop else 1e-9,
                "ot_pi_diag": pi if not stop else 1e-9,
                "ot_cost(state)": cost[i],
            }
        )
    return rows


def build(folder: Path, name: str = "fixture") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for step, metrics in T1.items():
        rows.append(
            {
                "trial_id": "t1",
                "status": "finished",
                "stop_rule": None,
                "stop_step": None,
                "stop_reason": None,
                "flags": None,
                "param/ot.reg": 2.0,
                "param/ot.tau": 10.0,
                "seed": 0,
                "step": step,
                **metrics,
            }
        )
    rows += _trial("t2", 0.01, 0.02, "stopped", (0.7, 0.3), stop=50)
    for seed, last in enumerate((0.30, 0.31, 0.32)):
        rows += _trial(f"t{3 + seed}", 1.0, 5.0, "finished", (0.6, 0.4, last), seed=seed)
    for seed, last in enumerate((0.315, 0.34)):
        rows += _trial(f"t{6 + seed}", 0.5, 2.0, "finished", (0.6, 0.4, last), seed=seed)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    types = {
        "trial_id": pa.string(),
        "status": pa.string(),
        "stop_rule": pa.string(),
        "stop_reason": pa.string(),
        "flags": pa.string(),
        "step": pa.int64(),
        "stop_step": pa.int64(),
        "seed": pa.int64(),
    }
    table = pa.table({c: pa.array([r.get(c) for r in rows], types.get(c, pa.float64())) for c in columns})
    pq.write_table(table, folder / "results.parquet")
    (folder / "sweep.json").write_text(
        json.dumps(
            {
                "space": {
                    "name": "fixture_space",
                    "knobs": "ot.reg in [0.005, 5] (log); ot.tau in [0.01, 30] (log)",
                    "fixed": {"ot.heuristic": "hard"},
                    "distributions": {k: optuna.distributions.distribution_to_json(d) for k, d in KNOBS.items()},
                },
                "sweep": {"name": name, "metric": "eval/avg_l1", "mode": "min"},
                "train": {
                    "steps": 100,
                    "ot": {
                        "window_size": 10,
                        "reg": 1.0,
                        "tau": [5.0, 5.0],
                        "heuristic": "hard",
                        "weight_embed": [1.0],
                        "weight_label": 0.1,
                        "lambda_ot": 0.1,
                    },
                },
            }
        )
    )
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{folder / 'optuna.db'}")
    by_trial: dict[str, list] = {}
    for r in rows:
        by_trial.setdefault(r["trial_id"], []).append(r)
    for tid, trs in by_trial.items():
        stopped = trs[0]["status"] == "stopped"
        study.add_trial(
            optuna.trial.create_trial(
                params={"ot.reg": trs[0]["param/ot.reg"], "ot.tau": trs[0]["param/ot.tau"]},
                distributions=KNOBS,
                value=None if stopped else trs[-1]["eval/avg_l1"],
                state=optuna.trial.TrialState.PRUNED if stopped else optuna.trial.TrialState.COMPLETE,
                user_attrs={"ray_trial_id": tid},
            )
        )
    return folder


def write_sweep(folder: Path, trials: list[dict], knobs: dict, spec: dict | None = None, name: str = "hand") -> Path:
    """A sweep folder from trial dicts ({trial_id, params, status, seed, confirm_of, arm, config_id, raced,
    history: [{step, ...}]}; a baseline trial's params are {}),
    written through actot.sweepdir (the format's owner), with each ended trial mirrored into optuna.db as the
    sweep does (finished: COMPLETE with its last eval/avg_l1; stopped: PRUNED)."""
    import optuna

    from actot import sweepdir

    folder.mkdir(parents=True, exist_ok=True)
    sweepdir.write_rows(folder, sweepdir.rows_of(sweepdir.TrialRecord(**t) for t in trials))
    sweepdir.write_spec(
        folder,
        {
            "space": {
                "name": "hand_space",
                "params": {k: json.loads(optuna.distributions.distribution_to_json(d)) for k, d in knobs.items()},
                "fixed": {},
            },
            "sweep": {"name": name, "metric": "eval/avg_l1", "mode": "min"},
            "train": {"steps": 100},
            **(spec or {}),
        },
    )
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{folder / 'optuna.db'}")
    for t in trials:
        finished = t["status"] == "finished"
        study.add_trial(
            optuna.trial.create_trial(
                params=t["params"],
                distributions={k: knobs[k] for k in t["params"]},
                value=t["history"][-1]["eval/avg_l1"] if finished else None,
                state=optuna.trial.TrialState.COMPLETE if finished else optuna.trial.TrialState.PRUNED,
                user_attrs={
                    "ray_trial_id": t["trial_id"],  # and seed, confirm_of, arm, config_id, as the store does
                    **{k: t[k] for k in sweepdir.CONFIRM_KEYS if t.get(k) is not None},
                },
            )
        )
    return folder


PAIRED_KNOBS = {"ot.reg": optuna.distributions.FloatDistribution(0.01, 5.0, log=True)}
REG = {"c000": 1.0, "c001": 2.0}


def _paired_trial(tid, last, seed, config_id, status="finished", raced=None):
    baseline = config_id == "baseline"
    return {
        "trial_id": tid,
        "params": {} if baseline else {"ot.reg": REG[config_id]},
        "status": status,
        "seed": seed,
        "arm": "baseline" if baseline else "config",
        "config_id": config_id,
        "raced": json.dumps(raced) if raced else None,
        "history": [{"step": 0, "eval/avg_l1": 0.9}] + ([{"step": 100, "eval/avg_l1": last}] if last else []),
    }


def paired_sweep(folder, values: dict, seeds=(3, 4), extra=None, raced=None, wandb_mode=None):
    """A paired sweep folder (configs c000 reg 1 and c001 reg 2 on shared seeds, a baseline arm with
    ot.lambda_ot=0) from {config_id: {seed: last eval/avg_l1, or a status for a trial with no value}}
    ("baseline" for the baseline arm); `raced`: {(config_id, seed): the trial's raced record}."""
    trials = []
    for config_id, by_seed in values.items():
        for seed, value in by_seed.items():
            tid = f"{config_id[0]}{config_id[-1]}s{seed}"  # c0s3, c1s3, bes3 (the baseline's)
            status, last = (value, None) if isinstance(value, str) else ("finished", value)
            trials.append(_paired_trial(tid, last, seed, config_id, status, (raced or {}).get((config_id, seed))))
    spec = {"paired": {"seeds": list(seeds), "baseline": {"ot.lambda_ot": 0.0}, "racing": None}, **(extra or {})}
    if wandb_mode:
        spec["train"] = {"steps": 100, "wandb": {"mode": wandb_mode, "project": "actot-test"}}
    return write_sweep(folder, trials, PAIRED_KNOBS, spec=spec, name=folder.name)


# c000 beats co-training on both seeds (differences 0.11, 0.13), c001 does not (-0.03, -0.01)
BEATS = {"baseline": {3: 0.40, 4: 0.50}, "c000": {3: 0.29, 4: 0.37}, "c001": {3: 0.43, 4: 0.51}}
