"""From a sweep's offline ranking to the robot: the shortlist to evaluate, and the benchmark standing in for a robot.

    python -m actot shortlist SWEEP_DIR [k=3] [out=DIR] [conditions=10|FILE] [seed=N] ...
    python -m actot robot-eval FOLDER --simulate

    from actot.robot import load_coded
    policy = load_coded("sweeps_out/NAME/shortlist", "P2")   # the sheet's code; its name stays hidden

`shortlist` exports the sweep's top k configs (confirmed ones first) and its co-training baseline through the
existing export (`actot.export.export_trial`), each under FOLDER/policies/<trial>, and writes the blinded, paired
evaluation sheet with its plan and key (`actot.report.robot_eval` owns those files and judges the filled sheet).
`simulate` fills a sheet's empty rows by running each row's policy from its start condition in the benchmark's
target domain: the loop end to end, for a sweep on the embedded sim.

This module sits above the export (it exports) and beneath the CLI (.importlinter, docs/architecture.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from actot.errors import ActotError
from actot.report import robot_eval as sheet_format
from actot.strings import text
from actot.sweepdir import SHORTLIST_DIR, register_shortlist

POLICIES_DIR = "policies"
README_FILE = "README.md"
CO_TRAINING = "co-training"
MAX_CONDITIONS = 1000


# ============================================================================================= the shortlist
def picks(sweep, ranking, k: int) -> list[dict]:
    """The shortlisted configs in order: the confirm stage's (ranked on its fresh seeds) first, then the search's
    ranking; finished configs with a value only. Each: its search group and position, its confirm-stage group
    (or None), the trial to export (the seed closest to the config's mean, as the export picks a leader)."""
    from actot.export import representative
    from actot.report.rank import config_key, confirm_ranking

    usable = [(pos, g) for pos, g in enumerate(ranking.groups, start=1) if g.status == "finished" and g.values]
    by_key = {config_key(g.trials[0], sweep.knobs): (pos, g) for pos, g in usable}
    confirmed = confirm_ranking(sweep, metric=ranking.metric, scope=ranking.scope, k=ranking.k)
    ordered, confirm_of = [], {}
    for group in confirmed.groups if confirmed is not None else []:
        key = config_key(group.trials[0], sweep.knobs)
        if group.status == "finished" and group.values and key in by_key and key not in confirm_of:
            confirm_of[key] = group
            ordered.append(by_key[key])
    ordered += [(pos, g) for pos, g in usable if config_key(g.trials[0], sweep.knobs) not in confirm_of]
    out = []
    for pos, group in ordered[:k]:
        values = {t.trial_id: v for t, v in zip(group.counted, group.values)}
        out.append(
            {
                "group": group,
                "rank": pos,
                "confirm": confirm_of.get(config_key(group.trials[0], sweep.knobs)),
                "trial": representative(values, ranking.better),
            }
        )
    return out


def baseline_pick(ranking) -> str | None:
    """The co-training trial to export: of the baseline arm's finished trials with a value (the search's seeds),
    the one closest to the arm's mean; None without a baseline arm."""
    from actot.export import representative
    from actot.report.rank import is_confirm, trial_value

    arm = ranking.baseline
    if arm is None:
        return None
    values = {
        t.trial_id: trial_value(t, ranking.metric, ranking.scope, ranking.better, ranking.k)
        for t in arm.trials
        if t.status == "finished" and not is_confirm(t)
    }
    values = {tid: v for tid, v in values.items() if v is not None}
    return representative(values, ranking.better) if values else None


def read_conditions(spec: str, sim: dict | None, seed: int) -> list[dict]:
    """The start conditions: `spec` a count (on the embedded sim, initial states drawn from the task as the rollouts
    draw theirs; else numbered, for the lab to describe) or a file with one condition per line."""
    from actot.report.robot_eval import condition_ids

    text = str(spec).strip()
    if text.isdigit():
        count = int(text)
        if not 1 <= count <= MAX_CONDITIONS:
            raise ActotError(
                f"command line: conditions={count} must be between 1 and {MAX_CONDITIONS} (start conditions, "
                "each run with every policy)"
            )
        ids = condition_ids(count)
        if sim is None:
            return [{"condition": c, "start": "", "layout": ""} for c in ids]
        from actot.sim.task import sample_initial_states

        # Fresh layouts, not the sweep's evaluation layouts (EVAL_SEED): those chose the leaders, these judge them.
        layouts = sample_initial_states(np.random.default_rng([seed, 1]), count)
        return [
            {"condition": c, "start": _describe(layout), "layout": " ".join(repr(float(x)) for x in layout)}
            for c, layout in zip(ids, layouts)
        ]
    path = Path(text).expanduser()
    if not path.is_file():
        raise ActotError(
            f"command line: conditions={text}: no such file and not a count; give a count (conditions=20) "
            "or a text file with one start condition per line"
        )
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ActotError(f"{path}: cannot be read ({str(err).splitlines()[0]}); save it as UTF-8 text") from err
    starts, seen = [], {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line in seen:
            raise ActotError(
                f"{path} line {number}: {line!r} is the same start condition as line {seen[line]}; each "
                "line is one condition, every one run with every policy: remove one or tell them apart"
            )
        seen[line] = number
        starts.append(line)
    if not starts:
        raise ActotError(f"{path}: no start condition in it (one per line; blank lines and # comments are skipped)")
    if len(starts) > MAX_CONDITIONS:
        raise ActotError(f"{path}: {len(starts)} start conditions, more than {MAX_CONDITIONS}; split the evaluation")
    return [{"condition": c, "start": s, "layout": ""} for c, s in zip(condition_ids(len(starts)), starts)]


def _describe(layout) -> str:
    x = [float(v) for v in layout]
    return f"robot ({x[0]:+.2f}, {x[1]:+.2f}), goal ({x[2]:+.2f}, {x[3]:+.2f}), distractor ({x[4]:+.2f}, {x[5]:+.2f})"


def sim_spec(policy_folder: Path) -> dict | None:
    """The embedded sim an exported policy was trained on (its SimConfig as a dict), or None for real data."""
    from actot.export import TRAIN_CONFIG_FILE, rebuild_train_config
    from actot.sim.generate import load_sim_spec

    where = policy_folder / TRAIN_CONFIG_FILE
    cfg = rebuild_train_config(json.loads(where.read_text()), where)
    spec = cfg.data.sim if cfg.data.source is None else load_sim_spec(Path(cfg.data.target))
    return None if spec is None else asdict(spec)


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuse a folder that holds something other than an unfilled shortlist; never replace filled outcomes."""
    if out.exists() and not out.is_dir():
        raise ActotError(f"out={out} is a file; pick a folder for the shortlist")
    if not (out.exists() and any(out.iterdir())):
        return
    if not (out / sheet_format.MANIFEST_FILE).is_file():
        raise ActotError(f"out={out} holds files that are not a shortlist; pick another out=")
    filled = _filled_rows(out / sheet_format.SHEET_FILE)
    if filled:
        raise ActotError(
            f"out={out} holds a sheet with {filled} filled outcome(s): a shortlist with results is never "
            "replaced; pick another out= (or move that folder away)"
        )
    if not overwrite:
        raise ActotError(
            f"out={out} already holds a shortlist (no outcome filled yet); add overwrite=true to replace "
            "it, or pick another out="
        )


def _filled_rows(path: Path) -> int:
    """How many rows of a sheet have an outcome, read loosely (any non-empty cell counts: never lose a result)."""
    if not path.is_file():
        return 0
    try:
        _, _, rows = sheet_format.read_raw(path)
    except ActotError:
        return 1  # unreadable: count it as filled rather than overwrite it
    return sum(1 for _, r in rows if r.get("outcome") or r.get("score"))


def shortlist(
    sweep_dir,
    k: int = 3,
    out=None,
    conditions: str = "10",
    seed: int | None = None,
    alpha: float = sheet_format.ALPHA,
    beta: float = sheet_format.BETA,
    worth: float = sheet_format.WORTH,
    weights: str | None = None,
    overwrite: bool = False,
    command: str | None = None,
) -> dict:
    """Write the shortlist folder (see the module's docstring); return what was written."""
    from actot.export import export_trial
    from actot.report.load import load_sweep_dir
    from actot.report.rank import rank

    if k < 1:
        raise ActotError(f"command line: k={k} must be >= 1 (how many of the sweep's configs to take to the robot)")
    for name, value, low, high in (("alpha", alpha, 0.0, 0.5), ("beta", beta, 0.0, 0.5), ("worth", worth, 0.5, 1.0)):
        if not low < value < high:
            raise ActotError(f"command line: {name}={value} must be between {low} and {high} (exclusive)")
    sweep = load_sweep_dir(sweep_dir)
    ranking = rank(sweep)
    chosen = picks(sweep, ranking, k)
    if not chosen:
        raise ActotError(f"{sweep.path}: no finished config has a value of {ranking.metric}: nothing to shortlist yet")
    co_training = baseline_pick(ranking)
    out = Path(out).expanduser() if out is not None else sweep.path / SHORTLIST_DIR
    _check_out(out, overwrite)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    starts = read_conditions(conditions, None, seed)  # refused before any export; a count's sim layouts come later
    command = command or f"python -m actot shortlist {sweep_dir} k={k}"
    sign = -1.0 if ranking.better == "min" else 1.0

    policies = []
    for pick in chosen:
        group = pick["group"]
        confirm = pick["confirm"]
        policies.append(
            {
                "trial": pick["trial"],
                "role": "config",
                "rank": pick["rank"],
                "confirmed": confirm is not None,
                "name": f"{group.describe()}, trial {pick['trial']}",
                "short": group.name,
                "offline": {"value": group.interval.mean, "n": len(group.values)},
                "signed": sign * group.interval.mean,
                "how": _how(pick, ranking),
                "confirm_numbers": _confirm_numbers(confirm),
            }
        )
    if co_training is not None:
        arm = ranking.baseline
        policies.append(
            {
                "trial": co_training,
                "role": CO_TRAINING,
                "rank": None,
                "confirmed": False,
                "name": text("robot.co_training_name", "en", arm=arm.describe(), trial=co_training),
                "name_zh": text("robot.co_training_name", "zh", arm=arm.describe(), trial=co_training),
                "short": CO_TRAINING,
                "short_zh": text("trial.co_training", "zh"),
                "offline": {"value": arm.interval.mean, "n": len(arm.values)} if arm.interval else None,
                "signed": sign * arm.interval.mean if arm.interval else None,
                "how": "the sweep's baseline arm (co-training without the OT loss), the seed closest to its mean",
                "confirm_numbers": None,
            }
        )

    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / POLICIES_DIR).mkdir(parents=True)
    try:
        for policy in policies:
            folder = tmp / POLICIES_DIR / policy["trial"]
            done = export_trial(
                sweep.path,
                trial=policy["trial"],
                out=folder,
                weights=weights,
                command=f"{command}  (its policy {policy['trial']})",
            )
            policy["folder"] = f"{POLICIES_DIR}/{policy['trial']}"
            policy["weights"], policy["step"] = done["weights"], done["step"]
        sim = sim_spec(tmp / policies[0]["folder"])
        if any(sim_spec(tmp / p["folder"]) != sim for p in policies[1:]):
            sim = None  # trained on different sims: no one benchmark to simulate the sheet in
        if sim is not None and str(conditions).strip().isdigit():
            starts = read_conditions(conditions, sim, seed)
        rng = np.random.default_rng(seed)
        codes = [f"P{i}" for i in range(1, len(policies) + 1)]
        blind = [policies[i] for i in rng.permutation(len(policies))]
        plan = sheet_format.balanced_plan([c["condition"] for c in starts], codes, rng)
        key = {
            code: {
                k2: p[k2]
                for k2 in (
                    "trial",
                    "role",
                    "name",
                    "name_zh",
                    "short",
                    "short_zh",
                    "folder",
                    "rank",
                    "confirmed",
                    "offline",
                    "signed",
                )
                if k2 in p
            }
            for code, p in zip(codes, blind)
        }
        reference = next(
            (c for c, p in key.items() if p["role"] == CO_TRAINING),
            next(c for c, p in key.items() if p["trial"] == policies[0]["trial"]),
        )
        identity = json.dumps(
            {
                "sweep": sweep.name,
                "key": {c: p["trial"] for c, p in key.items()},
                "plan": plan,
                "starts": starts,
                "seed": seed,
            },
            sort_keys=True,
        )
        shortlist_id = "sl-" + hashlib.sha256(identity.encode()).hexdigest()[:8]
        manifest = {
            "id": shortlist_id,
            "sweep": sweep.name,
            "sweep_dir": str(sweep.path),
            "command": command,
            "seed": seed,
            "metric": ranking.metric,
            "scope": ranking.scope,
            "better": ranking.better,
            "alpha": alpha,
            "beta": beta,
            "worth": worth,
            "codes": codes,
            "conditions": starts,
            "plan": [[i, cond, code] for i, (cond, code) in enumerate(plan, start=1)],
            "sim": sim,
        }
        (tmp / sheet_format.MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
        (tmp / sheet_format.KEY_FILE).write_text(
            json.dumps({"shortlist": shortlist_id, "reference": reference, "codes": key}, indent=2, ensure_ascii=False)
        )
        sheet_format.write_plan(tmp, shortlist_id, starts, plan)
        (tmp / README_FILE).write_text(_readme(sweep, ranking, policies, manifest, key[reference], out))
        _check_out(out, overwrite)  # again: a sheet filled meanwhile is never replaced
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    register_shortlist(sweep.path, out)  # elsewhere than the sweep's own shortlist/: its report finds it anyway
    return {
        "out": out,
        "id": shortlist_id,
        "policies": len(policies),
        "co_training": co_training is not None,
        "conditions": len(starts),
        "episodes": len(plan),
        "sim": sim is not None,
        "trials": [p["trial"] for p in policies],
    }


def _how(pick: dict, ranking) -> str:
    group = pick["group"]
    how = f"#{pick['rank']} of {len(ranking.groups)} in the search's ranking"
    if pick["confirm"] is not None:
        how = "confirmed on fresh seeds (the confirm stage's ranking comes first); " + how
    if len(group.values) > 1:
        how += f"; of its {len(group.values)} seeds, the one closest to the config's mean"
    return how


def _confirm_numbers(group) -> dict | None:
    if group is None or group.interval is None:
        return None
    vs = group.vs_baseline
    return {
        "n": len(group.values),
        "mean": group.interval.mean,
        "interval": [group.interval.low, group.interval.high] if group.interval.has_width else None,
        "vs_co_training": None
        if vs is None or vs.mean is None
        else {"mean": vs.mean, "low": vs.low, "high": vs.high, "p_beats": vs.p_beats},
    }


def said(done: dict) -> str:
    """What `python -m actot shortlist` prints."""
    out = done["out"]
    trials = done["trials"]
    listed = (
        f"{', '.join(trials[:-1])} and co-training ({trials[-1]})"
        if done["co_training"]
        else f"{', '.join(trials)} (the sweep has no baseline arm: no co-training policy)"
    )
    sim = f"; on the embedded sim, so python -m actot robot-eval {out} --simulate can fill it" if done["sim"] else ""
    return (
        f"shortlist {done['id']}: {out}\n"
        f"{done['policies']} policies: {listed}, exported under {out / POLICIES_DIR}\n"
        f"sheet: {out / sheet_format.SHEET_FILE}: {done['conditions']} start conditions x {done['policies']} "
        f"policies = {done['episodes']} episodes, blinded (P1..P{done['policies']}; the key is "
        f"{out / sheet_format.KEY_FILE}: keep it from whoever runs the robot){sim}\n"
        f"verdict: python -m actot robot-eval {out}"
    )


def _readme(sweep, ranking, policies: list[dict], manifest: dict, reference_role: dict, out: Path) -> str:
    better = "lower" if ranking.better == "min" else "higher"
    rows = []
    for p in policies:
        offline = p["offline"]
        search = f"{offline['value']:.4g} over {offline['n']} seed(s)" if offline else "-"
        confirm = p["confirm_numbers"]
        if confirm:
            vs = confirm["vs_co_training"]
            confirm_text = f"{confirm['mean']:.4g} over {confirm['n']} fresh seed(s)"
            if confirm["interval"]:
                confirm_text += f" [{confirm['interval'][0]:.4g}, {confirm['interval'][1]:.4g}]"
            if vs:
                confirm_text += f"; vs co-training {vs['mean']:+.4g}" + (
                    f" [{vs['low']:.4g}, {vs['high']:.4g}]" if vs["low"] is not None else ""
                )
        else:
            confirm_text = "-"
        group = next((g for g in ranking.groups if any(t.trial_id == p["trial"] for t in g.trials)), None)
        vs = group.vs_baseline if group is not None else None
        versus = (
            "-"
            if vs is None or vs.mean is None
            else f"{vs.mean:+.4g} over {vs.n} seed(s)"
            + (f" [{vs.low:.4g}, {vs.high:.4g}]" if vs.low is not None else "")
        )
        rows.append(f"| {p['name']} | `{p['folder']}` | {p['how']} | {search} | {versus} | {confirm_text} |")
    n, conditions = len(policies), len(manifest["conditions"])
    reference = (
        "co-training"
        if reference_role["role"] == CO_TRAINING
        else f"{reference_role['name']} (the offline #1: the sweep has no co-training baseline)"
    )
    starts = (
        "drawn from the benchmark's task as its rollouts draw theirs, with a fresh seed (the layouts are in "
        f"conditions.csv; `python -m actot robot-eval {out} --simulate` runs them in the target domain)"
        if manifest["sim"] and conditions and manifest["conditions"][0]["layout"]
        else "as given (conditions.csv); numbered ones are for the lab to describe in conditions.csv before the "
        "first episode"
    )
    return f"""# Shortlist `{manifest["id"]}` of sweep `{sweep.name}`

Written by

    {manifest["command"]}

{n} policies to evaluate on the robot, {conditions} start conditions, {n * conditions} episodes in `sheet.csv`.

## How each was chosen

Ranked by {ranking.scope} `{ranking.metric}` ({better} is better). Configs the confirm stage re-ran on fresh seeds come
first (only those seeds' numbers are free of the search's selection), then the search's ranking; finished configs
only, each exported as the seed closest to its mean (`python -m actot export`'s choice).

| policy | folder | chosen as | search: `{ranking.metric}` | vs co-training, search seeds (+ = better) | confirm stage |
|---|---|---|---|---|---|
{chr(10).join(rows)}

## The evaluation

- **Blind codes.** `sheet.csv` names the policies P1..P{n} only; `key.json` says which is which. Keep it from whoever
  runs the robot: they load a policy by its code, `actot.robot.load_coded("{out}", "P1")`.
- **Paired start conditions.** Each start condition is set up once and run with every policy, one after another,
  in the printed order (the blocks are shuffled; within a block each code runs first, second, ... equally often).
  Start conditions: {starts}.
- **Recording.** Fill `outcome` (1 success, 0 failure) row by row, in order; `score` (partial credit in [0, 1]) is
  optional; an episode not run stays empty. Do not sort, delete or re-code rows: the verdict refuses a changed sheet.
- **When to stop.** Against {reference}, at alpha {manifest["alpha"]} and beta {manifest["beta"]}, worth
  {manifest["worth"]:.0%} of the conditions where the two differ (stated now, before the first episode). After any
  batch, `python -m actot robot-eval {out} blind=true` tells the operator only whether to go on;
  `python -m actot robot-eval {out}` gives the analyst the verdict (verdict.md, verdict.zh.md). See docs/robot-eval.md.
"""


def load_coded(folder, code: str, device: str = "cpu"):
    """The exported policy behind a sheet's code, loaded without saying which it is (the blind operator's call)."""
    from actot.export import load_policy

    folder = Path(folder).expanduser()
    key = sheet_format.read_json(folder, sheet_format.KEY_FILE)
    if code not in key["codes"]:
        raise ActotError(f"code {code!r} is not one of this shortlist's ({', '.join(key['codes'])})")
    return load_policy(folder / key["codes"][code]["folder"], device=device)


# ============================================================================================= --simulate
def run_episodes(policy, spec, layouts: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(success, score) of a policy (`select_action`, `reset`) from each layout in the benchmark's target domain,
    all episodes at once: success as evaluation measures it; score 1 on success, else how much of the start's
    distance to the goal the robot closed at its nearest (0 at worst)."""
    from actot.evaluate import policy_observation
    from actot.sim.generate import target_env

    env = target_env(spec, len(layouts), seed=seed)
    obs = env.reset(layouts)
    policy.reset()
    start = np.linalg.norm(env.init[:, 0:2] - env.init[:, 2:4], axis=1)
    nearest, done = start.copy(), False
    while not done:
        action = policy.select_action(policy_observation(obs))
        obs, success, done = env.step(action.numpy())
        nearest = np.minimum(nearest, np.linalg.norm(env.state[:, 0:2] - env.init[:, 2:4], axis=1))
    return success, np.where(success, 1.0, np.clip(1.0 - nearest / start, 0.0, 1.0))


def simulate(folder, sheet=None) -> dict:
    """Fill the sheet's empty rows in the benchmark's target domain: each row's policy from its start condition's
    layout, success as evaluation measures it, and a score: 1 on success, else how much of the start's distance to
    the goal the robot closed at its nearest (0 at worst). Filled rows are kept as they are."""
    from actot.export import load_policy
    from actot.sim.config import SimConfig

    folder = Path(folder).expanduser()
    manifest = sheet_format.read_json(folder, sheet_format.MANIFEST_FILE)
    key = sheet_format.read_json(folder, sheet_format.KEY_FILE)
    if manifest.get("sim") is None:
        raise ActotError(
            f"{folder}: --simulate runs the benchmark's target domain, and this shortlist's policies were "
            "not trained on the embedded sim (or on different ones); fill the sheet on the robot"
        )
    layouts = {c["condition"]: c["layout"] for c in manifest["conditions"]}
    if not all(layouts.values()):
        raise ActotError(
            f"{folder}: its start conditions were given as text, with no sim layout to start from; "
            "write a shortlist with conditions=N (a count) to simulate"
        )
    path = Path(sheet).expanduser() if sheet else folder / sheet_format.SHEET_FILE
    rows = sheet_format.read_sheet(path, manifest)
    spec = SimConfig.from_dict(manifest["sim"])
    todo: dict[str, list] = {}
    for row in rows:
        if row.outcome is None:
            todo.setdefault(row.code, []).append(row)
    results = {}
    for index, code in enumerate(manifest["codes"]):
        if code not in todo:
            continue
        policy = load_policy(folder / key["codes"][code]["folder"])
        starts = np.array([[float(x) for x in layouts[r.condition].split()] for r in todo[code]])
        success, score = run_episodes(policy, spec, starts, seed=int(manifest["seed"]) * 100 + index)
        for row, ok, value in zip(todo[code], success, score):
            results[row.episode] = (int(ok), float(value))
    _fill(path, results)
    return {"sheet": path, "filled": len(results), "successes": sum(ok for ok, _ in results.values())}


def _fill(path: Path, results: dict) -> None:
    """Write outcomes into the empty rows named by episode, keeping every other cell, column and comment line."""
    comments, header, raw = sheet_format.read_raw(path)
    header = header + [c for c in ("score", "notes") if c not in header]
    rows = []
    for _, row in raw:
        episode = row.get("episode", "")
        if episode.isdigit() and int(episode) in results and not row.get("outcome"):
            ok, score = results[int(episode)]
            row.update(outcome=str(ok), score=f"{score:.3f}", notes=sheet_format.SIMULATED)
        rows.append(row)
    sheet_format.write_sheet(path, header, rows, comments)


# ============================================================================================= more=N
def extend(folder, more: str, sheet=None) -> dict:
    """Append `more` start conditions (a count, or a file of new ones) to a shortlist's plan and sheet: new blocks
    after the last row, every policy once per block, in a fresh balanced order; no existing row is touched. The
    stopping rule is anytime-valid, so its e-values carry on over the new rows as over the old."""
    from actot.report.robot_eval import condition_ids

    folder = Path(folder).expanduser()
    manifest = sheet_format.read_json(folder, sheet_format.MANIFEST_FILE)
    path = Path(sheet).expanduser() if sheet else folder / sheet_format.SHEET_FILE
    sheet_format.read_sheet(path, manifest)  # a sheet with a mistake is not extended
    done = len(manifest["conditions"])
    rounds = len(manifest.get("extended", [])) + 1
    new = read_conditions(more, None, manifest["seed"])
    known = {c["start"] for c in manifest["conditions"] if c["start"]}
    clash = next((c["start"] for c in new if c["start"] and c["start"] in known), None)
    if clash is not None:
        raise ActotError(f"more={more}: start condition {clash!r} is already on the sheet; give new ones only")
    if str(more).strip().isdigit() and manifest.get("sim"):
        from actot.sim.task import sample_initial_states

        layouts = sample_initial_states(np.random.default_rng([manifest["seed"], 1, rounds]), len(new))
        new = [{"start": _describe(x), "layout": " ".join(repr(float(v)) for v in x)} for x in layouts]
    ids = condition_ids(done + len(new))[done:]
    # Width may grow (C99 -> C100): earlier ids keep theirs; new ids are unique anyway.
    new = [{**c, "condition": cid} for c, cid in zip(new, ids)]
    plan = sheet_format.balanced_plan(ids, manifest["codes"], np.random.default_rng([manifest["seed"], 2, rounds]))
    first = len(manifest["plan"]) + 1
    start = {c["condition"]: c["start"] for c in new}
    added = [
        {"episode": first + i, "condition": cond, "start": start[cond], "policy": code, "shortlist": manifest["id"]}
        for i, (cond, code) in enumerate(plan)
    ]
    import csv

    comments, header, raw = sheet_format.read_raw(path)
    sheet_format.write_sheet(path, header, [row for _, row in raw] + added, comments)
    with open(folder / sheet_format.CONDITIONS_FILE, "a", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([c["condition"], c["start"], c.get("layout") or ""] for c in new)
    manifest["conditions"] += new
    manifest["plan"] += [[row["episode"], row["condition"], row["policy"]] for row in added]
    manifest.setdefault("extended", []).append({"conditions": len(new), "from_episode": first})
    tmp = folder / f".{sheet_format.MANIFEST_FILE}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(manifest, indent=2))
    os.replace(tmp, folder / sheet_format.MANIFEST_FILE)
    return {"sheet": path, "conditions": len(new), "episodes": len(added), "from": first}
