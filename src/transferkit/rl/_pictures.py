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


def pricing(env: Any, steps: list[dict[str, Any]], total: float) -> tuple[Any, str]:
    """Our price and the competitor's, against demand and sales, period by period."""
    plt = _plt()
    info = [s["info"] for s in steps]
    periods = np.arange(len(info))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6.4, 5.0), sharex=True)
    top.step(periods, [i["price"] for i in info], where="mid", label="our price")
    top.plot(periods, [i["competitor"] for i in info], linestyle="--", label="competitor")
    top.plot(periods, [i["reference"] for i in info], linestyle=":", label="reference price")
    bottom.bar(periods, [i["demand"] for i in info], color="#cbd5e0", label="demand")
    bottom.bar(periods, [i["sold"] for i in info], color="#2b6cb0", label="sold")
    stock = env.unwrapped.config.stock - np.cumsum([i["sold"] for i in info])
    twin = bottom.twinx()
    twin.plot(periods, stock, color="#c53030", label="stock left")
    twin.set_ylabel("stock left")
    top.set_ylabel("price")
    bottom.set_ylabel("units")
    bottom.set_xlabel("period")
    for ax in (top, bottom):
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(alpha=0.3)
    return fig, f"one held-out episode: the price path against demand (revenue {total:.0f})"


def ads(env: Any, steps: list[dict[str, Any]], total: float) -> tuple[Any, str]:
    """Impressions and clicks per ad in each segment, beside the true click rates."""
    plt = _plt()
    unwrapped = env.unwrapped
    c = unwrapped.config
    shown = np.zeros((c.segments, c.ads))
    clicks = np.zeros((c.segments, c.ads))
    for s in steps:
        i = s["info"]
        shown[i["segment"], i["shown"]] += 1
        clicks[i["segment"], i["shown"]] += i["clicked"]
    fig, axes = plt.subplots(1, c.segments, figsize=(6.4, 3.4), sharey=True, squeeze=False)
    ads_at = np.arange(c.ads)
    for segment, ax in enumerate(axes[0]):
        ax.bar(ads_at, shown[segment], color="#cbd5e0", label="shown")
        ax.bar(ads_at, clicks[segment], color="#2b6cb0", label="clicked")
        twin = ax.twinx()
        twin.plot(ads_at, unwrapped.ctr[segment], "o", color="#c53030", label="true click rate")
        twin.set_ylim(0, max(0.01, float(unwrapped.ctr.max()) * 1.1))
        ax.set_title(f"segment {segment}", fontsize=9)
        ax.set_xlabel("ad")
    axes[0][0].set_ylabel("impressions")
    axes[0][0].legend(fontsize=7, loc="upper left")
    regret = sum(s["info"]["regret"] for s in steps)
    return fig, (
        f"one held-out episode: clicks per ad and segment ({total:.0f} clicks, expected"
        f" regret {regret:.1f})"
    )


def routing(env: Any, steps: list[dict[str, Any]], total: float) -> tuple[Any, str]:
    """Each van's route on the map, late stops marked."""
    plt = _plt()
    unwrapped = env.unwrapped
    fig, ax = plt.subplots(figsize=(5.6, 5.4))
    depot = unwrapped.depot
    for van, route in enumerate(unwrapped.routes):
        points = np.array([depot, *[unwrapped.xy[i - 1] for i in route], depot])
        ax.plot(points[:, 0], points[:, 1], "-o", markersize=4, label=f"van {van}")
    late = [unwrapped.xy[i - 1] for i in unwrapped.late]
    if late:
        ax.scatter(*np.array(late).T, s=160, facecolors="none", edgecolors="#c53030",
                   linewidths=2, label="late")  # fmt: skip
    missed = unwrapped.xy[~unwrapped.served]
    if len(missed):
        ax.scatter(*missed.T, marker="x", color="black", s=60, label="not served")
    ax.scatter(*depot, marker="s", color="black", s=80, label="depot")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_aspect("equal")
    ax.legend(fontsize=7, loc="upper right")
    return fig, (
        f"one held-out day: the routes, {len(unwrapped.late)} late stop(s) circled"
        f" (return {total:.1f})"
    )


PICTURES: dict[str, Callable[[Any, list[dict[str, Any]], float], tuple[Any, str]]] = {
    "inventory": inventory,
    "routing": routing,
    "pricing": pricing,
    "ads": ads,
}
