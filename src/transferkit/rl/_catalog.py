"""The environments `transferkit rl` knows by name, their presets, and the baselines each
is held against.

An environment is named `NAME` or `NAME:PRESET` (`inventory:seasonal-shocks`); a config
file changes any field of the preset's dataclass (`--config FILE`). Any other Gymnasium id
(`CartPole-v1`) trains too, held against a random policy only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import gymnasium
import numpy as np

from transferkit._errors import TransferKitError
from transferkit.rl._ads import AdConfig, AdPlacementEnv
from transferkit.rl._games import GameConfig, GameEnv
from transferkit.rl._inventory import (
    ORGYM_INV_MANAGEMENT,
    InventoryConfig,
    InventoryEnv,
    inventory_names,
)
from transferkit.rl._pricing import PricingConfig, PricingEnv
from transferkit.rl._routing import RoutingConfig, RoutingEnv
from transferkit.rl._variants import variant_env, with_settings

Baselines = Callable[[Any, int], dict[str, Any]]


@dataclass(frozen=True)
class EnvKind:
    """One family of environments: its dataclass config and named presets, how to build
    one, the algorithm it trains with unless told, and its baselines (`baselines(config,
    seed)` -> {name: policy}, tuned on episodes other than the evaluation's)."""

    name: str
    gym_id: str
    presets: Mapping[str, Any]
    make: Callable[[Any], gymnasium.Env]
    algo: str
    baselines: Baselines
    normalize_obs: bool = True
    hyperparameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # a table observation: config -> (features per row, global features, extra actions);
    # actor-critic agents then use the shared per-row policy (`EntityPolicy`)
    entity: Callable[[Any], tuple[int, int, int]] | None = None
    # config -> (observation entries' names, actions' names): surgery across sizes then
    # matches an MLP's input columns and action rows by name, not only whole tensors
    names: Callable[[Any], tuple[list[str], list[str]]] | None = None

    @property
    def config_class(self) -> type:
        return type(next(iter(self.presets.values())))


@dataclass(frozen=True)
class EnvChoice:
    """An environment chosen: its kind (None for a plain Gymnasium id), config, label."""

    label: str
    kind: EnvKind | None
    config: Any = None
    gym_id: str = ""
    ranges: Mapping[str, Any] = field(default_factory=dict)  # domain randomisation
    staged: bool = False  # a curriculum sets its stages

    def make(self) -> gymnasium.Env:
        if self.kind is None:
            return gymnasium.make(self.gym_id)
        return self.kind.make(self.config)

    def make_training(self) -> gymnasium.Env:
        """The environment an agent trains in: a `VariantEnv` when its settings vary."""
        if self.kind is None or not (self.ranges or self.staged):
            return self.make()
        return variant_env(self.kind, self.config, self.ranges)

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config) if self.kind is not None else {}

    def baselines(self, seed: int = 0) -> dict[str, Any]:
        found: dict[str, Any] = {"random": RandomPolicy(self.make().action_space, seed)}
        if self.kind is not None:
            found.update(self.kind.baselines(self.config, seed))
        return found


class RandomPolicy:
    """Uniformly random valid actions (the floor every agent must clear)."""

    name = "random"

    def __init__(self, action_space: gymnasium.Space[Any], seed: int = 0) -> None:
        self.space = action_space
        self.rng = np.random.default_rng(seed)

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None,
        deterministic: bool = True, action_masks: np.ndarray | None = None, **_: Any,
    ) -> tuple[Any, Any]:  # fmt: skip
        if action_masks is not None:
            return int(self.rng.choice(np.flatnonzero(action_masks))), state
        if isinstance(self.space, gymnasium.spaces.Box):
            return self.rng.uniform(self.space.low, self.space.high).astype(np.float32), state
        return self.space.sample(), state

    def describe(self) -> dict[str, Any]:
        return {}


def _inventory_baselines(config: InventoryConfig, seed: int) -> dict[str, Any]:
    from transferkit.rl._policies import tune_base_stock, tune_s_s

    base, _ = tune_base_stock(config, seed=seed)
    ss, _ = tune_s_s(config, seed=seed)
    return {"base-stock": base, "(s, S)": ss}


INVENTORY = EnvKind(
    name="inventory",
    gym_id="transferkit/Inventory-v0",
    presets={
        "orgym": ORGYM_INV_MANAGEMENT,
        "orgym-lost-sales": replace(ORGYM_INV_MANAGEMENT, backlog=False),
        "seasonal-shocks": replace(
            ORGYM_INV_MANAGEMENT, season_amplitude=0.5, season_length=10, shock_probability=0.1
        ),
        # the reality stand-in: demand from another, non-stationary process with shocks,
        # and stock counts a period late and 10 % off
        "real": replace(
            ORGYM_INV_MANAGEMENT,
            demand="negative-binomial",
            dispersion=4.0,
            trend=0.01,
            season_amplitude=0.3,
            season_length=15,
            shock_probability=0.08,
            count_delay=1,
            count_noise=0.1,
        ),
        "single-stage": InventoryConfig(
            initial=(60.0,),
            prices=(2.0, 1.5),
            costs=(1.5, 1.0),
            penalties=(0.1, 0.0),
            holding=(0.15,),
            capacity=(100.0,),
            lead_time=(3,),
        ),
    },
    make=InventoryEnv,
    algo="ppo",
    baselines=_inventory_baselines,
    names=inventory_names,
    hyperparameters={"ppo": {"n_steps": 600, "batch_size": 150, "learning_rate": 3e-4}},
)


def _pricing_baselines(config: Any, seed: int) -> dict[str, Any]:
    from transferkit.rl._pricing_policies import pricing_baselines

    return pricing_baselines(config, seed)


PRICING = EnvKind(
    name="pricing",
    gym_id="transferkit/DynamicPricing-v0",
    presets={
        "default": PricingConfig(),
        # a deterministic market: (period, stock) is the state, dynamic programming exact
        "small": PricingConfig(periods=10, stock=20, reference_effect=0.0, competitor_noise=0.0),
        "reactive-competitor": PricingConfig(competitor_reaction=0.5, competitor_noise=3.0),
    },
    make=PricingEnv,
    algo="ppo",
    baselines=_pricing_baselines,
    hyperparameters={"ppo": {"n_steps": 512, "batch_size": 128, "ent_coef": 0.01}},
)


def _ad_baselines(config: Any, seed: int) -> dict[str, Any]:
    from transferkit.rl._ads_policies import ad_baselines

    return ad_baselines(config, seed)


def _ad_rows(config: Any) -> tuple[int, int, int]:
    return 6 + 2 * config.segments, config.segments + 1, 0


ADS = EnvKind(
    name="ads",
    gym_id="transferkit/AdPlacement-v0",
    presets={"default": AdConfig(), "slate": AdConfig(slots=3)},
    make=AdPlacementEnv,
    algo="ppo",
    baselines=_ad_baselines,
    normalize_obs=False,  # posterior means, spreads and shares: already on a common scale
    entity=_ad_rows,
    hyperparameters={"ppo": {"n_steps": 1200, "batch_size": 300, "ent_coef": 0.01}},
)


def _routing_rows(config: Any) -> tuple[int, int, int]:
    return 8, 7, 1


def _routing_baselines(config: Any, seed: int) -> dict[str, Any]:
    from transferkit.rl._routing_policies import routing_baselines

    return routing_baselines(config, seed)


ROUTING = EnvKind(
    name="routing",
    gym_id="transferkit/DeliveryRouting-v0",
    presets={
        "20": RoutingConfig(),
        "10": RoutingConfig(customers=10, vehicles=2, capacity=35),
        "50": RoutingConfig(customers=50, vehicles=6, capacity=50, horizon=600.0),
        "heavy-traffic": RoutingConfig(rush_strength=1.5, congestion=0.5),
    },
    make=RoutingEnv,
    algo="maskable-ppo",
    baselines=_routing_baselines,
    normalize_obs=False,  # a table of shares, already in [0, 1]
    entity=_routing_rows,  # customers' rows, the van's state; the depot first
    hyperparameters={"maskable-ppo": {"n_steps": 1024, "batch_size": 256, "ent_coef": 0.01}},
)


def _game_baselines(config: Any, seed: int) -> dict[str, Any]:
    from transferkit.rl._games import game_baselines

    return game_baselines(config, seed)


def _game(name: str, gym_id: str, presets: dict[str, Any]) -> EnvKind:
    return EnvKind(name=name, gym_id=gym_id, presets=presets, make=GameEnv, algo="ppo",
                   baselines=_game_baselines)  # fmt: skip


# Gymnasium's own games, their physics varied as CARL does; "real": harder physics plus
# a delayed action and noisy observations (the simulation-to-reality stand-in)
CARTPOLE = _game("cartpole", "transferkit/CartPole-v0", {
    "default": GameConfig(),
    "long-pole": GameConfig(length=1.0),
    "heavy-pole": GameConfig(masspole=0.5),
    "mirrored": GameConfig(mirror_actions=True),
    "real": GameConfig(length=0.7, masspole=0.15, force=8.0, action_delay=1,
                       observation_noise=0.02),
})  # fmt: skip
MOUNTAINCAR = _game("mountaincar", "transferkit/MountainCar-v0", {
    "default": GameConfig(game="mountaincar"),
    "weak-engine": GameConfig(game="mountaincar", force=0.0008),
    "strong-gravity": GameConfig(game="mountaincar", gravity=0.003),
})  # fmt: skip
ACROBOT = _game("acrobot", "transferkit/Acrobot-v0", {
    "default": GameConfig(game="acrobot"),
    "long-links": GameConfig(game="acrobot", link_length_1=1.3, link_length_2=1.3),
    "heavy-links": GameConfig(game="acrobot", link_mass_1=1.5, link_mass_2=1.5),
})  # fmt: skip

KINDS: dict[str, EnvKind] = {
    kind.name: kind for kind in (INVENTORY, ROUTING, PRICING, ADS, CARTPOLE, MOUNTAINCAR, ACROBOT)
}


def choose(name: str, settings: Mapping[str, Any] | None = None) -> EnvChoice:
    """`NAME`, `NAME:PRESET` or a Gymnasium id, with `settings` changing config fields."""
    base, _, preset = name.partition(":")
    kind = KINDS.get(base.lower()) or next((k for k in KINDS.values() if k.gym_id == base), None)
    if kind is None:
        if preset or settings:
            raise TransferKitError(
                f"environment {name!r} is not one of transferkit's ({', '.join(KINDS)}):"
                " presets and config files apply only to those."
            )
        if base not in gymnasium.registry:
            raise TransferKitError(
                f"unknown environment {name!r}: give one of {', '.join(KINDS)} (with"
                " `:PRESET`), or a registered Gymnasium id such as CartPole-v1."
            )
        return EnvChoice(label=base, kind=None, gym_id=base)
    preset = preset or next(iter(kind.presets))
    if preset not in kind.presets:
        raise TransferKitError(
            f"{kind.name} has no preset {preset!r}: choose one of {', '.join(kind.presets)}."
        )
    config = kind.presets[preset]
    if settings:
        config = with_settings(config, settings, f"{kind.name} config")
    config.check()
    return EnvChoice(label=f"{kind.name}:{preset}", kind=kind, config=config)
