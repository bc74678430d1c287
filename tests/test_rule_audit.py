"""The rule audit's and the sweep-efficiency benchmark's replay: hand-made histories, hand-computed
counts; and the --quick runs of the bench scripts (rule audit, sweep efficiency, validity, packing, trial profile,
reproducibility, convergence; real tiny training)."""

import json
import math
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from actot.errors import ActotError
from actot.rules import parse_rules
from actot.rules.replay import (
    AshaReplay,
    Run,
    audit_rule,
    config_scores,
    read_runs_jsonl,
    rule_variants,
    stop_decision,
    top_quarter,
    write_runs_jsonl,
)

ROOT = Path(__file__).resolve().parents[1]

STEPS = list(range(0, 201, 25))  # reports every 25 steps to 200


def run(name, success, pi=0.5, cost=None, seed=0, l1=0.5):
    """A run of config {'c': name}: constant ot_pi_sum, ot_cost(state) as given, success at the last report."""
    rows = []
    for i, step in enumerate(STEPS):
        row = {"step": step, "eval/avg_l1": l1}
        if step:
            row.update({"ot_pi_sum": pi, "ot_cost(state)": cost[i] if cost else 1.0})
        rows.append(row)
    rows[-1]["eval/success"] = success
    return Run("g", {"c": name}, seed, rows, f"{name}/{seed}")


def pool():
    rising = [None, 1.0, 1.0, 1.1, 1.2, 1.3, 1.4, 1.4, 1.4]  # steps 50..150 rise monotonically (+40%)
    return [
        run("A", 0.9, pi=0.01),
        run("A", 0.7, pi=0.01, seed=1),  # collapsed, yet the best config
        run("B", 0.1, pi=0.01),  # collapsed and bad
        run("C", 0.5, cost=rising),  # cost diverging
        run("D", 0.3),
        run("E", 0.2),
        run("F", 0.0),
        run("G", 0.05),
    ]


def test_scores_are_means_over_seeds_and_the_top_quarter_is_the_best_quarter_of_configs():
    runs = pool()
    scores = config_scores(runs)
    assert scores[runs[0].key] == pytest.approx(0.8)
    top = top_quarter(runs)  # 7 configs: the best ceil(7/4) = 2 are A (0.8) and C (0.5)
    assert top == {runs[0].key, runs[3].key}


def test_the_replay_gives_the_hand_computed_counts():
    runs = pool()
    top = top_quarter(runs)
    pi, nonfinite, cost = parse_rules(["pi_collapse", "non_finite", "ot_cost_diverging"])
    # pi_collapse (after 50, patience 2): reports at 50 and 75 below 0.1 -> stops at 75 runs A/0, A/1, B.
    row = audit_rule([pi], runs, top)
    assert (row.stopped, row.false_stops, row.saved, row.total) == (3, 2, 3 * (200 - 75), 8 * 200)
    assert row.false_rate == pytest.approx(2 / 3) and [s[1] for s in row.stops] == [75, 75, 75]
    # ot_cost_diverging (rising over 4 reports after 50, > 5%): 1.0 -> 1.4 over steps 50..150 -> stops C at 150.
    row = audit_rule([cost], runs, top)
    assert (row.stopped, row.false_stops, row.saved) == (1, 1, 50)
    assert audit_rule([nonfinite], runs, top).stopped == 0
    together = audit_rule([pi, nonfinite, cost], runs, top, name="all rules")
    assert (together.stopped, together.false_stops, together.saved) == (4, 3, 3 * 125 + 50)
    # A flag rule is audited as if it stopped; a firing at the last report saves nothing but counts.
    late = parse_rules([{"name": "late", "when": "eval/success < 0.25", "action": "flag"}])
    row = audit_rule(late, runs, top)
    assert (row.stopped, row.false_stops, row.saved) == (4, 0, 0)


def test_a_nan_report_resets_patience_in_the_replay_as_in_the_live_check():
    history = [
        {"step": 0},
        {"step": 50, "ot_pi_sum": 0.01},
        {"step": 75, "ot_pi_sum": math.nan},
        {"step": 100, "ot_pi_sum": 0.01},
        {"step": 125, "ot_pi_sum": 0.01},
    ]
    assert stop_decision(parse_rules(["pi_collapse"]), history).step == 125


def test_rule_variants_span_threshold_and_warm_up():
    pi, _, cost = parse_rules(["pi_collapse", "non_finite", "ot_cost_diverging"])
    variants = rule_variants(pi, 400)
    assert {v.value for v in variants} == {0.025, 0.05, 0.1, 0.2} and {v.after for v in variants} == {0, 50, 100, 200}
    assert len(variants) == 16 and pi in variants
    trend = rule_variants(cost, 400)
    assert {v.window for v in trend} == {2, 4, 8} and cost in trend
    (last,) = parse_rules(["not_converged"])  # reads the last report alone: its threshold is all there is to retune
    variants = rule_variants(last, 400)
    assert {v.after for v in variants} == {0} and {v.value for v in variants} == {-0.1, -0.05, -0.025, -0.0125}


def test_asha_replay_stops_what_ray_would():
    asha = AshaReplay(grace_period=50, reduction_factor=2, max_t=200)
    assert asha.milestones == [100, 50]  # the rung at 200 = max_t saves nothing

    def hist(at50, at100):
        return [
            {"step": 0, "eval/avg_l1": 1.0},
            {"step": 50, "eval/avg_l1": at50},
            {"step": 100, "eval/avg_l1": at100},
            {"step": 150, "eval/avg_l1": 0.1},
            {"step": 200, "eval/avg_l1": 0.1},
        ]

    assert asha.stop_step(hist(0.5, 0.4)) is None  # first at both rungs: nothing to compare with
    assert asha.stop_step(hist(0.6, 0.1)) == 50  # worse than the median (0.5) of rung 50
    assert asha.stop_step(hist(0.3, 0.45)) == 100  # passes rung 50 (median 0.55), worse than 0.4 at rung 100
    # A success at a rung is compared with successes only.
    row = {"step": 50, "eval/avg_l1": 9.0, "eval/success": 0.2}
    assert asha.stop_step([row]) is None and asha.recorded[50]["eval/success"] == [0.2]
    assert asha.stop_step([dict(row, **{"eval/success": 0.1})]) == 50


def test_jsonl_round_trip_and_one_line_errors(tmp_path):
    runs = pool()
    path = tmp_path / "runs.jsonl"
    write_runs_jsonl(runs, path)
    back = read_runs_jsonl(path)
    assert [(r.config, r.seed, r.history) for r in back] == [(r.config, r.seed, r.history) for r in runs]
    assert read_runs_jsonl(path, group="g") and len(back) == 8
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"group": "g", "config": {}, "seed": 0, "history": []}) + "\n")
    with pytest.raises(ActotError, match=r"bad.jsonl:1: history must be a non-empty list"):
        read_runs_jsonl(bad)
    bad.write_text('{"group": "g", "config": {}}\n')
    with pytest.raises(ActotError, match=r"bad.jsonl:1: missing key\(s\) \['seed', 'history'\]"):
        read_runs_jsonl(bad)
    with pytest.raises(ActotError, match="no runs of group 'pool'"):
        read_runs_jsonl(path, group="pool")


def test_tpe_suggestions_snap_to_the_nearest_pool_config_in_log_space():
    from bench.sweep_efficiency import Pool

    from actot.sweep.space import load_space

    space = load_space("ot_reg")  # ot.reg, ot.tau log-scaled
    runs = [
        Run("pool", {"ot.reg": reg, "ot.tau": 1.0}, 0, [{"step": 0}, {"step": 10, "eval/success": s}])
        for reg, s in ((0.01, 0.2), (1.0, 0.4))
    ]
    pool = Pool(runs, space, "eval/success")
    # 0.15 is nearer 0.01 on a linear scale, nearer 1.0 on the log scale the space searches in.
    assert pool.config[pool.snap({"ot.reg": 0.15, "ot.tau": 1.0})]["ot.reg"] == 1.0
    assert pool.config[pool.snap({"ot.reg": 0.05, "ot.tau": 1.0})]["ot.reg"] == 0.01
    with pytest.raises(ActotError, match=r"lacks knob\(s\) \['ot.tau'\]"):
        Pool([Run("pool", {"ot.reg": 1.0}, 0, [{"step": 0}], "x:1")], space, "eval/success")


def test_rules_prune_and_charge_only_the_steps_run():
    from optuna.trial import TrialState

    from bench.sweep_efficiency import Pool, evaluate, search

    import numpy as np

    runs = [run("A", 0.9), run("B", 0.1, pi=0.01)]
    pool = Pool(runs, None, "eval/success")
    rules = parse_rules(["pi_collapse"])
    rng = np.random.default_rng(0)
    out = evaluate(pool, runs[1].key, rng, rules, None)
    assert (out.state, out.steps, out.value) == (TrialState.PRUNED, 75, None)
    out = evaluate(pool, runs[0].key, rng, rules, None)
    assert (out.state, out.steps, out.value) == (TrialState.COMPLETE, 200, 0.9)
    # Random search: reached as soon as it draws A; every draw of B costs the full 200 steps.
    steps, reached, picks = search(pool, "random", 0, 10, 0.9, None, None, 2)
    assert reached and steps == 200 * len(picks) and picks[-1] == 0.9


QUICK_BENCHES = [
    (["rule_audit", "--quick", "--configs", "4"], ["false-stop rate", "pi_collapse", "Retuning ot_cost_diverging"]),
    (
        ["sweep_efficiency", "--quick", "--configs", "5", "--seeds", "3"],
        ["tpe+rules+asha", "ratio to random", "goal: tpe+rules+asha at most 30%"],
    ),
    (
        ["packing", "--quick"],
        ["| act_small | 2 | 1 |", "vs one at a time", "| act | 1 |", "Projected: 100 trials", "| act | 2 | "],
    ),
    (
        ["trial_profile", "--quick"],
        [
            "| part | alone: s | share | 2 at once (per trial): s | share |",
            "| training: OT (OT rows' encoder, cost, plan, L_ot) |",
            "| closed-loop rollouts",
            "| Ray (the trial through Tune, less the trial alone) |",
            "| **outside training steps** |",
            "ray.init",
        ],
    ),
    (
        ["paired_efficiency", "--quick"],
        [
            "tpe, 2 paired seeds + baseline + racing",
            "P(within 0.05 of best)",
            "goal: paired + racing",
            "ASHA rungs",
            "Spearman with final",
        ],
    ),
]


SHARED_POOL = ("paired_efficiency", "sweep_efficiency", "rule_audit")  # their --quick runs: bench.histories.quick_runs


def bench_jobs(root: Path) -> dict[str, list[list[str]]]:
    """The bench commands of this module's slow tests, by job (a QUICK_BENCHES script's name, "validity",
    "reproducibility", "convergence"): each job's commands run in order, their files under `root`."""
    jobs = {script[0]: [[*script]] for script, _ in QUICK_BENCHES}
    for name in SHARED_POOL:  # one pool of tiny runs, each script reading the configs it asks for
        jobs[name][0] += ["--quick-dir", str(root / "quick")]
    v = root / "validity"
    jobs["validity"] = [
        [
            "validity",
            "run",
            "--quick",
            "--out",
            str(v / "v.jsonl"),
            "--runs-dir",
            str(v / "runs"),
            "--jobs",
            "1",  # in this process, as below: a worker process would import torch and the product again
            "--only",
            "study,grid,variant",
            "--grid-conditions",
            "b-cotrain,e-OT-l2",
        ],
        ["validity", "analyse", str(v / "v.jsonl"), "--plot", str(v / "v.png")],
    ]
    for script, settings in (("reproducibility", (["--setting", "new"], ["--setting", "old"])), ("convergence", ([],))):
        out = root / script / f"{script}.jsonl"
        jobs[script] = [
            [
                script,
                "run",
                "--quick",
                "--out",
                str(out),
                "--runs-dir",
                str(root / script / "runs"),
                "--jobs",
                "1",  # in this process (bench.runs.run_jobs): the fixture already runs two jobs at once
                *words,
            ]
            for words in settings
        ] + [[script, "analyse", str(out)]]
    return jobs


# Longest first (so that two lanes end together; paired_efficiency early: it fills most of the shared pool of tiny
# runs that sweep_efficiency and rule_audit then read); which test runs which jobs.
JOB_ORDER = (
    "packing",
    "paired_efficiency",
    "trial_profile",
    "validity",
    "reproducibility",
    "sweep_efficiency",
    "convergence",
    "rule_audit",
)
JOBS_OF = {
    "test_quick_validity_study_runs_and_prints_its_tables": ("validity",),
    "test_quick_reproducibility_and_convergence_benches_run_and_print_their_tables": ("reproducibility", "convergence"),
}


@pytest.fixture(scope="module")
def bench_runs(request, tmp_path_factory):
    """The bench jobs of the tests the session runs, two at a time, longest first: a job mostly keeps one core busy
    (one training process, or two that wait on each other: each checks its tables, not its timings), so two share
    the machine's two cores. {job: the future of its finished processes, in order, up to the first that failed};
    each test waits for its own."""
    chosen = set()
    for item in request.session.items:
        if item.module is request.module:
            name = getattr(item, "originalname", item.name)
            if name == "test_quick_bench_scripts_print_their_tables":
                chosen.add(item.callspec.params["script"][0])
            chosen |= set(JOBS_OF.get(name, ()))
    jobs = bench_jobs(tmp_path_factory.mktemp("bench"))
    started = []

    def run_job(commands):
        done = []
        for words in commands:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"bench.{words[0]}", *words[1:]],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            started.append(proc)
            try:
                out, err = proc.communicate(timeout=600)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
            if proc.returncode != 0:
                break
        return done

    pool = ThreadPoolExecutor(max_workers=2)
    try:
        yield {job: pool.submit(run_job, jobs[job]) for job in JOB_ORDER if job in chosen}
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in started:  # a test run cut short leaves no bench behind
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("script, expected", QUICK_BENCHES)
def test_quick_bench_scripts_print_their_tables(script, expected, bench_runs):
    [done] = bench_runs[script[0]].result()
    assert done.returncode == 0, done.stderr[-2000:]
    for text in expected:
        assert text in done.stdout


@pytest.mark.slow
def test_quick_validity_study_runs_and_prints_its_tables(bench_runs):
    done, *rest = bench_runs["validity"].result()  # run, then analyse
    assert done.returncode == 0, done.stderr[-2000:]
    [shown] = rest
    assert shown.returncode == 0, shown.stderr[-2000:]
    for text in (
        "## Study",
        "| c-OT-R1 | 2 |",
        "| e-OT-l2 | 2 |",
        "## Calibration",
        "## Grid",
        "| cell | b-cotrain | e-OT-l2 |",
    ):
        assert text in shown.stdout, text
    assert Path(shown.args[shown.args.index("--plot") + 1]).stat().st_size > 0


@pytest.mark.slow
def test_quick_reproducibility_and_convergence_benches_run_and_print_their_tables(bench_runs):
    for script, expected in (
        ("reproducibility", ("split-half", "new      eval/avg_l1", "old      eval/avg_l1")),
        ("convergence", ("covered per seed", "all >= 0.9")),
    ):
        *runs, shown = bench_runs[script].result()  # each --setting's run, then analyse
        for done in runs:
            assert done.returncode == 0, done.stderr[-2000:]
        assert shown.returncode == 0, shown.stderr[-2000:]
        for text in expected:
            assert text in shown.stdout, (script, text, shown.stdout)


def test_on_a_pool_with_structure_the_searches_beat_random_and_asha_trims_trials():
    """A made-up pool (success peaks in the middle of ot_reg's space, a collapsed corner, noisy seeds):
    the replay machinery must let TPE find the peak with less compute than random, and ASHA cut trials."""
    import random

    import optuna

    from bench.sweep_efficiency import Pool, run_benchmark, search

    from actot.rules import BUILT_IN
    from actot.sweep.space import load_space

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rnd = random.Random(0)
    runs = []
    for _ in range(40):
        lr, lt = rnd.uniform(math.log(0.001), math.log(5)), rnd.uniform(math.log(0.01), math.log(30))
        quality = math.exp(-((lr - math.log(0.3)) ** 2 + (lt - math.log(3)) ** 2) / 6)
        collapsed = lr < math.log(0.01) and lt < math.log(0.1)
        for seed in range(3):
            rows = [
                {
                    "step": s,
                    "eval/avg_l1": 1.0 - (0.1 if collapsed else 0.6 * quality) * (s / 400) ** 0.5 + rnd.gauss(0, 0.01),
                    **({"ot_pi_sum": 0.01 if collapsed else 0.5} if s else {}),
                }
                for s in range(0, 401, 25)
            ]
            rows[-1]["eval/success"] = min(1.0, max(0.0, (0.0 if collapsed else quality) + rnd.gauss(0, 0.05)))
            runs.append(Run("pool", {"ot.reg": math.exp(lr), "ot.tau": math.exp(lt)}, seed, rows))
    pool = Pool(runs, load_space("ot_reg"), "eval/success")
    rules = parse_rules(list(BUILT_IN))
    out = run_benchmark(
        pool, rules, seeds=5, budget=40, max_trials=120, tolerance=0.02, grace=None, rf=3, say=lambda line: None
    )
    mean = {m: sum(s for s, _ in r) / len(r) for m, r in out["results"].items()}
    assert all(ok for r in out["results"].values() for _, ok in r)
    assert mean["tpe"] < mean["random"] and out["ratio"] < 0.8  # measured: 0.59 and 0.39 (Optuna 5.0)
    # above 75, where pi_collapse (the latest-acting stop rule; ot_cost_diverging is a flag) can first
    # act, and >= 400 / 8
    assert out["grace"] == 100
    # ASHA stops trials at its rung: a search with it spends fewer steps per trial than one without.
    with_asha = search(pool, "tpe+rules+asha", 0, 20, None, rules, (175, 3), 30)
    without = search(pool, "tpe+rules", 0, 20, None, rules, (175, 3), 30)
    assert with_asha[0] < without[0] and len(with_asha[2]) == len(without[2]) == 20
