"""The embedded two-domain task: a planar point robot must reach a goal that only cameras show.

World: the square [-1, 1]^2. State (4-D): robot position and velocity. Action (2-D): a velocity
command in [-1, 1]^2; position moves by DT * velocity per step. The goal (red disk) and a
distractor (blue disk) are in no state vector: only the three cameras see them, so a policy
must use vision. Success: the robot within SUCCESS_RADIUS of the goal.

Two visual domains render the same world: `source` (clean "sim") and `target` (shifted colours,
texture noise and blur, scaled by `appearance`; rotated and moved cameras, scaled by `geometry`;
both default to `shift`). `ReachEnv` runs N copies at once.
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
_SOURCE_COLOURS = dict(
    floor=(200, 200, 190), tile=(170, 170, 160), goal=(220, 40, 40), distractor=(40, 60, 220), robot=(30, 170, 60)
)
# Target style: a fixed colour mixing (hue drift and a warm cast), scaled by `appearance`.
_TARGET_MIX = np.array([[0.75, 0.25, 0.0], [0.05, 0.8, 0.15], [0.2, 0.1, 0.7]])
_TARGET_CAST = np.array([25.0, 10.0, -20.0])


# Regions of the workspace a demo's goal may be restricted to (the target demos' coverage).
REGIONS = ("all", "left_half", "lower_left")


def in_region(goal_xy: np.ndarray, region: str) -> np.ndarray:
    """(n,) bool: which goals (n, 2) lie in `region` ('all', 'left_half': x < 0, 'lower_left': x, y < 0)."""
    goal_xy = np.atleast_2d(goal_xy)
    if region == "all":
        return np.ones(len(goal_xy), dtype=bool)
    if region == "left_half":
        return goal_xy[:, 0] < 0.0
    if region == "lower_left":
        return (goal_xy[:, 0] < 0.0) & (goal_xy[:, 1] < 0.0)
    raise ValueError(f"region must be one of {REGIONS}, got {region!r}")


def sample_initial_states(rng: np.random.Generator, n: int, region: str = "all") -> np.ndarray:
    """(n, 7): robot xy, goal xy, distractor xy, and an expert 'style' (how much it curves).

    `region` restricts the goal (rejection sampling, so the rest of the layout keeps its law).
    """
    out = np.zeros((n, 7))
    for i in range(n):
        while True:
            robot, goal, distractor = rng.uniform(-0.8, 0.8, size=(3, 2))
            if (
                np.linalg.norm(goal - robot) > 0.7
                and np.linalg.norm(distractor - goal) > 0.45
                and np.linalg.norm(distractor - robot) > 0.3
                and in_region(goal, region)[0]
            ):
                break
        out[i] = [*robot, *goal, *distractor, rng.uniform(-0.6, 0.6)]
    return out


def layout_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ground-truth dissimilarity of demos (n_a, n_b): Euclidean distance of [robot start, goal].

    A demo's state/action trajectory runs from the robot's start to the goal, so two demos with
    close starts and goals are the similar ones that DTW pairing should find.
    """
    fa, fb = np.asarray(a)[:, 0:4], np.asarray(b)[:, 0:4]
    return np.sqrt(((fa[:, None, :] - fb[None, :, :]) ** 2).sum(-1))


def goal_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance between the demos' goals (n_a, n_b): how far apart two demos end (success is SUCCESS_RADIUS)."""
    ga, gb = np.asarray(a)[:, 2:4], np.asarray(b)[:, 2:4]
    return np.sqrt(((ga[:, None, :] - gb[None, :, :]) ** 2).sum(-1))


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


_FLOOR, _TILE, _OUTSIDE, _DISTRACTOR, _GOAL, _ROBOT = range(6)  # label of a pixel, index into the palette
NOISE_BANK = 32  # per-frame sensor noise is drawn from this many fixed patterns per camera (cheap, same law)


class Renderer:
    """Draws the world for every camera in one domain, vectorised over environments.

    Each pixel gets a label (floor, tile, outside, distractor, goal, robot), then a colour from
    the domain's palette; the target style adds a fixed texture (from `style_seed`, so a dataset
    and the rollouts of a policy trained on it look alike), per-frame noise and blur. The static
    cameras' floor and the goal/distractor discs are labelled once per layout, so a step only
    redraws the robot (and the wrist camera, which moves with it).

    The target's gap has two strengths, in units of `shift` (None: `shift`): `appearance` (colours,
    texture, noise, blur) and `geometry` (every camera rotated, the static ones moved too). The
    source has neither.
    """

    def __init__(
        self,
        domain: str,
        shift: float = 2.0,
        size: int = 64,
        style_seed: int = 0,
        noise_seed: int = 0,
        appearance: float | None = None,
        geometry: float | None = None,
    ):
        if domain not in ("source", "target"):
            raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
        self.domain, self.size = domain, size
        target = domain == "target"
        self.appearance = float(shift if appearance is None else appearance) if target else 0.0
        self.geometry = float(shift if geometry is None else geometry) if target else 0.0
        lin = (np.arange(size) + 0.5) / size * 2.0 - 1.0
        u, v = np.meshgrid(lin, -lin)  # image rows go down, world y goes up
        uv = np.stack([u, v], axis=-1).reshape(-1, 2)
        self.points, self.static_labels = {}, {}
        for camera, pose in _CAMERA_GEOMETRY.items():
            angle = pose["angle"] + np.deg2rad(6.0) * self.geometry
            rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
            points = (uv * pose["half_width"]) @ rotation.T  # (P, 2)
            if not pose["follow"]:
                points = points + np.asarray(pose["centre"]) + 0.08 * self.geometry
                self.static_labels[camera] = self._floor_labels(points[None].astype(np.float32))[0]
            self.points[camera] = points.astype(np.float32)
        palette = np.array(
            [
                _SOURCE_COLOURS["floor"],
                _SOURCE_COLOURS["tile"],
                (90.0, 90.0, 90.0),
                _SOURCE_COLOURS["distractor"],
                _SOURCE_COLOURS["goal"],
                _SOURCE_COLOURS["robot"],
            ]
        )
        s = self.appearance
        if s > 0:  # the target's colour mixing is affine per pixel: apply it to the palette once
            mix = np.eye(3) + s * (_TARGET_MIX - np.eye(3))
            palette = palette @ mix.T + s * _TARGET_CAST
        self.palette = palette.astype(np.float32)
        style_rng = np.random.default_rng(10_000 + style_seed)
        texture = style_rng.normal(0.0, 1.0, size=(len(CAMERAS), size * size, 1)).astype(np.float32)
        self.texture = np.float32(s * 18.0) * texture
        self.noise_bank = np.float32(s * 6.0) * style_rng.standard_normal(
            (len(CAMERAS), NOISE_BANK, size * size, 3), dtype=np.float32
        )
        self.noise_rng = np.random.default_rng(20_000 + noise_seed)
        self._scene_init: np.ndarray | None = None
        self._scene: dict[str, np.ndarray] = {}

    @staticmethod
    def _floor_labels(world: np.ndarray) -> np.ndarray:
        """(n, P) uint8 labels of the bare table for world points (n, P, 2)."""
        tiles = ((np.floor(world[..., 0] * 4) + np.floor(world[..., 1] * 4)) % 2).astype(np.uint8)
        return np.where((np.abs(world) > 1.0).any(-1), np.uint8(_OUTSIDE), tiles)

    @staticmethod
    def _paint_disc(labels: np.ndarray, world: np.ndarray, centre: np.ndarray, radius: float, label: int) -> None:
        dx = world[..., 0] - centre[:, 0:1].astype(np.float32)
        dy = world[..., 1] - centre[:, 1:2].astype(np.float32)
        labels[dx * dx + dy * dy < np.float32(radius * radius)] = label

    def _paint_objects(self, labels: np.ndarray, world: np.ndarray, init: np.ndarray) -> None:
        self._paint_disc(labels, world, init[:, 4:6], DISTRACTOR_RADIUS, _DISTRACTOR)
        self._paint_disc(labels, world, init[:, 2:4], GOAL_RADIUS, _GOAL)

    def _set_scene(self, init: np.ndarray) -> None:
        """Label the static cameras' table, distractor and goal once per layout."""
        self._scene_init = np.array(init, copy=True)
        for camera, base in self.static_labels.items():
            labels = np.repeat(base[None], len(init), axis=0)
            self._paint_objects(labels, self.points[camera][None], init)
            self._scene[camera] = labels

    def render(self, robot_xy: np.ndarray, init: np.ndarray, rows: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Frames (len(rows), size, size, 3) uint8 per camera of copies `rows` (default: all).

        Noise is drawn for every copy whichever rows are drawn, so a copy's frames do not
        depend on which others are rendered.
        """
        if (
            self._scene_init is None
            or self._scene_init.shape != init.shape
            or not np.array_equal(self._scene_init, init)
        ):
            self._set_scene(init)
        rows = np.arange(len(robot_xy)) if rows is None else np.asarray(rows)
        n_all, n = len(robot_xy), len(rows)
        robot_xy, init = robot_xy[rows], init[rows]
        frames = {}
        for cam_index, camera in enumerate(CAMERAS):
            if camera in self._scene:
                world = self.points[camera][None]  # (1, P, 2): the same for every copy
                labels = self._scene[camera][rows]
            else:  # follows the robot
                world = robot_xy[:, None, :].astype(np.float32) + self.points[camera][None]
                labels = self._floor_labels(world)
                self._paint_objects(labels, world, init)
            self._paint_disc(labels, world, robot_xy, ROBOT_RADIUS, _ROBOT)
            image = self.palette[labels]  # (n, P, 3)
            if self.appearance > 0:
                noise = self.noise_rng.integers(NOISE_BANK, size=n_all)[rows]
                image = self._target_style(image, cam_index, noise)
            np.rint(image, out=image)
            frames[camera] = np.clip(image, 0, 255, out=image).astype(np.uint8).reshape(n, self.size, self.size, 3)
        return frames

    def skip(self, n_all: int) -> None:
        """Draw the per-frame noise that rendering `n_all` copies would draw, and nothing else: a frame
        rendered after skipped ones is then the frame it would have been had every step been rendered."""
        if self.appearance > 0:
            for _ in CAMERAS:
                self.noise_rng.integers(NOISE_BANK, size=n_all)

    def _target_style(self, image: np.ndarray, cam_index: int, noise: np.ndarray) -> np.ndarray:
        """Texture, per-frame noise (pattern `noise[i]` of the bank for copy i) and a 3x3 box blur."""
        n, size = len(image), self.size
        image += self.texture[cam_index][None]
        image += self.noise_bank[cam_index][noise]
        padded = np.empty((n, size + 2, size + 2, 3), dtype=np.float32)  # edge padding, written in place
        padded[:, 1:-1, 1:-1] = image.reshape(n, size, size, 3)
        padded[:, 0, 1:-1], padded[:, -1, 1:-1] = padded[:, 1, 1:-1], padded[:, -2, 1:-1]
        padded[:, :, 0], padded[:, :, -1] = padded[:, :, 1], padded[:, :, -2]
        rows = padded[:, :, 0:size] + padded[:, :, 1 : size + 1]  # separable box sum
        rows += padded[:, :, 2 : size + 2]
        blurred = rows[:, 0:size] + rows[:, 1 : size + 1]
        blurred += rows[:, 2 : size + 2]
        weight = min(self.appearance, 1.0)
        blurred *= np.float32(weight / 9.0)
        if weight < 1.0:
            blurred += np.float32(1.0 - weight) * image.reshape(n, size, size, 3)
        return blurred.reshape(n, size * size, 3)


class ReachEnv:
    """N copies of the task in one domain: `reset()` then `step(actions)` until `done`.

    Observations are dicts with LeRobot keys: 'observation.state' (N, 4) float32 and each
    camera's (N, size, size, 3) uint8 frames. `seed` draws the initial states (when `reset` is
    given none) and the per-frame noise; `style_seed` fixes the target's texture: pass the
    dataset's `SimConfig.seed` so that rollouts look exactly like the demos a policy learnt from.
    `appearance` and `geometry` split the target's gap (see `Renderer`); None follows `shift`.
    `region` restricts the goals that `reset()` samples (see `REGIONS`). `freeze_finished`
    skips rendering copies that already succeeded (success is final): evaluation's shortcut;
    the other copies' frames are unchanged by it.
    """

    def __init__(
        self,
        num_envs: int,
        domain: str = "target",
        shift: float = 2.0,
        size: int = 64,
        seed: int = 0,
        max_steps: int = MAX_STEPS,
        style_seed: int = 0,
        region: str = "all",
        freeze_finished: bool = False,
        appearance: float | None = None,
        geometry: float | None = None,
    ):
        self.num_envs, self.max_steps, self.region = num_envs, max_steps, region
        self.freeze_finished = freeze_finished  # evaluation: a copy that succeeded keeps its last frames
        self._frames: dict[str, np.ndarray] = {}
        self.renderer = Renderer(
            domain, shift, size, style_seed=style_seed, noise_seed=seed, appearance=appearance, geometry=geometry
        )
        self.rng = np.random.default_rng(seed)
        self.init = np.zeros((num_envs, 7))
        self.state = np.zeros((num_envs, 4))
        self.success = np.zeros(num_envs, dtype=bool)
        self.steps = 0

    def reset(self, initial_states: np.ndarray | None = None) -> dict[str, np.ndarray]:
        self.init = (
            sample_initial_states(self.rng, self.num_envs, self.region)
            if initial_states is None
            else np.asarray(initial_states, float)
        )
        self.state = np.concatenate([self.init[:, 0:2], np.zeros((self.num_envs, 2))], axis=1)
        self.success = np.zeros(self.num_envs, dtype=bool)
        self.steps = 0
        self._frames = {}
        return self.observation()

    def observation(self) -> dict[str, np.ndarray]:
        obs = {"observation.state": self.state.astype(np.float32)}
        if self.freeze_finished and self._frames and self.success.any():
            rows = np.flatnonzero(~self.success)
            for camera, frames in self.renderer.render(self.state[:, 0:2], self.init, rows).items():
                self._frames[camera][rows] = frames
            obs.update({c: f.copy() for c, f in self._frames.items()})
            return obs
        frames = self.renderer.render(self.state[:, 0:2], self.init)
        if self.freeze_finished:
            self._frames = {c: f.copy() for c, f in frames.items()}
        obs.update(frames)
        return obs

    def step(self, action: np.ndarray, render: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray, bool]:
        """Advance every copy; returns (observation, success so far per copy, all done).

        render=False: the observation holds the state alone, no frames are drawn (their noise is, so that
        the next rendered frames are exactly those of a run that renders every step). For a policy that
        does not look at this step's frames: evaluation executes n_action_steps of a chunk between looks.
        """
        velocity = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        position = np.clip(self.state[:, 0:2] + DT * velocity, -1.0, 1.0)
        self.state = np.concatenate([position, velocity], axis=1)
        self.steps += 1
        reached = np.linalg.norm(position - self.init[:, 2:4], axis=1) < SUCCESS_RADIUS
        self.success |= reached
        done = bool(self.success.all() or self.steps >= self.max_steps)
        if not render:
            self.renderer.skip(self.num_envs)
            return {"observation.state": self.state.astype(np.float32)}, self.success.copy(), done
        return self.observation(), self.success.copy(), done
