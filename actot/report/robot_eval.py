"""The robot's word on a shortlist: the blinded evaluation sheet's format, and the verdict on a (partly) filled one.

    python -m actot shortlist SWEEP_DIR [k=3] [conditions=20|FILE]   (actot/robot.py: exports, then `write_plan`)
    python -m actot robot-eval FOLDER [sheet.csv]                      (`write_verdict`)

A shortlist's folder holds, besides the policy folders (`policies/`) and README.md:

    shortlist.json   its id, the sweep, the seed, the error rates stated before any episode ran, the start
                     conditions and the plan: (episode, condition, code) in the order they are to be run
    key.json         which policy each blind code (P1..Pn) is: the analyst's file, not the operator's
    conditions.csv   condition, start (what the lab sets up), layout (the embedded sim's initial state, if any)
    sheet.csv        one row per episode: episode, condition, start, policy (a code), outcome, score, notes,
                     shortlist (the id, on every row: it survives a spreadsheet's round trip, a comment line may not)

The plan runs each start condition with every policy, one after another (a block), so policies are compared on the
same start (paired); the blocks' order is shuffled, and within blocks the codes' positions follow a Latin square
with shuffled rows, columns and symbols, so every code runs first, second, ... in a block equally often (to within
one when the conditions are not a whole number of cycles): a policy never gets the freshly reset robot more often.

The verdict, from the filled rows alone (an empty outcome is an episode not run yet):

- Per policy: successes s of n, the Clopper-Pearson interval (`clopper_pearson`: the exact binomial one, the
  Beta(s, n-s+1) and Beta(s+1, n-s) quantiles, through scipy's binomtest), and P(best): the chance that its success
  rate is the highest under independent Beta(1+s, 1+n-s) posteriors (uniform priors), by Monte Carlo (`p_best`).
- Each policy against the reference (co-training, the sweep's baseline arm; without one the offline #1), paired by
  start condition on the conditions both ran: b conditions only the policy succeeded on, c only the reference. The
  exact McNemar test (`mcnemar_exact`: under no difference b ~ Binomial(b+c, 1/2), two-sided), and P(better) =
  P(theta > 1/2) for theta ~ Beta(1+b, 1+c), the posterior of the policy's share of the discordant conditions.
- When to stop, valid however often the lab looks (`e_value`, `e_futility`; Ville's inequality: a nonnegative
  martingale under the null crosses 1/a with probability at most a): Wald's SPRT on the discordant conditions. The
  e-value for "no difference" is the likelihood ratio of theta = `worth` (the effect worth having) against
  theta = 1/2, (2 worth)^b (2 (1 - worth))^c, or of 1 - worth for "worse" with b and c swapped. A policy is decided
  better (or worse) than the reference when it reaches 2K/alpha (K policies compared, two sides each: Bonferroni over
  2K anytime-valid tests, so the leader may be picked after looking). It is given up on when the ratio of
  theta = 1/2 against theta = worth reaches 1/beta (under any theta >= worth its mean is at most 1). The SPRT
  replaced a uniform-mixture e-value (2^(b+c) B(b+1, c+1)) after bench/robot_loop.py measured both on policies
  trained on the benchmark: the same (zero) false claims, fewer episodes (bench/RESULTS.md, session 10). The leader is the policy with the highest
  P(best); from the current estimates (`remaining`: theta and the share of discordant conditions at their
  posterior means), simulated forward, how many more start conditions it takes to decide it.
- With scores (partial credit in [0, 1]): each policy's mean, and against the reference a betting e-value on the
  paired differences, the mean over a grid of bets l of prod(1 + l d_j) (`score_e_value`; each product is a
  nonnegative martingale when the mean difference is 0, since |l d| < 1).
- The sweep's offline order against the robot's: Spearman's rho of the offline metric (signed so + is better) and
  the robot's success rate, with its exact permutation p-value (`spearman_agreement`); with 3 or 4 policies even
  rho = 1 happens by chance 1 time in 6 or 24, and the verdict says so.

Paired binary outcomes on a fixed batch are McNemar's case; Barnard's and Boschloo's tests (scipy) are for two
independent samples and would ignore the pairing, so they are not used here.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from actot.errors import ActotError
from actot.strings import section
from actot.sweepdir import SPEC_FILE

SHEET_FILE = "sheet.csv"
MANIFEST_FILE = "shortlist.json"
KEY_FILE = "key.json"
CONDITIONS_FILE = "conditions.csv"
VERDICT_FILES = {"en": "verdict.md", "zh": "verdict.zh.md"}
COLUMNS = ("episode", "condition", "start", "policy", "outcome", "score", "notes", "shortlist")
REQUIRED = ("episode", "condition", "policy", "outcome", "shortlist")
ALPHA, BETA, WORTH = 0.05, 0.2, 0.75  # the error rates and the effect worth having, stated at shortlist time
DRAWS = 100_000  # Monte Carlo draws of P(best)
HORIZON = 200  # `remaining` looks this many start conditions ahead
SIMULATED = "simulated"  # the notes of a row --simulate filled
BETS = (-0.5, -0.4, -0.3, -0.2, -0.1, 0.1, 0.2, 0.3, 0.4, 0.5)


# ============================================================================================= statistics
def clopper_pearson(successes: int, n: int, level: float = 0.95) -> tuple[float, float] | None:
    """The exact (Clopper-Pearson) interval of a success rate; None with no episode."""
    from scipy.stats import binomtest

    if n == 0:
        return None
    ci = binomtest(successes, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: the binomial test of b successes in b + c discordant pairs at 1/2."""
    from scipy.stats import binomtest

    return 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)


def p_better(b: int, c: int) -> float:
    """P(theta > 1/2), theta ~ Beta(1 + b, 1 + c): the posterior of the policy's share of the discordant pairs."""
    from scipy.stats import beta

    return float(beta.sf(0.5, 1 + b, 1 + c))


def e_value(b: int, c: int, worth: float = WORTH) -> float:
    """The SPRT's e-value against "no difference", on the side the counts favour: the likelihood ratio of the policy
    winning `worth` of the discordant pairs (or 1 - worth: worse) against 1/2, (2 worth)^max(b, c) (2 (1 - worth))^min(b, c).
    Under theta = 1/2 each side's ratio is a martingale of mean 1 (under theta on the other side of 1/2, at most 1)."""
    return math.exp(max(b, c) * math.log(2.0 * worth) + min(b, c) * math.log(2.0 * (1.0 - worth)))


def e_futility(b: int, c: int, worth: float = WORTH) -> float:
    """The e-value against "the policy wins at least `worth` of the discordant pairs": the likelihood ratio of
    theta = 1/2 against theta = worth, (1 / (2 worth))^b (1 / (2 (1 - worth)))^c (for any true theta >= worth its
    mean is at most 1)."""
    return math.exp(-b * math.log(2.0 * worth) - c * math.log(2.0 * (1.0 - worth)))


def score_e_value(diffs) -> float:
    """A betting e-value against "the paired score differences (in [-1, 1]) have mean 0": the mean over `BETS` of
    prod(1 + l d_j) (Waudby-Smith & Ramdas' betting martingales, a fixed grid of bets)."""
    d = np.asarray(list(diffs), dtype=float)
    return float(np.mean([np.prod(1.0 + bet * d) for bet in BETS])) if d.size else 1.0


def p_best(successes: list[int], n: list[int], draws: int = DRAWS, seed: int = 0) -> list[float]:
    """P(each policy's success rate is the highest) under independent Beta(1+s, 1+n-s) posteriors, by Monte Carlo."""
    rng = np.random.default_rng(seed)
    theta = np.stack([rng.beta(1 + s, 1 + m - s, size=draws) for s, m in zip(successes, n)], axis=1)
    wins = np.bincount(theta.argmax(axis=1), minlength=len(successes))
    return [float(w) / draws for w in wins]


def efficacy_threshold(k: int, alpha: float) -> float:
    """2K/alpha: each of the K policies has two one-sided tests (better, worse), each at alpha / 2K (Bonferroni)."""
    return 2.0 * k / alpha


def decide(b: int, c: int, k: int, alpha: float, beta: float, worth: float) -> str:
    """`better`, `worse`, `futile` (the policy does not win `worth` of the discordant conditions) or `open`."""
    if e_value(b, c, worth) >= efficacy_threshold(k, alpha):
        return "better" if b > c else "worse"
    if e_futility(b, c, worth) >= 1.0 / beta:
        return "futile"
    return "open"


@dataclass(frozen=True)
class Outlook:
    """Simulated from the current estimates: how many more start conditions decide the pair (median, 80th
    percentile, of the runs that decide within `HORIZON`), P(decided within it), and how each decision is likely."""

    median: int | None
    p80: int | None
    p_decided: float
    p_better: float
    p_futile: float
    theta: float
    discordant: float


def remaining(
    b: int,
    c: int,
    pairs: int,
    k: int,
    alpha: float,
    beta: float,
    worth: float,
    runs: int = 2000,
    horizon: int = HORIZON,
    seed: int = 0,
) -> Outlook:
    """Run the stopping rule forward `runs` times from (b, c) after `pairs` paired conditions, with theta and the
    chance that a condition is discordant at their posterior means (uniform priors), `horizon` conditions at most."""
    theta = (b + 1) / (b + c + 2)
    discordant = (b + c + 1) / (pairs + 2)
    rng = np.random.default_rng(seed)
    differ = rng.random((runs, horizon)) < discordant
    win = rng.random((runs, horizon)) < theta
    bb = b + np.cumsum(differ & win, axis=1)
    cc = c + np.cumsum(differ & ~win, axis=1)
    up, down = math.log(2.0 * worth), math.log(2.0 * (1.0 - worth))
    log_e = np.maximum(bb, cc) * up + np.minimum(bb, cc) * down
    log_f = -(bb * up + cc * down)
    efficacy = log_e >= math.log(efficacy_threshold(k, alpha))
    futile = (log_f >= math.log(1.0 / beta)) & ~efficacy
    stop = efficacy | futile
    decided = stop.any(axis=1)
    first = stop.argmax(axis=1) + 1
    rows = np.flatnonzero(decided)
    better = efficacy[rows, first[rows] - 1] & (bb[rows, first[rows] - 1] > cc[rows, first[rows] - 1])
    gave_up = futile[rows, first[rows] - 1]
    if not len(rows):
        return Outlook(None, None, 0.0, 0.0, 0.0, theta, discordant)
    return Outlook(
        int(np.median(first[rows])),
        int(np.ceil(np.percentile(first[rows], 80))),
        len(rows) / runs,
        float(better.sum()) / runs,
        float(gave_up.sum()) / runs,
        theta,
        discordant,
    )


def spearman_agreement(offline, robot) -> tuple[float, float] | None:
    """(Spearman's rho between two scores, + = both say better; its exact one-sided permutation p-value: the share
    of orderings of `robot` that agree with `offline` at least as well); None with fewer than 3 policies or a score
    that does not vary (no order to compare)."""
    from scipy.stats import spearmanr

    x, y = np.asarray(offline, dtype=float), np.asarray(robot, dtype=float)
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    rho = float(spearmanr(x, y).statistic)
    if len(x) > 8:  # 9! orderings and up: the t approximation scipy gives
        return rho, float(spearmanr(x, y, alternative="greater").pvalue)
    perms = [float(spearmanr(x, np.asarray(p)).statistic) for p in itertools.permutations(y)]
    return rho, sum(r >= rho - 1e-12 for r in perms) / len(perms)


# ============================================================================================= the plan
def balanced_plan(conditions: list[str], codes: list[str], rng: np.random.Generator) -> list[tuple[str, str]]:
    """(condition, code) for each episode in order: one block per condition, every code once per block (see the
    module's docstring for the order)."""
    n = len(codes)
    symbols, columns, rows = rng.permutation(n), rng.permutation(n), rng.permutation(n)
    plan = []
    for block, index in enumerate(rng.permutation(len(conditions))):
        row = rows[block % n]
        plan += [(conditions[index], codes[symbols[(row + columns[j]) % n]]) for j in range(n)]
    return plan


def condition_ids(n: int) -> list[str]:
    width = max(2, len(str(n)))
    return [f"C{i:0{width}d}" for i in range(1, n + 1)]


def write_plan(folder: Path, shortlist_id: str, conditions: list[dict], plan: list[tuple[str, str]]) -> None:
    """conditions.csv and sheet.csv of a new shortlist (its outcomes empty)."""
    start = {c["condition"]: c["start"] for c in conditions}
    with open(folder / CONDITIONS_FILE, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["condition", "start", "layout"])
        writer.writerows([c["condition"], c["start"], c.get("layout") or ""] for c in conditions)
    rows = [
        {"episode": i, "condition": cond, "start": start[cond], "policy": code, "shortlist": shortlist_id}
        for i, (cond, code) in enumerate(plan, start=1)
    ]
    write_sheet(folder / SHEET_FILE, list(COLUMNS), rows)


def write_sheet(path: Path, header: list[str], rows: list[dict], comments: list[str] = ()) -> None:
    """The sheet, written whole to a temporary file first: a crash never leaves half a sheet of filled outcomes."""
    buffer = io.StringIO()
    buffer.writelines(f"{line}\n" for line in comments)
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(buffer.getvalue())
    os.replace(tmp, path)


# ============================================================================================= reading
def read_json(folder: Path, name: str) -> dict:
    path = folder / name
    if not path.is_file():
        if name == MANIFEST_FILE:
            raise ActotError(
                f"{folder}: no {MANIFEST_FILE}, so this is not a shortlist folder; write one with "
                "python -m actot shortlist SWEEP_DIR"
            )
        raise ActotError(
            f"{path} is missing: the verdict needs the shortlist's blinding key; copy it back from "
            "where it was kept (it is written by python -m actot shortlist)"
        )
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ActotError(f"{path}: cannot be read ({str(err).splitlines()[0]}); restore it from a copy") from err


@dataclass(frozen=True)
class Row:
    line: int  # the line in the file (the header is line 1)
    episode: int
    condition: str
    code: str
    outcome: int | None
    score: float | None
    notes: str = ""


def read_raw(path: Path) -> tuple[list[str], list[str], list[tuple[int, dict]]]:
    """(comment lines at the top, the header, [(line number, row as a dict of stripped cells)]) of a sheet, the line
    numbers as an editor shows them; a row's cells beyond the header are dropped, missing ones are empty."""
    if not path.is_file():
        raise ActotError(f"{path}: no such sheet; the shortlist wrote {SHEET_FILE} in its folder")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's UTF-8 export may start with a BOM
    except (OSError, UnicodeDecodeError) as err:
        raise ActotError(f"{path}: cannot be read ({str(err).splitlines()[0]}); save it as CSV (UTF-8)") from err
    lines = text.splitlines()
    comments = []
    while lines and lines[0].startswith("#"):
        comments.append(lines.pop(0))
    reader = csv.reader(io.StringIO("\n".join(lines)))
    try:
        header = [h.strip() for h in next(reader, [])]
        rows = []
        for cells in reader:
            if any(c.strip() for c in cells):  # a blank line a spreadsheet added
                values = [c.strip() for c in cells] + [""] * max(0, len(header) - len(cells))
                rows.append((reader.line_num + len(comments), dict(zip(header, values))))
    except csv.Error as err:
        raise ActotError(
            f"{path} line {reader.line_num + len(comments)}: not valid CSV ({err}); save the sheet as "
            "comma-separated values again"
        ) from err
    return comments, header, rows


def read_sheet(path: Path, manifest: dict) -> list[Row]:
    """The sheet's rows checked against the shortlist's plan; a one-line ActotError naming the line and the fix."""
    _, header, raw_rows = read_raw(path)
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ActotError(
            f"{path}: no '{missing[0]}' column (its header: {', '.join(header) or 'empty'}); keep the "
            f"columns the shortlist wrote, comma-separated: {', '.join(COLUMNS)}"
        )
    plan = {i: (cond, code) for i, cond, code in manifest["plan"]}
    codes, conditions = set(manifest["codes"]), {c["condition"] for c in manifest["conditions"]}
    own, seen, rows = manifest["id"], {}, []
    for number, row in raw_rows:
        where = f"{path.name} line {number}"
        if row["shortlist"] != own:
            raise ActotError(
                f"{where}: shortlist {row['shortlist'] or '(empty)'} is not this folder's ({own}): the "
                f"sheet belongs to another shortlist; evaluate it with the folder that wrote it, or "
                f"fill this folder's {SHEET_FILE}"
            )
        try:
            episode = int(row["episode"])
        except ValueError:
            raise ActotError(
                f"{where}: episode {row['episode']!r} is not a number; write back the episode number "
                "the sheet was printed with"
            ) from None
        if episode not in plan:
            raise ActotError(
                f"{where}: episode {episode} is not in the plan (1 to {len(plan)}); remove the row, or "
                "write back the episode number it was printed with"
            )
        where = f"{path.name} line {number} (episode {episode})"
        printed_condition, printed_code = plan[episode]
        if row["policy"] not in codes:
            raise ActotError(
                f"{where}: policy {row['policy'] or '(empty)'!r} is not one of the codes "
                f"{', '.join(sorted(codes, key=_code_order))}; write back {printed_code}, the code this "
                "episode was printed with"
            )
        if not row["condition"]:
            raise ActotError(
                f"{where}: no start condition; write back {printed_condition}, the condition this "
                "episode was printed with"
            )
        if row["condition"] not in conditions:
            raise ActotError(
                f"{where}: start condition {row['condition']!r} is not one of the shortlist's "
                f"({CONDITIONS_FILE}); write back {printed_condition}"
            )
        if (row["condition"], row["policy"]) != (printed_condition, printed_code):
            raise ActotError(
                f"{where}: reads condition {row['condition']} with policy {row['policy']}, but episode "
                f"{episode} was printed as {printed_condition} with {printed_code}: the order was changed; "
                "run and record the episodes in the printed order (shortlist.json's plan), restoring "
                "this row"
            )
        if episode in seen:
            raise ActotError(f"{where}: episode {episode} is already on line {seen[episode]}; keep one row per episode")
        if rows and episode < rows[-1].episode:
            raise ActotError(
                f"{where}: comes after episode {rows[-1].episode}: the rows were reordered; sort the "
                "sheet by episode (the order the episodes are run in) and run this again"
            )
        seen[episode] = number
        outcome = _outcome(row["outcome"], where)
        score = _score(row.get("score", ""), where)
        if score is not None and outcome is None:
            raise ActotError(
                f"{where}: a score ({row['score']}) but no outcome; write the outcome too (1 success, 0 failure)"
            )
        rows.append(Row(number, episode, row["condition"], row["policy"], outcome, score, row.get("notes", "")))
    for episode, (cond, code) in sorted(plan.items()):
        if episode not in seen:
            raise ActotError(
                f"{path.name}: start condition {cond} has no row for policy {code} (episode {episode} "
                "as printed): every condition is run with every policy; put the row back (its outcome "
                "may stay empty until it is run)"
            )
    return rows


def _outcome(text: str, where: str) -> int | None:
    if text == "":
        return None
    if text in ("0", "1", "0.0", "1.0"):
        return int(float(text))
    raise ActotError(
        f"{where}: outcome {text!r} must be 1 (success), 0 (failure) or empty (not run yet); partial "
        "credit goes in the score column"
    )


def _score(text: str, where: str) -> float | None:
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (0.0 <= value <= 1.0):
        raise ActotError(
            f"{where}: score {text!r} must be a number in [0, 1] (partial credit: 1 is the whole task) or empty"
        )
    return value


def _code_order(code: str) -> tuple:
    return (len(code), code)


# ============================================================================================= the verdict
@dataclass
class PolicyLine:
    code: str
    name: str
    role: str  # "config" or "co-training"
    n: int = 0
    successes: int = 0
    interval: tuple | None = None
    scores: list = field(default_factory=list)
    p_best: float | None = None
    offline: float | None = None  # the search's value of the ranked metric, signed so + is better


@dataclass
class PairLine:
    code: str
    pairs: int
    both: int
    b: int  # only the policy succeeded
    c: int  # only the reference succeeded
    neither: int
    p_mcnemar: float
    p_better: float
    e: float
    e_futile: float
    decision: str
    score_diff: float | None = None
    score_e: float | None = None

    @property
    def difference(self) -> float | None:
        """The paired difference of success rates, (b - c) / pairs."""
        return (self.b - self.c) / self.pairs if self.pairs else None


@dataclass
class Verdict:
    manifest: dict
    key: dict
    sheet: Path
    filled: int
    total: int
    policies: list[PolicyLine]
    reference: str | None
    pairs: list[PairLine]
    leader: str | None
    outlook: Outlook | None
    stop: bool
    unfilled_conditions: int  # conditions where the leader or the reference has not run yet
    agreement: tuple | None
    agreement_n: int
    simulated: int
    folder: Path


def judge(folder, sheet=None) -> Verdict:
    """The verdict on the filled rows of a shortlist's sheet (`sheet` defaults to the folder's own)."""
    folder = Path(folder).expanduser()
    manifest = read_json(folder, MANIFEST_FILE)
    key = read_json(folder, KEY_FILE)
    if key.get("shortlist") != manifest["id"]:
        raise ActotError(
            f"{folder / KEY_FILE}: the key of shortlist {key.get('shortlist')}, not of this folder's "
            f"{manifest['id']}; put back the key.json this shortlist wrote"
        )
    path = Path(sheet).expanduser() if sheet else folder / SHEET_FILE
    rows = read_sheet(path, manifest)
    alpha, beta, worth = manifest["alpha"], manifest["beta"], manifest["worth"]
    codes = sorted(manifest["codes"], key=_code_order)
    entries = key["codes"]
    policies = {
        code: PolicyLine(code, entries[code]["name"], entries[code]["role"], offline=entries[code].get("signed"))
        for code in codes
    }
    outcome = {(r.condition, r.code): r for r in rows if r.outcome is not None}
    for row in outcome.values():
        line = policies[row.code]
        line.n += 1
        line.successes += row.outcome
        if row.score is not None:
            line.scores.append(row.score)
    for line in policies.values():
        line.interval = clopper_pearson(line.successes, line.n)
    ran = [policies[c] for c in codes]
    for line, p in zip(ran, p_best([p.successes for p in ran], [p.n for p in ran])):
        line.p_best = p
    reference = key.get("reference")
    others = [c for c in codes if c != reference]
    pairs = []
    if reference is not None:
        conditions = [c["condition"] for c in manifest["conditions"]]
        for code in others:
            both_ran = [
                (outcome[(cond, code)], outcome[(cond, reference)])
                for cond in conditions
                if (cond, code) in outcome and (cond, reference) in outcome
            ]
            table = {(1, 1): 0, (1, 0): 0, (0, 1): 0, (0, 0): 0}
            for mine, theirs in both_ran:
                table[(mine.outcome, theirs.outcome)] += 1
            b, c = table[(1, 0)], table[(0, 1)]
            scored = [
                mine.score - theirs.score
                for mine, theirs in both_ran
                if mine.score is not None and theirs.score is not None
            ]
            pairs.append(
                PairLine(
                    code,
                    len(both_ran),
                    table[(1, 1)],
                    b,
                    c,
                    table[(0, 0)],
                    mcnemar_exact(b, c),
                    p_better(b, c),
                    e_value(b, c, worth),
                    e_futility(b, c, worth),
                    decide(b, c, len(others), alpha, beta, worth),
                    sum(scored) / len(scored) if scored else None,
                    score_e_value(scored) if scored else None,
                )
            )
    leader = max(others, key=lambda c: (policies[c].p_best, -codes.index(c)), default=None)
    outlook, stop, unfilled = None, False, 0
    lead_pair = next((p for p in pairs if p.code == leader), None)
    if lead_pair is not None:
        stop = lead_pair.decision != "open"
        if not stop:
            outlook = remaining(lead_pair.b, lead_pair.c, lead_pair.pairs, len(others), alpha, beta, worth)
        done = {cond for cond, code in outcome if code == leader} & {
            cond for cond, code in outcome if code == reference
        }
        unfilled = len(manifest["conditions"]) - len(done)
    with_offline = [p for p in ran if p.offline is not None and p.n > 0]
    agreement = spearman_agreement([p.offline for p in with_offline], [p.successes / p.n for p in with_offline])
    simulated = sum(1 for r in rows if r.outcome is not None and r.notes == SIMULATED)
    return Verdict(
        manifest,
        key,
        path,
        len(outcome),
        len(rows),
        ran,
        reference,
        pairs,
        leader,
        outlook,
        stop,
        unfilled,
        agreement,
        len(with_offline),
        simulated,
        folder,
    )


# ============================================================================================= the words
# The verdict's words by language, and each pair's decision (`verdict.` and `verdict.decision.` of actot/strings.py).
WORDS = section("verdict")
DECISIONS = section("verdict.decision")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header), *("| " + " | ".join(r) + " |" for r in rows)]


def _name(v: Verdict, code: str, lang: str) -> str:
    entry = v.key["codes"][code]
    return entry.get("name_zh", entry["name"]) if lang == "zh" else entry["name"]


def _short(v: Verdict, code: str, lang: str) -> str:
    """The reference in running text: `co-training`, or the offline #1's config id."""
    entry = v.key["codes"][code]
    short = entry.get("short", entry["name"])
    return entry.get("short_zh", short) if lang == "zh" else short


def verdict_text(v: Verdict, lang: str = "en") -> str:
    """verdict.md (en) or verdict.zh.md (zh): the same numbers in either language."""
    w = WORDS[lang]
    m = v.manifest
    ref = _short(v, v.reference, lang) if v.reference else ""
    k = len(v.pairs)
    lines = [
        w["title"].format(id=m["id"], sweep=m["sweep"]),
        "",
        w["sheet"].format(path=v.sheet, filled=v.filled, total=v.total)
        + (w["simulated"].format(n=v.simulated) if v.simulated else ""),
    ]
    if v.reference:
        lines += ["", w["rates"].format(alpha=m["alpha"], beta=m["beta"], worth=m["worth"], ref=ref, k=k)]
    lines += ["", w["verdict"], "", _decision(v, lang)]
    lines += ["", w["per_policy"], ""]
    lines += _table(*policy_rows(v, lang))
    if v.reference:
        lines += ["", w["versus"].format(ref=ref), ""]
        rows = []
        for q in v.pairs:
            diff = f"{q.difference:+.2f}" if q.difference is not None else "-"
            rows.append(
                [
                    f"`{q.code}`",
                    _name(v, q.code, lang),
                    str(q.pairs),
                    str(q.both),
                    str(q.b),
                    str(q.c),
                    str(q.neither),
                    diff,
                    f"{q.p_mcnemar:.3g}",
                    f"{q.p_better:.2f}",
                    f"{q.e:.3g}",
                    DECISIONS[lang][q.decision],
                ]
            )
        lines += _table([h.format(ref=ref) for h in w["head_pairs"]], rows)
        scored = [q for q in v.pairs if q.score_diff is not None]
        if scored:
            cells = ", ".join(f"`{q.code}` {q.score_diff:+.2f} (e {q.score_e:.3g})" for q in scored)
            lines += ["", w["scores"].format(ref=ref, threshold=k / m["alpha"], cells=cells)]
    lines += ["", w["agree"], "", _agreement(v, lang)]
    lines += ["", w["how"], ""]
    lines += [f"- {line.format(draws=DRAWS, ref=ref or '-', k=k, worth=m['worth'])}" for line in w["how_lines"]]
    return "\n".join(lines) + "\n"


def policy_rows(v: Verdict, lang: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the per-policy table: code, policy, episodes, successes, success, its exact interval,
    mean score, P(best)."""
    w = WORDS[lang]
    rows = []
    for p in v.policies:
        rate = f"{p.successes / p.n:.2f}" if p.n else "-"
        interval = f"[{p.interval[0]:.2f}, {p.interval[1]:.2f}]" if p.interval else w["no_interval"]
        score = f"{sum(p.scores) / len(p.scores):.2f} (n={len(p.scores)})" if p.scores else "-"
        rows.append(
            [
                f"`{p.code}`",
                _name(v, p.code, lang),
                str(p.n),
                str(p.successes),
                rate,
                interval,
                score,
                f"{p.p_best:.2f}",
            ]
        )
    return list(w["head_policy"]), rows


def _decision(v: Verdict, lang: str) -> str:
    w, m = WORDS[lang], v.manifest
    if v.reference is None:
        return w["no_ref"]
    ref = _short(v, v.reference, lang)
    q = next(q for q in v.pairs if q.code == v.leader)
    if q.pairs == 0:
        return w["no_pairs"].format(ref=ref)
    n = len(v.policies)
    common = dict(
        name=_name(v, q.code, lang),
        code=q.code,
        ref=ref,
        b=q.b,
        c=q.c,
        e=q.e,
        k=len(v.pairs),
        threshold=efficacy_threshold(len(v.pairs), m["alpha"]),
        ef=q.e_futile,
        tf=1 / m["beta"],
        worth=m["worth"],
    )
    if q.decision == "better":
        return w["stop_better"].format(**common)
    if q.decision == "worse":
        return w["stop_worse"].format(**common)
    if q.decision == "futile":
        return w["stop_futile"].format(**common)
    o = v.outlook
    if o.median is None or o.p_decided < 0.5:
        return w["go_on_far"].format(pd=o.p_decided, horizon=HORIZON, **common)
    left = w["sheet_left" if v.unfilled_conditions >= o.median else "sheet_short"].format(
        n=v.unfilled_conditions, folder=v.folder
    )
    pb = next(p.p_best for p in v.policies if p.code == q.code)
    likely = w["likely"].format(better=o.p_better, futile=o.p_futile)
    return w["go_on"].format(
        pb=pb,
        theta=o.theta,
        disc=o.discordant,
        median=o.median,
        p80=o.p80,
        n=n,
        episodes=o.median * n,
        sheet_left=left,
        likely=likely,
        **common,
    )


def _agreement(v: Verdict, lang: str) -> str:
    w = WORDS[lang]
    if v.agreement is None:
        return w["agree_none"].format(why=w["agree_few"] if v.agreement_n < 3 else w["agree_flat"])
    rho, p = v.agreement
    text = w["agree_line"].format(metric=v.manifest["metric"], n=v.agreement_n, rho=rho, p=p)
    if v.agreement_n <= 5:
        text += w["agree_weak"].format(n=v.agreement_n, fact=math.factorial(v.agreement_n))
    return text


def blinded_text(v: Verdict, folder: Path, lang: str = "en") -> str:
    """What an interim look shows the person running the robot: stop or go on, and how far; no code's numbers."""
    w = WORDS[lang]
    common = dict(filled=v.filled, total=v.total, folder=folder, horizon=HORIZON)
    lead = next((q for q in v.pairs if q.code == v.leader), None)
    if lead is None or lead.pairs == 0:
        return w["blind_none"].format(**common)
    if v.stop:
        return w["blind_stop"].format(**common)
    o = v.outlook
    if o.median is None or o.p_decided < 0.5:
        return w["blind_far"].format(**common)
    return w["blind_go"].format(median=o.median, episodes=o.median * len(v.policies), **common)


# ============================================================================================= in the sweep's report
@dataclass
class SweepVerdict:
    """One shortlist of a sweep, as the sweep's report shows it: its verdict (None when its analyst has not asked
    for one yet: `verdict.md` absent, so an operator reading the sweep's report sees nothing the sheet hides), or
    the error that stops its sheet being judged."""

    folder: Path
    manifest: dict
    verdict: Verdict | None = None
    error: str | None = None


def sweep_verdicts(sweep_dir) -> list[SweepVerdict]:
    """The shortlists made of this sweep (sweepdir.shortlist_folders), each judged on its sheet as it is now."""
    from actot.sweepdir import shortlist_folders

    out = []
    for folder in shortlist_folders(sweep_dir):
        if not (folder / MANIFEST_FILE).is_file():
            continue
        try:
            manifest = read_json(folder, MANIFEST_FILE)
        except ActotError as err:
            out.append(SweepVerdict(folder, {}, error=str(err)))
            continue
        if not (folder / VERDICT_FILES["en"]).is_file():
            out.append(SweepVerdict(folder, manifest))
            continue
        try:
            out.append(SweepVerdict(folder, manifest, verdict=judge(folder)))
        except ActotError as err:  # a sheet mid-edit never breaks the sweep's report: it says why instead
            out.append(SweepVerdict(folder, manifest, error=str(err)))
    return out


def sweep_parts(item: SweepVerdict, lang: str) -> dict:
    """A shortlist's paragraph in the sweep's report and dashboard, in parts (markdown text): `sheet` (what the
    sheet holds, or why there is no verdict), and with a verdict `decision`, `table` (header, rows: success per
    policy) and `agreement` (how the sweep's offline order agreed with the robot's)."""
    w = WORDS[lang]
    if item.error is not None:
        return {"sheet": w["in_sweep_error"].format(folder=item.folder, error=item.error)}
    m = item.manifest
    if item.verdict is None:
        return {"sheet": w["in_sweep_empty"].format(id=m["id"], folder=item.folder, sheet=item.folder / SHEET_FILE)}
    v = item.verdict
    simulated = (" " + w["simulated"].format(n=v.simulated).strip()) if v.simulated else ""
    return {
        "sheet": w["in_sweep_sheet"].format(
            id=m["id"],
            folder=item.folder,
            filled=v.filled,
            total=v.total,
            simulated=simulated,
            verdict=item.folder / VERDICT_FILES[lang],
        ),
        "decision": _decision(v, lang),
        "table": policy_rows(v, lang),
        "agreement": _agreement(v, lang),
    }


def sweep_lines(item: SweepVerdict, lang: str) -> list[str]:
    """`sweep_parts` as report.md's lines."""
    parts = sweep_parts(item, lang)
    if "decision" not in parts:
        return [parts["sheet"]]
    return [parts["sheet"], "", parts["decision"], "", *_table(*parts["table"]), "", parts["agreement"]]


def write_verdict(folder, sheet=None, blind: bool = False) -> dict:
    """Judge the sheet; write verdict.md and verdict.zh.md into the folder (not when `blind`: an interim look by the
    person running the robot leaves no numbers behind). Return {"text": what to print, "files": [...]}."""
    folder = Path(folder).expanduser()
    v = judge(folder, sheet)
    if blind:
        return {"text": blinded_text(v, folder), "files": []}
    files = []
    for lang, name in VERDICT_FILES.items():
        path = folder / name
        path.write_text(verdict_text(v, lang))
        files.append(path)
    sweep_dir = v.manifest.get("sweep_dir")
    sweep_dir = sweep_dir if sweep_dir and (Path(sweep_dir) / SPEC_FILE).is_file() else None
    return {"text": verdict_text(v, "en"), "files": files, "sweep_dir": sweep_dir}
