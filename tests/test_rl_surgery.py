"""Policy surgery between policies of different sizes: the reused tensors are equal to
the source's, the others are the target's own, and the record lists both."""

from __future__ import annotations

import pytest

pytest.importorskip("stable_baselines3")

import torch
from stable_baselines3 import PPO

from transferkit._errors import TransferKitError
from transferkit.rl._catalog import choose
from transferkit.rl._surgery import transplant


def test_an_mlp_keeps_what_fits_and_reinitialises_the_rest():
    source = choose("inventory:single-stage").make()  # 1 stage: a small observation
    target = choose("inventory:orgym").make()  # 3 stages
    small = PPO("MlpPolicy", source, seed=0, device="cpu").policy
    large = PPO("MlpPolicy", target, seed=1, device="cpu").policy
    before = {k: v.clone() for k, v in large.state_dict().items()}
    record = transplant(small.state_dict(), large)
    after = large.state_dict()
    assert record["reused"] and record["reinitialised"]
    for name in record["reused"]:
        assert torch.equal(after[name], small.state_dict()[name])
    for item in record["reinitialised"]:
        assert torch.equal(after[item["name"]], before[item["name"]])  # its own init
        assert item["source"].startswith("shape")
    first = "mlp_extractor.policy_net.0.weight"
    assert first in {i["name"] for i in record["reinitialised"]}  # observation size differs
    assert "mlp_extractor.policy_net.2.weight" in record["reused"]  # hidden layers fit
    assert 0 < record["share_reused"] < 1


def test_the_entity_policy_carries_every_tensor_across_sizes():
    from sb3_contrib import MaskablePPO

    from transferkit.rl._entity import MaskableEntityPolicy

    kwargs = {"row_features": 8, "global_features": 7, "extra_actions": 1}
    small = MaskablePPO(MaskableEntityPolicy, choose("routing:10").make(), seed=0,
                        policy_kwargs=kwargs, device="cpu").policy  # fmt: skip
    large = MaskablePPO(MaskableEntityPolicy, choose("routing:50").make(), seed=1,
                        policy_kwargs=kwargs, device="cpu").policy  # fmt: skip
    record = transplant(small.state_dict(), large)
    assert record["reinitialised"] == [] and record["share_reused"] == 1.0


def test_nothing_in_common_is_refused():
    net = torch.nn.Linear(3, 2)
    with pytest.raises(TransferKitError, match="share nothing"):
        transplant({"other.weight": torch.zeros(1)}, net)
