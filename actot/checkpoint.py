"""A run's checkpoint: everything a resumed run needs to continue bit for bit, in `<run>/checkpoint/state.pt`.

The trained weights ("model"), their EMA ("ema": the weights evaluation used, and its number of updates), the
optimiser, the step, the torch RNG (and CUDA's where there is one), the sampler's state and the history so far, and
the W&B run id (so that a resumed run logs into the same W&B run). Written atomically (a killed run keeps its last
whole checkpoint) and loaded with `weights_only=True`. The exporter reads the same file (`CHECKPOINT_FILE`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from actot.errors import ActotError
from actot.ema import WeightEMA

CHECKPOINT_FILE = "state.pt"


def save_checkpoint(
    path: Path,
    model,
    optimizer,
    sampler,
    step: int,
    history: list[dict],
    run_id: str | None,
    ema: WeightEMA | None = None,
) -> Path:
    """Everything a resumed run needs: the trained weights ("model"), their EMA ("ema": the weights
    evaluation used, and its number of updates), optimiser, RNGs, sampler, history."""
    path.mkdir(parents=True, exist_ok=True)
    state = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": step,
        "torch_rng": torch.get_rng_state(),
        "sampler": sampler.state_dict(),
        "history": history,
        "run_id": run_id or "",
    }
    if ema is not None:
        state["ema"] = ema.state_dict()
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    tmp = path / (CHECKPOINT_FILE + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path / CHECKPOINT_FILE)
    return path


def load_checkpoint(path: Path) -> dict:
    """The checkpoint in the folder `path`, its tensors on the CPU; a one-line error where there is none."""
    file = Path(path) / CHECKPOINT_FILE
    if not file.is_file():
        raise ActotError(f"no checkpoint at {file}; start without resume=true or point to a run folder that has one")
    return torch.load(file, map_location="cpu", weights_only=True)


def restore_checkpoint(
    path: Path, model, optimizer, sampler, ema: WeightEMA | None = None
) -> tuple[int, list[dict], str | None]:
    """Load the checkpoint in `path` into the run's model, optimiser, EMA, sampler and RNGs (built as a fresh run
    builds them); return (its step, its history, its W&B run id or None)."""
    state = load_checkpoint(path)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if ema is not None:
        if "ema" not in state:
            raise ActotError(
                f"ema_decay={ema.decay}, but the checkpoint in {path} has no EMA weights "
                "(it was trained with ema_decay=0); resume it with ema_decay=0"
            )
        ema.load_state_dict(state["ema"])
    sampler.load_state_dict(state["sampler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), list(state["history"]), state["run_id"] or None
