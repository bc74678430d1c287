"""The embedded two-domain task: a planar point robot must reach a goal that only cameras show.

World: the square [-1, 1]^2. State (4-D): robot position and velocity. Action (2-D): a velocity
command in [-1, 1]^2; position moves by DT * velocity per step. The goal (red disk) and a
distractor (blue disk) are in no state vector: only the three cameras see them, so a policy
must use vision. Success: the robot within SUCCESS_RADIUS of the goal.

Two visual domains render the same world: `source` (clean "sim") and `target` (shifted colours,
texture noise, camera offset and blur, scaled by `shift`). `ReachEnv` runs N copies at once.
"""

from __future__ import annotations

import numpy as np

DT = 0.06
SUCCESS_RADIUS = 0.1
MAX_STEPS = 80
FPS = 10
CAMERAS = ("observation.images.top", "observation.images.side", "observation.images.wrist")
TASK = "Reach the red disk."
GOAL_RADIUS, DISTRACTOR_RADIUS, ROBOT_RADIUS = 0.13, 0.13, 0.08

# Camera: pixel coords in [-1, 1]^2 -> world = centre + rotation(angle) @ (half_width * uv).
# The wrist camera is centred on the robot.
_CAMERA_GEOMETRY = {
    "observation.images.top": dict(centre=(0.0, 0.0), half_width=1.15, angle=0.0, follow=False),
    "observation.images.side": dict(centre=(0.1, -0.1), half_width=1.4, angle=np.deg2rad(35.0), follow=False),
    "observation.images.wrist": dict(centre=(0.0, 0.0), half_width=0.7, angle=0.0, follow=True),
}
_SOURCE_COLOURS = dict(floor=(200, 200, 190), tile=(170, 170, 160), goal=(220, 40, 40),
                       distractor=(40, 60, 220), robot=(30, 170, 60))
# Target style: a fixed colour mixing (hue drift and a warm cast), scaled by `shift`.
_TARGET_MIX = np.array([[0.75, 0.25, 0.0], [0.05, 0.8, 0.15], [0.2, 0.1, 0.7]])
_TARGET_CAST = np.array([25.0, 10.0, -20.0])


def sample_initial_states(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 7): robot xy, goal xy, distractor xy, and an expert 'style' (how much it curves)."""
    out = np.zeros((n, 7))
    for i in range(n):
        while True:
            robot, goal, distractor = rng.uniform(-0.8, 0.8, size=(3, 2))
            if (np.linalg.norm(goal - robot) > 0.7 and np.linalg.norm(distractor - goal) > 0.45
                    and np.linalg.norm(distractor - robot) > 0.3):
                break
        out[i] = [*robot, *goal, *distractor, rng.uniform(-0.6, 0.6)]
    return out


def expert_action(state: np.ndarray, init: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """Scripted expert: head for the goal, curving by the episode's style, with Gaussian noise."""
    to_goal = init[:, 2:4] - state[:, 0:2]
    dist = np.linalg.norm(to_goal, axis=1, keepdims=True) + 1e-9
    direction = to_goal / dist
    perpendicular = np.stack([-direction[:, 1], direction[:, 0]], axis=1)
    curve = init[:, 6:7] * np.clip(dist - 0.2, 0.0, None)
    speed = np.clip(dist / 0.35, 0.25, 1.0)
    action = speed * (direction + curve * perpendicular) + noise * rng.standard_normal(state[:, :2].shape)
    return np.clip(action, -1.0, 1.0)


class Renderer:
    """Draws the world for every camera in one domain, vectorised over environments."""

    def __init__(self, domain: str, shift: float = 2.0, size: int = 64, seed: int = 0):
        if domain not in ("source", "target"):
            raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
        self.domain, self.size = domain, size
        self.shift = float(shift) if domain == "target" else 0.0
        lin = (np.arange(size) + 0.5) / size * 2.0 - 1.0
        u, v = np.meshgrid(lin, -lin)  # image rows go down, world y goes up
        self.uv = np.stack([u, v], axis=-1).reshape(-1, 2)
        texture_rng = np.random.default_rng(10_000 + seed)
        self.texture = texture_rng.normal(0.0, 1.0, size=(len(CAMERAS), size, size, 1)).astype(np.float32)
        self.noise_rng = np.random.default_rng(20_000 + seed)

    def _world_coords(self, camera: str, robot_xy: np.ndarray) -> np.ndarray:
        geometry = _CAMERA_GEOMETRY[camera]
        angle = geometry["angle"] + np.deg2rad(6.0) * self.shift
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        centre = np.asarray(geometry["centre"]) + 0.08 * self.shift
        points = (self.uv * geometry["half_width"]) @ rotation.T  # (P, 2)
        if geometry["follow"]:
            return robot_xy[:, None, :] + points[None]
        return np.broadcast_to(centre + points, (len(robot_xy), *points.shape))

    def render(self, robot_xy: np.ndarray, init: np.ndarray) -> dict[str, np.ndarray]:
        n = len(robot_xy)
        colours = {k: np.asarray(c, dtype=np.float32) for k, c in _SOURCE_COLOURS.items()}
        frames = {}
        for cam_index, camera in enumerate(CAMERAS):
            world = self._world_coords(camera, robot_xy).astype(np.float32)  # (n, P, 2)
            tiles = ((np.floor(world[..., 0] * 4) + np.floor(world[..., 1] * 4)) % 2)[..., None]
            image = colours["floor"] * (1 - tiles) + colours["tile"] * tiles
            outside = (np.abs(world) > 1.0).any(-1, keepdims=True)
            image = np.where(outside, np.float32(90.0), image)
            for key, centre, radius in (("distractor", init[:, 4:6], DISTRACTOR_RADIUS),
                                        ("goal", init[:, 2:4], GOAL_RADIUS),
                                        ("robot", robot_xy, ROBOT_RADIUS)):
                offset = world - centre[:, None, :].astype(np.float32)
                inside = (offset * offset).sum(-1, keepdims=True) < radius * radius
                image = np.where(inside, colours[key], image)
            image = image.reshape(n, self.size, self.size, 3)
            if self.shift > 0:
                image = self._target_style(image, cam_index)
            frames[camera] = np.clip(np.round(image), 0, 255).astype(np.uint8)
        return frames

    def _target_style(self, image: np.ndarray, cam_index: int) -> np.ndarray:
        s = self.shift
        mix = (np.eye(3) + s * (_TARGET_MIX - np.eye(3))).astype(np.float32)
        image = image @ mix.T + np.float32(s) * _TARGET_CAST.astype(np.float32)
        image = image + s * 18.0 * self.texture[cam_index][None]
        image = image + s * 6.0 * self.noise_rng.standard_normal(image.shape, dtype=np.float32)
        padded = np.pad(image, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        blurred = sum(padded[:, i:i + self.size, j:j + self.size] for i in range(3) for j in range(3)) / 9.0
        weight = min(s, 1.0)
        return (1 - weight) * image + weight * blurred


class ReachEnv:
    """N copies of the task in one domain: `reset()` then `step(actions)` until `done`.

    Observations are dicts with LeRobot keys: 'observation.state' (N, 4) float32 and each
    camera's (N, size, size, 3) uint8 frames.
    """

    def __init__(self, num_envs: int, domain: str = "target", shift: float = 2.0, size: int = 64,
                 seed: int = 0, max_steps: int = MAX_STEPS):
        self.num_envs, self.max_steps = num_envs, max_steps
        self.renderer = Renderer(domain, shift, size, seed)
        self.rng = np.random.default_rng(seed)
        self.init = np.zeros((num_envs, 7))
        self.state = np.zeros((num_envs, 4))
        self.success = np.zeros(num_envs, dtype=bool)
        self.steps = 0

    def reset(self, initial_states: np.ndarray | None = None) -> dict[str, np.ndarray]:
        self.init = sample_initial_states(self.rng, self.num_envs) if initial_states is None else np.asarray(initial_states, float)
        self.state = np.concatenate([self.init[:, 0:2], np.zeros((self.num_envs, 2))], axis=1)
        self.success = np.zeros(self.num_envs, dtype=bool)
        self.steps = 0
        return self.observation()

    def observation(self) -> dict[str, np.ndarray]:
        obs = {"observation.state": self.state.astype(np.float32)}
        obs.update(self.renderer.render(self.state[:, 0:2], self.init))
        return obs

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, bool]:
        """Advance every copy; returns (observation, success so far per copy, all done)."""
        velocity = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        position = np.clip(self.state[:, 0:2] + DT * velocity, -1.0, 1.0)
        self.state = np.concatenate([position, velocity], axis=1)
        self.steps += 1
        reached = np.linalg.norm(position - self.init[:, 2:4], axis=1) < SUCCESS_RADIUS
        self.success |= reached
        done = bool(self.success.all() or self.steps >= self.max_steps)
        return self.observation(), self.success.copy(), done
