"""Studies and benches on the product's own code: what the findings in bench/RESULTS.md were measured with.

Each module is run from the repository root as `python -m bench.NAME ...` (its docstring gives its command
lines; many have a `--quick` mode that checks the script on a tiny model in seconds to a few minutes). They import
the product (`actot`) and each other as a package (`from bench.runs import ...`), never by editing `sys.path`.

- `bench.runs`: what the studies with `run` / `analyse` subcommands share: the JSONL runner (`run_jobs`: one
  training run per job in a pool of worker processes, or in this process with `--jobs 1`, one JSON line per finished
  run, a study cut short resumes), the default job (`run_one`), the last value of a metric in a run's history (`final`), a space's configs
  (`space_configs`), the tiny model of the --quick runs (`TINY`), a run file's rows (`read_rows`) and a sample's
  mean with its 95% t-interval (`mean_ci`, on `actot.report.stats`);
- studies (`run`, then `analyse` on the JSONL they wrote, e.g. bench/data/*.jsonl): `validity`,
  `reproducibility`, `real_pool` (the same pool on real LeRobot data), `convergence`, `offline_study`,
  `transfer_study`, `twins_oracle`, `ot_rows`, `gap_map` and `gap_arms` (the sim's gap knobs), `pair_cost_success`;
- replays of stored histories (no training): `rule_audit`, `sweep_efficiency`, `paired_efficiency`,
  `selection_calibration`, `seed_effect` (their inputs from `histories` or the studies' JSONL);
- probes of trained runs: `goal_probe`, `embedding_probe`, `robot_loop` (the robot-eval verdict against many
  rollouts of the same policies); costs and timings: `bench_*`, `packing`,
  `trial_profile`, `trial_cost`, `pairing_scale`; `tables` formats their plain-text tables.
"""
