"""One self-contained HTML page per sweep: the ranking, the knobs against the metric, the curves, the plan's mass.

The page embeds plotly.js (no server, no CDN, no network request: it opens from disk offline)
and holds: in a sweep with a baseline arm, the line saying whether the best OT config beats
co-training (`#vs-baseline`); a sortable ranking table (one row per trial, with its config's 95%
interval, and in such a sweep the baseline arm's rows and each config's `vs baseline`),
parallel coordinates of the knobs and the metric, per-trial curves of the seed log's metrics
with rule stops marked (x), `ot_pi_sum` / `ot_pi_diag` over time against the 0.1 collapse
line, the knob importance, and the diagnosis. Rewritten as trials end and by
`python -m actot dashboard SWEEP_DIR`.
"""

from __future__ import annotations

import html
import math
import os
import re
import time
from pathlib import Path

from actot.report.diagnose import diagnose
from actot.report.importance import Importance, importance_lines
from actot.report.labels import SEED_ORDER, ordered
from actot.report.load import Sweep
from actot.report import baseline as base
from actot.report.rank import Ranking, confirm_ranking, interval_cell, trial_value, why

SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var asc = th.dataset.dir !== 'asc';
    th.dataset.dir = asc ? 'asc' : 'desc';
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v || a.cells[col].textContent, y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""
STYLE = """body{font-family:system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#eef;cursor:pointer}
td.l{text-align:left}tr.stopped td{color:#a33}tr.baseline td{background:#f6f6ee}section{margin:28px 0}
code{background:#f4f4f4;padding:1px 4px}p.lead{font-size:17px;font-weight:600;padding:8px 12px;background:#eef6ee;
border-left:4px solid #4a4}p.lead.none{background:#f8f0e8;border-left-color:#c84}"""


def _fig_html(fig) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def _row(cells: list, css: str) -> str:
    """A table row; a cell is (text, sort value or None)."""
    tds = "".join(
        f'<td class="{"l" if i in (1, 2, len(cells) - 1) else ""}"'
        + (f' data-v="{v}"' if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else "")
        + f">{html.escape(text)}</td>"
        for i, (text, v) in enumerate(cells)
    )
    return f'<tr class="{html.escape(css)}">{tds}</tr>'


def _table(sweep: Sweep, ranking: Ranking) -> str:
    knobs = sweep.knobs
    arm = ranking.baseline
    head = [
        "#",
        "trial",
        "status",
        f"{ranking.scope} {ranking.metric}",
        "config mean",
        "95% interval",
        "n",
        "P(#1 beats)",
        *(["vs baseline"] if arm is not None else []),
        *knobs,
        "why",
    ]
    rows = []
    for trial in arm.trials if arm is not None else []:  # the baseline arm first, unranked (`#` is `-`)
        value = trial_value(trial, ranking.metric, ranking.scope, ranking.better, ranking.k)
        iv = arm.interval
        seed = trial.seed
        why_arm = f"baseline arm: {arm.describe()}" + (
            f"; {base.missing_text([seed])}" if seed is not None and int(seed) in arm.missing else ""
        )
        rows.append(
            _row(
                [
                    ("-", None),
                    (trial.display_name(), None),
                    (trial.status, None),
                    (f"{value:.4g}" if value is not None else "-", value),
                    (f"{iv.mean:.4g}" if iv else "-", iv.mean if iv else None),
                    (interval_cell(iv, pooled=arm.pooled), None),
                    (str(len(arm.values)), None),
                    ("-", None),
                    ("-", None),
                    *[("-", None) for _ in knobs],
                    (why_arm, None),
                ],
                f"baseline {trial.status}",
            )
        )
    for pos, group in enumerate(ranking.groups, start=1):
        iv = group.interval
        vs = group.vs_baseline
        for trial in group.trials:
            value = trial_value(trial, ranking.metric, ranking.scope, ranking.better, ranking.k)
            reason = why(trial, pos == 1) + (f"; {base.raced_text(group.raced)}" if group.raced and trial.raced else "")
            cells = [
                (str(pos), pos),
                (trial.display_name(), None),
                (trial.status, None),
                (f"{value:.4g}" if value is not None else "-", value),
                (f"{iv.mean:.4g}" if iv else "-", iv.mean if iv else None),
                (
                    interval_cell(iv, pooled=group.pooled),
                    iv.low if iv and iv.has_width else group.pooled.low if group.pooled else None,
                ),
                (str(len(group.values)), None),
                (f"{group.p_leader_beats:.2f}" if group.p_leader_beats is not None else "-", None),
                *([(base.comparison_cell(vs), vs.mean if vs is not None else None)] if arm is not None else []),
                *[
                    (
                        f"{trial.params[k]:.4g}"
                        if isinstance(trial.params.get(k), float)
                        else str(trial.params.get(k, "-")),
                        trial.params.get(k),
                    )
                    for k in knobs
                ],
                (reason, None),
            ]
            rows.append(_row(cells, trial.status))
    ths = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    return f'<table id="ranking" class="sortable"><thead><tr>{ths}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _parallel(sweep: Sweep, ranking: Ranking):
    import plotly.graph_objects as go

    trials = [
        (t, trial_value(t, ranking.metric, ranking.scope, ranking.better, ranking.k))
        for t in sweep.trials
        if not base.is_baseline(t)
    ]  # the baseline arm has no searched knobs to draw
    trials = [(t, v) for t, v in trials if v is not None]
    if not trials or not sweep.knobs:
        return None
    dims = []
    for knob in sweep.knobs:
        values = [t.params.get(knob) for t, _ in trials]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            logs = all(v > 0 for v in values) and max(values) / min(values) > 20
            shown = [math.log10(v) for v in values] if logs else values
            dims.append(dict(label=f"log10 {knob}" if logs else knob, values=shown))
        else:
            choices = sorted({str(v) for v in values})
            dims.append(
                dict(
                    label=knob,
                    values=[choices.index(str(v)) for v in values],
                    tickvals=list(range(len(choices))),
                    ticktext=choices,
                )
            )
    metric_values = [v for _, v in trials]
    dims.append(dict(label=ranking.metric, values=metric_values))
    fig = go.Figure(
        go.Parcoords(
            dimensions=dims,
            line=dict(color=metric_values, colorscale="Viridis", reversescale=ranking.better == "min", showscale=True),
        )
    )
    fig.update_layout(title=f"knobs against {ranking.scope} {ranking.metric}", height=420)
    return fig


def _curves(sweep: Sweep):
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    keys = [
        k for k in ordered([k for t in sweep.trials for k in t.metrics()]) if k in SEED_ORDER or k == "eval/success"
    ]
    if not keys:
        return None
    cols = 2
    rows = math.ceil(len(keys) / cols)
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=keys)
    for n, trial in enumerate(sweep.trials):
        color = f"hsl({(n * 47) % 360},65%,45%)"
        for i, key in enumerate(keys):
            points = trial.finite(key)
            if not points:
                continue
            r, c = i // cols + 1, i % cols + 1
            dash = "dash" if trial.status == "stopped" else "solid"
            # One point (eval/success measured at the last step only) draws no line: show it as a marker.
            fig.add_trace(
                go.Scatter(
                    x=[p[0] for p in points],
                    y=[p[1] for p in points],
                    mode="lines" if len(points) > 1 else "markers",
                    name=trial.display_name(),
                    legendgroup=trial.trial_id,
                    showlegend=i == 0,
                    line=dict(color=color, dash=dash),
                ),
                row=r,
                col=c,
            )
            if trial.stop_step is not None:
                at = [p for p in points if p[0] == trial.stop_step] or points[-1:]
                fig.add_trace(
                    go.Scatter(
                        x=[at[0][0]],
                        y=[at[0][1]],
                        mode="markers",
                        showlegend=False,
                        legendgroup=trial.trial_id,
                        hovertext=f"{trial.stop_rule}: {trial.stop_reason}",
                        marker=dict(symbol="x", size=11, color=color),
                    ),
                    row=r,
                    col=c,
                )
    fig.update_layout(height=300 * rows, title="per-trial curves (dashed and x: stopped by a rule or ASHA)")
    return fig


def _plan_mass(sweep: Sweep):
    import plotly.graph_objects as go

    fig = go.Figure()
    for n, trial in enumerate(sweep.trials):
        color = f"hsl({(n * 47) % 360},65%,45%)"
        for key, dash in (("ot_pi_sum", "solid"), ("ot_pi_diag", "dot")):
            points = trial.finite(key)
            if points:
                fig.add_trace(
                    go.Scatter(
                        x=[p[0] for p in points],
                        y=[p[1] for p in points],
                        mode="lines",
                        name=f"{trial.display_name()} {key}",
                        legendgroup=trial.trial_id,
                        line=dict(color=color, dash=dash),
                    )
                )
    if not fig.data:
        return None
    fig.add_hline(y=0.1, line=dict(color="red", dash="dot"), annotation_text="collapse (0.1)")
    fig.update_layout(
        title="plan mass: ot_pi_sum (solid) and ot_pi_diag (dotted)", yaxis_type="log", height=420, xaxis_title="step"
    )
    return fig


def _importance(imp: Importance):
    import plotly.graph_objects as go

    if not imp.values:
        return None
    knobs = list(imp.values)[::-1]
    # every bar says its value and direction: a knob with no clear direction is a finding too, not a blank
    labels = [f"{imp.values[k]:.2f}, {imp.direction.get(k, 'no clear direction')}" for k in knobs]
    fig = go.Figure(
        go.Bar(
            x=[imp.values[k] for k in knobs],
            y=knobs,
            orientation="h",
            text=labels,
            textposition="outside",
            cliponaxis=False,
        )
    )
    fig.update_layout(
        title=f"knob importance (PED-ANOVA, {imp.n_trials} finished trials)",
        height=120 + 40 * len(knobs),
        xaxis_range=[0, 1.6 * max([*imp.values.values(), 1e-9])],
        margin=dict(r=160),
    )
    return fig


def _plain(markdown: str) -> str:
    """A line of the verdict's markdown as escaped HTML: **bold** as <b>, `code` as <code>."""
    out = html.escape(markdown)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _robot_section(sweep: Sweep) -> str:
    """What the robot said of the shortlists taken from this sweep (the verdict, as report.md's section says it)."""
    from actot.report.robot_eval import sweep_parts, sweep_verdicts

    shortlists = sweep_verdicts(sweep.path)
    if not shortlists:
        return ""
    out = ['<section id="robot"><h2>On the robot</h2>']
    for item in shortlists:
        parts = sweep_parts(item, "en")
        out.append(f"<p>{_plain(parts['sheet'])}</p>")
        if "decision" in parts:
            header, rows = parts["table"]
            out += [
                f'<p class="lead">{_plain(parts["decision"])}</p>',
                "<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr></thead>"
                "<tbody>"
                + "".join("<tr>" + "".join(f"<td>{_plain(c)}</td>" for c in row) + "</tr>" for row in rows)
                + "</tbody></table>",
                f"<p>{_plain(parts['agreement'])}</p>",
            ]
    return "".join(out) + "</section>"


def write_dashboard(sweep: Sweep, ranking: Ranking, importance: Importance, path: Path | None = None) -> Path:
    from plotly.offline import get_plotlyjs

    path = Path(path or sweep.path / "dashboard.html")
    counts: dict[str, int] = {}
    for trial in sweep.trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    lead = (
        ""
        if ranking.lead is None
        else (
            f'<p id="vs-baseline" class="lead{"" if ranking.beats_baseline else " none"}">'
            f"{html.escape(ranking.lead)}</p>"
        )
    )
    sections = [
        f"<section><h2>Ranking</h2>{_table(sweep, ranking)}"
        + "".join(f"<p>{html.escape(n)}</p>" for n in ranking.notes)
        + "</section>"
    ]
    confirmed = confirm_ranking(sweep)
    if confirmed is not None:  # the fresh seeds apart from the search's: only they can confirm a claim
        sections.append(
            f"<section><h2>Confirm stage (fresh seeds)</h2>{_table(sweep, confirmed)}"
            + "".join(f"<p>{html.escape(n)}</p>" for n in [confirmed.lead, *confirmed.notes] if n)
            + "</section>"
        )
    robot = _robot_section(sweep)
    if robot:
        sections.append(robot)
    for title, fig in (
        ("Knobs against the metric", _parallel(sweep, ranking)),
        ("Curves", _curves(sweep)),
        ("Plan mass", _plan_mass(sweep)),
        ("Which knobs matter", _importance(importance)),
    ):
        if fig is not None:
            sections.append(f"<section><h2>{title}</h2>{_fig_html(fig)}</section>")
    sections.append(
        "<section><h2>Importance</h2><ul>"
        + "".join(f"<li>{html.escape(line)}</li>" for line in importance_lines(importance))
        + "</ul></section>"
    )
    findings = diagnose(sweep)
    names = {trial.trial_id: trial.display_name() for trial in sweep.trials}
    sections.append(
        "<section><h2>Diagnosis</h2><ul>"
        + "".join(
            f"<li><b>{html.escape(names.get(f.trial_id, f.trial_id))}</b>: {html.escape(f.en)}</li>" for f in findings
        )
        + "</ul>"
        f"<p>Files: <code>report.md</code>, <code>next_space.yaml</code>, <code>results.parquet</code>; the Optuna "
        f"study: <code>optuna-dashboard sqlite:///{html.escape(str(sweep.path / 'optuna.db'))}</code></p></section>"
    )
    page = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(sweep.name)}</title>'
        f'<style>{STYLE}</style><script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f"<h1>Sweep {html.escape(sweep.name)}</h1><p>metric <code>{html.escape(sweep.metric)}</code> "
        f"({sweep.mode}); trials: {html.escape(', '.join(f'{v} {k}' for k, v in sorted(counts.items())))}; "
        f"written {time.strftime('%Y-%m-%d %H:%M:%S')}</p>{lead}{''.join(sections)}"
        f"<script>{SORT_JS}</script></body></html>"
    )
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, path)
    return path
