"""Reinforcement learning for the seed use cases: Gymnasium environments (inventory first),
the baselines a practitioner trusts, and later the agents and policy transfer.

Importing this package registers the environments with Gymnasium
(`gymnasium.make("transferkit/Inventory-v0")`); it needs the `[rl]` extra.
"""

from __future__ import annotations

from transferkit.rl._inventory import ORGYM_INV_MANAGEMENT, InventoryConfig, InventoryEnv
from transferkit.rl._inventory_vector import InventoryVectorEnv
from transferkit.rl._policies import BaseStockPolicy, SSPolicy, tune_base_stock, tune_s_s


def _register() -> None:
    import gymnasium

    if "transferkit/Inventory-v0" not in gymnasium.registry:
        gymnasium.register(
            id="transferkit/Inventory-v0",
            entry_point="transferkit.rl._inventory:InventoryEnv",
            # gymnasium.make_vec(..., vectorization_mode="vector_entry_point"): K in arrays
            vector_entry_point="transferkit.rl._inventory_vector:InventoryVectorEnv",
        )


_register()

__all__ = [
    "ORGYM_INV_MANAGEMENT",
    "BaseStockPolicy",
    "InventoryConfig",
    "InventoryEnv",
    "InventoryVectorEnv",
    "SSPolicy",
    "tune_base_stock",
    "tune_s_s",
]
