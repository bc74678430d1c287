"""The searched knobs' names: how a search space spells a knob that is part of a training key, and back.

Optuna searches one number per name. Two training keys hold several numbers: `ot.tau` (tau_a, tau_b),
searched as one tied number under `ot.tau` or as two under `ot.tau_a` and `ot.tau_b` (`pair: separate`),
and `ot.weight_embed` (a weight per camera), searched as `ot.weight_embed.0` ... `ot.weight_embed.{K-1}`
(`per_camera: K`). Every other knob is its training key. The sweep spells the knobs (`actot/sweep/space.py`)
and turns their values into training overrides; the reports read them back (the seed-format config
lines, the advisor's next space). All of them decode here.
"""

from __future__ import annotations

from actot.errors import ActotError

TAU_SIDES = ("ot.tau_a", "ot.tau_b")
_CAMERA = "ot.weight_embed."


def camera_knob(i: int) -> str:
    """The knob of camera i's embedding weight."""
    return f"{_CAMERA}{i}"


def camera(knob: str) -> int | None:
    """The camera whose embedding weight `knob` searches, or None."""
    index = knob[len(_CAMERA) :] if knob.startswith(_CAMERA) else ""
    return int(index) if index.isdigit() else None


def training_key(knob: str) -> str:
    """The training key a knob sets: ot.tau for ot.tau_a and ot.tau_b, ot.weight_embed for ot.weight_embed.<i>."""
    if knob in TAU_SIDES:
        return "ot.tau"
    if camera(knob) is not None:
        return "ot.weight_embed"
    return knob


def to_overrides(knobs: dict, tau: list | None = None) -> dict:
    """Searched values (knob -> value) -> training overrides: ot.tau_a and ot.tau_b become one ot.tau
    pair, the ot.weight_embed.<i> one ot.weight_embed list in camera order; other knobs pass as they are.

    tau: the pair that a lone ot.tau_a or ot.tau_b completes (a space searches both, so only a reader
    of partial values needs it)."""
    out, sides, weights = {}, {}, {}
    for knob, value in knobs.items():
        if knob in TAU_SIDES:
            sides[TAU_SIDES.index(knob)] = float(value)
        elif camera(knob) is not None:
            weights[camera(knob)] = float(value)
        else:
            out[knob] = value
    if sides:
        if len(sides) < 2 and tau is None:
            raise ActotError(
                f"knobs: {TAU_SIDES[next(iter(sides))]} without {TAU_SIDES[1 - next(iter(sides))]}; "
                "a separate tau searches both (pair: separate)"
            )
        pair = [float(v) for v in tau] if len(sides) < 2 else [0.0, 0.0]
        for side, value in sides.items():
            pair[side] = value
        out["ot.tau"] = pair
    if weights:
        out["ot.weight_embed"] = [weights[i] for i in sorted(weights)]
    return out


def knob_value(config: dict, knob: str):
    """The value a training config (as `actot.config.to_dict` writes it) holds for `knob`; None if it has none.

    The way back from a trial's config to its knobs, for a trial whose searched values were not recorded."""
    key = training_key(knob)
    node = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if knob in TAU_SIDES or (knob == "ot.tau" and isinstance(node, list)):
        index = TAU_SIDES.index(knob) if knob in TAU_SIDES else 0
        return node[index] if len(node) > index else None
    if camera(knob) is not None:
        return node[camera(knob)] if len(node) > camera(knob) else (node[0] if len(node) == 1 else None)
    return node
