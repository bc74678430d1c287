"""Every user-facing report string, in English and Chinese: one catalogue, keyed by name.

`STRINGS[name]` is {"en": template, "zh": template}; a template is `str.format` text with named
fields (`{n}`, `{value:.3g}`), the same fields in both languages (`tests/test_strings.py` checks it;
`ONE_LANGUAGE_FIELDS` names the few a language leaves out on purpose), or a tuple of such templates
(a table's header cells, a list of lines). The names say where a string is shown: `metric.` a
metric's label (its English label is its key, and a metric with no entry is named by its key in
both languages), `status.` and `scope.` the words of a trial's status and a ranked value's scope,
`seedlog.` the seed-format report (report.md / report.zh.md), `table.` the ranked table, `rank.`
the ranking's notes, `diagnose.` the diagnosis and its advice, `importance.` and `advisor.` the
knob importance and the advice on a next search, `trial.` how a table names a trial, `robot.` the
shortlist, `verdict.` the robot evaluation's verdict (verdict.md / verdict.zh.md), `validity.` what
the benchmark says of ranking by an offline metric.

The lookups: `text(name, lang, **fields)` one language, `both(name, **fields)` (English, Chinese),
`note(name, **fields)` a `Note`; a field given as a `Note` is filled in the same language.
`section(prefix)` gives a group's raw templates by language (`section("table")["zh"]["trial"]`)
for the modules that fill them themselves. Rule reasons, shadow lines and the console's English-only
messages are not here: they are written where they are said, in English.
"""

from __future__ import annotations

LANGS = ("en", "zh")

STRINGS: dict[str, dict[str, str | tuple[str, ...]]] = {
    # ---------------------------------------------------------------- a metric's label (actot/metrics.py's keys)
    "metric.train/loss": {"en": "train/loss", "zh": "训练总损失"},
    "metric.train/l1_loss": {"en": "train/l1_loss", "zh": "训练L1"},
    "metric.train/kld_loss": {"en": "train/kld_loss", "zh": "训练KL"},
    "metric.train/grad_norm": {"en": "train/grad_norm", "zh": "梯度范数"},
    "metric.ot_loss": {"en": "ot_loss", "zh": "OT损失"},
    "metric.ot_loss_embed": {"en": "ot_loss_embed", "zh": "OT损失(embedding)"},
    "metric.ot_loss_label": {"en": "ot_loss_label", "zh": "OT损失(label)"},
    "metric.ot_pi_sum": {"en": "ot_pi_sum", "zh": "π总和"},
    "metric.ot_pi_diag": {"en": "ot_pi_diag", "zh": "π对角和"},
    "metric.ot_cost(state)": {"en": "ot_cost(state)", "zh": "OT cost(state)"},
    "metric.ot_true_pair_mass": {"en": "ot_true_pair_mass", "zh": "真实配对质量占比"},
    "metric.ot_embed_norm": {"en": "ot_embed_norm", "zh": "embedding范数"},
    "metric.ot_embed_shrink": {"en": "ot_embed_shrink", "zh": "embedding收缩比"},
    "metric.ot_pair_ratio": {"en": "ot_pair_ratio", "zh": "配对/非配对距离比"},
    "metric.ot_grad_ratio": {"en": "ot_grad_ratio", "zh": "OT/BC梯度比"},
    "metric.ot_sinkhorn_err": {"en": "ot_sinkhorn_err", "zh": "Sinkhorn误差"},
    "metric.eval/avg_l1": {"en": "eval/avg_l1", "zh": "离线评估L1"},
    "metric.eval/avg_l1_window": {"en": "eval/avg_l1_window", "zh": "离线评估L1(窗口均值)"},
    "metric.eval/l1_first": {"en": "eval/l1_first", "zh": "离线评估L1(首个动作)"},
    "metric.eval/l1_exec": {"en": "eval/l1_exec", "zh": "离线评估L1(执行部分)"},
    "metric.eval/l1_end": {"en": "eval/l1_end", "zh": "离线评估L1(末段)"},
    "metric.eval/source_l1": {"en": "eval/source_l1", "zh": "源域离线评估L1"},
    "metric.eval/l1_combo": {"en": "eval/l1_combo", "zh": "离线评估L1(目标+源)"},
    "metric.eval/success": {"en": "eval/success", "zh": "闭环成功率"},
    "metric.eval/success_source": {"en": "eval/success_source", "zh": "源域闭环成功率"},
    "metric.eval/l1_trend": {"en": "eval/l1_trend", "zh": "评估L1趋势"},
    "metric.train/lr": {"en": "train/lr", "zh": "学习率"},
    # ---------------------------------------------------------------- the words of a status and of a ranked scope
    "status.finished": {"en": "finished", "zh": "完成"},
    "status.stopped": {"en": "stopped", "zh": "已停止"},
    "status.non_finite": {"en": "non_finite", "zh": "非有限"},
    "status.running": {"en": "running", "zh": "运行中"},
    "status.interrupted": {"en": "interrupted", "zh": "已中断"},
    "status.error": {"en": "error", "zh": "出错"},
    "status.unknown": {"en": "unknown", "zh": "未知"},
    "scope.last": {"en": "last", "zh": "末"},
    "scope.best": {"en": "best", "zh": "最优"},
    "scope.mean_last_k": {"en": "mean_last_k", "zh": "末 k 次均值"},
    # ---------------------------------------------------------------- the seed-format report (actot/report/seedlog.py)
    # a metric line's words: `label: first=…, last=…, best=…@step, Δ=…`
    "seedlog.word.first": {"en": "first", "zh": "首"},
    "seedlog.word.last": {"en": "last", "zh": "末"},
    "seedlog.word.best": {"en": "best", "zh": "最优"},
    "seedlog.word.delta": {"en": "Δ", "zh": "Δ"},
    "seedlog.word.low": {"en": "lowest", "zh": "最低"},
    "seedlog.word.high": {"en": "highest", "zh": "最高"},
    "seedlog.title": {"en": "ACT-OT sweep report: {name}", "zh": "ACT-OT 扫描报告：{name}"},
    "seedlog.config": {"en": "Config", "zh": "配置"},
    "seedlog.metrics": {"en": "Metrics", "zh": "结果"},
    "seedlog.ranking": {"en": "Ranking", "zh": "排名"},
    "seedlog.diagnosis": {"en": "Diagnosis", "zh": "诊断与结论"},
    "seedlog.importance": {"en": "Which knobs matter", "zh": "哪些旋钮重要"},
    "seedlog.next": {"en": "Next steps", "zh": "下一步建议"},
    "seedlog.trials": {"en": "Trials", "zh": "试验"},
    "seedlog.no_metrics": {"en": "no metric reported", "zh": "没有上报指标"},
    "seedlog.sweep_level": {"en": "Sweep", "zh": "整体"},
    "seedlog.next_space": {
        "en": (
            "A follow-up search space is in `{path}` (each knob's comment says why its range moved): `python "
            "run_sweep.py space={path}`"
        ),
        "zh": "后续搜索空间见 `{path}`（每个旋钮的注释说明其范围为何移动）：`python run_sweep.py space={path}`",
    },
    "seedlog.interrupted": {
        "en": "**Interrupted**: resume with `resume=true`.",
        "zh": "**已中断**：用 `resume=true` 继续。",
    },
    "seedlog.none": {"en": "nothing to flag", "zh": "无异常"},
    "seedlog.intro": {
        "en": "Space `{space}` ({knobs}); metric `{metric}` ({mode}).",
        "zh": "搜索空间 `{space}`（{knobs}）；指标 `{metric}`（{mode}）。",
    },
    "seedlog.curves": {"en": "{metric} and ot_pi_sum by step", "zh": "{metric} 与 ot_pi_sum 随步数的变化"},
    "seedlog.confirm_stage": {"en": "Confirm stage (fresh seeds)", "zh": "确认阶段（新种子）"},
    "seedlog.hold": {
        "en": "no advice on where to search next (no range narrowed, lambda_ot not raised): {why}",
        "zh": "此次扫描不给出搜索方向的建议（不缩小范围、不提高 λ_ot）：{why}",
    },
    "seedlog.stable_advice": {
        "en": "once stable, raise lambda_ot (e.g. to 0.2) to strengthen the OT term",
        "zh": "稳定后再把 λ_ot 提升到 0.2 放大 OT 作用",
    },
    # punctuation: after a list's heading (`- Config:`), after the intro's words, between its counts, at its end
    "seedlog.head_colon": {"en": ":", "zh": "："},
    "seedlog.colon": {"en": ": ", "zh": "："},
    "seedlog.gap": {"en": " ", "zh": ""},
    "seedlog.stop": {"en": ".", "zh": "。"},
    # the diagnosis counted over the sweep, per finding
    "seedlog.summary.collapsed": {"en": "collapsed plans", "zh": "π 塌缩"},
    "seedlog.summary.large_plan_flat_cost": {"en": "large plans whose cost did not fall", "zh": "π 较大但 cost 不降"},
    "seedlog.summary.stable": {"en": "stable runs", "zh": "稳定"},
    "seedlog.summary.l1_stalled": {"en": "stalled eval L1", "zh": "离线评估L1 停滞"},
    "seedlog.summary.grad_norm_large": {"en": "large gradient norms", "zh": "梯度范数过大"},
    "seedlog.summary.non_finite": {"en": "non-finite metrics", "zh": "指标非有限"},
    "seedlog.summary.diverging": {"en": "diverging OT cost", "zh": "OT cost 发散"},
    # ---------------------------------------------------------------- the ranked table (console, report.md and .zh.md)
    "table.trial": {"en": "trial", "zh": "试验"},
    "table.status": {"en": "status", "zh": "状态"},
    "table.interval": {"en": "95% interval", "zh": "95% 区间"},
    "table.p_beats": {"en": "P(#1 beats)", "zh": "P(#1 胜出)"},
    "table.best_at": {"en": "best@step", "zh": "最优@步"},
    "table.se": {"en": "±se", "zh": "±标准误"},
    "table.why": {"en": "why", "zh": "说明"},
    "table.own_se": {"en": " (±se of one trial)", "zh": "（±单个试验的标准误）"},
    "table.one_episode": {"en": " (1 held-out episode: no se)", "zh": "（仅 1 个留出回合：无标准误）"},
    "table.no_interval": {"en": "n={n}, no interval", "zh": "n={n}，无区间"},
    "table.more": {"en": "... {n} more config(s)", "zh": "…… 另有 {n} 个配置"},
    "table.lower": {"en": "lower", "zh": "越低"},
    "table.higher": {"en": "higher", "zh": "越高"},
    "table.footer": {
        "en": "(ranked by {scope} {metric}, {better} is better; n = trials counted per config)",
        "zh": "（按 {scope} {metric} 排名，{better}越好；n = 每个配置计入的试验数）",
    },
    "table.best_value": {"en": "best value", "zh": "最优值"},
    "table.finished": {"en": "finished", "zh": "完成"},
    "table.flagged": {"en": "; flagged by {rules}", "zh": "；被 {rules} 标记"},
    "table.shadow": {"en": "; shadow: {what}", "zh": "；影子规则：{what}"},
    "table.stopped_at": {"en": "{rule} at step {step}: {reason}", "zh": "{rule} 在第 {step} 步：{reason}"},
    "table.retried": {"en": "; retried {n}x", "zh": "；重试 {n} 次"},
    "table.resumed": {"en": ", resumed from step {step}", "zh": "，从第 {step} 步恢复"},
    "table.vs_baseline": {"en": "vs baseline", "zh": "对比基线"},
    "table.baseline_row": {"en": "co-training (baseline)", "zh": "协同训练（基线）"},
    "table.baseline_why": {"en": "baseline arm: {what}", "zh": "基线组：{what}"},
    "table.no_baseline_seed": {"en": "no baseline for seed {seeds}", "zh": "种子 {seeds} 没有基线"},
    "table.raced": {
        "en": "raced out (p={p} vs {vs}, seeds run {seeds})",
        "zh": "竞速淘汰（对 {vs} 的胜出概率 p={p}，已跑种子 {seeds}）",
    },
    "table.no_interval_short": {"en": "no interval", "zh": "无区间"},
    "table.comma": {"en": ", ", "zh": "，"},
    "table.semi": {"en": "; ", "zh": "；"},
    "table.seeds_n": {"en": "{n} seeds", "zh": "{n} 个种子"},
    "table.seed_1": {"en": "1 seed", "zh": "1 个种子"},
    "table.plus_min": {"en": "lower", "zh": "更低"},
    "table.plus_max": {"en": "higher", "zh": "更高"},
    "table.lead_beats": {
        "en": "best OT config vs co-training: {diff} (n={n}, P(beats)={p}, + = {better} {metric}{missing}): {who}",
        "zh": "最佳 OT 配置对比协同训练：{diff}（n={n}，P(胜出)={p}，+ = {metric}{better}{missing}）：{who}",
    },
    "table.lead_none": {
        "en": (
            "no config beats co-training (best: {diff} (n={n}, P(beats)={p}, + = {better} {metric}{missing}): {who})"
        ),
        "zh": "没有配置胜过协同训练（最佳：{diff}（n={n}，P(胜出)={p}，+ = {metric}{better}{missing}）：{who}）",
    },
    "table.lead_nothing": {"en": "no comparison with co-training yet: {why}", "zh": "尚无法与协同训练比较：{why}"},
    "table.lead_selected": {
        "en": (
            "not confirmed yet: the search's pick vs co-training {diff} (n={n}, P(beats)={p}, + = {better} "
            "{metric}{missing}) on the seeds that picked it, so biased in its favour: {who}; confirm it on fresh "
            "seeds: {command}"
        ),
        "zh": (
            "尚未确认：搜索选出的配置对比协同训练 {diff}（n={n}，P(胜出)={p}，+ = {metric}{better}{missing}），"
            "用的正是选出它的种子，因而偏向它：{who}；在新种子上确认：{command}"
        ),
    },
    "table.lead_confirmed": {
        "en": (
            "confirmed on fresh seeds {seeds}: beats co-training by {diff} (n={n}, {level}, P(beats)={p}, + = "
            "{better} {metric}{missing}): {who}"
        ),
        "zh": (
            "在新种子 {seeds} 上确认：胜过协同训练 {diff}（n={n}，{level}，P(胜出)={p}，+ = "
            "{metric}{better}{missing}）：{who}"
        ),
    },
    "table.lead_unconfirmed": {
        "en": (
            "not confirmed on fresh seeds {seeds}: no config beats co-training (best: {diff} (n={n}, {level}, "
            "P(beats)={p}, + = {better} {metric}{missing}): {who})"
        ),
        "zh": (
            "在新种子 {seeds} 上未能确认：没有配置胜过协同训练（最佳：{diff}（n={n}，{level}，P(胜出)={p}，+ = "
            "{metric}{better}{missing}）：{who}）"
        ),
    },
    # ---------------------------------------------------------------- which interval a sentence names
    "interval.plain": {"en": "95% interval", "zh": "95% 区间"},
    "interval.bootstrap": {"en": "bootstrap 95% interval", "zh": "bootstrap 95% 区间"},
    "interval.familywise": {
        "en": "{level:.4g}% interval, familywise 95% over {m} configs",
        "zh": "{level:.4g}% 区间，对 {m} 个配置合计 95%",
    },
    "interval.sequential": {"en": "repeated 95% interval of a sequential test", "zh": "序贯检验的重复 95% 区间"},
    "interval.sequential_familywise": {
        "en": "repeated {level:.4g}% interval of a sequential test, familywise 95% over {m} configs",
        "zh": "序贯检验的重复 {level:.4g}% 区间，对 {m} 个配置合计 95%",
    },
    # ---------------------------------------------------------------- a sequential confirm stage's looks (sequential.py)
    # where a confirmed config's looks stopped, and why (the lead's last words, the driver's line after a look)
    "sequential.claim": {
        "en": "stopped at look {look} ({n} of at most {cap} fresh seeds): the claim boundary is crossed ({mean} > {claim_at})",
        "zh": "在第 {look} 次查看时停止（{n} 个新种子，上限 {cap}）：越过确认边界（{mean} > {claim_at}）",
    },
    "sequential.futile": {
        "en": (
            "stopped at look {look} ({n} of at most {cap} fresh seeds): a gain of {effect} is ruled out ({mean} <= "
            "{rule_out_at}, beta {beta})"
        ),
        "zh": "在第 {look} 次查看时停止（{n} 个新种子，上限 {cap}）：已排除 {effect} 的提升（{mean} <= {rule_out_at}，beta {beta}）",
    },
    "sequential.cap": {
        "en": "stopped at the seed cap, look {look} ({n} fresh seeds): undecided ({mean}; a claim needed > {claim_at})",
        "zh": "到达种子上限，第 {look} 次查看时停止（{n} 个新种子）：未能判定（{mean}；确认需要 > {claim_at}）",
    },
    "sequential.continue": {
        "en": (
            "look {look} ({n} of at most {cap} fresh seeds): undecided, more seeds to come (a claim needs > "
            "{claim_at}{futility})"
        ),
        "zh": "第 {look} 次查看（{n} 个新种子，上限 {cap}）：尚未判定，继续加种子（确认需要 > {claim_at}{futility}）",
    },
    "sequential.futility_part": {
        "en": "; {effect} ruled out at <= {rule_out_at}",
        "zh": "；<= {rule_out_at} 时排除 {effect}",
    },
    "sequential.word.claim": {"en": "claimed", "zh": "确认"},
    "sequential.word.futile": {"en": "gain ruled out", "zh": "排除提升"},
    "sequential.word.cap": {"en": "undecided at the cap", "zh": "上限处未判定"},
    "sequential.word.continue": {"en": "continue", "zh": "继续"},
    "sequential.look": {"en": "look {look} (n={n}) {diff}: {word}", "zh": "第 {look} 次（n={n}）{diff}：{word}"},
    "sequential.spending.obrien-fleming": {"en": "O'Brien-Fleming", "zh": "O'Brien-Fleming"},
    "sequential.spending.pocock": {"en": "Pocock", "zh": "Pocock"},
    "sequential.futility": {
        "en": "futility: a gain of {effect} ruled out at beta {beta}, {kind}-type spending, non-binding",
        "zh": "无效停止：以 beta {beta} 排除 {effect} 的提升，{kind} 型消耗，非约束性",
    },
    "sequential.no_futility": {"en": "no futility stop", "zh": "不做无效停止"},
    # ---------------------------------------------------------------- the ranking's notes (actot/report/rank.py)
    "rank.sequential": {
        "en": (
            "Sequential confirmation ({kind}-type spending of a one-sided {alpha:.3g}% claim over the looks; "
            "{futility}; at most {cap} fresh seeds, {per} more a look): {who}: {looks}."
        ),
        "zh": (
            "序贯确认（单侧 {alpha:.3g}% 的确认按 {kind} 型分配到各次查看；{futility}；最多 {cap} 个新种子，每次加 {per} 个）："
            "{who}：{looks}。"
        ),
    },
    "rank.collapsed": {
        "en": (
            "Ranked after the others whatever their {metric}: {names}, flagged {flag} (OT shrank the embeddings "
            "instead of aligning them, which an offline metric cannot see)."
        ),
        "zh": (
            "无论 {metric} 如何都排在其他配置之后：{names}，被 {flag} 标记"
            "（OT 通过缩小 embedding 而非对齐来降低损失，离线指标看不出这一点）。"
        ),
    },
    "rank.pooled": {
        "en": (
            "* n = 2: mean ± t × SD/√2 with the SD pooled over the arms' seeds (df={df}); shown, not used to tell "
            "configs apart (that takes n >= {min_n} values each)."
        ),
        "zh": (
            "* n = 2：均值 ± t × SD/√2，SD 由各组的种子合并估计（df={df}）；仅作展示，不用于区分配置"
            "（区分需要每个配置至少 {min_n} 个值）。"
        ),
    },
    "rank.racing": {
        "en": (
            "Racing dropped {n} config(s) early ({names}), skipping {runs} seed run(s): {saved} training steps saved."
        ),
        "zh": "竞速提前淘汰了 {n} 个配置（{names}），跳过 {runs} 次种子运行：节省 {saved} 训练步。",
    },
    # a seed without a baseline value: the seed and why (`rank.missing.*`, else the trial's status)
    "rank.missing_seed": {"en": "{seed} ({why})", "zh": "{seed}（{why}）"},
    "rank.missing.not run": {"en": "not run", "zh": "未运行"},
    "rank.missing.no finite value": {"en": "no finite value", "zh": "无有限值"},
    "rank.no_baseline_seed": {
        "en": "No baseline for seed {what}: left out of every config's comparison to co-training.",
        "zh": "种子 {what}没有基线：不计入任何配置与协同训练的比较。",
    },
    "rank.no_common_seed": {
        "en": "no finished config ran on a seed the baseline finished",
        "zh": "没有完成的配置与已完成的基线共用种子",
    },
    "rank.no_baseline_finished": {
        "en": "no baseline trial has finished (seeds {seeds})",
        "zh": "没有完成的基线试验（种子 {seeds}）",
    },
    # the `vs baseline` column's note: which way round, where the SD came from, the best picked after the fact
    "rank.vs_baseline": {
        "en": (
            "vs baseline: {order} on the same seeds (co-training: {arm}), so + = the config is better ({plus} "
            "{metric}); mean, 95% t-interval ({sd}), P = P(difference > 0). A config beats co-training when its "
            "interval is above 0.{picked}"
        ),
        "zh": (
            "对比基线：{order}，在相同种子上（协同训练：{arm}），+ 表示配置更好（{metric}{plus}）；均值、95% t 区间"
            "（{sd}）、P = P(差 > 0)。区间整体高于 0 即胜过协同训练。{picked}"
        ),
    },
    "rank.order.min": {"en": "co-training's {words} minus the config's", "zh": "协同训练的{words}减去配置的"},
    "rank.order.max": {"en": "the config's {words} minus co-training's", "zh": "配置的{words}减去协同训练的"},
    "rank.sd.none": {
        "en": "one seed per config: no SD, so no interval and no P",
        "zh": "每个配置只有一个种子：没有 SD，故无区间、无 P",
    },
    "rank.sd.own": {"en": "SD of its own differences, df={df}", "zh": "SD 取自它自己的差值，df={df}"},
    "rank.sd.pooled": {
        "en": "SD pooled over the differences of {n} configs{also}, df={df}",
        "zh": "SD 由 {n} 个配置{also}的差值合并估计，df={df}",
    },
    "rank.sd.also": {"en": " and the search's differences of {n}", "zh": "及搜索阶段 {n} 个配置"},
    "rank.picked": {
        "en": " The best of {n} configs is picked after the fact: its interval is not corrected for that choice.",
        "zh": "最佳者是从 {n} 个配置中事后挑出的：其区间未对这一挑选做校正。",
    },
    "rank.still_improving": {
        "en": (
            "{improving} of {finished} finished trial(s) were still improving when training stopped ({rule}: "
            "held-out eval/avg_l1 over the last third of training more than {share:.0%} below the third before, "
            "{metric} {op} {value:g}): their values read the step where training stopped, and more steps= could "
            "change the order."
        ),
        "zh": (
            "{finished} 个完成的试验中有 {improving} 个在训练结束时仍在改善（{rule}：训练最后三分之一的"
            "离线评估L1 比之前三分之一低 {share:.0%} 以上，{metric} {op} {value:g}）："
            "它们的值取自训练停止的那一步，增加 steps= 可能改变排名。"
        ),
    },
    "rank.nothing_to_rank": {
        "en": "No finished config has a finite value of this metric: nothing to rank yet.",
        "zh": "没有完成的配置给出该指标的有限值：尚无可排名的结果。",
    },
    "rank.one_seed_each": {
        "en": (
            "Each config ran with one training seed: the order rests on one noisy number per config; repeat the "
            "leaders with several seeds (a confirm stage) to get intervals."
        ),
        "zh": (
            "每个配置只用一个训练种子：排名只依赖每个配置的一个有噪声的数；用多个种子复跑领先的配置"
            "（confirm 阶段）才能得到区间。"
        ),
    },
    "rank.leader_one_seed": {
        "en": "The leader ran with one seed: it has no interval; repeat it with several seeds.",
        "zh": "第一名只用一个种子：没有区间；用多个种子复跑它。",
    },
    "rank.leader_few": {
        "en": (
            "The leader ran with {n} seeds: too few for a {kind} (it takes {min_n}); its order is not settled at "
            "this budget."
        ),
        "zh": "第一名只有 {n} 个种子：不足以给出 {kind}（需要 {min_n} 个）；在此预算下名次未定。",
    },
    "rank.tied": {
        "en": "#1 and {tied} cannot be told apart at this budget: their 95% intervals overlap.",
        "zh": "#1 与 {tied} 在此预算下无法区分：95% 区间重叠。",
    },
    "rank.unsettled": {
        "en": (
            "{configs}: too few trials for a {kind} (it takes {min_n}), so whether #1 is better is not settled at "
            "this budget."
        ),
        "zh": "{configs}：试验太少，不足以给出 {kind}（需要 {min_n} 个），在此预算下不能断定 #1 更好。",
    },
    "rank.apart": {
        "en": "#1's 95% interval overlaps none of the next configs' intervals.",
        "zh": "#1 的 95% 区间与其后配置的区间都不重叠。",
    },
    "rank.paired_beats": {
        "en": (
            "P(#1 beats) is paired{as_baseline}: #1's and the config's values on the seeds both ran, P(#1 is "
            "better) under the t distribution of their differences (SD pooled over the configs compared, "
            "df={df})."
        ),
        "zh": (
            "P(#1 胜出) 为配对比较{as_baseline}：在两者共同运行的种子上比较 #1 与该配置的值，按其差值的 t 分布计算 "
            "P(#1 更好)（SD 由参与比较的配置合并估计，df={df}）。"
        ),
    },
    "rank.as_baseline": {"en": ", as vs baseline", "zh": "（同对比基线）"},
    "rank.unpaired_beats": {
        "en": (
            "P(#1 beats) of {configs} is unpaired (no seed in common with #1): the chance that one run of #1 beats "
            "one run of the config."
        ),
        "zh": "{configs} 的 P(#1 胜出) 为非配对比较（与 #1 没有共同的种子）：#1 的一次运行胜过该配置一次运行的概率。",
    },
    # ---------------------------------------------------------------- the diagnosis (actot/report/diagnose.py)
    # what to try
    "diagnose.action.raise_reg": {"en": "raise reg (e.g. to 3)", "zh": "提高 reg（如到 3.0）"},
    "diagnose.action.raise_tau": {"en": "raise tau (e.g. to 20)", "zh": "提高 tau（如到 20）"},
    "diagnose.action.reg_up": {"en": "reg x1.3", "zh": "reg ×1.3"},
    "diagnose.action.reg_down": {"en": "lower reg slightly", "zh": "略降 reg"},
    "diagnose.action.label_down": {"en": "lower weight_label (x0.5)", "zh": "减小 weight_label（×0.5）"},
    "diagnose.action.lambda_down": {"en": "lower lambda_ot", "zh": "降低 λ_ot"},
    "diagnose.action.embed_only": {
        "en": "try embed-only (weight_label=0)",
        "zh": "仅用 embedding（weight_label=0）做对照",
    },
    "diagnose.action.embed_l2": {
        "en": (
            "set ot.embed_norm=l2 (on the embedded benchmark it keeps the camera embeddings and co-training's "
            "success; docs/ot.md)"
        ),
        "zh": "设 ot.embed_norm=l2",
    },
    "diagnose.action.lambda_up": {
        "en": "ready for a larger lambda_ot (e.g. 0.1 -> 0.2)",
        "zh": "可把 λ_ot 提升（如 0.1→0.2）放大 OT 作用",
    },
    "diagnose.action.lr_down": {"en": "lr x0.7", "zh": "学习率 ×0.7"},
    "diagnose.action.lr_lower": {"en": "lower the learning rate", "zh": "降低学习率"},
    "diagnose.action.lr_up": {"en": "lr x1.4", "zh": "学习率 ×1.4"},
    "diagnose.action.more_steps": {"en": "more steps", "zh": "增加步数"},
    "diagnose.action.grace": {"en": "a larger grace_period", "zh": "更大的 grace_period"},
    # what a rule that stopped or flagged trials means (the end-of-sweep line); what to do about one with no finding
    "diagnose.rule.pi_collapse": {
        "en": "the plan lost its mass (keep the diagonal prior)",
        "zh": "π 失去质量（保持对角先验）",
    },
    "diagnose.rule.ot_cost_diverging": {"en": "the state-space OT cost kept rising", "zh": "状态空间 OT cost 持续上升"},
    "diagnose.rule.non_finite": {"en": "a metric became NaN/Inf", "zh": "指标出现 NaN/Inf"},
    "diagnose.rule.embed_collapse": {
        "en": "OT lowers its loss by shrinking the embeddings, not by aligning them",
        "zh": "OT 靠缩小而非对齐 embedding 降低损失",
    },
    "diagnose.rule.asha": {
        "en": "ASHA judged these behind their peers at a rung",
        "zh": "ASHA 在某一级判定它们落后于同伴",
    },
    "diagnose.no_finding.not_converged": {
        "en": (
            "they were still improving when training stopped; their values read where it stopped: raise steps "
            "(e.g. steps=2000) to rank converged trials"
        ),
        "zh": "训练停止时仍在改进，其数值取决于停止的步数：提高 steps（例如 steps=2000）以比较收敛后的试验",
    },
    "diagnose.no_finding.other": {"en": "see the rule", "zh": "见该规则"},
    # what was seen in a trial (`diagnose_trial`), before what to try
    "diagnose.seen.non_finite": {"en": "a metric became NaN/Inf", "zh": "指标出现 NaN/Inf"},
    "diagnose.seen.collapsed": {
        "en": "collapsed plan (ot_pi_sum last={pi_last:.3g} < {below}; keep heuristic)",
        "zh": "π 塌缩（π总和 末={pi_last:.3g} < {below}；保持 heuristic）",
    },
    "diagnose.seen.collapsed_stopped": {
        "en": "collapsed plan (stopped by pi_collapse)",
        "zh": "π 塌缩（被 pi_collapse 停止）",
    },
    "diagnose.seen.large_plan_flat_cost": {
        "en": "large plan (ot_pi_sum last={pi_last:.3g}) but ot_cost(state) changed {change:+.1%}, not down 10%",
        "zh": "π 较大（π总和 末={pi_last:.3g}）但 OT cost(state) 变化 {change:+.1%}，未降 10%",
    },
    "diagnose.seen.embed_collapse": {  # the Chinese leaves out the rule's reason (ONE_LANGUAGE_FIELDS)
        "en": (
            "embeddings shrank below {below:g} of their untrained size ({reason}; last {shrink:.2g}): OT lowers its "
            "loss by shrinking them, not by aligning them"
        ),
        "zh": "embedding 收缩到初始大小的 {below:g} 以下（末={shrink:.2g}）：OT 靠缩小而非对齐 embedding 降低损失",
    },
    "diagnose.seen.diverging": {"en": "the state-space OT cost kept rising", "zh": "OT cost(state) 持续上升"},
    "diagnose.seen.l1_stalled": {
        "en": "offline eval L1 improved only {gain:.1%} (< 2%)",
        "zh": "离线评估L1 仅改善 {gain:.1%}（< 2%）",
    },
    "diagnose.seen.grad_norm_large": {
        "en": (
            "train/grad_norm grew: last {last:.3g} > its early level {early:.3g} (median of its first {reports} "
            "reports)"
        ),
        "zh": "梯度范数在训练中变大：末={last:.3g} > 初期水平 {early:.3g}（前 {reports} 次上报的中位数）",
    },
    "diagnose.seen.stable": {
        "en": "stable (ot_pi_sum last={pi_last:.3g}, eval L1 down {gain:.1%})",
        "zh": "稳定（π总和 末={pi_last:.3g}，离线评估L1 下降 {gain:.1%}）",
    },
    # a finding: what was seen, then what to try (the actions joined by `or`), or why nothing is advised
    "diagnose.finding": {"en": "{seen}: {advice}", "zh": "{seen}：{advice}"},
    "diagnose.or": {"en": " or ", "zh": "，或"},
    "diagnose.no_advice": {"en": "no advice within this sweep: {why}", "zh": "此扫描内无可行建议：{why}"},
    # the end-of-sweep line per rule: how many trials it stopped or flagged, where in the space, what to do
    "diagnose.rule_line": {
        "en": "{rule} {verb} {n} trial(s) ({where}): {todo}",
        "zh": "{rule} {verb}了 {n} 个试验（{where}）：{todo}",
    },
    "diagnose.verb.stopped": {"en": "stopped", "zh": "停止"},
    "diagnose.verb.flagged": {"en": "flagged", "zh": "标记"},
    "diagnose.baseline_among": {"en": "{n} of them the baseline arm", "zh": "其中 {n} 个为基线组"},
    # ---------------------------------------------------------------- knob importance (actot/report/importance.py)
    "importance.no_db": {
        "en": "no optuna.db in the sweep folder yet (it is written as trials end)",
        "zh": "扫描目录中还没有 optuna.db（试验结束时写入）",
    },
    "importance.no_study": {"en": "optuna.db holds no study yet", "zh": "optuna.db 中还没有 study"},
    "importance.too_few": {
        "en": (
            "too few finished configs for knob importance: {configs} config(s) in {n} finished trial(s) (a config's "
            "seeds are one point of the space; rule-stopped and failed trials do not count); at least {needed} "
            "configs are needed"
        ),
        "zh": (
            "完成的配置太少，无法计算旋钮重要性：{n} 个完成的试验中只有 {configs} 个配置"
            "（同一配置的多个种子只算空间中的一个点；被规则停止和失败的试验不计）；至少需要 {needed} 个配置"
        ),
    },
    "importance.ped_anova": {
        "en": "PED-ANOVA on {n} finished trial(s) ({configs} configs) of the Optuna study in optuna.db",
        "zh": "PED-ANOVA，基于 optuna.db 中 {n} 个完成的试验（{configs} 个配置）",
    },
    "importance.line": {
        "en": "{knob}: importance {value:.2f}; {way}{corr}",
        "zh": "{knob}: 重要性 {value:.2f}；{way}{corr}",
    },
    # a knob's direction, as `Importance.direction` records it in English ("lower did better", "<choice> did better")
    "importance.way.lower": {"en": "lower did better", "zh": "取值越低越好"},
    "importance.way.higher": {"en": "higher did better", "zh": "取值越高越好"},
    "importance.way.unclear": {"en": "no clear direction", "zh": "方向不明"},
    "importance.way.did_better": {"en": " did better", "zh": " 更好"},
    # ---------------------------------------------------------------- why no advice on a next search (advisor.py)
    "advisor.no_importance": {"en": "{why}, so no knob importance", "zh": "{why}，因此没有旋钮重要性"},
    "advisor.no_beat": {
        "en": (
            "no config beat co-training (no interval of `vs baseline` above 0), so the best configs are no evidence "
            "of where OT helps"
        ),
        "zh": "没有配置胜过协同训练（“对比基线”的区间都不整体高于 0），因此最佳配置不能说明 OT 在哪里有用",
    },
    # ---------------------------------------------------------------- how a table names a trial (report/load.py)
    "trial.co_training": {"en": "co-training", "zh": "协同训练"},
    "trial.confirm_of": {"en": "confirm of {origin}", "zh": "{origin} 的复跑"},
    "trial.seed": {"en": "{origin} seed {seed}", "zh": "{origin} 种子 {seed}"},
    # ---------------------------------------------------------------- the shortlist for the robot (actot/robot.py)
    "robot.co_training_name": {"en": "co-training ({arm}), trial {trial}", "zh": "协同训练（{arm}），试验 {trial}"},
    # ---------------------------------------------------------------- the robot evaluation's verdict (robot_eval.py)
    "verdict.title": {
        "en": "# Robot evaluation of shortlist `{id}` (sweep `{sweep}`)",
        "zh": "# 短名单 `{id}` 的真机评估（扫描 `{sweep}`）",
    },
    "verdict.sheet": {
        "en": "Sheet `{path}`: {filled} of {total} episodes filled.",
        "zh": "评估表 `{path}`：{total} 个回合中已填 {filled} 个。",
    },
    "verdict.simulated": {
        "en": " {n} of them were filled by `--simulate` in the benchmark's target domain, not on a robot.",
        "zh": "其中 {n} 个由 `--simulate` 在基准的目标域中填写，并非真机结果。",
    },
    "verdict.rates": {
        "en": (
            "Stated before the first episode: alpha {alpha} (the chance of declaring a difference from {ref} "
            "where there is none, over the {k} policies compared), beta {beta} (the chance of giving up on a "
            "policy that wins at least {worth:.0%} of the start conditions where it and {ref} differ)."
        ),
        "zh": (
            "第一个回合之前已声明：alpha {alpha}（在 {k} 个与{ref}比较的策略中，本无差异却判定有差异的概率），"
            "beta {beta}（放弃一个在与{ref}结果不同的起始条件中至少赢 {worth:.0%} 的策略的概率）。"
        ),
    },
    "verdict.verdict": {"en": "## Verdict", "zh": "## 结论"},
    "verdict.stop_better": {
        "en": (
            "**Stop.** {name} (`{code}`) is better than {ref}: it succeeded on {b} start conditions where {ref} "
            "failed and failed on {c} where {ref} succeeded (e-value {e:.3g} >= 2 x {k}/alpha = {threshold:.3g}); the "
            "decision holds however often the sheet was looked at."
        ),
        "zh": (
            "**停止。** {name}（`{code}`）优于{ref}：它在 {b} 个{ref}失败的起始条件上成功，在 {c} "
            "个{ref}成功的条件上失败（e 值 {e:.3g} >= 2 x {k}/alpha = {threshold:.3g}）；无论中途查看评估表多少次，"
            "这一判定都成立。"
        ),
    },
    "verdict.stop_worse": {
        "en": (
            "**Stop.** The leader on the robot, {name} (`{code}`), is worse than {ref}: {b} condition(s) for it, "
            "{c} for {ref} (e-value {e:.3g} >= {threshold:.3g}); the other shortlisted policies trail it on the "
            "robot (see the tables)."
        ),
        "zh": (
            "**停止。** 真机上领先的 {name}（`{code}`）劣于{ref}：它赢 {b} 个条件，{ref}赢 {c} 个（e 值 {e:.3g} "
            ">= {threshold:.3g}）；短名单中其他策略在真机上落后于它（见下表）。"
        ),
    },
    "verdict.stop_futile": {
        "en": (
            "**Stop.** The leader on the robot, {name} (`{code}`), does not win {worth:.0%} of the start "
            "conditions where it and {ref} differ ({b} condition(s) for it, {c} for {ref}; futility e-value "
            "{ef:.3g} >= 1/beta = {tf:.3g}): more episodes are unlikely to show a difference worth having."
        ),
        "zh": (
            "**停止。** 真机上领先的 {name}（`{code}`）在与{ref}结果不同的起始条件中赢不到 {worth:.0%}（它 {b} "
            "个，{ref} {c} 个；无效性 e 值 {ef:.3g} >= 1/beta = {tf:.3g}）：更多回合不太可能显示值得的差异。"
        ),
    },
    "verdict.go_on": {
        "en": (
            "**Continue.** The leader on the robot, {name} (`{code}`, P(best) {pb:.2f}), is not decided against "
            "{ref} yet ({b} condition(s) for it, {c} for {ref}; e-value {e:.3g} of {threshold:.3g} needed). At "
            "the current estimates (it wins {theta:.0%} of the conditions where the two differ, and they differ "
            "on {disc:.0%} of conditions), about **{median} more start conditions** decide it (80% of simulated "
            "runs within {p80}; {likely}), each run with all {n} policies: about {episodes} more episodes. "
            "{sheet_left}"
        ),
        "zh": (
            "**继续。** 真机上领先的 {name}（`{code}`，P(最佳) {pb:.2f}）与{ref}的比较尚未判定（它赢 {b} 个条件，"
            "{ref}赢 {c} 个；e 值 {e:.3g}，需要 {threshold:.3g}）。按当前估计（两者结果不同的条件中它赢 "
            "{theta:.0%}，结果不同的条件占 {disc:.0%}），大约还需 **{median} 个起始条件** 才能判定（80% 的模拟在 "
            "{p80} 个以内；{likely}），每个条件运行全部 {n} 个策略：约 {episodes} 个回合。{sheet_left}"
        ),
    },
    "verdict.likely": {
        "en": "{better:.0%} of them decide it better, {futile:.0%} not worth it",
        "zh": "其中 {better:.0%} 判定更好，{futile:.0%} 判定不值得",
    },
    "verdict.go_on_far": {
        "en": (
            "**Continue, or stop for lack of a difference.** The leader on the robot, {name} (`{code}`), is not "
            "decided against {ref} ({b} condition(s) for it, {c} for {ref}), and at the current estimates only "
            "{pd:.0%} of simulated runs decide within {horizon} more start conditions: the two are too close for "
            "this evaluation to tell apart at these error rates."
        ),
        "zh": (
            "**继续，或因无差异而停止。** 真机上领先的 {name}（`{code}`）与{ref}的比较尚未判定（它赢 {b} 个条件，"
            "{ref}赢 {c} 个）；按当前估计，只有 {pd:.0%} 的模拟在 {horizon} 个起始条件内得出判定：两者太接近，"
            "本次评估在这些错误率下无法区分。"
        ),
    },
    "verdict.sheet_left": {
        "en": "The sheet holds {n} more conditions for this pair.",
        "zh": "评估表中这一对还剩 {n} 个条件。",
    },
    "verdict.sheet_short": {
        "en": (
            "The sheet holds only {n} more conditions for this pair: add more with `python -m actot robot-eval "
            "{folder} more=N` (the e-values carry on over the new rows: the rule is anytime-valid)."
        ),
        "zh": (
            "评估表中这一对只剩 {n} 个条件：用 `python -m actot robot-eval {folder} more=N` 追加（e "
            "值在新行上继续累积：该规则任意时刻有效）。"
        ),
    },
    "verdict.no_ref": {
        "en": "No reference policy in the shortlist: P(best) only, no paired comparison and no stopping rule.",
        "zh": "短名单中没有参照策略：只给出 P(最佳)，没有配对比较和停止规则。",
    },
    "verdict.no_pairs": {
        "en": "No start condition has been run with both the leader and {ref} yet: nothing to decide on.",
        "zh": "还没有起始条件同时运行过领先策略和{ref}：尚无可判定的内容。",
    },
    "verdict.per_policy": {"en": "## Success per policy", "zh": "## 各策略的成功率"},
    "verdict.head_policy": {
        "en": (
            "code",
            "policy",
            "episodes",
            "successes",
            "success",
            "95% exact interval (Clopper-Pearson)",
            "mean score",
            "P(best)",
        ),
        "zh": ("代号", "策略", "回合", "成功", "成功率", "95% 精确区间（Clopper-Pearson）", "平均得分", "P(最佳)"),
    },
    "verdict.versus": {"en": "## Against {ref}, paired by start condition", "zh": "## 与{ref}按起始条件配对比较"},
    "verdict.head_pairs": {
        "en": (
            "code",
            "policy",
            "conditions run by both",
            "both succeed",
            "only the policy",
            "only {ref}",
            "both fail",
            "difference",
            "exact McNemar p",
            "P(better)",
            "e-value",
            "decision",
        ),
        "zh": (
            "代号",
            "策略",
            "两者都运行的条件",
            "都成功",
            "仅该策略成功",
            "仅{ref}成功",
            "都失败",
            "差值",
            "精确 McNemar p",
            "P(更好)",
            "e 值",
            "判定",
        ),
    },
    "verdict.decision.better": {"en": "better", "zh": "更好"},
    "verdict.decision.worse": {"en": "worse", "zh": "更差"},
    "verdict.decision.futile": {"en": "not worth it", "zh": "不值得"},
    "verdict.decision.open": {"en": "open", "zh": "未定"},
    "verdict.scores": {
        "en": (
            "Scores against {ref} (mean paired difference, + = the policy scored higher; betting e-value, decided "
            "at >= {threshold:.3g}): {cells}."
        ),
        "zh": (
            "与{ref}比较得分（配对差值的均值，+ 表示该策略得分更高；下注 e 值，>= {threshold:.3g} 即判定）：{cells}。"
        ),
    },
    "verdict.agree": {"en": "## The sweep's offline order against the robot", "zh": "## 扫描的离线排名与真机结果"},
    "verdict.agree_line": {
        "en": (
            "Spearman's rho between the offline {metric} (the search's values, signed so + is better) and the "
            "success on the robot, over {n} policies: **{rho:+.2f}** (exact one-sided p = {p:.3g})."
        ),
        "zh": (
            "离线 {metric}（搜索阶段的值，符号取为 + 表示更好）与真机成功率之间的 Spearman rho，共 {n} 个策略："
            "**{rho:+.2f}**（精确单侧 p = {p:.3g}）。"
        ),
    },
    "verdict.agree_weak": {
        "en": (
            " With {n} policies even a perfect agreement arises by chance 1 time in {fact}: a check of the "
            "offline metric, not a measurement of it."
        ),
        "zh": "只有 {n} 个策略时，即便完全一致也有 1/{fact} 的概率纯属偶然：这是对离线指标的检查，而非度量。",
    },
    "verdict.agree_none": {"en": "Not computed: {why}.", "zh": "未计算：{why}。"},
    "verdict.agree_few": {
        "en": "fewer than 3 policies have both an offline value and a robot episode",
        "zh": "同时有离线值和真机回合的策略少于 3 个",
    },
    "verdict.agree_flat": {
        "en": "the offline values or the robot's success rates are all equal (no order to compare)",
        "zh": "离线值或真机成功率全部相同（没有可比较的顺序）",
    },
    "verdict.how": {"en": "## How these numbers are computed", "zh": "## 这些数字如何计算"},
    "verdict.in_sweep": {"en": "On the robot", "zh": "真机评估"},
    "verdict.in_sweep_sheet": {
        "en": (
            "Shortlist `{id}` (`{folder}`): {filled} of {total} episodes filled.{simulated} The whole verdict: "
            "`{verdict}` (`python -m actot robot-eval {folder}` writes it again as the sheet fills)."
        ),
        "zh": (
            "短名单 `{id}`（`{folder}`）：{total} 个回合中已填 {filled} 个。{simulated}完整结论：`{verdict}`"
            "（评估表填写后用 `python -m actot robot-eval {folder}` 重新生成）。"
        ),
    },
    "verdict.in_sweep_empty": {
        "en": (
            "Shortlist `{id}` (`{folder}`): no episode filled yet. Run the sheet `{sheet}` in its order, then "
            "`python -m actot robot-eval {folder}`."
        ),
        "zh": "短名单 `{id}`（`{folder}`）：尚未填写任何回合。按顺序运行评估表 `{sheet}`，然后运行 `python -m actot robot-eval {folder}`。",
    },
    "verdict.in_sweep_error": {
        "en": "Shortlist `{folder}`: its sheet cannot be judged ({error}).",
        "zh": "短名单 `{folder}`：其评估表无法评判（{error}）。",
    },
    "verdict.how_lines": {
        "en": (
            (
                "Only filled rows count (an empty outcome is an episode not run yet); a pair is a start condition "
                "both policies have run."
            ),
            "Success interval: Clopper-Pearson, the exact binomial 95% interval (scipy's binomtest).",
            (
                "P(best): the share of {draws} joint draws from each policy's Beta(1 + successes, 1 + failures) "
                "posterior in which it has the highest success rate."
            ),
            (
                "Difference: (only the policy - only {ref}) / conditions run by both. Exact McNemar: under no "
                "difference the discordant conditions split as Binomial(b + c, 1/2); two-sided. P(better): P(theta > "
                "1/2) for theta ~ Beta(1 + b, 1 + c), the policy's share of the discordant conditions."
            ),
            (
                "e-value: Wald's SPRT on the discordant conditions, the likelihood ratio of theta = {worth} against "
                "theta = 1/2, (2 x {worth})^b (2 x (1 - {worth}))^c (for worse: b and c swapped); decided at 2K/alpha "
                "(K = {k} policies against {ref}, two sides each), valid at any look (Ville's inequality). Not worth "
                "it: the ratio of theta = 1/2 against theta = {worth} reaches 1/beta."
            ),
            (
                "More conditions: the stopping rule run forward 2000 times from the current counts, theta and the "
                "share of discordant conditions at their posterior means."
            ),
        ),
        "zh": (
            "只计已填写的行（结果为空即尚未运行的回合）；一对是两个策略都运行过的起始条件。",
            "成功率区间：Clopper-Pearson，精确的二项 95% 区间（scipy 的 binomtest）。",
            "P(最佳)：从各策略的 Beta(1 + 成功, 1 + 失败) 后验联合抽取 {draws} 次，该策略成功率最高的比例。",
            (
                "差值：(仅该策略成功 - 仅{ref}成功) / 两者都运行的条件。精确 McNemar：无差异时结果不同的条件服从 "
                "Binomial(b + c, 1/2)；双侧。P(更好)：theta ~ Beta(1 + b, 1 + c) 时 P(theta > 1/2)，theta "
                "为该策略在结果不同的条件中所占份额。"
            ),
            (
                "e 值：在结果不同的条件上做 Wald 序贯概率比检验，theta = {worth} 相对 theta = 1/2 的似然比 "
                "(2 x {worth})^b (2 x (1 - {worth}))^c（判定更差时 b 与 c 互换）；达到 2K/alpha（K = {k} 个与{ref}"
                "比较的策略，每个两侧）即判定，任意时刻查看都有效（Ville 不等式）。不值得：theta = 1/2 相对 theta = "
                "{worth} 的似然比达到 1/beta。"
            ),
            "还需的条件数：从当前计数出发把停止规则向前模拟 2000 次，theta 与结果不同的条件比例取其后验均值。",
        ),
    },
    "verdict.blind_stop": {
        "en": (
            "Interim look (blinded): {filled} of {total} episodes filled. Stop: the evaluation is decided; the "
            "analyst runs python -m actot robot-eval {folder} for the verdict."
        ),
        "zh": (
            "中期查看（盲态）：{total} 个回合中已填 {filled} 个。停止：评估已可判定；由分析者运行 python -m actot "
            "robot-eval {folder} 查看结论。"
        ),
    },
    "verdict.blind_go": {
        "en": (
            "Interim look (blinded): {filled} of {total} episodes filled. Continue: about {median} more start "
            "conditions ({episodes} episodes), in the printed order."
        ),
        "zh": (
            "中期查看（盲态）：{total} 个回合中已填 {filled} 个。继续：约还需 {median} 个起始条件（{episodes} "
            "个回合），按打印顺序进行。"
        ),
    },
    "verdict.blind_far": {
        "en": (
            "Interim look (blinded): {filled} of {total} episodes filled. Not decided, and unlikely to be within "
            "{horizon} more conditions: the analyst decides whether to go on."
        ),
        "zh": (
            "中期查看（盲态）：{total} 个回合中已填 {filled} 个。尚未判定，且在 {horizon} 个条件内也不太可能判定："
            "由分析者决定是否继续。"
        ),
    },
    "verdict.blind_none": {
        "en": "Interim look (blinded): {filled} of {total} episodes filled; nothing to decide on yet.",
        "zh": "中期查看（盲态）：{total} 个回合中已填 {filled} 个；尚无可判定的内容。",
    },
    "verdict.no_interval": {"en": "-", "zh": "-"},
    # ---------------------------------------------------------------- ranking by an offline metric (actot/metrics.py)
    # The figures are a metric's measurement (actot/metrics.py RANKING_VALIDITY), filled in.
    "validity.measured": {
        "en": (
            "On the benchmark, ranking configs by {metric} agreed with closed-loop success at Spearman {spearman} "
            "with the target demos on half the goals and {spearman2} with them on a quarter (95% bootstrap over 14 "
            "configs x 4 seeds; OT configs alone {ot_alone} and {ot_alone2}), and its top pick reached {pick} and "
            "{pick2} success against the best config's {best} and {best2} (held-out demos where the target demos "
            "were collected; bench/RESULTS.md sessions 9-10): read this order as a guide, not as success."
        ),
        "zh": (
            "在基准上，按 {metric} 对配置排序与闭环成功率的 Spearman：目标演示覆盖一半目标时为 {spearman}，覆盖四分之一"
            "时为 {spearman2}（14 个配置 x 4 个种子的 95% bootstrap 区间；仅 OT 配置 {ot_alone} 与 {ot_alone2}），"
            "其首选配置成功率 {pick} 与 {pick2}，最佳配置 {best} 与 {best2}（留出演示取自目标演示的采集区域；"
            "bench/RESULTS.md 第 9-10 次会话）：此排序仅供参考，不等于成功率。"
        ),
    },
    "validity.unmeasured": {
        "en": (
            "How well {metric} ranks configs by closed-loop success was not measured on the benchmark "
            "(bench/offline_study.py measures the candidates); read this order as offline fit, not as success."
        ),
        "zh": (
            "{metric} 对配置的排序与闭环成功率的一致性尚未在基准上测量（bench/offline_study.py）；"
            "此排序只代表离线拟合，不代表成功率。"
        ),
    },
}

# Fields one language leaves out on purpose (name -> the fields only English fills).
ONE_LANGUAGE_FIELDS: dict[str, set[str]] = {
    "diagnose.seen.embed_collapse": {"reason"},  # the rule's own reason stays English; the Chinese says the figure
}


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


def text(name: str, lang: str, **fields) -> str:
    """The entry `name` in `lang` ('en' or 'zh') with its fields filled; a field given as a Note in `lang` too."""
    return STRINGS[name][lang].format(**{k: v.in_lang(lang) if isinstance(v, Note) else v for k, v in fields.items()})


def both(name: str, **fields) -> tuple[str, str]:
    """(English, Chinese) of the entry `name`, its fields filled."""
    return text(name, "en", **fields), text(name, "zh", **fields)


def note(name: str, **fields) -> Note:
    """The entry `name` as a Note (English, with its Chinese)."""
    return Note(*both(name, **fields))


def per_lang(make) -> Note:
    """A Note of what `make(lang)` builds in each language (a list joined with each language's own comma)."""
    return Note(make("en"), make("zh"))


def section(prefix: str) -> dict[str, dict]:
    """lang -> {name: raw template} of the entries directly under `prefix` (`section("table")["en"]["trial"]`)."""
    start = prefix + "."
    names = [name for name in STRINGS if name.startswith(start) and "." not in name[len(start) :]]
    return {lang: {name[len(start) :]: STRINGS[name][lang] for name in names} for lang in LANGS}
