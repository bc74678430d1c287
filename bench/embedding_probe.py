"""Why does OT help or hurt? Train configs, then measure what the OT loss did to the embeddings.

    python -m bench.embedding_probe --steps 400 --config "cotrain:ot.lambda_ot=0" --config "R1:"

For each trained model, over 16 OT batches of the embedded sim (target frames and the source
frames the sampler pairs with them, plus each target demo's ground-truth nearest source demo):

- scale: mean ||z|| of the camera embeddings (the OT cost is squared Euclidean, so shrinking
  every embedding lowers it without aligning anything);
- paired / shuffled: mean squared distance of the sampler's pairs over that of random
  source-target pairs in the same batch. Scale-free: 1 means pairs are no closer than strangers
  (no alignment), near 0 means paired frames embed alike across the domain gap;
- same, restricted to pairs whose source comes from the truly nearest source demo.
"""

from __future__ import annotations

import argparse

import torch


def probe(cfg, model, data, true_pairs, batches: int = 16) -> dict:
    from actot.data.sampler import CoTrainSampler
    from actot.evaluate import to_tensors

    sampler = CoTrainSampler(
        data,
        cfg.policy.chunk_size,
        cfg.batch_size,
        cfg.ot.batch_size,
        cfg.ot.window_size,
        seed=999,
        true_pairs=true_pairs,
    )
    n = cfg.ot.batch_size
    scale, paired, shuffled, true_paired = [], [], [], []
    model.eval()
    with torch.no_grad():
        for _ in range(batches):
            batch = to_tensors(sampler.next(), torch.device("cpu"))
            z = model.ot_embeddings({k: v[: 2 * n] for k, v in batch.items() if k != "true_pair"}).flatten(1)
            src, tgt = z[:n], z[n:]
            scale.append(z.norm(dim=1).mean())
            d = torch.cdist(src, tgt) ** 2
            paired.append(torch.diagonal(d).mean())
            shuffled.append(d.mean())
            if "true_pair" in batch:
                mask = torch.diagonal(batch["true_pair"]).bool()
                if mask.any():
                    true_paired.append(torch.diagonal(d)[mask].mean())
    mean = lambda xs: float(torch.stack(xs).mean()) if xs else float("nan")  # noqa: E731
    return {
        "scale": mean(scale),
        "paired/shuffled": mean(paired) / mean(shuffled),
        "true-paired/shuffled": mean(true_paired) / mean(shuffled),
        "shuffled": mean(shuffled),
    }


def main() -> None:
    from actot.config import parse_cli
    from actot.policy.act import ACT
    from actot.run_data import load_data
    from actot.train import train

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", action="append", help="NAME:key=value ... (repeatable)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/embedding_probe")
    args = parser.parse_args()
    print(
        f"{'config':12} {'when':8} {'scale ||z||':>12} {'paired/shuffled':>16} {'true-paired/shuffled':>21} "
        f"{'shuffled d^2':>13} {'success':>8}"
    )
    for spec in args.config or ["cotrain:ot.lambda_ot=0", "R1:"]:
        name, words = spec.split(":", 1)
        cfg = parse_cli(
            [
                f"steps={args.steps}",
                "log_every=100",
                "wandb.mode=disabled",
                f"out_dir={args.out}",
                f"name={name}-s{args.seed}",
                f"seed={args.seed}",
                *words.split(),
            ]
        )
        data, true_pairs, _ = load_data(cfg)
        torch.manual_seed(cfg.seed)
        fresh = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras))
        before = probe(cfg, fresh, data, true_pairs)
        result = train(cfg, progress=False)
        state = torch.load(result.run_dir / "checkpoint" / "state.pt", map_location="cpu", weights_only=True)
        fresh.load_state_dict(state["model"])
        after = probe(cfg, fresh, data, true_pairs)
        success = result.metrics.get("eval/success", float("nan"))
        for when, m in (("init", before), ("trained", after)):
            print(
                f"{name:12} {when:8} {m['scale']:>12.4f} {m['paired/shuffled']:>16.3f} "
                f"{m['true-paired/shuffled']:>21.3f} {m['shuffled']:>13.4g} "
                f"{success if when == 'trained' else float('nan'):>8.2f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
