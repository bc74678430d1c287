"""Is the robot-eval verdict right, and how many episodes does it need? The shortlist's statistics checked on
policies trained on the benchmark, against many rollouts of the same policies (issue 30, deliverable 4).

    python -m bench.robot_loop table RUNS_DIR [RUNS_DIR ...] --out bench/data/robot_table.jsonl [--conditions 400]
    python -m bench.robot_loop analyse bench/data/robot_table.jsonl [--shortlists 1000] [--runs 500]

`table` rolls each trained run's policy (a run folder of `python -m actot.train` or of bench/offline_study.py: its
config.json and checkpoint/state.pt, EMA weights) out from the same start conditions in the benchmark's target
domain, through the policy's `select_action` as `robot-eval --simulate` does, and appends one JSON line per run
(a second call skips the runs already there). The table is the truth: a policy's success over all its conditions.

`analyse` replays robot evaluations on it (the pre-registration is in bench/RESULTS.md, session 10):
- **shortlists**: 3 policies and a co-training one, run on n = 10, 20, 40 of the conditions (every policy on every
  condition, so comparisons are paired); the verdict (actot/report/robot_eval.py: leader by P(best), a pair decided
  `better`/`worse` at any look) against the naive readings (the higher rate leads and any two different rates are a
  claim; Fisher's exact test at n, unpaired, uncorrected). Scored: the leader is the truly best (highest rate over
  the whole table); a claim the whole table does not show (exact McNemar over all conditions, p < 0.05, same sign).
- **episodes**: for every (policy, co-training) pair, the conditions each sequential rule needs to decide it,
  against the batch exact McNemar test at the same error rates (power 1 - beta at theta = worth, level alpha/K).
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.special import betaln

from actot.report.robot_eval import ALPHA, BETA, WORTH, mcnemar_exact

K = 3  # policies compared with co-training in a shortlist (the default k=3)
BUDGETS = (10, 20, 40)
CAP = 1000  # the episodes measure stops a run here (counted as this many)
REFERENCE = "cotrain"
LEFT_OUT = ("target-BC",)  # a sweep's shortlist never holds target-only BC


# ============================================================================================= table
def roll_out(run_dir: Path, layouts: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(success, score) of the run's policy from each layout, as `robot-eval --simulate` scores an episode."""
    import torch

    from actot.evaluate import rollout_policy
    from actot.robot import run_episodes
    from bench.goal_probe import load_run

    loaded = load_run(run_dir)
    if loaded is None:
        raise SystemExit(f"{run_dir}: no checkpoint or config, or not trained on the embedded sim")
    _, data, spec, _, model = loaded
    success, score = run_episodes(rollout_policy(model, data, torch.device("cpu")), spec, layouts, seed)
    return success.astype(int), score


def table(runs_dirs: list[str], out: Path, conditions: int, seed: int, seeds: list[int]) -> None:
    import torch

    from actot.sim.task import sample_initial_states

    torch.set_num_threads(1)
    layouts = sample_initial_states(np.random.default_rng([seed, 0]), conditions)
    done = {row["run"] for row in read_table(out)} if out.exists() else set()
    runs = sorted(
        p.parent.parent
        for d in runs_dirs
        for p in Path(d).glob("*/s*/checkpoint/state.pt")
        if int(p.parent.parent.name[1:]) in seeds and p.parent.parent.parent.name not in LEFT_OUT
    )
    todo = [r for r in runs if f"{r.parent.name}/{r.name}" not in done]
    print(f"{len(runs)} runs, {len(todo)} to roll out from {conditions} start conditions")
    for i, run in enumerate(todo, 1):
        success, score = roll_out(run, layouts, seed)
        row = {
            "run": f"{run.parent.name}/{run.name}",
            "config": run.parent.name,
            "seed": int(run.name[1:]),
            "conditions": conditions,
            "layout_seed": seed,
            "success": success.tolist(),
            "score": [round(float(s), 4) for s in score],
        }
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"[{i}/{len(todo)}] {row['run']}: success {success.mean():.3f}", flush=True)


def read_table(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


# ============================================================================================= the rules
def mixture_decisions(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The product's rule until session 10, vectorised (a uniform-mixture e-value at K/alpha, futility by a mixture
    over theta < worth at 1/beta): 1 better, -1 worse, 2 futile, 0 open."""
    log_e = betaln(b + 1, c + 1) + (b + c) * math.log(2.0)
    log_f = (
        betaln(b + 1, c + 1)
        + stats.beta.logcdf(WORTH, b + 1, c + 1)
        - math.log(WORTH)
        - b * math.log(WORTH)
        - c * math.log(1.0 - WORTH)
    )
    out = np.zeros(b.shape, dtype=int)
    out[log_f >= math.log(1.0 / BETA)] = 2
    efficacy = log_e >= math.log(K / ALPHA)
    out[efficacy] = np.where(b > c, 1, -1)[efficacy]
    return out


def sprt_decisions(b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Wald's SPRT on the discordant conditions (theta = worth or 1 - worth against 1/2, each at 2K/alpha; futility
    when 1/2 against worth reaches 1/beta), the product's rule since session 10 (robot_eval.decide), vectorised:
    1 better, -1 worse, 2 futile, 0 open."""
    up, down = math.log(2 * WORTH), math.log(2 * (1 - WORTH))
    better = b * up + c * down >= math.log(2 * K / ALPHA)
    worse = c * up + b * down >= math.log(2 * K / ALPHA)
    futile = -(b * up + c * down) >= math.log(1.0 / BETA)
    out = np.zeros(b.shape, dtype=int)
    out[futile] = 2
    out[worse] = -1
    out[better] = 1
    return out


RULES = {"mixture": mixture_decisions, "sprt": sprt_decisions}


def first_decision(decisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of looks: (the first decision, the look it came at, 1-based; 0 and CAP+ when never)."""
    decided = decisions != 0
    any_ = decided.any(axis=-1)
    at = np.where(any_, decided.argmax(axis=-1), decisions.shape[-1] - 1)
    value = np.take_along_axis(decisions, at[..., None], axis=-1)[..., 0]
    return np.where(any_, value, 0), np.where(any_, at + 1, decisions.shape[-1])


# ============================================================================================= truth
def pool(rows: list[dict]) -> tuple[list[str], np.ndarray, list[int], list[int]]:
    """(names, success matrix policies x conditions, indices of shortlistable policies, of co-training ones)."""
    rows = sorted(rows, key=lambda r: r["run"])
    names = [r["run"] for r in rows]
    success = np.array([r["success"] for r in rows], dtype=int)
    candidates = [i for i, r in enumerate(rows) if r["config"] != REFERENCE and r["config"] not in LEFT_OUT]
    references = [i for i, r in enumerate(rows) if r["config"] == REFERENCE]
    return names, success, candidates, references


def shown(success: np.ndarray, i: int, j: int) -> int:
    """+1 / -1 when the whole table shows i better / worse than j (exact McNemar p < 0.05), else 0."""
    b = int(((success[i] == 1) & (success[j] == 0)).sum())
    c = int(((success[i] == 0) & (success[j] == 1)).sum())
    return int(np.sign(b - c)) if mcnemar_exact(b, c) < 0.05 else 0


def p_best_exact(s: np.ndarray, n: int, grid: int = 2001) -> np.ndarray:
    """P(each rate is the highest) under independent Beta(1+s, 1+n-s) posteriors, by quadrature (the product draws
    it by Monte Carlo; the same number up to its draws' error)."""
    x = np.linspace(0.0, 1.0, grid)
    pdf = np.stack([stats.beta.pdf(x, 1 + k, 1 + n - k) for k in s])
    cdf = np.stack([stats.beta.cdf(x, 1 + k, 1 + n - k) for k in s])
    out = []
    for i in range(len(s)):
        others = np.prod(np.delete(cdf, i, axis=0), axis=0)
        out.append(np.trapezoid(pdf[i] * others, x))
    return np.array(out)


# ============================================================================================= shortlists
def replay_shortlists(success: np.ndarray, candidates: list[int], references: list[int], draws: int, seed: int):
    rng = np.random.default_rng(seed)
    conditions = success.shape[1]
    rates = success.mean(axis=1)
    tally = {
        n: {
            k: 0
            for k in (
                "verdict_best",
                "naive_best",
                "verdict_false",
                "naive_false",
                "fisher_false",
                "verdict_claims",
                "naive_claims",
                "fisher_claims",
                "sprt_false",
                "sprt_claims",
                "verdict_decided",
            )
        }
        for n in BUDGETS
    }
    gaps = []
    for _ in range(draws):
        picked = list(rng.choice(candidates, size=K, replace=False))
        ref = int(rng.choice(references))
        members = picked + [ref]
        truth = {i: shown(success, i, ref) for i in picked}
        best = rates[picked].max()
        gaps.append(best - rates[ref])
        order = rng.permutation(conditions)[: max(BUDGETS)]
        for n in BUDGETS:
            seen = success[:, order[:n]]
            s = seen[members].sum(axis=1)
            t = tally[n]
            # The verdict's leader: the highest P(best) among the shortlisted (co-training is the reference).
            pb = p_best_exact(s, n)[:K]
            lead = picked[int(np.argmax(pb))]
            t["verdict_best"] += rates[lead] == best
            top = np.flatnonzero(s[:K] == s[:K].max())
            t["naive_best"] += rates[picked[int(rng.choice(top))]] == best
            false = {"verdict": False, "naive": False, "fisher": False, "sprt": False}
            claims = {"verdict": False, "naive": False, "fisher": False, "sprt": False}
            decided_any = False
            for i in picked:
                b = np.cumsum((seen[i] == 1) & (seen[ref] == 0))
                c = np.cumsum((seen[i] == 0) & (seen[ref] == 1))
                for name, rule in (("verdict", mixture_decisions), ("sprt", sprt_decisions)):
                    value, _ = first_decision(rule(b, c))
                    if value in (1, -1):
                        claims[name] = True
                        false[name] |= truth[i] != value
                    decided_any |= name == "verdict" and value != 0
                diff = int(np.sign(seen[i].sum() - seen[ref].sum()))
                if diff:
                    claims["naive"] = True
                    false["naive"] |= truth[i] != diff
                p = stats.fisher_exact(
                    [[seen[i].sum(), n - seen[i].sum()], [seen[ref].sum(), n - seen[ref].sum()]]
                ).pvalue
                if p < 0.05:
                    claims["fisher"] = True
                    false["fisher"] |= truth[i] != diff
            for name in false:
                t[f"{name}_false"] += false[name]
                t[f"{name}_claims"] += claims[name]
            t["verdict_decided"] += decided_any
    return tally, np.array(gaps)


# ============================================================================================= episodes
_REJECT: dict[tuple, float] = {}  # (discordant conditions, level, theta) -> P(reject): shared by every pair


def batch_n(discordant: float, level: float = ALPHA / K, power: float = 1 - BETA, theta: float = WORTH) -> int:
    """The fewest paired conditions a batch exact McNemar test (two-sided, at `level`) needs for `power` when the
    policy wins `theta` of the conditions where the two differ, which are a share `discordant` of all."""

    def p_reject(d: int) -> float:  # P(the test rejects for "better" | d discordant conditions)
        key = (d, level, theta)
        if key not in _REJECT:
            k = np.arange(d + 1)
            p_two = np.array([stats.binomtest(int(x), d, 0.5).pvalue if d else 1.0 for x in k])
            region = (p_two <= level) & (k > d / 2)
            _REJECT[key] = float(stats.binom.pmf(k[region], d, theta).sum())
        return _REJECT[key]

    for n in range(5, 3000):
        d = np.arange(n + 1)
        weights = stats.binom.pmf(d, n, discordant)
        keep = weights > 1e-9
        if sum(w * p_reject(int(x)) for x, w in zip(d[keep], weights[keep])) >= power:
            return n
    return 3000


def episodes_needed(success: np.ndarray, i: int, ref: int, runs: int, rng) -> dict:
    """Conditions each sequential rule needs on the pair (resampled from its table), and the batch test's n."""
    pick = rng.integers(0, success.shape[1], size=(runs, CAP))
    mine, theirs = success[i][pick], success[ref][pick]
    b = np.cumsum((mine == 1) & (theirs == 0), axis=1)
    c = np.cumsum((mine == 0) & (theirs == 1), axis=1)
    out = {
        "discordant": float((success[i] != success[ref]).mean()),
        "difference": float(success[i].mean() - success[ref].mean()),
    }
    for name, rule in RULES.items():
        value, at = first_decision(rule(b, c))
        out[name] = float(at.mean())
        out[f"{name}_undecided"] = float((value == 0).mean())
        out[f"{name}_better"] = float((value == 1).mean())
    out["batch"] = batch_n(max(out["discordant"], 1e-3))
    return out


# ============================================================================================= analyse
def analyse(path: Path, shortlists: int, runs: int, seed: int) -> None:
    rows = read_table(path)
    names, success, candidates, references = pool(rows)
    rates = success.mean(axis=1)
    print(
        f"{len(names)} policies x {success.shape[1]} start conditions ({path}); shortlistable {len(candidates)}, "
        f"co-training {len(references)}; success over all conditions:"
    )
    for i in np.argsort(-rates):
        print(f"  {names[i]:24s} {rates[i]:.3f}")
    tally, gaps = replay_shortlists(success, candidates, references, shortlists, seed)
    print(
        f"\n{shortlists} shortlists of {K} policies + co-training; the best's gap over co-training over all conditions: "
        f"median {np.median(gaps):+.3f}, range [{gaps.min():+.3f}, {gaps.max():+.3f}]"
    )
    # "verdict": the mixture rule the verdict used until session 10 (its RESULTS table); "SPRT": the verdict's rule now.
    head = [
        "episodes a policy",
        "leader truly best: verdict",
        "naive",
        "false claims: verdict",
        "SPRT rule",
        "naive (rates differ)",
        "Fisher 0.05",
        "any claim: verdict",
        "SPRT",
        "naive",
        "Fisher",
    ]
    print("  ".join(head))
    for n in BUDGETS:
        t = tally[n]
        share = {k: v / shortlists for k, v in t.items()}
        print(
            f"{n:>17d}  {share['verdict_best']:>26.3f}  {share['naive_best']:>5.3f}  {share['verdict_false']:>21.3f}  "
            f"{share['sprt_false']:>9.3f}  {share['naive_false']:>20.3f}  {share['fisher_false']:>11.3f}  "
            f"{share['verdict_claims']:>18.3f}  {share['sprt_claims']:>4.3f}  {share['naive_claims']:>5.3f}  "
            f"{share['fisher_claims']:>6.3f}"
        )
    rng = np.random.default_rng([seed, 1])
    results = []
    for ref in references:
        for i in candidates:
            results.append({"pair": f"{names[i]} vs {names[ref]}", **episodes_needed(success, i, ref, runs, rng)})
    print(
        f"\nconditions to decide a pair ({runs} runs each, resampled from its {success.shape[1]} conditions, stopped at "
        f"{CAP}); batch: the exact McNemar test's n for power {1 - BETA:.0%} at theta = {WORTH}, level alpha/K = "
        f"{ALPHA / K:.4f}, at the pair's own share of discordant conditions"
    )
    print(
        f"{'pair':44s} {'diff':>6s} {'disc':>5s} {'batch':>6s} {'mixture':>8s} {'(undec.)':>8s} {'SPRT':>6s} {'(undec.)':>8s}"
    )
    for r in sorted(results, key=lambda r: r["difference"]):
        print(
            f"{r['pair']:44s} {r['difference']:+6.3f} {r['discordant']:5.2f} {r['batch']:6d} {r['mixture']:8.1f} "
            f"{r['mixture_undecided']:8.2f} {r['sprt']:6.1f} {r['sprt_undecided']:8.2f}"
        )
    batch = np.mean([r["batch"] for r in results])
    for name in RULES:
        mean = np.mean([r[name] for r in results])
        ratio = np.mean([r[name] / r["batch"] for r in results])
        print(
            f"{name}: mean {mean:.1f} conditions vs batch {batch:.1f} ({1 - mean / batch:+.0%} fewer over the pool; "
            f"mean per-pair ratio {ratio:.2f})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("table", help="roll each run's policy out from the same start conditions")
    t.add_argument("runs_dirs", nargs="+")
    t.add_argument("--out", type=Path, required=True)
    t.add_argument("--conditions", type=int, default=400)
    t.add_argument("--seed", type=int, default=7, help="the start conditions' draw")
    t.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="the training seeds whose runs are rolled out")
    a = sub.add_parser("analyse", help="replay robot evaluations on the table")
    a.add_argument("table", type=Path)
    a.add_argument("--shortlists", type=int, default=1000)
    a.add_argument("--runs", type=int, default=500)
    a.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "table":
        table(args.runs_dirs, args.out, args.conditions, args.seed, args.seeds)
    else:
        analyse(args.table, args.shortlists, args.runs, args.seed)


if __name__ == "__main__":
    main()
