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


def test_counterpart_finds_the_entry_or_entity_zeros():
    from transferkit.rl._surgery import counterpart

    source = ["on_hand[0]", "pipeline[0,1]", "pipeline[0,2]", "order[0]"]
    assert counterpart("pipeline[0,2]", source) == 2
    assert counterpart("pipeline[2,1]", source) == 1  # stage 2 borrows stage 0's
    assert counterpart("pipeline[0,7]", source) is None  # deeper than the source's
    assert counterpart("order[1]", source) == 3


def test_by_name_an_mlp_across_stage_counts_acts_as_the_source_did():
    """Matched by the inventory's entry names: the input columns the source saw are its
    own, the others zero, so the target's retailer order equals the source's on the same
    retailer state whatever the other stages show; the new stages' order rows are the
    retailer's; the record says which tensors were matched this way."""
    import numpy as np

    from transferkit.rl._inventory import inventory_names
    from transferkit.rl._surgery import Names

    small_choice, large_choice = choose("inventory:single-stage"), choose("inventory:orgym")
    small = PPO("MlpPolicy", small_choice.make(), seed=0, device="cpu").policy
    large = PPO("MlpPolicy", large_choice.make(), seed=1, device="cpu").policy
    (so, sa), (to, ta) = inventory_names(small_choice.config), inventory_names(large_choice.config)
    assert len(so) == small.observation_space.shape[0]
    assert len(to) == large.observation_space.shape[0]
    without = transplant(small.state_dict(), PPO("MlpPolicy", large_choice.make(), seed=1,
                                                 device="cpu").policy)  # fmt: skip
    record = transplant(small.state_dict(), large, Names(so, to, sa, ta))
    by_name = {item["name"]: item["by_name"] for item in record["partly_reused"]}
    assert by_name["mlp_extractor.policy_net.0.weight"] == "observation"
    assert by_name["action_net.weight"] == "action" and by_name["log_std"] == "action"
    assert record["share_reused"] > without["share_reused"]
    first = large.state_dict()["mlp_extractor.policy_net.0.weight"]
    seen = [to.index(n) for n in so if n in to]
    unseen = [i for i in range(len(to)) if i not in seen]
    assert torch.equal(first[:, seen], small.state_dict()["mlp_extractor.policy_net.0.weight"])
    assert torch.count_nonzero(first[:, unseen]) == 0
    rows = large.state_dict()["action_net.weight"]
    for stage in range(3):  # every stage's order row is the retailer's
        assert torch.equal(rows[stage], small.state_dict()["action_net.weight"][0])

    rng = np.random.default_rng(0)
    retailer = torch.as_tensor(rng.uniform(0, 50, size=(4, len(so))), dtype=torch.float32)
    whole = torch.as_tensor(rng.uniform(0, 50, size=(4, len(to))), dtype=torch.float32)
    whole[:, seen] = retailer[:, [so.index(to[i]) for i in seen]]
    with torch.no_grad():
        ours = large.get_distribution(whole).distribution.mean[:, 0]
        theirs = small.get_distribution(retailer).distribution.mean[:, 0]
    assert torch.allclose(ours, theirs, atol=1e-5)
