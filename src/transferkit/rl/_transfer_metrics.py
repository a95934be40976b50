"""How much a transfer helped, as Taylor and Stone (2009, "Transfer learning for
reinforcement learning domains: a survey", section 2.1) measure it, from two learning
curves on the same target task and budget: one started from a source policy, one from
scratch.

- **jumpstart**: the transferred agent's first evaluation minus the scratch agent's;
- **asymptotic gain**: the last evaluation minus the scratch agent's last;
- **total reward**: the area under each learning curve (trapezoids over training steps);
  the **transfer ratio** is (area with transfer − area from scratch) / |area from
  scratch|;
- **time to threshold**: the first training step at which the curve reaches a return;
  the **time ratio** is transfer's time ÷ scratch's (below 1: transfer got there sooner).
  A curve that never reaches the threshold has no time (None).

Each is computed per seed and summarised as mean ± 95 % interval over seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError


@dataclass(frozen=True)
class Curve:
    """A learning curve: mean evaluation return at each training step (steps ascending)."""

    steps: tuple[float, ...]
    returns: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.steps) != len(self.returns) or not self.steps:
            raise TransferKitError("a learning curve needs as many returns as steps, at least one.")
        if any(b < a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise TransferKitError("a learning curve's steps must ascend.")

    def area(self, until: float | None = None) -> float:
        """The area under the curve from its first step to `until` (default: its last)."""
        steps, values = np.asarray(self.steps, float), np.asarray(self.returns, float)
        if until is not None:
            keep = steps <= until
            steps, values = steps[keep], values[keep]
        if len(steps) < 2:
            return 0.0
        return float(np.sum((steps[1:] - steps[:-1]) * (values[1:] + values[:-1]) / 2))

    def time_to(self, threshold: float) -> float | None:
        """The first step whose return reaches `threshold` (None: never)."""
        for step, value in zip(self.steps, self.returns, strict=True):
            if value >= threshold:
                return float(step)
        return None


def compare(transfer: Curve, scratch: Curve, threshold: float | None = None) -> dict[str, Any]:
    """The Taylor and Stone metrics of one pair of curves. Both areas are taken up to the
    shorter curve's last step, so a run that stopped early is not penalised for it."""
    until = min(transfer.steps[-1], scratch.steps[-1])
    area_t, area_s = transfer.area(until), scratch.area(until)
    out: dict[str, Any] = {
        "jumpstart": transfer.returns[0] - scratch.returns[0],
        "asymptotic_gain": transfer.returns[-1] - scratch.returns[-1],
        "area_transfer": area_t,
        "area_scratch": area_s,
        "transfer_ratio": (area_t - area_s) / abs(area_s) if area_s else None,
    }
    if threshold is not None:
        t, s = transfer.time_to(threshold), scratch.time_to(threshold)
        out.update(threshold=threshold, time_transfer=t, time_scratch=s)
        out["time_ratio"] = t / s if t is not None and s else None
    return out


def summarise(pairs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each metric's mean, 95 % interval half-width and values over seeds (the seeds where
    it is defined)."""
    from transferkit.rl._evaluate import interval_half_width

    out: dict[str, Any] = {}
    for key in pairs[0]:
        values = [p[key] for p in pairs if p.get(key) is not None]
        if not values or not all(isinstance(v, (int, float)) for v in values):
            continue
        out[key] = {
            "mean": float(np.mean(values)),
            "half_width": interval_half_width(values),
            "values": [float(v) for v in values],
            "seeds": len(values),
        }
    return out


def negative(summary: dict[str, Any]) -> bool:
    """Transfer hurt: its total reward is below scratch's with 95 % confidence (the
    interval of the paired area difference lies below 0), or its final performance is."""
    for key in ("transfer_ratio", "asymptotic_gain"):
        got = summary.get(key)
        if got is not None and got["mean"] + got["half_width"] < 0:
            return True
    return False
