"""Does a run's encoder embed target frames where it embeds source frames of the same goal? The goal-decoding probe.

    python -m bench.goal_probe RUN_DIR [RUN_DIR ...]      # one line per run (runs on a sim dataset)

Issue 17: a linear map fitted on source embeddings predicts the goal from target embeddings of the uncovered
half; its error, in success radii, compared between OT and co-training. The goal is in no state vector, only in
the frames: a map that reads it from source embeddings and still reads it from target ones says that target
frames were embedded like source frames of the same goal, where no target demo showed the policy the task.

- weights: the run's final checkpoint, EMA weights (what its evaluation used); embeddings: `model.ot_embeddings`
  (what the OT loss aligns; each camera's at unit length when the run's ot.embed_norm is l2), flattened per frame;
- source frames: up to MAX_SOURCE_FRAMES frames drawn from the source demos, each labelled with its demo's goal
  (the generator's ground truth); every 5th demo is left out of the fit (not of training), for the in-domain
  reference;
- target frames: the scripted expert's demos in the target domain, rendered as the target dataset was, from the
  first N_LAYOUTS closed-loop evaluation layouts whose goal is outside `target_region` (the episodes whose success
  is eval/success_uncovered; the whole task when the region is 'all'). The dataset's held-out target demos are too
  few for this (data.sim.n_eval=8, about half of them uncovered);
- map: ridge regression goal_xy ~ embedding, its penalty chosen by 4-fold cross-validation over the fitted source
  demos (folds by demo);
- statistic: the median over frames of the Euclidean error, divided by the sim's SUCCESS_RADIUS. The command line
  also prints it on the covered half, on the left-out source demos, and for a guess of the mean goal (no decoding).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

MAX_SOURCE_FRAMES = 2000
N_LAYOUTS = 100  # evaluation layouts drawn; about half are uncovered under the default left_half region
# A --quick study's probes (checks the script, not the figures): fewer frames and layouts, fewer OT batches.
QUICK = {"goal_probe": {"frames": 300, "layouts": 20}, "pair_ratio": {"batches": 4}}
ALPHAS = 10.0 ** np.arange(-4, 5)
# The expert's target demos of `target_frames`, recorded once per sim, layouts and half, and read by every run probed
# on that sim in this process (a study's runs share a few sims): the oldest is dropped past EXPERT_DEMOS_KEPT.
EXPERT_DEMOS_KEPT = 8
_EXPERT_DEMOS: dict = {}


def ridge(x: np.ndarray, y: np.ndarray):
    """alpha -> predict(z): the ridge fits of y on x (intercept unpenalised), one SVD for every penalty. The
    features are centred and scaled by one number, their total spread on x: the penalty then means the same for
    runs whose embeddings differ in scale (OT can shrink them), and a feature nearly constant on source frames is
    not blown up (as a per-feature standardisation would) to swing the predictions on target frames. In torch,
    float64: numpy's threaded BLAS crawls on a machine whose cores are busy."""
    x, y = torch.as_tensor(x, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)
    mean, y_mean = x.mean(0), y.mean(0)
    scale = (x - mean).pow(2).sum(1).mean().sqrt().clamp_min(1e-12)
    u, s, vh = torch.linalg.svd((x - mean) / scale, full_matrices=False)  # any feature count
    uy = u.T @ (y - y_mean)

    def at(alpha: float):
        w = vh.T @ ((s / (s**2 + alpha))[:, None] * uy)
        return lambda z: ((torch.as_tensor(z, dtype=torch.float64) - mean) / scale @ w + y_mean).numpy()

    return at


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, folds: int = 4):
    """The ridge fit with the penalty of least cross-validated error, folds made of whole groups (demos: a demo's
    frames share its goal, so frame-wise folds would reward memorising demos)."""
    fold = np.unique(groups, return_inverse=True)[1] % folds
    errors = np.zeros(len(ALPHAS))
    for k in range(folds):
        if (fold == k).any() and (fold != k).any():
            path = ridge(x[fold != k], y[fold != k])
            errors += [np.linalg.norm(path(a)(x[fold == k]) - y[fold == k], axis=1).mean() for a in ALPHAS]
    return ridge(x, y)(ALPHAS[int(errors.argmin())])


def source_frames(data, truth: dict, max_frames: int = MAX_SOURCE_FRAMES, seed: int = 0):
    """(batch, goal xy (N, 2), demo position (N,)) of up to `max_frames` frames drawn from the source demos (all
    of them when they are fewer)."""
    from actot.data.sampler import frames_at

    goals = np.asarray(truth["source_initial_states"])[:, 2:4]
    refs = np.array([(e, f) for e, ep in enumerate(data.src) for f in range(len(ep["state"]))])
    if len(refs) > max_frames:
        refs = refs[np.sort(np.random.default_rng(seed).choice(len(refs), max_frames, replace=False))]
    batch = frames_at(data.src, data.cameras, refs, 1)
    return batch, goals[[data.src[e]["index"] for e in refs[:, 0]]], refs[:, 0]


def target_frames(data, spec, n_layouts: int = N_LAYOUTS, seed: int = 12345, covered: bool = False):
    """(batch, goal xy (N, 2)): every frame of the expert's target-domain demos from the uncovered (`covered`: the
    covered) ones of the first `n_layouts` evaluation layouts (`seed`: the rollout seed, so these are the rollouts'
    episodes: eval_layouts draws them in sequence, so the first n are the same whatever the rollout count)."""
    from actot.data.video import resize_frames
    from actot.evaluate import eval_layouts
    from actot.sim.generate import record_expert, target_env
    from actot.sim.task import in_region

    key = (repr(spec), n_layouts, seed, covered)  # the demos depend on these alone, not on the run
    if key not in _EXPERT_DEMOS:
        layouts = eval_layouts(n_layouts, seed)
        if spec.target_region != "all":  # 'all' leaves no uncovered half: then the whole task
            layouts = layouts[in_region(layouts[:, 2:4], spec.target_region) == covered]
        demos = record_expert(
            target_env(spec, len(layouts), seed), layouts, np.random.default_rng([seed, 17]), spec.noise
        )
        if len(_EXPERT_DEMOS) >= EXPERT_DEMOS_KEPT:
            _EXPERT_DEMOS.pop(next(iter(_EXPERT_DEMOS)))
        _EXPERT_DEMOS[key] = layouts, demos
    layouts, demos = _EXPERT_DEMOS[key]
    size = tuple(data.target.frame_size)
    batch = {"state": np.concatenate([data.normaliser.norm_state(d["state"]) for d in demos])}
    if data.cameras:
        batch["images"] = np.stack(
            [np.concatenate([resize_frames(d["frames"][c], size) for d in demos]) for c in data.target.cameras], axis=1
        )
    return batch, np.concatenate([np.repeat(g[None, 2:4], len(d["state"]), 0) for g, d in zip(layouts, demos)])


def embed(model, batch: dict, unit: bool = False, rows: int = 256) -> np.ndarray:
    """The OT embeddings (N, cameras x F); `unit`: each camera's scaled to unit length, as the cost saw them
    under ot.embed_norm=l2."""
    from actot.evaluate import to_tensors

    def one(part):
        z = model.ot_embeddings(to_tensors(part, torch.device("cpu"))).float()
        return (torch.nn.functional.normalize(z, dim=-1) if unit else z).flatten(1).numpy()

    with torch.no_grad():
        return np.concatenate(
            [one({k: v[i : i + rows] for k, v in batch.items()}) for i in range(0, len(batch["state"]), rows)]
        )


def load_run(run_dir: Path):
    """(cfg, data, sim spec, ground truth, model with the weights evaluation used), or None for a run without a
    checkpoint or config, or not on a sim dataset (no goals to decode)."""
    from actot.config import resolve_policy
    from actot.export import rebuild_train_config  # a trial's config.json -> TrainConfig, as export rebuilds it
    from actot.policy.act import ACT
    from actot.sim.generate import ensure_sim, load_ground_truth
    from actot.checkpoint import CHECKPOINT_FILE
    from actot.run_data import load_data

    ckpt, config = run_dir / "checkpoint" / CHECKPOINT_FILE, run_dir / "config.json"
    if not ckpt.is_file() or not config.is_file():
        return None
    cfg = rebuild_train_config(json.loads(config.read_text()), config)
    truth = load_ground_truth(ensure_sim(cfg.data.sim)[1] if cfg.data.source is None else Path(cfg.data.target))
    if truth is None:
        return None
    data, _, spec = load_data(cfg)
    cfg = resolve_policy(cfg, len(data.cameras), data.source.frame_size)
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras), cfg.ot.embedding)
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    model.load_state_dict(state["ema"]["model"] if "ema" in state else state["model"])  # EMA: what evaluation used
    return cfg, data, spec, truth, model.eval()


def _probe(run_dir: Path, frames: int, layouts: int) -> dict | None:
    from actot.sim.task import SUCCESS_RADIUS

    loaded = load_run(run_dir)
    if loaded is None:
        return None
    cfg, data, spec, truth, model = loaded
    unit = cfg.ot.embed_norm == "l2"
    src, src_goal, demo = source_frames(data, truth, frames)
    x_src = embed(model, src, unit)
    held = demo % 5 == 4
    predict = fit(x_src[~held], src_goal[~held], demo[~held])
    error = lambda pred, goal: float(np.median(np.linalg.norm(pred - goal, axis=1)) / SUCCESS_RADIUS)  # noqa: E731
    out = {"source": error(predict(x_src[held]), src_goal[held]), "frames": int((~held).sum())}
    for name, covered in (("target", False), ("covered", True)):
        tgt, tgt_goal = target_frames(data, spec, layouts, seed=cfg.rollout_seed, covered=covered)
        out[name] = error(predict(embed(model, tgt, unit)), tgt_goal)
        if not covered:  # a guess of the mean source goal, on the same frames: what decodes nothing scores
            out["chance"] = error(src_goal[~held].mean(0), tgt_goal)
    return out


def probe(run_dir: Path, frames: int = MAX_SOURCE_FRAMES, layouts: int = N_LAYOUTS) -> dict | None:
    """Median goal errors in success radii: 'target' (uncovered half), 'covered' (the target's covered half),
    'source' (held-out source demos), 'chance' (the mean source goal guessed on the uncovered half), and 'frames'
    (source frames fitted); None for a run that is not on a sim dataset or has no checkpoint (or config).
    `frames`: source frames drawn at most; `layouts`: evaluation layouts whose expert demos are read.
    On one thread, as the study's runs train: a probe then takes one core, and its small matrices run no slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _probe(Path(run_dir), frames, layouts)
    finally:
        torch.set_num_threads(threads)


PAIR_BATCH_ROWS = 8  # BC rows drawn beside each OT batch (unused): fixed, so the draws do not follow a run's batch_size


def pair_ratio(
    run_dir: Path, oracle: bool = False, pairs_from: Path | None = None, batches: int = 16, seed: int = 0
) -> dict | None:
    """How close a run's final (EMA) weights put OT pairs, against strangers: `ot_pair_ratio` of the unit-length
    embeddings ('unit', what the cost compares under ot.embed_norm=l2) and of the raw ones ('raw'), each the mean
    over `batches` OT batches drawn with `seed`.

    The pairs: the sampler's on the data config of `pairs_from` (a run dir; the run's own when None), so the runs
    of a group measured with one `pairs_from` (its co-training) see the same pairs whatever their own pairing
    option, seed or arm, and co-training's ratio is the reference (what encoding alone does). The draws depend only
    on that data, the seed, ot.batch_size and ot.window_size (alike within a group). `oracle`: each target demo's
    partner is its twin (the oracle arms' pairing), for runs on the twin sim. On one thread, as `probe`. None for a
    run without a checkpoint or not on a sim."""
    from actot.data.sampler import CoTrainSampler
    from actot.evaluate import to_tensors
    from actot.export import rebuild_train_config
    from actot.ot import OTConfig
    from actot.ot.loss import cost_space, embedding_geometry
    from actot.run_data import load_data

    loaded = load_run(Path(run_dir))
    if loaded is None:
        return None
    cfg, data, _, _, model = loaded
    if pairs_from is not None:
        config = Path(pairs_from) / "config.json"
        data = load_data(rebuild_train_config(json.loads(config.read_text()), config))[0]
    kept, threads = data.pairing, torch.get_num_threads()
    if oracle:
        from bench.twins_oracle import oracle_pairing

        data.pairing = oracle_pairing(data, load_data(cfg)[1])
    torch.set_num_threads(1)
    try:
        sampler = CoTrainSampler(
            data, cfg.policy.chunk_size, PAIR_BATCH_ROWS, cfg.ot.batch_size, cfg.ot.window_size, seed=seed
        )
        n, ratios = cfg.ot.batch_size, {"unit": [], "raw": []}
        with torch.no_grad():
            for _ in range(batches):
                rows = {
                    k: v[: 2 * n]
                    for k, v in to_tensors(sampler.next(), torch.device("cpu")).items()
                    if k != "true_pair"
                }
                z = model.ot_embeddings(rows).float()
                z_src, z_tgt = z[:n], z[n:]
                for space, norm in (("unit", "l2"), ("raw", "none")):
                    compared = cost_space(OTConfig(embed_norm=norm), z_src, z_tgt)
                    ratios[space].append(
                        float(embedding_geometry(z_src, z_tgt, cfg.ot.weight_embed, compared)["ot_pair_ratio"])
                    )
    finally:
        data.pairing = kept
        torch.set_num_threads(threads)
    return {space: float(np.mean(values)) for space, values in ratios.items()} | {"batches": batches}


def probe_run(run_dir: Path) -> float | None:
    """The median goal error on the uncovered half's target frames, in success radii (transfer_study --probe)."""
    result = probe(run_dir)
    return None if result is None else result["target"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    for run_dir in argv:
        r = probe(Path(run_dir))
        print(
            f"{run_dir}: no checkpoint, or not a sim run"
            if r is None
            else f"{run_dir}: goal error (median, success radii): target uncovered {r['target']:.2f} (mean-goal guess "
            f"{r['chance']:.2f}), target covered {r['covered']:.2f}, held-out source {r['source']:.2f}; fitted on "
            f"{r['frames']} source frames",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
