"""One training step, and what it runs on: the device, the model and its optimiser, and the step itself.

`train_step` is the step the training loop takes, and the one the cost estimate (actot/cost.py) and the step benchmarks
(bench/bench_train_step.py, bench/bench_embedding.py) time: the losses of one batch [OT source | OT target | BC rows]
(`step_losses`: L_bc through ACT, L_ot on the OT pairs' embeddings), their backward pass (at a log step split in two
to measure OT's push against BC's, `backward_measuring_ot_share`), gradient clipping, AdamW and the EMA update.
The learning rate is the caller's: the loop's schedule (actot/optim.py) sets it before each step.
"""

from __future__ import annotations

import torch

from actot.config import TrainConfig, resolve_policy
from actot.data.sampler import CoTrainData
from actot.errors import ActotError
from actot.evaluate import to_tensors
from actot.ema import WeightEMA
from actot.ot.loss import make_label, ot_loss
from actot.policy.act import ACT, act_loss
from actot.profiling import no_lap


def pick_device(name: str) -> torch.device:
    """The torch device of `device=`: auto is CUDA where there is one; a CUDA device asked for where there is none is
    the user's error, not a silent CPU run."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ActotError(f"device={name} but CUDA is not available here; use device=cpu or device=auto")
    return torch.device(name)


def make_optimizer(model: ACT, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW, with the image backbone in a group of its own at policy.lr_backbone (as LeRobot's ACT trains it)."""
    backbone = [p for n, p in model.named_parameters() if n.startswith("backbone.") and p.requires_grad]
    rest = [p for n, p in model.named_parameters() if not n.startswith("backbone.") and p.requires_grad]
    groups = [{"params": rest, "lr": cfg.policy.lr}]
    if backbone:
        groups.append({"params": backbone, "lr": cfg.policy.lr_backbone})
    return torch.optim.AdamW(groups, lr=cfg.policy.lr, weight_decay=cfg.policy.weight_decay)


def build_model(cfg: TrainConfig, data: CoTrainData, device) -> tuple[TrainConfig, ACT, torch.optim.Optimizer]:
    """(cfg with the policy's pooling resolved for the data, the ACT model on `device`, its optimiser)."""
    cfg = resolve_policy(cfg, len(data.cameras), data.source.frame_size)
    model = ACT(cfg.policy, data.state_dim, data.action_dim, len(data.cameras), cfg.ot.embedding).to(device)
    return cfg, model, make_optimizer(model, cfg)


def step_losses(model: ACT, batch: dict, cfg: TrainConfig, use_amp: bool = False, lap=no_lap):
    """(L_bc, its parts, L_ot, OT metrics) for one batch [OT source | OT target | BC rows].

    BC sees the BC rows only (all rows with `bc_on_ot_rows`); the OT pairs go through the image
    encoder alone. With `ot_rows=bc` the OT pairs are BC rows (the sampler drew them so): every row goes
    through ACT once and the OT embeddings are those of that pass. With lambda_ot = 0 the plan is still
    solved, for its metrics, without a graph.
    """
    n_ot = cfg.ot.batch_size
    rows = {k: v for k, v in batch.items() if k != "true_pair"}
    ot_rows = {k: v[: 2 * n_ot] for k, v in rows.items()}
    ot_in_bc = cfg.bc_on_ot_rows or cfg.ot_rows == "bc"
    bc_rows = rows if ot_in_bc else {k: v[2 * n_ot :] for k, v in rows.items()}
    device_type = batch["state"].device.type
    with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=use_amp):
        actions, vae_stats, bc_embeddings = model(bc_rows)
        bc_loss, parts = act_loss(cfg.policy, actions.float(), vae_stats, bc_rows)
        lap("forward")
        if ot_in_bc:
            embeddings = bc_embeddings[: 2 * n_ot]
        else:
            with torch.set_grad_enabled(cfg.ot.lambda_ot > 0 and torch.is_grad_enabled()):
                embeddings = model.ot_embeddings(ot_rows)
    embeddings = embeddings.float()
    label = make_label(cfg.ot.label, ot_rows["state"], ot_rows["action"], cfg.ot.label_dims)
    l_ot, ot_metrics = ot_loss(
        cfg.ot,
        embeddings[:n_ot],
        embeddings[n_ot:],
        label[:n_ot],
        label[n_ot:],
        ot_rows["state"][:n_ot],
        ot_rows["state"][n_ot:],
        batch.get("true_pair"),
    )
    lap("ot")
    return bc_loss, parts, l_ot, ot_metrics


def backward_measuring_ot_share(bc_loss: torch.Tensor, ot_term: torch.Tensor, shared: list) -> torch.Tensor:
    """Backpropagate bc_loss + ot_term; return ||grad ot_term|| / ||grad bc_loss|| on `shared`.

    Two backward passes into the same .grad buffers (the sum is the usual gradient); the BC part
    is copied in between. Costs one copy of the shared gradients, so it runs at log steps only.
    """
    bc_loss.backward(retain_graph=ot_term.requires_grad)
    bc_grads = [None if p.grad is None else p.grad.detach().clone() for p in shared]
    if ot_term.requires_grad:
        ot_term.backward()
    zero = bc_loss.new_zeros(())
    bc_sq = sum((g.float().pow(2).sum() for g in bc_grads if g is not None), zero)
    ot_sq = sum(
        (
            (p.grad - g if g is not None else p.grad).float().pow(2).sum()
            for p, g in zip(shared, bc_grads)
            if p.grad is not None
        ),
        zero,
    )
    return ot_sq.sqrt() / bc_sq.sqrt().clamp_min(1e-12)


def train_step(
    model: ACT,
    optimizer: torch.optim.Optimizer,
    batch: dict,
    cfg: TrainConfig,
    use_amp: bool = False,
    ema: WeightEMA | None = None,
    shared: list | None = None,
    lap=no_lap,
    losses=step_losses,
) -> tuple[torch.Tensor, dict, torch.Tensor | None]:
    """One optimiser step on `batch`: its losses, their gradients (clipped), AdamW at the optimiser's current learning
    rates and, given `ema`, the EMA's update. Returns (loss, the values a log window averages, OT's share of the
    gradient on `shared` when given, else None), all left on the device: nothing is read back here, so that a GPU step
    never waits for the host. `losses` is the step's forward, `step_losses`; a benchmark's ACT-alone baseline passes
    one that has no OT (its L_ot 0)."""
    bc_loss, parts, l_ot, ot_metrics = losses(model, batch, cfg, use_amp, lap)
    ot_term = cfg.ot.lambda_ot * l_ot
    loss = bc_loss + ot_term
    optimizer.zero_grad(set_to_none=True)
    grad_ratio = None
    if shared is not None:
        grad_ratio = backward_measuring_ot_share(bc_loss, ot_term, shared)
    else:
        loss.backward()
    lap("backward")
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.policy.grad_clip_norm)
    values = {
        "train/loss": loss,
        "train/l1_loss": parts["l1_loss"],
        "train/kld_loss": parts["kld_loss"],
        "train/grad_norm": grad_norm,
        **ot_metrics,
    }
    optimizer.step()
    if ema is not None:
        ema.update(model)
    lap("optimiser")
    return loss, values, grad_ratio


def initial_embed_norm(model: ACT, sampler, cfg: TrainConfig, device) -> float:
    """`ot_embed_norm` of the untrained model on the first OT batch; the sampler's draws are put back,
    so training sees the same batches as without this measurement."""
    state = sampler.state_dict()
    batch = to_tensors(sampler.next(), device)
    sampler.load_state_dict(state)
    rows = {k: v[: 2 * cfg.ot.batch_size] for k, v in batch.items() if k != "true_pair"}
    with torch.no_grad():
        return float(model.ot_embeddings(rows).float().norm(dim=-1).mean())
