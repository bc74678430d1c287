"""The policy acting closed loop: one `select_action(observation)` for evaluation's rollouts, the exported
policy and its loader (LeRobot's `ACTPolicy.select_action`, with normalisation inside).

    policy = Policy(model, stats, std_floor, camera_keys, resolution, resize=resize_frames)
    policy.reset()                                # at the start of every episode
    action = policy.select_action(observation)    # LeRobot keys in, un-normalised action out

`actot.evaluate.rollout_metrics` drives the simulator with it and `actot.export.load_policy` returns it,
so the actions a rollout sends and those an exported policy gives are computed by the same lines:

- state normalised as (x - mean) / max(std, std_floor), on the CPU in float32;
- each camera quantised to the uint8 frames training saw (a float image in [0, 1] as round(x * 255)) and
  resized to the trained resolution by `resize` (the function that made the training frames; the policy
  layer does not import the data layer, so the caller passes it);
- one chunk predicted when the queue is empty, `n_action_steps` of its actions executed, or with
  `temporal_ensemble_coeff` set one chunk per step through `TemporalEnsembler`;
- the action un-normalised as y * max(std, std_floor) + mean.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from actot.errors import ActotError
from actot.policy.act import ACT, make_ensembler
from actot.policy.config import ACTConfig

STATE_KEY = "observation.state"
ACTION_KEY = "action"
# The stats a policy carries, keyed as LeRobot's normaliser keys them.
STAT_KEYS = (f"{STATE_KEY}.mean", f"{STATE_KEY}.std", f"{ACTION_KEY}.mean", f"{ACTION_KEY}.std")


class Policy:
    """An ACT network acting on LeRobot-style observations.

    `select_action(obs)` takes `observation.state`, a tensor (state_dim,) or (B, state_dim) (a numpy array
    too), and each camera as `observation.images.<cam>`, channels first: a float tensor (3, H, W) or
    (B, 3, H, W) in [0, 1] (LeRobot's convention) or uint8 in [0, 255]. It returns the un-normalised action
    as a float32 CPU tensor: (action_dim,) for an unbatched state, (B, action_dim) for a batch. Call
    `reset()` at the start of each episode: it clears the queued chunk or the temporal ensemble.

    model: the network (its mode is the caller's: `eval()` it to act). stats: `STAT_KEYS` -> tensors (or
    arrays). camera_keys: the observation keys of the cameras, in the order the network stacks them.
    resolution: the trained (H, W) of the frames (None without cameras). resize: uint8 (N, H, W, 3) frames,
    (H, W) -> the frames at that size; None takes frames only at the trained resolution. camera_aliases:
    another name a camera may come under (the target robot's), by camera key. device: where the network
    runs (default: where its parameters are); normalisation runs on the CPU either way.
    """

    def __init__(
        self,
        model: ACT,
        stats: dict,
        std_floor: float,
        camera_keys: list[str],
        resolution: tuple[int, int] | None,
        resize: Callable | None = None,
        camera_aliases: dict[str, str] | None = None,
        device: torch.device | str | None = None,
    ):
        missing = [k for k in STAT_KEYS if k not in stats]
        if missing:
            raise ActotError(f"policy stats: {missing} missing; a policy needs {list(STAT_KEYS)}")
        if len(camera_keys) != model.n_cameras:
            raise ActotError(
                f"policy: {len(camera_keys)} camera key(s) {camera_keys} for a network of {model.n_cameras} camera(s)"
            )
        self.model = model
        self.cfg: ACTConfig = model.cfg
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.camera_keys = list(camera_keys)
        self.camera_aliases = {k: k for k in self.camera_keys} | dict(camera_aliases or {})
        self.resolution = tuple(int(v) for v in resolution) if camera_keys else None
        self.resize = resize
        stats = {k: torch.as_tensor(stats[k]).detach().cpu() for k in STAT_KEYS}
        floor = torch.tensor(std_floor, dtype=torch.float32)
        # Normalisation runs on the CPU in float32, as numpy's float32 arithmetic would: the same numbers.
        self.state_mean, self.action_mean = stats[f"{STATE_KEY}.mean"], stats[f"{ACTION_KEY}.mean"]
        self.state_denom = torch.maximum(stats[f"{STATE_KEY}.std"], floor)
        self.action_denom = torch.maximum(stats[f"{ACTION_KEY}.std"], floor)
        self.state_dim, self.action_dim = len(self.state_mean), len(self.action_mean)
        self.ensembler = make_ensembler(self.cfg)
        self.queue: list[torch.Tensor] = []

    def reset(self) -> None:
        """Forget the episode so far (the queued actions, the ensemble)."""
        self.queue = []
        if self.ensembler is not None:
            self.ensembler.reset()

    @property
    def predicts_next(self) -> bool:
        """Whether the next `select_action` runs the network (and so reads the cameras): every step under
        temporal ensembling, else when the queue is empty. A simulator can skip drawing frames otherwise."""
        return self.ensembler is not None or not self.queue

    def _state(self, obs: dict) -> tuple[torch.Tensor, bool]:
        if STATE_KEY not in obs:
            raise ActotError(
                f"observation: no '{STATE_KEY}' key; the policy needs it ({self.state_dim} values) and "
                f"{self.camera_keys or 'no camera'}"
            )
        state = torch.as_tensor(obs[STATE_KEY]).detach().cpu()
        single = state.dim() == 1
        state = state[None] if single else state
        if state.dim() != 2 or state.shape[1] != self.state_dim:
            raise ActotError(
                f"observation: '{STATE_KEY}' has shape {tuple(state.shape)}; expected ({self.state_dim},) "
                f"or (batch, {self.state_dim})"
            )
        if not state.is_floating_point():
            state = state.float()
        return ((state - self.state_mean) / self.state_denom).float(), single

    def _frames(self, obs: dict, key: str, batch: int) -> np.ndarray:
        """One camera as uint8 (B, H, W, 3) at the trained resolution."""
        name = key if key in obs else self.camera_aliases[key]
        if name not in obs:
            also = f" (or '{name}')" if name != key else ""
            raise ActotError(f"observation: no '{key}'{also} key; the policy's cameras are {self.camera_keys}")
        image = torch.as_tensor(obs[name]).detach().cpu()
        image = image[None] if image.dim() == 3 else image
        if image.dim() != 4 or image.shape[1] != 3 or image.shape[0] != batch:
            raise ActotError(
                f"observation: '{name}' has shape {tuple(image.shape)}; expected (3, H, W) or "
                f"({batch}, 3, H, W), channels first as LeRobot gives them"
            )
        if image.is_floating_point():
            low, high = float(image.min()), float(image.max())
            if low < 0.0 or high > 1.0:
                raise ActotError(
                    f"observation: '{name}' holds values in [{low:.3g}, {high:.3g}]; a float image must "
                    "be in [0, 1] (LeRobot's convention: uint8 / 255)"
                )
            image = (image * 255).round().to(torch.uint8)  # back to the uint8 frames training saw, exactly
        elif image.dtype != torch.uint8:
            raise ActotError(f"observation: '{name}' has dtype {image.dtype}; give float in [0, 1] or uint8")
        frames = image.permute(0, 2, 3, 1).numpy()
        if tuple(frames.shape[1:3]) == self.resolution:
            return frames
        if self.resize is None:
            raise ActotError(
                f"observation: '{name}' is {frames.shape[1]}x{frames.shape[2]}; this policy takes frames "
                f"at its trained resolution {self.resolution[0]}x{self.resolution[1]}"
            )
        return self.resize(frames, self.resolution)

    @torch.no_grad()
    def select_action(self, obs: dict) -> torch.Tensor:
        """The action to execute now (see the class docstring for shapes)."""
        state, single = self._state(obs)
        if self.predicts_next:
            batch = {"state": state.to(self.device)}
            if self.camera_keys:
                images = np.stack([self._frames(obs, key, len(state)) for key in self.camera_keys], axis=1)
                batch["images"] = torch.from_numpy(np.ascontiguousarray(images)).to(self.device)
            chunk, _, _ = self.model(batch)
            if self.ensembler is not None:
                self.queue = [self.ensembler.update(chunk.float()).cpu()]
            else:
                self.queue = list(chunk.float().cpu().transpose(0, 1)[: self.cfg.n_action_steps])
        action = self.queue.pop(0) * self.action_denom + self.action_mean
        return action[0] if single else action
