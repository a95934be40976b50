"""A serial inventory chain as a Gymnasium environment (`transferkit/Inventory-v0`).

Stage 0 is the retailer facing customer demand; stage i orders from stage i + 1, and the
last stage orders from a plant with unlimited raw material but a production capacity.
Each period, in this order (the event order of OR-Gym's `InvManagement`, Hubbs et al.
2020, so results compare with that benchmark):

0. every stage requests its order (plus what its supplier still owes it, with backlog);
   the supplier ships what its capacity and its on-hand stock at the start of the period
   allow, into a pipeline that delivers after the stage's lead time;
1. shipments placed a lead time ago arrive;
2. customer demand (plus the customer backlog) is served from the retailer's stock;
3. unfilled demand and replenishment are backlogged, or lost, at a per-unit penalty;
4. stock left on hand costs holding.

The reward is the period's profit over the whole chain (sales at each stage's price, minus
purchase, penalty and holding costs), discounted by `discount ** period`. The state update
is a few numpy operations over all stages at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from transferkit._errors import TransferKitError

DEMANDS = ("poisson", "negative-binomial")


@dataclass(frozen=True)
class InventoryConfig:
    """One inventory problem; a variant is another config (`dataclasses.replace`).

    Per stage (retailer first): `initial` stock, `holding` cost, `capacity` of its supplier,
    `lead_time`. `prices[i]` is what stage i sells at (prices[0] to customers); `costs[i]`
    what stage i pays per unit it buys (the last entry: the plant's production cost);
    `penalties[i]` the cost of a unit stage i could not deliver (index 0: customers).
    """

    periods: int = 30
    initial: tuple[float, ...] = (100.0, 100.0, 200.0)
    prices: tuple[float, ...] = (2.0, 1.5, 1.0, 0.75)
    costs: tuple[float, ...] = (1.5, 1.0, 0.75, 0.5)
    penalties: tuple[float, ...] = (0.10, 0.075, 0.05, 0.025)
    holding: tuple[float, ...] = (0.15, 0.10, 0.05)
    capacity: tuple[float, ...] = (100.0, 90.0, 80.0)
    lead_time: tuple[int, ...] = (3, 5, 10)
    backlog: bool = True  # False: unfilled demand and orders are lost sales
    demand: str = "poisson"
    demand_mean: float = 20.0
    dispersion: float = 5.0  # negative binomial: variance = mean + mean ** 2 / dispersion
    season_amplitude: float = 0.0  # mean x (1 + amplitude * sin(2 pi t / season_length))
    season_length: int = 12
    trend: float = 0.0  # mean x (1 + trend * t)
    shock_probability: float = 0.0  # each period, the mean is multiplied by shock_scale
    shock_scale: float = 3.0
    fixed_cost: float = 0.0  # per order placed (any stage ordering a positive quantity)
    count_delay: int = 0  # stock counts reach the policy this many periods late
    count_noise: float = 0.0  # and off by this share (Gaussian), as real counts are
    discount: float = 0.97
    extra: dict[str, Any] = field(default_factory=dict)  # free notes, kept in run folders

    @property
    def stages(self) -> int:
        return len(self.initial)

    def check(self) -> InventoryConfig:
        """A one-line error naming the first bad setting."""
        self._check_lengths()
        self._check_values()
        return self

    def _check_lengths(self) -> None:
        n = self.stages
        lengths = {
            "initial": n,
            "holding": n,
            "capacity": n,
            "lead_time": n,
            "prices": n + 1,
            "costs": n + 1,
            "penalties": n + 1,
        }
        for name, want in lengths.items():
            got = len(getattr(self, name))
            if got != want:
                raise TransferKitError(
                    f"inventory `{name}` has {got} values for {n} stages: give {want}"
                    " (prices, costs and penalties have one more: customers or the plant)."
                )

    def _check_values(self) -> None:
        if self.periods < 1:
            raise TransferKitError(f"inventory `periods` must be at least 1; got {self.periods}.")
        if any(v < 0 for name in ("initial", "prices", "costs", "penalties", "holding")
               for v in getattr(self, name)):  # fmt: skip
            raise TransferKitError(
                "inventory stock, prices and costs cannot be negative: check `initial`,"
                " `prices`, `costs`, `penalties` and `holding`."
            )
        if any(c <= 0 for c in self.capacity):
            raise TransferKitError(f"inventory `capacity` must be positive; got {self.capacity}.")
        if any(lt < 0 for lt in self.lead_time) or max(self.lead_time) >= self.periods:
            raise TransferKitError(
                f"inventory `lead_time` {self.lead_time} must be from 0 to periods - 1"
                f" ({self.periods - 1}): an order arriving after the horizon never counts."
            )
        if self.demand not in DEMANDS:
            raise TransferKitError(
                f"inventory `demand` {self.demand!r} is not one of {', '.join(DEMANDS)}."
            )
        if self.demand_mean < 0 or self.dispersion <= 0:
            raise TransferKitError(
                f"inventory demand cannot be negative (`demand_mean` {self.demand_mean}) and"
                f" `dispersion` must be positive ({self.dispersion})."
            )
        if not 0 <= self.season_amplitude < 1 or not 0 <= self.shock_probability <= 1:
            raise TransferKitError(
                "inventory `season_amplitude` must be in [0, 1) and `shock_probability` in"
                " [0, 1]: demand cannot go negative."
            )
        if self.count_delay < 0 or self.count_noise < 0:
            raise TransferKitError("inventory `count_delay` and `count_noise` cannot be negative.")
        if self.fixed_cost < 0:
            raise TransferKitError(
                f"inventory `fixed_cost` cannot be negative; got {self.fixed_cost}."
            )
        if not 0 < self.discount <= 1:
            raise TransferKitError(f"inventory `discount` must be in (0, 1]; got {self.discount}.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def demand_means(config: InventoryConfig, periods: np.ndarray) -> np.ndarray:
    """The mean demand of each period in `periods`, before any shock."""
    c = config
    season = 1 + c.season_amplitude * np.sin(2 * np.pi * periods / c.season_length)
    return np.asarray(c.demand_mean * season * np.maximum(0.0, 1 + c.trend * periods))


def draw_demand(config: InventoryConfig, periods: np.ndarray, rng: np.random.Generator) -> Any:
    """One demand draw per period in `periods` (shocks included)."""
    c = config
    mean = demand_means(c, periods)
    if c.shock_probability:
        mean = np.where(rng.random(len(mean)) < c.shock_probability, mean * c.shock_scale, mean)
    if c.demand == "poisson":
        return rng.poisson(mean).astype(float)
    p = np.where(mean > 0, c.dispersion / (c.dispersion + mean), 1.0)
    return rng.negative_binomial(c.dispersion, p).astype(float)


def inventory_names(config: InventoryConfig) -> tuple[list[str], list[str]]:
    """The names of `InventoryEnv`'s observation entries and actions, in order: policy
    surgery matches two configs' layers by them (stage 0 is the retailer in both)."""
    n, depth = config.stages, max(max(config.lead_time), 1)
    observed = [f"on_hand[{i}]" for i in range(n)] + [f"owed[{i}]" for i in range(n)]
    observed += [f"pipeline[{i},{k}]" for i in range(n) for k in range(1, depth + 1)]
    return [*observed, "customer_backlog", "horizon_share"], [f"order[{i}]" for i in range(n)]


# OR-Gym's InvManagement-v0 (backlog) / -v1 (lost sales): 30 periods, three stages with lead
# times 3, 5 and 10, Poisson demand of mean 20, its prices and costs
ORGYM_INV_MANAGEMENT = InventoryConfig()


class InventoryEnv(gymnasium.Env[np.ndarray, np.ndarray]):
    """The serial chain of `InventoryConfig`: the action is each stage's order quantity
    (rounded down to whole units); the observation is, per stage, its on-hand stock, what
    its supplier owes it, its pipeline by periods to arrival (padded to the longest lead
    time), then the customer backlog and the share of the horizon gone."""

    metadata = {"render_modes": []}  # noqa: RUF012  (Gymnasium's class attribute)

    def __init__(self, config: InventoryConfig | None = None, **settings: Any) -> None:
        base = config or ORGYM_INV_MANAGEMENT
        if settings:
            from dataclasses import replace

            base = replace(base, **settings)
        self.config = base.check()
        n, depth = self.config.stages, max(max(self.config.lead_time), 1)
        self.depth = depth
        self.action_space = spaces.Box(
            low=0.0, high=np.asarray(self.config.capacity, dtype=np.float32), dtype=np.float32
        )
        size = n * (2 + depth) + 2
        self.observation_space = spaces.Box(low=0.0, high=np.inf, shape=(size,), dtype=np.float32)
        self._arrays()

    def _arrays(self) -> None:
        c = self.config
        self.prices = np.asarray(c.prices, dtype=float)
        self.costs = np.asarray(c.costs, dtype=float)
        self.penalties = np.asarray(c.penalties, dtype=float)
        self.holding = np.asarray(c.holding, dtype=float)
        self.capacity = np.asarray(c.capacity, dtype=float)
        self.lead = np.asarray(c.lead_time, dtype=int)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        n = self.config.stages
        self.period = 0
        self.on_hand = np.asarray(self.config.initial, dtype=float).copy()
        self.owed = np.zeros(n)  # replenishment the supplier of each stage still owes it
        self.customer_backlog = 0.0
        # pipeline[i, k]: units arriving at stage i in k periods (k = 0: this period)
        self.pipeline = np.zeros((n, self.depth + 1))
        self.counts = [self.on_hand.copy()] * (self.config.count_delay + 1)  # oldest first
        return self._observation(), {}

    def demand_mean(self, period: int) -> float:
        """The mean demand of a period, before any shock."""
        return float(demand_means(self.config, np.array([period]))[0])

    def _demand(self) -> float:
        return float(draw_demand(self.config, np.array([self.period]), self.np_random)[0])

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        c = self.config
        order = np.floor(np.clip(np.asarray(action, dtype=float), 0.0, self.capacity))
        requested = order + (self.owed if c.backlog else 0.0)
        # 0. suppliers ship from their stock at the start of the period (the plant: unlimited)
        available = np.append(self.on_hand[1:], np.inf)
        shipped = np.minimum(np.minimum(requested, self.capacity), available)
        self.pipeline[np.arange(c.stages), self.lead] += shipped
        # 1. what was shipped a lead time ago arrives
        self.on_hand += self.pipeline[:, 0]
        self.pipeline = np.concatenate(
            [self.pipeline[:, 1:], np.zeros((c.stages, 1))], axis=1
        )  # one period closer
        # 2. customers are served from the retailer's stock, backlog first
        demand = self._demand()
        wanted = demand + self.customer_backlog
        sold = min(self.on_hand[0], wanted)
        self.on_hand[0] -= sold
        self.on_hand[1:] -= shipped[:-1]  # what each supplier shipped left its stock
        # 3. unfilled demand and replenishment: backlogged or lost, at a penalty
        unfilled = np.append(wanted - sold, requested - shipped)
        if c.backlog:
            self.customer_backlog, self.owed = float(unfilled[0]), unfilled[1:].copy()
        # 4. the chain's profit: sales at each stage's price, purchases, penalties, holding
        sales = np.append(sold, shipped)  # stage 0 to customers, stage i + 1 to stage i
        bought = np.append(shipped, shipped[-1])  # the plant produces what it ships
        profit = (
            self.prices @ sales
            - self.costs @ bought
            - self.penalties @ unfilled
            - self.holding @ self.on_hand
            - c.fixed_cost * np.count_nonzero(order)
        )
        reward = float(c.discount**self.period * profit)
        info = {
            "demand": demand,
            "sold": sold,
            "shipped": shipped.copy(),
            "unfilled": unfilled.copy(),
            "on_hand": self.on_hand.copy(),
            "profit": float(profit),
        }
        self.period += 1
        if c.count_delay:
            self.counts = [*self.counts[1:], self.on_hand.copy()]
        return self._observation(), reward, self.period >= c.periods, False, info

    def _observation(self) -> np.ndarray:
        # what the count says: late and noisy where configured
        counted = self.counts[0] if self.config.count_delay else self.on_hand
        if self.config.count_noise:
            noise = self.np_random.standard_normal(len(counted)) * self.config.count_noise
            counted = np.maximum(0.0, np.rint(counted * (1 + noise)))
        parts = [
            counted,
            self.owed,
            self.pipeline[:, 1:].ravel(),  # slot 0 is always empty between periods
            np.array([self.customer_backlog, self.period / self.config.periods]),
        ]
        return np.concatenate(parts).astype(np.float32)
