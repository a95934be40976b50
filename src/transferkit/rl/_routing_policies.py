"""The routing policies an agent is held against, all reading the same observation:

- **nearest neighbour**: the free van goes to the closest customer it may serve;
- **nearest neighbour + 2-opt**: at the start of the day, routes built by nearest
  neighbour on the expected travel times, each improved by 2-opt moves (reversing a
  stretch of a route) while that lowers its expected cost (distance, lateness, missed
  windows), then followed;
- **PyVRP** (Wouters et al. 2024, a state-of-the-art hybrid genetic search for vehicle
  routing with time windows): routes planned on the expected travel times, then
  followed: the near-optimal reference for a plan made before the day's traffic is known.

A planned policy plans when it sees a new day (time 0, nothing served) and, when a
planned stop is not allowed (the van's load), takes the nearest allowed customer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from transferkit.rl._routing import GLOBAL, ROW, RoutingConfig


def decode(config: RoutingConfig, observation: Any) -> dict[str, Any]:
    """The instance and the state from an observation."""
    c = config
    obs = np.asarray(observation, dtype=float)
    rows = obs[: c.customers * ROW].reshape(c.customers, ROW)
    state = obs[c.customers * ROW : c.customers * ROW + GLOBAL]
    return {
        "xy": rows[:, :2],
        "demand": np.rint(rows[:, 2] * c.capacity),
        "opens": rows[:, 3] * c.horizon,
        "closes": rows[:, 4] * c.horizon,
        "served": rows[:, 5] > 0.5,
        "distance": rows[:, 6] * np.sqrt(2),
        "allowed": rows[:, 7] > 0.5,
        "time": state[3] * c.horizon,
        "van": round(state[5] * c.vehicles),
    }


def _nearest(day: dict[str, Any], masks: np.ndarray | None) -> int:
    allowed = day["allowed"] if masks is None else np.asarray(masks[1:], dtype=bool)
    if not allowed.any():
        return 0
    return int(np.argmin(np.where(allowed, day["distance"], np.inf))) + 1


class NearestNeighbour:
    name = "nearest neighbour"

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config

    def predict(
        self, observation: Any, state: Any = None, action_masks: Any = None, **_: Any
    ) -> tuple[int, Any]:
        return _nearest(decode(self.config, observation), action_masks), state

    def describe(self) -> dict[str, Any]:
        return {}


class PlannedRoutes:
    """Follows routes planned at the start of each day by `plan(day) -> [[customer]]`."""

    name = "planned"

    def __init__(self, config: RoutingConfig) -> None:
        self.config = config
        self.routes: list[list[int]] = [[] for _ in range(config.vehicles)]
        depot = np.array([0.5, 0.5])
        self.depot = depot

    def plan(self, day: dict[str, Any]) -> list[list[int]]:
        raise NotImplementedError

    def predict(
        self, observation: Any, state: Any = None, action_masks: Any = None, **_: Any
    ) -> tuple[int, Any]:
        day = decode(self.config, observation)
        if day["time"] == 0 and not day["served"].any() and day["van"] == 0:
            self.routes = self.plan(day) + [[] for _ in range(self.config.vehicles)]
        allowed = day["allowed"] if action_masks is None else np.asarray(action_masks[1:], bool)
        for customer in self.routes[day["van"]]:
            if not day["served"][customer - 1]:
                if allowed[customer - 1]:
                    return customer, state
                return _nearest(day, action_masks), state
        depot_ok = action_masks is None or bool(action_masks[0])
        return (0 if depot_ok else _nearest(day, action_masks)), state

    def describe(self) -> dict[str, Any]:
        return {}

    # the expected day: static travel times at the day's mean traffic
    def minutes(self, a: np.ndarray, b: np.ndarray) -> Any:
        c = self.config
        return c.minutes_per_unit * np.linalg.norm(a - b, axis=-1) * c.mean_traffic()

    def route_cost(self, route: list[int], day: dict[str, Any]) -> float:
        """Expected cost of one route from the depot and back: distance, lateness, less
        the on-time rewards."""
        c, t, at, cost = self.config, 0.0, self.depot, 0.0
        for customer in route:
            where = day["xy"][customer - 1]
            cost += c.distance_cost * float(np.linalg.norm(where - at))
            start = max(t + float(self.minutes(at, where)), day["opens"][customer - 1])
            late = max(0.0, start - day["closes"][customer - 1])
            cost += c.late_penalty * late if late else -c.on_time_reward
            t, at = start + c.service, where
        return cost + c.distance_cost * float(np.linalg.norm(self.depot - at))


class NearestNeighbourTwoOpt(PlannedRoutes):
    name = "nearest neighbour + 2-opt"

    def plan(self, day: dict[str, Any]) -> list[list[int]]:
        c = self.config
        left = set(range(1, c.customers + 1))
        routes = []
        for _ in range(c.vehicles):
            route, at, load = [], self.depot, float(c.capacity)
            while True:
                fits = [i for i in left if day["demand"][i - 1] <= load]
                if not fits:
                    break
                nxt = min(fits, key=lambda i: float(np.linalg.norm(day["xy"][i - 1] - at)))
                route.append(nxt)
                left.discard(nxt)
                at, load = day["xy"][nxt - 1], load - day["demand"][nxt - 1]
            routes.append(self.two_opt(route, day))
        return routes

    def two_opt(self, route: list[int], day: dict[str, Any]) -> list[int]:
        best, improved = self.route_cost(route, day), True
        while improved:
            improved = False
            for i in range(len(route) - 1):
                for j in range(i + 1, len(route)):
                    trial = route[:i] + route[i : j + 1][::-1] + route[j + 1 :]
                    cost = self.route_cost(trial, day)
                    if cost < best - 1e-9:
                        route, best, improved = trial, cost, True
        return route


class PyVRPRoutes(PlannedRoutes):
    name = "PyVRP"

    def __init__(self, config: RoutingConfig, iterations: int = 1000, seed: int = 0) -> None:
        super().__init__(config)
        self.iterations, self.seed = iterations, seed

    def plan(self, day: dict[str, Any]) -> list[list[int]]:
        from pyvrp import Model
        from pyvrp.stop import MaxIterations

        c = self.config
        scale, tick = 1000, 10  # PyVRP's data are integers: 1/1000 of a unit, 1/10 minute
        model = Model()
        points = [self.depot, *day["xy"]]
        locations = [model.add_location(float(p[0] * scale), float(p[1] * scale)) for p in points]
        model.add_depot(locations[0])
        model.add_vehicle_type(c.vehicles, capacity=c.capacity)
        for i in range(c.customers):
            model.add_client(
                locations[i + 1], delivery=int(day["demand"][i]),
                service_duration=round(c.service * tick), tw_early=round(day["opens"][i] * tick),
                tw_late=round(day["closes"][i] * tick),
            )  # fmt: skip
        for a, pa in zip(locations, points, strict=True):
            for b, pb in zip(locations, points, strict=True):
                distance = round(float(np.linalg.norm(pa - pb)) * scale)
                model.add_edge(a, b, distance, round(float(self.minutes(pa, pb)) * tick))
        result = model.solve(MaxIterations(self.iterations), seed=self.seed, display=False)
        # a visit's idx counts the clients from 0; our customers are numbered from 1
        return [[int(v.idx) + 1 for v in route if v.is_client()] for route in result.best.routes()]

    def describe(self) -> dict[str, Any]:
        return {"iterations": self.iterations}


def routing_baselines(config: RoutingConfig, seed: int) -> dict[str, Any]:
    return {
        "nearest neighbour": NearestNeighbour(config),
        "nearest neighbour + 2-opt": NearestNeighbourTwoOpt(config),
        "PyVRP": PyVRPRoutes(config, seed=seed),
    }
