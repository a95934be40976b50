"""One episode drawn per environment, for the report: what the policy did, step by
step, from the steps `play` watched."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from transferkit.runs._report import _plt


def inventory(env: Any, steps: list[dict[str, Any]], total: float) -> tuple[Any, str]:
    """Stock on hand per stage, orders per stage and customer demand, period by period."""
    plt = _plt()
    on_hand = np.array([s["info"]["on_hand"] for s in steps])
    orders = np.array([np.floor(np.asarray(s["action"], dtype=float)) for s in steps])
    demand = [s["info"]["demand"] for s in steps]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5.0), sharex=True)
    periods = np.arange(len(steps))
    for stage in range(on_hand.shape[1]):
        top.plot(periods, on_hand[:, stage], label=f"stage {stage} stock")
        bottom.step(periods, orders[:, stage], where="mid", label=f"stage {stage} order")
    top.plot(periods, demand, color="black", linestyle=":", label="customer demand")
    top.set_ylabel("units")
    bottom.set_ylabel("ordered")
    bottom.set_xlabel("period")
    for ax in (top, bottom):
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return fig, f"one held-out episode: stock and orders per stage (return {total:.1f})"


PICTURES: dict[str, Callable[[Any, list[dict[str, Any]], float], tuple[Any, str]]] = {
    "inventory": inventory,
}
