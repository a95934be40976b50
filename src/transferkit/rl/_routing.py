"""Delivery routing as a Gymnasium environment (`transferkit/DeliveryRouting-v0`).

A depot, `vehicles` vans of equal capacity, and `customers` with a location in the unit
square, a demand and a time window, drawn afresh each episode. Vans leave the depot at
time 0; whenever one is free (the earliest to finish its last stop), the policy names its
next customer, or the depot to end its route (action 0; customer i is action i). Invalid
choices (served customers, demand above the van's load left) are masked:
`action_masks()` for sb3-contrib's MaskablePPO; a masked action taken anyway changes
nothing and costs `invalid_penalty` (an episode is cut after 4 x (customers + vans)
decisions), so an agent without masks can learn too.

Travelling a distance d leaving at time t takes `minutes_per_unit * d * traffic(t) * noise`
minutes: `traffic` is a time-of-day profile (a morning and an evening rush) and `noise`
log-normal congestion of mean 1. A van arriving before a window waits; each delivery
earns `on_time_reward` if it starts by the window's end, else `late_penalty` per minute
late; every unit of distance costs `distance_cost`; a customer left unserved when the
last van has ended costs `missed_penalty`.

The observation is a table, one row per customer (x, y, demand / capacity, window start
and end / horizon, served, distance from the free van, whether it is allowed now), then
the free van's position, load left, the time, the vans left, the free van's number and
the traffic factor now: `table_shape` reshapes it, so a policy reading rows can read an
instance of another size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from transferkit._errors import TransferKitError

ROW, GLOBAL = 8, 7  # features per customer, global features


@dataclass(frozen=True)
class RoutingConfig:
    """One routing problem family; a variant is another config."""

    customers: int = 20
    vehicles: int = 3
    capacity: int = 40
    demand_range: tuple[int, int] = (1, 9)
    horizon: float = 480.0  # minutes in the working day
    window: float = 150.0  # minutes each customer's window lasts
    service: float = 10.0  # minutes at each stop
    minutes_per_unit: float = 60.0
    rush: tuple[float, ...] = (90.0, 390.0)  # times of the traffic peaks
    rush_strength: float = 0.8  # travel takes up to 1 + this much longer at a peak
    rush_width: float = 60.0
    congestion: float = 0.25  # sigma of the log-normal travel-time noise
    on_time_reward: float = 10.0
    late_penalty: float = 0.2  # per minute late
    distance_cost: float = 5.0  # per unit of distance
    missed_penalty: float = 30.0
    invalid_penalty: float = 5.0  # a masked action (taken without masks): nothing happens
    depot_vehicles: int = 10  # vans the depot holds
    extra: dict[str, Any] = field(default_factory=dict)

    def check(self) -> RoutingConfig:
        if self.customers < 1 or self.vehicles < 1:
            raise TransferKitError(
                f"routing needs at least 1 customer and 1 vehicle; got {self.customers} and"
                f" {self.vehicles}."
            )
        if self.vehicles > self.depot_vehicles:
            raise TransferKitError(
                f"routing `vehicles` {self.vehicles} is more than the depot holds"
                f" (`depot_vehicles` {self.depot_vehicles})."
            )
        low, high = self.demand_range
        if low < 0 or high < low:
            raise TransferKitError(
                f"routing `demand_range` {self.demand_range}: demand cannot be negative and"
                " the range must be (low, high) with low <= high."
            )
        if high > self.capacity:
            raise TransferKitError(
                f"routing: a demand of {high} cannot fit a van of capacity {self.capacity}."
            )
        if self.horizon <= 0 or not 0 < self.window <= self.horizon:
            raise TransferKitError(
                "routing `horizon` must be positive and `window` in (0, horizon]."
            )
        if min(self.service, self.congestion, self.rush_strength, self.minutes_per_unit) < 0:
            raise TransferKitError("routing times and the congestion cannot be negative.")
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def traffic(self, t: Any) -> Any:
        """The travel-time factor at time `t` (1 away from the rushes)."""
        t = np.asarray(t, dtype=float)
        peaks = sum(np.exp(-(((t - r) / self.rush_width) ** 2)) for r in self.rush)
        return 1.0 + self.rush_strength * np.minimum(peaks, 1.0)

    def mean_traffic(self) -> float:
        """The traffic factor averaged over the day (what a static plan assumes)."""
        return float(self.traffic(np.linspace(0, self.horizon, 481)).mean())


class RoutingEnv(gymnasium.Env[np.ndarray, np.int64]):
    """The routing problem of `RoutingConfig`, one decision per free van."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, config: RoutingConfig | None = None, **settings: Any) -> None:
        base = config or RoutingConfig()
        self.config = c = (replace(base, **settings) if settings else base).check()
        self.action_space = spaces.Discrete(c.customers + 1)
        self.table_shape = (c.customers, ROW)
        size = c.customers * ROW + GLOBAL
        high = np.full(size, 4.0, dtype=np.float32)
        self.observation_space = spaces.Box(np.zeros(size, np.float32), high, dtype=np.float32)
        self.depot = np.array([0.5, 0.5])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        c, rng = self.config, self.np_random
        self.xy = rng.random((c.customers, 2))
        self.demand = rng.integers(c.demand_range[0], c.demand_range[1] + 1, c.customers)
        travel = np.linalg.norm(self.xy - self.depot, axis=1) * c.minutes_per_unit
        latest = np.maximum(travel, c.horizon - c.window - travel)
        self.opens = rng.uniform(0.0, 1.0, c.customers) * latest  # reachable in the day
        self.closes = self.opens + c.window
        self.served = np.zeros(c.customers, dtype=bool)
        self.position = np.tile(self.depot, (c.vehicles, 1))
        self.load = np.full(c.vehicles, float(c.capacity))
        self.free_at = np.zeros(c.vehicles)
        self.active = np.ones(c.vehicles, dtype=bool)
        self.visited_any = np.zeros(c.vehicles, dtype=bool)
        self.routes: list[list[int]] = [[] for _ in range(c.vehicles)]
        self.late: list[int] = []
        self.van, self.steps = 0, 0
        return self._observation(), {}

    def action_masks(self) -> np.ndarray:
        """Which actions are valid for the free van: unserved customers whose demand fits
        its load; the depot once it has served someone (or when no customer fits)."""
        fits = ~self.served & (self.demand <= self.load[self.van])
        depot = self.visited_any[self.van] or not fits.any()
        return np.concatenate([[depot], fits])

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        c, van = self.config, self.van
        value = np.asarray(action)
        if value.size != 1 or not float(value.item()).is_integer():
            raise TransferKitError(f"routing action {action!r} is not a customer number.")
        choice = int(value.item())
        if not 0 <= choice <= c.customers:
            raise TransferKitError(
                f"routing action {choice} is outside the action space: give 0 (the depot) or"
                f" a customer from 1 to {c.customers}."
            )
        self.steps += 1
        truncated = self.steps >= 4 * (c.customers + c.vehicles)
        if not self.action_masks()[choice]:  # masked: nothing happens, at a cost
            refused = {"van": van, "to": choice, "invalid": True}
            return self._observation(), -c.invalid_penalty, False, truncated, refused
        target = self.depot if choice == 0 else self.xy[choice - 1]
        distance = float(np.linalg.norm(target - self.position[van]))
        minutes = self.travel_minutes(distance, self.free_at[van])
        arrive = self.free_at[van] + minutes
        reward = -c.distance_cost * distance
        info: dict[str, Any] = {"van": van, "to": choice, "distance": distance, "late": 0.0}
        self.position[van] = target
        if choice == 0:
            self.active[van] = False
            self.free_at[van] = arrive
        else:
            i = choice - 1
            start = max(arrive, self.opens[i])
            late = max(0.0, start - self.closes[i])
            reward += c.on_time_reward if late == 0 else -c.late_penalty * late
            if late:
                self.late.append(choice)
            info["late"] = late
            self.served[i] = True
            self.load[van] -= self.demand[i]
            self.free_at[van] = start + c.service
            self.visited_any[van] = True
            self.routes[van].append(choice)
        done = self.served.all() or not self.active.any()
        if done:
            reward += self._close()
        else:
            self._next_van()
        return self._observation(), float(reward), bool(done), truncated and not done, info

    def travel_minutes(self, distance: float, leave: float) -> float:
        c = self.config
        noise = (
            self.np_random.lognormal(-0.5 * c.congestion**2, c.congestion) if c.congestion else 1.0
        )
        return float(c.minutes_per_unit * distance * c.traffic(leave) * noise)

    def _close(self) -> float:
        """The end of the day: vans still out drive back; unserved customers are missed."""
        c = self.config
        back = np.linalg.norm(self.position[self.active] - self.depot, axis=1).sum()
        self.active[:] = False
        return float(-c.distance_cost * back - c.missed_penalty * (~self.served).sum())

    def _next_van(self) -> None:
        times = np.where(self.active, self.free_at, np.inf)
        self.van = int(np.argmin(times))

    def _observation(self) -> np.ndarray:
        c, van = self.config, self.van
        distance = np.linalg.norm(self.xy - self.position[van], axis=1)
        rows = np.column_stack([
            self.xy, self.demand / c.capacity, self.opens / c.horizon,
            np.minimum(self.closes / c.horizon, 4.0), self.served, distance / np.sqrt(2),
            self.action_masks()[1:],
        ])  # fmt: skip
        now = self.free_at[van]
        state = [*self.position[van], self.load[van] / c.capacity, min(now / c.horizon, 4.0),
                 self.active.sum() / c.vehicles, van / c.vehicles,
                 float(c.traffic(now)) / (1 + c.rush_strength)]  # fmt: skip
        return np.concatenate([rows.ravel(), state]).astype(np.float32)
