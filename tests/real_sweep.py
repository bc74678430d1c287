"""A real sweep folder built as the driver builds it but without Ray, for tests that need real trials (checkpoints,
training configs): sweep.json from the resolved settings, each trial trained by `train()` into trials/ID (as the
trainable does) and recorded in the index through `ResultsStore`. Used by tests/test_export.py and
tests/test_robot_eval.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from actot.sweep.config import apply_cli, load_sweep
from actot.sweep.preflight import prepare
from actot.sweep.paired import paired_plan
from actot.sweep.resume import resolved_config
from actot.sweep.space import load_space
from actot.sweep.stage import StageSettings
from actot.sweep.store import ResultsStore
from actot.sweep.trainable import TrialSetup, trial_config
from actot.sweepdir import write_spec
from actot.train import train

SPACE = """description: export test space
params:
  ot.reg: {type: float, low: 0.05, high: 5.0, log: true}
fixed: {ot.heuristic: hard}
"""
SWEEP = """num_samples: 2
max_concurrent: 1
resources: {cpu: 1, gpu: 0}
metric: eval/avg_l1
rules: [non_finite]
train: {steps: 4, log_every: 2, checkpoint_every: 2}
"""
TINY = [
    "policy.dim_model=32",
    "policy.n_heads=2",
    "policy.dim_feedforward=64",
    "policy.n_encoder_layers=1",
    "policy.n_vae_encoder_layers=1",
    "policy.latent_dim=8",
    "policy.backbone_width=8",
    "policy.chunk_size=6",
    "policy.n_action_steps=3",
    "batch_size=4",
    "ot.batch_size=8",
    "ot.window_size=2",
    "rollout_episodes=0",
    "threads=1",
    "wandb.mode=disabled",
]  # data.resolution: derived (the sim's 32x32)


@dataclass
class RealSweep:
    dir: Path
    space: object
    base: dict
    rules: list
    store: ResultsStore
    cfg: dict = field(default_factory=dict)  # trial id -> its TrainConfig

    def run(
        self,
        trial_id: str,
        params: dict,
        extra: dict | None = None,
        overrides: dict | None = None,
        baseline: dict | None = None,
        stop: tuple | None = None,
    ) -> None:
        """Train one trial and record it. `extra`: the trial's columns (seed, arm, config_id); `baseline`: the
        baseline arm's overrides (for a trial with arm=baseline); `stop`: (rule, reason) a rule stops it with at
        its last report."""
        setup = TrialSetup(
            self.space,
            {**self.base, **(overrides or {})},
            self.rules,
            "s",
            self.dir / "trials",
            metric="eval/avg_l1",
            baseline=baseline,
        )
        config = {**params, **(extra or {})}
        self.cfg[trial_id] = cfg = trial_config(setup, config, trial_id, self.dir / "trials")
        result = train(cfg, progress=False)
        assert result.status == "finished"
        self.store.start(trial_id, params, {"seed": cfg.seed, **(extra or {})})
        for row in result.history:
            report = dict(row)
            if stop and row is result.history[-1]:  # what the trainable sends when a rule stops a trial
                report.update(stop_rule=stop[0], stop_step=row["step"], stop_reason=stop[1])
            self.store.add_result(trial_id, params, report)
        self.store.finish(trial_id)


def new_sweep(small_sim, root: Path, spec: dict | None = None) -> RealSweep:
    """An empty sweep folder `root`/out/s on the small sim; `spec`: sections added to sweep.json (e.g. `paired`)."""
    source, target = small_sim
    (root / "space.yaml").write_text(SPACE)
    (root / "sweep.yaml").write_text(SWEEP)
    space = load_space(str(root / "space.yaml"))
    cfg = apply_cli(
        load_sweep(str(root / "sweep.yaml"))[0],
        [f"data.source={source}", f"data.target={target}", *TINY, f"storage={root / 'out'}", "name=s"],
    )
    base, rules, base_cfg = prepare(space, cfg, say=lambda line: None)
    sweep_dir = root / "out" / "s"
    sweep_dir.mkdir(parents=True)
    settings = StageSettings(space, cfg, base, rules, base_cfg, paired_plan(cfg, base_cfg))
    write_spec(sweep_dir, {**resolved_config(settings), **(spec or {})})
    store = ResultsStore(sweep_dir, space, cfg.metric, cfg.mode or "min", "s", base_cfg.steps)
    return RealSweep(sweep_dir, space, base, rules, store)
