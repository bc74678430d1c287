"""The searched knobs' names and the training keys they set: one decoder for the space, the store and the reports.

A space's knob is a training key (`ot.reg`), or one part of a list-valued key: `ot.tau_a` /
`ot.tau_b` (a `pair: separate` tau: `ot.tau[0]`, `ot.tau[1]`; a tied `ot.tau` sets both) and
`ot.weight_embed.<i>` (`per_camera: K`: camera i's weight).
"""

from __future__ import annotations

TAU_PARTS = {"ot.tau_a": 0, "ot.tau_b": 1}
WEIGHT_EMBED_PREFIX = "ot.weight_embed."


def knob_value(config: dict, knob: str):
    """The value a training config (as `actot.config.to_dict` writes it) holds for `knob`; None if it has none."""
    if knob in TAU_PARTS or knob == "ot.tau":
        tau = (config.get("ot") or {}).get("tau") or []
        index = TAU_PARTS.get(knob, 0)
        return tau[index] if len(tau) > index else None
    if knob.startswith(WEIGHT_EMBED_PREFIX):
        weights = (config.get("ot") or {}).get("weight_embed") or []
        index = int(knob[len(WEIGHT_EMBED_PREFIX):])
        return weights[index] if len(weights) > index else (weights[0] if len(weights) == 1 else None)
    node = config
    for part in knob.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node
