"""Reinforcement learning for the seed use cases: Gymnasium environments (inventory,
pricing, ...), the baselines a practitioner trusts, and Stable-Baselines3 agents held
against them (`transferkit rl`).

Importing this package registers the environments with Gymnasium
(`gymnasium.make("transferkit/Inventory-v0")`); it needs the `[rl]` extra.
"""

from __future__ import annotations

from typing import Any

from transferkit.rl._ads import AdConfig, AdPlacementEnv
from transferkit.rl._ads_policies import UCB1, EpsilonGreedy, LinUCB, ThompsonSampling
from transferkit.rl._games import GameConfig, GameEnv
from transferkit.rl._inventory import ORGYM_INV_MANAGEMENT, InventoryConfig, InventoryEnv
from transferkit.rl._inventory_vector import InventoryVectorEnv
from transferkit.rl._policies import BaseStockPolicy, SSPolicy, tune_base_stock, tune_s_s
from transferkit.rl._pricing import PricingConfig, PricingEnv
from transferkit.rl._pricing_policies import (
    ConstantPrice,
    DynamicProgrammingPrice,
    MyopicPrice,
)
from transferkit.rl._routing import RoutingConfig, RoutingEnv
from transferkit.rl._routing_policies import (
    NearestNeighbour,
    NearestNeighbourTwoOpt,
    PyVRPRoutes,
)


def _register() -> None:
    import gymnasium

    if "transferkit/Inventory-v0" not in gymnasium.registry:
        gymnasium.register(
            id="transferkit/Inventory-v0",
            entry_point="transferkit.rl._inventory:InventoryEnv",
            # gymnasium.make_vec(..., vectorization_mode="vector_entry_point"): K in arrays
            vector_entry_point="transferkit.rl._inventory_vector:InventoryVectorEnv",
        )
    if "transferkit/AdPlacement-v0" not in gymnasium.registry:
        gymnasium.register(
            id="transferkit/AdPlacement-v0", entry_point="transferkit.rl._ads:AdPlacementEnv"
        )
    if "transferkit/DeliveryRouting-v0" not in gymnasium.registry:
        gymnasium.register(
            id="transferkit/DeliveryRouting-v0", entry_point="transferkit.rl._routing:RoutingEnv"
        )
    for game, name in (("cartpole", "CartPole"), ("mountaincar", "MountainCar"),
                       ("acrobot", "Acrobot")):  # fmt: skip
        if f"transferkit/{name}-v0" not in gymnasium.registry:
            gymnasium.register(
                id=f"transferkit/{name}-v0", entry_point="transferkit.rl._games:GameEnv",
                kwargs={"game": game},
            )  # fmt: skip
    if "transferkit/DynamicPricing-v0" not in gymnasium.registry:
        gymnasium.register(
            id="transferkit/DynamicPricing-v0", entry_point="transferkit.rl._pricing:PricingEnv"
        )


_register()

# the agents need Stable-Baselines3: imported on first use, so the environments alone stay light
_LAZY = {
    "TrainSettings": "transferkit.rl._train",
    "train": "transferkit.rl._train",
    "load_policy": "transferkit.rl._agents",
    "held_against": "transferkit.rl._results",
    "choose": "transferkit.rl._catalog",
    "transfer": "transferkit.rl._transfer",
    "transplant": "transferkit.rl._surgery",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'transferkit.rl' has no attribute {name!r}")


__all__ = [
    "ORGYM_INV_MANAGEMENT",
    "UCB1",
    "AdConfig",
    "AdPlacementEnv",
    "BaseStockPolicy",
    "ConstantPrice",
    "DynamicProgrammingPrice",
    "EpsilonGreedy",
    "GameConfig",
    "GameEnv",
    "InventoryConfig",
    "InventoryEnv",
    "InventoryVectorEnv",
    "LinUCB",
    "MyopicPrice",
    "NearestNeighbour",
    "NearestNeighbourTwoOpt",
    "PricingConfig",
    "PricingEnv",
    "PyVRPRoutes",
    "RoutingConfig",
    "RoutingEnv",
    "SSPolicy",
    "ThompsonSampling",
    "TrainSettings",
    "choose",
    "held_against",
    "load_policy",
    "train",
    "transfer",
    "transplant",
    "tune_base_stock",
    "tune_s_s",
]
