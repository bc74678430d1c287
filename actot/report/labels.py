"""How a report names and orders metrics, and the fixed words of its tables, in English or Chinese: each
metric's label, the seed log's order of its metric lines, the words of its first / last / best / Δ
columns, the ranked table's headers and statuses, and `Note`, a sentence that carries both languages.

The labels come from the metric vocabulary (`actot/metrics.py`), which also says which way each
metric is better; the Chinese words are the seed log's own.
"""

from __future__ import annotations

from actot.metrics import METRICS

# The seed log's seven, in its order; any other metric follows in the order first seen.
SEED_ORDER = ("train/loss", "train/l1_loss", "eval/avg_l1", "ot_loss", "ot_pi_sum", "ot_pi_diag", "ot_cost(state)")

WORDS = {
    "en": {"first": "first", "last": "last", "best": "best", "delta": "Δ", "low": "lowest", "high": "highest"},
    "zh": {"first": "首", "last": "末", "best": "最优", "delta": "Δ", "low": "最低", "high": "最高"},
}


# The ranked table's fixed words (console and report.md in English, report.zh.md in Chinese).
TABLE = {
    "en": {"trial": "trial", "status": "status", "interval": "95% interval", "p_beats": "P(#1 beats)",
           "best_at": "best@step", "se": "±se", "why": "why", "own_se": " (±se of one trial)",
           "one_episode": " (1 held-out episode: no se)", "no_interval": "n={n}, no interval",
           "more": "... {n} more config(s)", "lower": "lower", "higher": "higher",
           "footer": "(ranked by {scope} {metric}, {better} is better; n = trials counted per config)",
           "best_value": "best value", "finished": "finished", "flagged": "; flagged by {rules}",
           "shadow": "; shadow: {what}", "stopped_at": "{rule} at step {step}: {reason}",
           "retried": "; retried {n}x", "resumed": ", resumed from step {step}",
           # a sweep with a baseline arm (report/baseline.py)
           "vs_baseline": "vs baseline", "baseline_row": "co-training (baseline)", "baseline_why": "baseline arm: {what}",
           "no_baseline_seed": "no baseline for seed {seeds}", "raced": "raced out (p={p} vs {vs}, seeds run {seeds})",
           "no_interval_short": "no interval", "comma": ", ", "semi": "; ", "seeds_n": "{n} seeds", "seed_1": "1 seed",
           "plus_min": "lower", "plus_max": "higher",
           "lead_beats": "best OT config vs co-training: {diff} (n={n}, P(beats)={p}, + = {better} {metric}{missing}): "
                         "{who}",
           "lead_none": "no config beats co-training (best: {diff} (n={n}, P(beats)={p}, + = {better} {metric}"
                        "{missing}): {who})",
           "lead_nothing": "no comparison with co-training yet: {why}",
           "lead_selected": "not confirmed yet: the search's pick vs co-training {diff} (n={n}, P(beats)={p}, + = "
                            "{better} {metric}{missing}) on the seeds that picked it, so biased in its favour: {who}; "
                            "confirm it on fresh seeds: {command}",
           "lead_confirmed": "confirmed on fresh seeds {seeds}: beats co-training by {diff} (n={n}, {level}, "
                             "P(beats)={p}, + = {better} {metric}{missing}): {who}",
           "lead_unconfirmed": "not confirmed on fresh seeds {seeds}: no config beats co-training (best: {diff} "
                               "(n={n}, {level}, P(beats)={p}, + = {better} {metric}{missing}): {who})"},
    "zh": {"trial": "试验", "status": "状态", "interval": "95% 区间", "p_beats": "P(#1 胜出)",
           "best_at": "最优@步", "se": "±标准误", "why": "说明", "own_se": "（±单个试验的标准误）",
           "one_episode": "（仅 1 个留出回合：无标准误）", "no_interval": "n={n}，无区间",
           "more": "…… 另有 {n} 个配置", "lower": "越低", "higher": "越高",
           "footer": "（按 {scope} {metric} 排名，{better}越好；n = 每个配置计入的试验数）",
           "best_value": "最优值", "finished": "完成", "flagged": "；被 {rules} 标记",
           "shadow": "；影子规则：{what}", "stopped_at": "{rule} 在第 {step} 步：{reason}",
           "retried": "；重试 {n} 次", "resumed": "，从第 {step} 步恢复",
           "vs_baseline": "对比基线", "baseline_row": "协同训练（基线）", "baseline_why": "基线组：{what}",
           "no_baseline_seed": "种子 {seeds} 没有基线", "raced": "竞速淘汰（对 {vs} 的胜出概率 p={p}，已跑种子 {seeds}）",
           "no_interval_short": "无区间", "comma": "，", "semi": "；", "seeds_n": "{n} 个种子", "seed_1": "1 个种子",
           "plus_min": "更低", "plus_max": "更高",
           "lead_beats": "最佳 OT 配置对比协同训练：{diff}（n={n}，P(胜出)={p}，+ = {metric}{better}{missing}）：{who}",
           "lead_none": "没有配置胜过协同训练（最佳：{diff}（n={n}，P(胜出)={p}，+ = {metric}{better}{missing}）：{who}）",
           "lead_nothing": "尚无法与协同训练比较：{why}",
           "lead_selected": "尚未确认：搜索选出的配置对比协同训练 {diff}（n={n}，P(胜出)={p}，+ = {metric}{better}{missing}），"
                            "用的正是选出它的种子，因而偏向它：{who}；在新种子上确认：{command}",
           "lead_confirmed": "在新种子 {seeds} 上确认：胜过协同训练 {diff}（n={n}，{level}，P(胜出)={p}，"
                             "+ = {metric}{better}{missing}）：{who}",
           "lead_unconfirmed": "在新种子 {seeds} 上未能确认：没有配置胜过协同训练（最佳：{diff}（n={n}，{level}，"
                               "P(胜出)={p}，+ = {metric}{better}{missing}）：{who}）"},
}
SCOPE_WORDS = {"en": {"last": "last", "best": "best", "mean_last_k": "mean_last_k"},
          "zh": {"last": "末", "best": "最优", "mean_last_k": "末 k 次均值"}}
STATUSES_ZH = {"finished": "完成", "stopped": "已停止", "non_finite": "非有限", "running": "运行中",
               "interrupted": "已中断", "error": "出错", "unknown": "未知"}


def status_word(name: str, lang: str) -> str:
    """A trial status (results.parquet's word) in `lang`."""
    return STATUSES_ZH.get(name, name) if lang == "zh" else name


def label(key: str, lang: str) -> str:
    """The metric's name in `lang` ('en' or 'zh'): its key in English, and in Chinese where it has no word."""
    metric = METRICS.get(key)
    return metric.zh or key if lang == "zh" and metric is not None else key


def ordered(keys) -> list[str]:
    keys = list(dict.fromkeys(keys))
    return [k for k in SEED_ORDER if k in keys] + [k for k in keys if k not in SEED_ORDER]


class Note(str):
    """A sentence of a report: the string itself is the English text, `zh` the Chinese one.

    A str, so that the console, the dashboard and W&B (English) use it as it is; report.zh.md asks
    `in_lang("zh")`."""

    zh: str

    def __new__(cls, en: str, zh: str | None = None):
        note = super().__new__(cls, en)
        note.zh = zh if zh is not None else en
        return note

    def in_lang(self, lang: str) -> str:
        return self.zh if lang == "zh" else str(self)
