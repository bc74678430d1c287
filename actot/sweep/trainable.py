"""One trial of a sweep: a plain function of its Ray config that trains a policy and reports to Tune.

As in Ray Tune's examples, `run_trial(config, setup)` is the trainable (handed to the Tuner with
`tune.with_parameters`); the two steps around `actot.train.train` are pure functions:
`trial_config` (the trial's knobs on top of the sweep's base keys -> a TrainConfig) and
`report_payload` (a log step's metrics and the rules' decisions -> what Tune receives).

Rules act at each report: a `stop` decision ends the trial with its reason; with
`rules.shadow=true` every decision (stop and flag alike) is only recorded, as `shadow` (JSON).
A trial writes only its own folder, `trials_dir/<id>` (a shared folder), or with object storage
(`sweep_uri`) a folder on its node that it uploads when it ends; the sweep's own files are the
driver's alone. A retried trial (its node died) resumes from the checkpoint Ray kept and reports
the step it resumed from as `resumed_from_step`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from actot.config import TrainConfig, apply_overrides
from actot.rules import Decision, Rule, check_rules
from actot.sweep.space import SearchSpace
from actot.sweepdir import ARM_BASELINE, CONFIRM_KEYS, FILLED_KEY, SHADOW_KEY


@dataclass
class TrialSetup:
    """What every trial of a stage shares (sent once to Ray's object store)."""

    space: SearchSpace
    base_overrides: dict
    rules: list[Rule]
    sweep_name: str
    trials_dir: Path | None  # None with object storage: a node-local folder, uploaded at the end
    metric: str = "eval/avg_l1"
    shadow: bool = False
    sweep_uri: str | None = None
    baseline: dict | None = None  # the baseline arm's training overrides (paired sweeps; `paired.py`)


def trial_config(setup: TrialSetup, config: dict, trial_id: str, out_dir: Path) -> TrainConfig:
    """The trial's training config: the sweep's base keys, its knobs, and (confirm stage) its own seed."""
    baseline = config.get("arm") == ARM_BASELINE  # the baseline arm: the base keys and the baseline's, no knob
    knobs = {} if baseline else {k: v for k, v in config.items() if k not in CONFIRM_KEYS}
    overrides = {
        **setup.base_overrides,
        **setup.space.to_overrides(knobs),
        **((setup.baseline or {}) if baseline else {}),
    }
    if config.get("seed") is not None:  # a paired or confirm-stage trial: its own training seed
        overrides["seed"] = int(config["seed"])
    train_cfg = apply_overrides(TrainConfig(), overrides, f"trial {trial_id}")
    return dataclasses.replace(
        train_cfg,
        name=trial_id,
        out_dir=str(out_dir),
        wandb=dataclasses.replace(train_cfg.wandb, group=setup.sweep_name),
    )


def report_payload(
    metrics: dict, decisions: list[Decision], metric: str, shadow: bool, resumed_from: int | None
) -> tuple[dict, Decision | None]:
    """(what Tune receives for one log step, the decision that stops the trial or None)."""
    payload = dict(metrics)
    if shadow:
        if decisions:
            payload[SHADOW_KEY] = json.dumps([dataclasses.asdict(d) for d in decisions])
        decisions = []
    value = payload.get(metric)
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        # Ray rejects a report without the sweep metric (the step-0 baseline, a non-finite step,
        # eval/success before the last step) and would end the sweep: a NaN stands in.
        payload.update({metric: math.nan, FILLED_KEY: metric})
    stop = next((d for d in decisions if d.action == "stop"), None)
    flags = [d for d in decisions if d.action == "flag"]
    if stop is not None:
        payload.update(stop_rule=stop.rule, stop_step=stop.step, stop_reason=stop.reason)
    if flags:
        payload.update(flags=",".join(d.rule for d in flags), flag_reasons=" | ".join(d.reason for d in flags))
    if resumed_from is not None:
        payload["resumed_from_step"] = int(resumed_from)
    return payload, stop


def run_trial(config: dict, setup: TrialSetup) -> None:
    """The trainable: knobs in, `tune.report` out at every log step, rules applied per report."""
    from ray import tune

    from actot.train import train

    trial_id = tune.get_context().get_trial_id()
    out_dir = (
        setup.trials_dir if setup.sweep_uri is None else Path(tempfile.gettempdir()) / "actot-trials" / setup.sweep_name
    )
    train_cfg = trial_config(setup, config, trial_id, out_dir)
    checkpoint = tune.get_checkpoint()
    resumed_from = (checkpoint.get_metadata() or {}).get("step") if checkpoint is not None else None

    def report(metrics: dict, checkpoint_dir, history: list) -> str | None:
        # last_only rules: the report at `steps`
        decisions = check_rules(setup.rules, history, last_step=train_cfg.steps)
        payload, stop = report_payload(metrics, decisions, setup.metric, setup.shadow, resumed_from)
        saved = None
        if checkpoint_dir:
            saved = tune.Checkpoint.from_directory(str(checkpoint_dir))
            saved.set_metadata({"step": int(metrics.get("step", 0))})
        tune.report(payload, checkpoint=saved)
        return stop.reason if stop is not None else None

    try:
        if checkpoint is None:
            train(train_cfg, report=report, progress=False)
        else:
            with checkpoint.as_directory() as path:
                train(train_cfg, report=report, progress=False, resume_from=Path(path))
    finally:
        if setup.sweep_uri is not None:
            _upload(setup.sweep_uri, trial_id, out_dir / trial_id)


def _upload(sweep_uri: str, trial_id: str, folder: Path) -> None:
    """A trial's folder to object storage; a failed upload is said, not fatal (the results are the driver's)."""
    import shutil

    from actot.sweep.storage import upload_trial_folder

    try:
        upload_trial_folder(sweep_uri, trial_id, folder)
        shutil.rmtree(folder, ignore_errors=True)
    except Exception as err:  # noqa: BLE001 - the trial's outcome matters more than its folder's copy
        print(f"[sweep] trial {trial_id}: its folder stays in {folder}: upload failed ({err})", flush=True)
