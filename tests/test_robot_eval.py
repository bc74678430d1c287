"""The road to the robot: a shortlist (real exports of a real tiny sweep with a co-training arm), its blinded and
paired sheet, the verdict's numbers against ones computed by hand, every bad sheet's one line, and --simulate.

The sweep (tests/real_sweep.py): configs t0a (ot.reg 2) and t0b (ot.reg 0.5) and the baseline arm's trial t0c
(co-training, ot.lambda_ot=0), all on training seed 0, trained for 4 steps on the small sim.
"""

import csv
import json
import math
import shutil

import numpy as np
import pytest
from scipy.stats import beta as beta_dist

from actot.__main__ import main as actot_main
from actot.report import robot_eval as ev
from real_sweep import new_sweep
from test_dashboard import Page, browser  # noqa: F401 - the headless Chromium fixture the dashboard tests use

PAIRED = {"paired": {"seeds": [0], "baseline": {"ot.lambda_ot": 0.0}, "racing": None}}


@pytest.fixture(scope="module")
def sweep_dir(small_sim, tmp_path_factory):
    built = new_sweep(small_sim, tmp_path_factory.mktemp("robot"), PAIRED)
    built.run("t0a", {"ot.reg": 2.0}, {"seed": 0, "arm": "config", "config_id": "c000"})
    built.run("t0b", {"ot.reg": 0.5}, {"seed": 0, "arm": "config", "config_id": "c001"})
    built.run("t0c", {}, {"seed": 0, "arm": "baseline", "config_id": "baseline"}, baseline={"ot.lambda_ot": 0.0})
    return built.dir


@pytest.fixture(scope="module")
def folder(sweep_dir, tmp_path_factory):
    """The shortlist: both configs and co-training, 6 start conditions drawn from the sim, seed 5."""
    out = tmp_path_factory.mktemp("shortlist") / "sl"
    assert actot_main(["shortlist", str(sweep_dir), "k=2", "conditions=6", "seed=5", f"out={out}"]) == 0
    return out


def sheet_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def copy_of(folder, tmp_path):
    shutil.copytree(folder, tmp_path / "copy")
    return tmp_path / "copy"


def test_the_shortlist_exports_the_leaders_and_co_training_with_a_readme(folder, capsys):
    from actot.robot import load_coded

    assert sorted(p.name for p in (folder / "policies").iterdir()) == ["t0a", "t0b", "t0c"]
    assert {p.name for p in folder.iterdir()} >= {
        "README.md",
        "key.json",
        "shortlist.json",
        "sheet.csv",
        "conditions.csv",
        "policies",
    }
    key = json.loads((folder / "key.json").read_text())
    roles = {entry["trial"]: entry["role"] for entry in key["codes"].values()}
    assert roles == {"t0a": "config", "t0b": "config", "t0c": "co-training"}
    assert key["codes"][key["reference"]]["trial"] == "t0c"
    readme = (folder / "README.md").read_text()
    for fragment in (
        "co-training (ot.lambda_ot=0), trial t0c",
        "#1 of 2 in the search's ranking",
        "`policies/t0b`",
        "alpha 0.05 and beta 0.2",
    ):
        assert fragment in readme, fragment
    assert "P2" not in readme  # the README names the policies, never their codes
    export_readme = (folder / "policies" / "t0c" / "README.md").read_text()
    assert "**co-training baseline** (ot.lambda_ot=0), not a ranked config" in export_readme
    for code, entry in key["codes"].items():  # every code loads the policy its key names
        policy = load_coded(folder, code)
        assert policy.config["trained_with"]["trial"] == entry["trial"]


def test_the_sheet_is_blinded_paired_and_balanced(folder):
    rows = sheet_rows(folder / "sheet.csv")
    manifest = json.loads((folder / "shortlist.json").read_text())
    codes = ["P1", "P2", "P3"]
    assert [r["episode"] for r in rows] == [str(i) for i in range(1, 19)]
    assert {r["shortlist"] for r in rows} == {manifest["id"]} and manifest["id"].startswith("sl-")
    assert all(r["outcome"] == "" and r["score"] == "" for r in rows)
    text = (folder / "sheet.csv").read_text()
    assert not any(word in text for word in ("t0a", "t0b", "t0c", "co-training", "reg"))  # codes only
    blocks = [rows[i : i + 3] for i in range(0, 18, 3)]
    for block in blocks:  # one condition per block, run with every policy once
        assert len({r["condition"] for r in block}) == 1 and sorted(r["policy"] for r in block) == codes
    assert sorted(b[0]["condition"] for b in blocks) == [f"C0{i}" for i in range(1, 7)]
    for position in range(3):  # 6 blocks, 3 codes: each code twice at each position of a block
        assert sorted(b[position]["policy"] for b in blocks) == sorted(codes * 2)
    starts = {r["condition"]: r for r in sheet_rows(folder / "conditions.csv")}
    assert all(r["start"] == starts[r["condition"]]["start"] and r["start"].startswith("robot (") for r in rows)
    assert len(starts["C01"]["layout"].split()) == 7  # drawn from the sim's task, kept for --simulate


@pytest.mark.parametrize("n_codes,n_conditions", [(2, 5), (4, 8), (5, 3)])
def test_a_plan_runs_every_condition_with_every_code_and_balances_positions(n_codes, n_conditions):
    codes = [f"P{i}" for i in range(1, n_codes + 1)]
    plan = ev.balanced_plan(ev.condition_ids(n_conditions), codes, np.random.default_rng(1))
    assert sorted(plan) == sorted((c, p) for c in ev.condition_ids(n_conditions) for p in codes)
    for position in range(n_codes):
        counts = [sum(plan[b * n_codes + position][1] == code for b in range(n_conditions)) for code in codes]
        assert max(counts) - min(counts) <= 1


def test_the_same_seed_gives_the_same_sheet_and_another_seed_another(sweep_dir, folder, tmp_path):
    assert actot_main(["shortlist", str(sweep_dir), "k=2", "conditions=6", "seed=5", f"out={tmp_path / 'same'}"]) == 0
    assert (tmp_path / "same" / "sheet.csv").read_text() == (folder / "sheet.csv").read_text()
    assert actot_main(["shortlist", str(sweep_dir), "k=2", "conditions=6", "seed=6", f"out={tmp_path / 'other'}"]) == 0
    assert (tmp_path / "other" / "sheet.csv").read_text() != (folder / "sheet.csv").read_text()


# Outcomes by start condition, for the trial behind each code: t0a wins every condition, co-training (t0c) one.
TABLE = {"t0a": [1, 1, 1, 1, 1, 1], "t0b": [1, 0, 1, 0, 1, 0], "t0c": [1, 0, 0, 0, 0, 0]}


def fill(folder, sheet=None, upto=None, scores=False):
    """Fill the sheet's outcomes from TABLE (the first `upto` rows only)."""
    key = json.loads((folder / "key.json").read_text())["codes"]
    path = sheet or folder / "sheet.csv"
    rows = sheet_rows(path)
    for i, row in enumerate(rows[:upto]):
        value = TABLE[key[row["policy"]]["trial"]][int(row["condition"][1:]) - 1]
        row["outcome"] = str(value)
        if scores:
            row["score"] = "1" if value else "0.5"
    write_rows(path, rows)
    return {entry["trial"]: code for code, entry in key.items()}


def test_a_filled_sheet_gives_the_hand_computed_statistics(folder, tmp_path, capsys):
    work = copy_of(folder, tmp_path)
    code = fill(work)
    before = (work / "sheet.csv").read_text()
    assert actot_main(["robot-eval", str(work)]) == 0
    assert (work / "sheet.csv").read_text() == before  # the verdict never writes the sheet
    v = ev.judge(work)
    lines = {p.code: p for p in v.policies}
    # Clopper-Pearson by hand: s = n = 6 -> [(alpha/2)^(1/n), 1]; s = 1 -> [1 - (1 - alpha/2)^(1/n), Beta(2, 5)'s 97.5%]
    assert lines[code["t0a"]].interval[0] == pytest.approx(0.025 ** (1 / 6)) and lines[code["t0a"]].interval[1] == 1
    low, high = lines[code["t0c"]].interval
    assert low == pytest.approx(1 - 0.975 ** (1 / 6)) and high == pytest.approx(beta_dist.ppf(0.975, 2, 5))
    low, high = lines[code["t0b"]].interval  # 3 of 6
    assert low == pytest.approx(beta_dist.ppf(0.025, 3, 4)) and high == pytest.approx(beta_dist.ppf(0.975, 4, 3))
    pairs = {q.code: q for q in v.pairs}
    a, b = pairs[code["t0a"]], pairs[code["t0b"]]
    # t0a vs co-training: both succeed on C01, only t0a on C02..C06: b = 5, c = 0
    assert (a.pairs, a.both, a.b, a.c, a.neither) == (6, 1, 5, 0, 0)
    assert a.p_mcnemar == pytest.approx(2 * 0.5**5)  # exact McNemar: 2 P(Bin(5, 1/2) = 0)
    assert a.e == pytest.approx(1.5**5)  # the SPRT's ratio: (2 x 0.75)^5 (2 x 0.25)^0
    assert a.p_better == pytest.approx(1 - 0.5**6)  # P(Beta(6, 1) > 1/2)
    assert a.difference == pytest.approx(5 / 6) and a.decision == "open"  # 7.59 < 2K/alpha = 4/0.05 = 80
    # t0b vs co-training: only t0b on C03, C05; neither on C02, C04, C06: b = 2, c = 0
    assert (b.b, b.c, b.neither) == (2, 0, 3) and b.p_mcnemar == pytest.approx(0.5)
    assert v.leader == code["t0a"] and not v.stop
    assert sum(p.p_best for p in v.policies) == pytest.approx(1.0)
    assert lines[code["t0a"]].p_best > 0.8
    printed = capsys.readouterr().out
    assert "**Continue.**" in printed and "verdict.md" in printed
    for lang in ("en", "zh"):
        text = (work / ev.VERDICT_FILES[lang]).read_text()
        assert "0.0625" in text and "7.59" in text and "[0.54, 1.00]" in text, lang


def test_the_sweep_report_and_dashboard_show_the_verdict_once_the_analyst_asks(small_sim, tmp_path, capsys, browser):  # noqa: F811
    (tmp_path / "sweep").mkdir()
    sweep = new_sweep(small_sim, tmp_path / "sweep", PAIRED)
    sweep.run("t0a", {"ot.reg": 2.0}, {"seed": 0, "arm": "config", "config_id": "c000"})
    sweep.run("t0b", {"ot.reg": 0.5}, {"seed": 0, "arm": "config", "config_id": "c001"})
    sweep.run("t0c", {}, {"seed": 0, "arm": "baseline", "config_id": "baseline"}, baseline={"ot.lambda_ot": 0.0})
    out = tmp_path / "elsewhere" / "sl"  # not the sweep's own shortlist/: its report finds it all the same
    assert actot_main(["shortlist", str(sweep.dir), "k=2", "conditions=6", "seed=5", f"out={out}"]) == 0
    assert actot_main(["report", str(sweep.dir), "lang=zh"]) == 0
    assert actot_main(["report", str(sweep.dir)]) == 0
    before = (sweep.dir / "report.md").read_text()
    # Before the analyst's verdict the report names the shortlist and no number: an operator may read it.
    assert "## On the robot" in before and "no episode filled yet" in before and "P(best)" not in before
    code = fill(out)
    capsys.readouterr()
    assert actot_main(["robot-eval", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"sweep report: {sweep.dir / 'report.md'}" in printed and "dashboard.html" in printed
    report = (sweep.dir / "report.md").read_text()
    section = report.split("## On the robot", 1)[1].split("\n## ", 1)[0]
    assert "18 of 18 episodes filled" in section and "**Continue.**" in section
    rows = [line for line in section.splitlines() if line.startswith("| `P")]
    assert len(rows) == 3 and any(f"`{code['t0a']}`" in r and "| 6 | 6 | 1.00 |" in r for r in rows)
    assert "Spearman" in section or "Not computed" in section
    zh = (sweep.dir / "report.zh.md").read_text().split("## 真机评估", 1)[1]
    assert "**继续。**" in zh and "18 个回合中已填 18 个" in zh
    page = (sweep.dir / "dashboard.html").read_text()
    robot = page.split('<section id="robot">', 1)[1].split("</section>", 1)[0]
    assert "<h2>On the robot</h2>" in robot and "<b>Continue.</b>" in robot and robot.count("<tr>") == 4
    shown = Page(browser)  # as a reader sees it: the section drawn, the decision and one row per policy
    shown.call("Page.enable")
    shown.call("Page.navigate", url=(sweep.dir / "dashboard.html").resolve().as_uri())
    shown.wait_for("Page.loadEventFired")
    seen = shown.js(
        "(function () { var s = document.getElementById('robot'); var r = s.getBoundingClientRect();"
        " return {text: s.innerText, h: r.height, rows: s.querySelectorAll('tbody tr').length}; })()"
    )
    assert "Continue." in seen["text"] and seen["h"] > 0 and seen["rows"] == 3
    shown.ws.close()
    (out / "sheet.csv").write_text("episode,nonsense\n1,2\n")  # a sheet mid-edit never breaks the report
    assert actot_main(["report", str(sweep.dir)]) == 0
    assert "its sheet cannot be judged" in (sweep.dir / "report.md").read_text()


def test_a_partly_filled_sheet_is_judged_on_its_filled_rows(folder, tmp_path):
    work = copy_of(folder, tmp_path)
    fill(work, upto=4)
    v = ev.judge(work)
    assert v.filled == 4 and v.total == 18
    assert sum(p.n for p in v.policies) == 4
    assert sum(q.pairs for q in v.pairs) <= 2  # one complete block and one row of the next


def test_the_stopping_rule_decides_at_the_stated_thresholds():
    # Wald's SPRT at worth 0.75: each discordant win multiplies the ratio by 1.5, each loss by 0.5
    assert ev.e_value(8, 0) == pytest.approx(1.5**8) and ev.e_value(8, 2) == pytest.approx(1.5**8 * 0.5**2)
    assert ev.e_value(0, 8) == ev.e_value(8, 0)  # the side the counts favour: worse is 1 - worth against 1/2
    assert ev.decide(11, 0, 2, 0.05, 0.2, 0.75) == "better"  # 1.5^11 = 86.5 >= 2K/alpha = 80
    assert ev.decide(10, 0, 2, 0.05, 0.2, 0.75) == "open"  # 57.7 < 80
    assert ev.decide(10, 0, 1, 0.05, 0.2, 0.75) == "better"  # one policy compared: 57.7 >= 40
    assert ev.decide(0, 11, 2, 0.05, 0.2, 0.75) == "worse"
    # futility by hand: theta = 1/2 against theta = 0.75: each win x 2/3, each loss x 2
    assert ev.e_futility(0, 5) == pytest.approx(2.0**5)
    assert ev.e_futility(3, 1) == pytest.approx((2 / 3) ** 3 * 2)
    assert ev.e_futility(0, 0) == pytest.approx(1.0)
    assert ev.decide(10, 10, 2, 0.05, 0.2, 0.75) == "futile"  # (4/3)^10 = 17.8 >= 1/beta: half the pairs, not 75%
    assert ev.score_e_value([]) == 1.0  # the mean over the bets l of prod(1 + l d): ten differences of 1
    assert ev.score_e_value([1.0] * 10) == pytest.approx(sum((1 + bet) ** 10 for bet in ev.BETS) / len(ev.BETS))
    outlook = ev.remaining(5, 0, 6, 2, 0.05, 0.2, 0.75)
    assert outlook.p_decided > 0.9 and outlook.p_better > 0.8 and outlook.median >= 1


def test_the_offline_order_agreement_is_exact_for_few_policies():
    rho, p = ev.spearman_agreement([3, 2, 1], [0.9, 0.5, 0.2])
    assert rho == pytest.approx(1.0) and p == pytest.approx(1 / 6)  # 1 ordering of 3! agrees perfectly
    rho, p = ev.spearman_agreement([4, 3, 2, 1], [0.9, 0.5, 0.6, 0.2])
    assert rho == pytest.approx(0.8) and p == pytest.approx(4 / 24)  # rho = 1 once, 0.8 three times
    assert ev.spearman_agreement([1, 2], [0.1, 0.2]) is None
    assert ev.spearman_agreement([1, 2, 3], [0.5, 0.5, 0.5]) is None


def edit(rows, how):
    rows = [dict(r) for r in rows]
    how(rows)
    return rows


def swap_codes(rows):
    rows[0]["policy"], rows[1]["policy"] = rows[1]["policy"], rows[0]["policy"]


@pytest.mark.parametrize(
    "how,fragment",
    [
        (
            lambda rows: rows[2].update(policy="P9"),
            "line 4 (episode 3): policy 'P9' is not one of the codes P1, P2, P3",
        ),
        (swap_codes, "line 2 (episode 1): reads condition"),
        (lambda rows: rows.pop(4), "has no row for policy"),
        (lambda rows: rows[1].update(condition=""), "line 3 (episode 2): no start condition; write back"),
        (lambda rows: rows[0].update(outcome="yes"), "line 2 (episode 1): outcome 'yes' must be 1 (success), 0"),
        (
            lambda rows: rows[0].update(outcome="1", score="1.5"),
            "line 2 (episode 1): score '1.5' must be a number in [0, 1]",
        ),
        (lambda rows: rows[0].update(score="0.5"), "a score (0.5) but no outcome"),
        (lambda rows: rows.reverse(), "the rows were reordered; sort the sheet by episode"),
        (lambda rows: rows.append(dict(rows[0])), "episode 1 is already on line 2"),
    ],
)
def test_a_bad_sheet_is_one_line_naming_the_row_and_the_fix(folder, tmp_path, capsys, how, fragment):
    work = copy_of(folder, tmp_path)
    write_rows(work / "sheet.csv", edit(sheet_rows(work / "sheet.csv"), how))
    before = (work / "sheet.csv").read_text()
    assert actot_main(["robot-eval", str(work)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and fragment in err[0], err
    assert (work / "sheet.csv").read_text() == before and not (work / "verdict.md").exists()


def test_line_numbers_count_the_lines_an_editor_shows(folder, tmp_path, capsys):
    work = copy_of(folder, tmp_path)
    rows = sheet_rows(work / "sheet.csv")
    rows[0]["outcome"] = "2"
    write_rows(work / "sheet.csv", rows)
    (work / "sheet.csv").write_text("# a note\n" + (work / "sheet.csv").read_text())
    assert actot_main(["robot-eval", str(work)]) == 2
    assert "sheet.csv line 3 (episode 1): outcome '2' must be 1 (success)" in capsys.readouterr().err


def test_a_sheet_of_another_shortlist_is_refused(sweep_dir, folder, tmp_path, capsys):
    other = tmp_path / "other"
    assert actot_main(["shortlist", str(sweep_dir), "k=2", "conditions=6", "seed=7", f"out={other}"]) == 0
    capsys.readouterr()
    assert actot_main(["robot-eval", str(folder), str(other / "sheet.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    own = json.loads((folder / "shortlist.json").read_text())["id"]
    assert len(err) == 1 and f"is not this folder's ({own}): the sheet belongs to another shortlist" in err[0]


def test_a_shortlist_with_filled_outcomes_is_never_replaced(sweep_dir, folder, tmp_path, capsys):
    work = copy_of(folder, tmp_path)
    fill(work, upto=2)
    before = (work / "sheet.csv").read_text()
    assert actot_main(["shortlist", str(sweep_dir), f"out={work}", "overwrite=true", "seed=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1 and "holds a sheet with 2 filled outcome(s): a shortlist with results is never replaced" in err[0]
    )
    assert (work / "sheet.csv").read_text() == before


def test_start_conditions_from_a_file(sweep_dir, tmp_path, capsys):
    (tmp_path / "starts.txt").write_text("# cup positions\ncup left, handle out\n\ncup centre\ncup left, handle out\n")
    assert (
        actot_main(["shortlist", str(sweep_dir), f"conditions={tmp_path / 'starts.txt'}", f"out={tmp_path / 'x'}"]) == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "starts.txt line 5: 'cup left, handle out' is the same start condition as line 2" in err[0]
    (tmp_path / "starts.txt").write_text("cup left, handle out\ncup centre\n")
    assert (
        actot_main(
            ["shortlist", str(sweep_dir), "k=1", f"conditions={tmp_path / 'starts.txt'}", f"out={tmp_path / 'x'}"]
        )
        == 0
    )
    rows = sheet_rows(tmp_path / "x" / "sheet.csv")
    assert len(rows) == 4 and {r["start"] for r in rows} == {"cup left, handle out", "cup centre"}
    assert actot_main(["robot-eval", str(tmp_path / "x"), "--simulate"]) == 2  # text conditions: no sim layout
    assert "no sim layout to start from" in capsys.readouterr().err


def test_blind_look_says_only_whether_to_go_on(folder, tmp_path, capsys):
    work = copy_of(folder, tmp_path)
    fill(work)
    assert actot_main(["robot-eval", str(work), "blind=true"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("Interim look (blinded): 18 of 18 episodes filled.")
    assert not any(word in printed for word in ("P1", "P2", "P3", "t0a", "co-training"))
    assert not (work / "verdict.md").exists()


def test_simulate_fills_the_empty_rows_and_keeps_the_filled_ones(folder, tmp_path, capsys):
    work = copy_of(folder, tmp_path)
    fill(work, upto=3, scores=True)
    kept = sheet_rows(work / "sheet.csv")[:3]
    comment = "# lab notes: gripper recalibrated before episode 1"
    (work / "sheet.csv").write_text(comment + "\n" + (work / "sheet.csv").read_text())
    assert actot_main(["robot-eval", str(work), "--simulate"]) == 0
    assert (work / "sheet.csv").read_text().startswith(comment + "\n")  # the lab's lines are kept too
    (work / "sheet.csv").write_text((work / "sheet.csv").read_text().split("\n", 1)[1])
    printed = capsys.readouterr().out
    assert "simulated: 15 empty row(s)" in printed
    rows = sheet_rows(work / "sheet.csv")
    assert rows[:3] == kept
    assert all(r["outcome"] in ("0", "1") and r["notes"] == "simulated" for r in rows[3:])
    assert all(0.0 <= float(r["score"]) <= 1.0 and (r["outcome"] == "0" or float(r["score"]) == 1.0) for r in rows[3:])
    v = ev.judge(work)
    assert v.filled == 18 and v.simulated == 15
    assert "filled by `--simulate`" in (work / "verdict.md").read_text()
    assert actot_main(["robot-eval", str(work), "--simulate"]) == 0
    assert "simulated: 0 empty row(s)" in capsys.readouterr().out
    assert not math.isnan(v.policies[0].p_best)


def test_more_conditions_are_appended_without_touching_the_filled_rows(folder, tmp_path, capsys):
    work = copy_of(folder, tmp_path)
    fill(work, upto=7)
    before = sheet_rows(work / "sheet.csv")
    assert actot_main(["robot-eval", str(work), "more=3"]) == 0
    assert "extended: 3 start condition(s), episodes 19 to 27 appended" in capsys.readouterr().out
    rows = sheet_rows(work / "sheet.csv")
    assert rows[:18] == before and len(rows) == 27
    new = rows[18:]
    assert sorted({r["condition"] for r in new}) == ["C07", "C08", "C09"]
    for i in range(0, 9, 3):
        assert len({r["condition"] for r in new[i : i + 3]}) == 1 and sorted(r["policy"] for r in new[i : i + 3]) == [
            "P1",
            "P2",
            "P3",
        ]
    assert all(r["outcome"] == "" and r["start"].startswith("robot (") for r in new)
    assert ev.judge(work).total == 27
    assert actot_main(["robot-eval", str(work), "--simulate"]) == 0
    assert "simulated: 20 empty row(s)" in capsys.readouterr().out


def test_confirmed_configs_come_first_then_the_search_ranking(tmp_path):
    """c001 leads the search (mean 0.35 vs 0.40) but only c000 was confirmed on fresh seeds: c000 is shortlisted
    first, exported from its search trials as the seed closest to its mean (a tie: the better value)."""
    from sweep_fixture import paired_sweep

    from actot import sweepdir
    from actot.report import load_sweep_dir
    from actot.report.rank import rank
    from actot.robot import baseline_pick, picks

    confirm = {
        "confirm": {
            "top_k": 1,
            "seeds": 2,
            "metric": "eval/avg_l1",
            "scope": "last",
            "search_seed": 3,
            "new_seeds": [5, 6],
            "configs": ["c0s3"],
            "points": [{}] * 4,
        }
    }
    values = {
        "baseline": {3: 0.40, 4: 0.50, 5: 0.42, 6: 0.47},
        "c000": {3: 0.35, 4: 0.45, 5: 0.31, 6: 0.35},
        "c001": {3: 0.30, 4: 0.40},
    }
    folder = paired_sweep(tmp_path / "confirmed", values, extra=confirm)
    rows = sweepdir.read_rows(folder)
    for row in rows:
        if row["seed"] in (5, 6):
            row["confirm_of"] = "baseline" if row["arm"] == "baseline" else "c0s3"
    sweepdir.write_rows(folder, rows)
    sweep = load_sweep_dir(folder)
    ranking = rank(sweep)
    chosen = picks(sweep, ranking, 2)
    assert [(p["group"].name, p["rank"], p["trial"], p["confirm"] is not None) for p in chosen] == [
        ("c000", 2, "c0s3", True),
        ("c001", 1, "c1s3", False),
    ]
    assert [p["group"].name for p in picks(sweep, ranking, 1)] == ["c000"]
    assert baseline_pick(ranking) == "bes3"  # the search's baseline seeds 3 and 4 (0.40, 0.50): a tie, the better


def test_help_lists_the_robot_commands_and_bad_keys_are_one_line(sweep_dir, capsys):
    assert actot_main(["--help"]) == 0
    printed = capsys.readouterr().out
    assert "shortlist SWEEP_DIR [k=3]" in printed and "robot-eval FOLDER [SHEET.csv] [blind=true]" in printed
    for words, fragment in (
        (["shortlist", str(sweep_dir), "k=two"], "k='two' must be a whole number"),
        (["shortlist", str(sweep_dir), "alpha=0.7"], "alpha=0.7 must be between 0.0 and 0.5"),
        (["shortlist", str(sweep_dir), "conditions=0"], "conditions=0 must be between 1 and 1000"),
        (["robot-eval", str(sweep_dir), "lang=zh"], "unknown key 'lang' for robot-eval"),
        (["robot-eval", str(sweep_dir)], "no shortlist.json, so this is not a shortlist folder"),
    ):
        assert actot_main(words) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and fragment in err[0], (words, err)


def test_without_a_baseline_arm_the_offline_leader_is_the_reference(small_sim, tmp_path, capsys):
    (tmp_path / "plain").mkdir()
    built = new_sweep(small_sim, tmp_path / "plain")
    built.run("x1", {"ot.reg": 2.0})
    built.run("x2", {"ot.reg": 0.5})
    out = tmp_path / "sl"
    assert actot_main(["shortlist", str(built.dir), "conditions=4", "seed=2", f"out={out}"]) == 0
    assert "(the sweep has no baseline arm: no co-training policy)" in capsys.readouterr().out
    key = json.loads((out / "key.json").read_text())
    assert {e["role"] for e in key["codes"].values()} == {"config"} and key["codes"][key["reference"]]["rank"] == 1
    assert "(the offline #1: the sweep has no co-training baseline)" in (out / "README.md").read_text()
    rows = sheet_rows(out / "sheet.csv")
    for row in rows:  # the reference succeeds on every condition, the other on none
        row["outcome"] = "1" if row["policy"] == key["reference"] else "0"
    write_rows(out / "sheet.csv", rows)
    v = ev.judge(out)
    (pair,) = v.pairs
    assert (pair.b, pair.c, pair.pairs) == (0, 4, 4) and pair.p_mcnemar == pytest.approx(2 * 0.5**4)
    short = key["codes"][key["reference"]]["short"]
    assert f"Against {short}, paired by start condition" in ev.verdict_text(v)


def test_the_rule_keeps_its_error_rates_when_looked_at_after_every_pair():
    """4000 simulated evaluations of 200 discordant pairs, the rule checked after each: with no difference
    (theta = 1/2) the e-value (either side) reaches 2/alpha = 40 in at most 5% of them; with theta = worth = 0.75 the
    futility e-value reaches 1/beta = 5 in at most 20% (Ville's inequality; the margins are the test's own noise)."""
    rng = np.random.default_rng(0)
    looks = 200
    for theta, e_of, threshold, bound in (
        (0.5, ev.e_value, 40, 0.05),
        (0.75, lambda b, c: ev.e_futility(b, c, 0.75), 5, 0.2),
    ):
        # the e-value of every (wins, pairs) once, then read along each simulated path
        table = np.zeros((looks + 1, looks + 1), dtype=bool)
        for n in range(1, looks + 1):
            for b in range(n + 1):
                table[b, n] = e_of(b, n - b) >= threshold
        wins = np.cumsum(rng.random((4000, looks)) < theta, axis=1)
        crossed = table[wins, np.arange(1, looks + 1)].any(axis=1)
        assert crossed.mean() <= bound + 0.01


def test_the_bench_measures_the_rule_the_verdict_uses():
    """bench/robot_loop.py's vectorised SPRT (what RESULTS measured) decides as `decide` does, count for count."""
    from bench.robot_loop import K, sprt_decisions

    b, c = np.meshgrid(np.arange(40), np.arange(40), indexing="ij")
    codes = {1: "better", -1: "worse", 2: "futile", 0: "open"}
    got = sprt_decisions(b, c)
    for i in range(40):
        for j in range(40):
            assert codes[int(got[i, j])] == ev.decide(i, j, K, ev.ALPHA, ev.BETA, ev.WORTH), (i, j)
