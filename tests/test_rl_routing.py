"""The routing environment and its baselines: Gymnasium's checks, determinism, a late and
an on-time delivery worked by hand, action masks (no masked action is ever taken by the
baselines or by a MaskablePPO agent), the plans of nearest neighbour + 2-opt and PyVRP,
bad configs and actions."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")
pytest.importorskip("pyvrp")

from transferkit._errors import TransferKitError  # noqa: E402
from transferkit.rl import RoutingConfig, RoutingEnv  # noqa: E402
from transferkit.rl._catalog import choose  # noqa: E402
from transferkit.rl._evaluate import play, score  # noqa: E402
from transferkit.rl._routing_policies import PyVRPRoutes, decode  # noqa: E402

SMALL = RoutingConfig(customers=8, vehicles=2, capacity=30)
CALM = replace(SMALL, rush_strength=0.0, congestion=0.0)


@pytest.mark.parametrize("preset", ["10", "20", "heavy-traffic"])
def test_gymnasium_checks_every_preset(preset):
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)
        check_env(choose(f"routing:{preset}").make(), skip_render_check=True)


def test_registered_and_deterministic_under_a_seed():
    def day(seed):
        env = gymnasium.make("transferkit/DeliveryRouting-v0", customers=8, vehicles=2)
        env.reset(seed=seed)
        rng, rewards, done = np.random.default_rng(0), [], False
        while not done:
            action = int(rng.choice(np.flatnonzero(env.unwrapped.action_masks())))
            _, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            done = terminated or truncated
        return rewards

    assert day(2) == day(2)
    assert day(2) != day(3)


def test_a_late_and_an_on_time_delivery_worked_by_hand():
    env = RoutingEnv(CALM)
    env.reset(seed=0)
    env.xy[0], env.xy[1] = (0.5, 1.0), (0.5, 0.0)  # half a unit from the depot: 30 minutes
    env.opens[:2], env.closes[:2] = (0.0, 0.0), (10.0, 500.0)
    _, reward, _, _, info = env.step(1)  # arrives at 30, the window closed at 10
    assert info["late"] == pytest.approx(20.0) and 1 in env.late
    assert reward == pytest.approx(-CALM.distance_cost * 0.5 - CALM.late_penalty * 20.0)
    # the other van is free first (time 0): customer 2 is on time
    assert env.van == 1
    _, reward, _, _, info = env.step(2)
    assert info["late"] == 0.0
    assert reward == pytest.approx(CALM.on_time_reward - CALM.distance_cost * 0.5)
    assert env.free_at[1] == pytest.approx(30.0 + CALM.service)


def test_masks_follow_load_and_service_and_a_masked_action_changes_nothing():
    env = RoutingEnv(CALM)
    env.reset(seed=1)
    mask = env.action_masks()
    assert not mask[0] and mask[1:].all()  # a van that served no one may not go home
    env.demand[3] = 25
    env.load[0] = 20.0
    assert not env.action_masks()[4]  # too large for the load left
    before = (env.served.copy(), env.free_at.copy())
    _, reward, terminated, _, info = env.step(4)
    assert info["invalid"] and reward == -CALM.invalid_penalty and not terminated
    assert (env.served == before[0]).all() and (env.free_at == before[1]).all()


def test_no_policy_takes_a_masked_action():
    from sb3_contrib import MaskablePPO

    from transferkit.rl._agents import AgentPolicy

    model = MaskablePPO("MlpPolicy", RoutingEnv(SMALL), n_steps=64, batch_size=32, seed=0,
                        device="cpu")  # fmt: skip
    model.learn(128)
    policies = {"agent": AgentPolicy(model.policy, RoutingEnv(SMALL))}
    policies.update(choose("routing", {"customers": 8, "vehicles": 2, "capacity": 30})
                    .baselines(0))  # fmt: skip
    for name, policy in policies.items():
        for seed in range(3):
            steps = []
            play(RoutingEnv(SMALL), policy, seed, watch=steps.append)
            assert not any(s["info"].get("invalid") for s in steps), name


def test_plans_visit_every_customer_once_and_beat_nearest_neighbour():
    env = RoutingEnv(SMALL)
    observation, _ = env.reset(seed=5)
    routes = PyVRPRoutes(SMALL).plan(decode(SMALL, observation))
    assert sorted(c for route in routes for c in route) == list(range(1, 9))
    assert len(routes) <= SMALL.vehicles
    baselines = choose("routing", {"customers": 8, "vehicles": 2, "capacity": 30}).baselines(0)
    got = {name: score(lambda: RoutingEnv(SMALL), p, 10, 50).mean for name, p in baselines.items()}
    assert got["PyVRP"] > got["nearest neighbour"] and got["PyVRP"] > got["random"]
    assert got["nearest neighbour + 2-opt"] > got["random"]


def test_bad_configs_and_actions_are_one_line():
    with pytest.raises(TransferKitError, match=r"more than the depot holds"):
        RoutingConfig(vehicles=12).check()
    with pytest.raises(TransferKitError, match=r"cannot fit a van of capacity 5"):
        RoutingConfig(capacity=5).check()
    with pytest.raises(TransferKitError, match=r"demand cannot be negative"):
        RoutingConfig(demand_range=(-2, 4)).check()
    env = RoutingEnv(SMALL)
    env.reset(seed=0)
    with pytest.raises(TransferKitError, match=r"routing action 9 is outside the action space"):
        env.step(9)


def test_the_entity_policy_reads_an_instance_of_another_size():
    import torch
    from sb3_contrib import MaskablePPO

    from transferkit.rl._entity import MaskableEntityPolicy

    kwargs = {"row_features": 8, "global_features": 7, "extra_actions": 1}
    model = MaskablePPO(MaskableEntityPolicy, RoutingEnv(SMALL), policy_kwargs=kwargs,
                        n_steps=32, batch_size=16, seed=0, device="cpu")  # fmt: skip
    model.learn(64)
    wider = replace(SMALL, customers=30, vehicles=4, capacity=60)
    observation, _ = RoutingEnv(wider).reset(seed=0)
    logits = model.policy.mlp_extractor.forward_actor(torch.as_tensor(observation)[None])
    assert logits.shape == (1, 31)  # the depot and 30 customers, from weights made for 8
    # permuting the customers permutes their logits: one network scores every row
    rows = observation[: 30 * 8].reshape(30, 8)
    order = np.random.default_rng(0).permutation(30)
    shuffled = np.concatenate([rows[order].ravel(), observation[30 * 8 :]])
    again = model.policy.mlp_extractor.forward_actor(torch.as_tensor(shuffled)[None])
    assert torch.allclose(again[0, 1:], logits[0, 1:][order], atol=1e-5)
    assert torch.allclose(again[0, 0], logits[0, 0], atol=1e-5)


def test_nearest_neighbour_and_2_opt_on_cases_with_known_answers():
    from transferkit.rl._routing_policies import NearestNeighbour, NearestNeighbourTwoOpt

    env = RoutingEnv(CALM)
    env.reset(seed=0)
    env.xy[:] = 0.95  # all far away but customer 6, a step from the depot
    env.xy[5] = (0.55, 0.5)
    env.position[env.van] = env.depot
    action, _ = NearestNeighbour(CALM).predict(env._observation(), action_masks=env.action_masks())
    assert action == 6
    # four corners visited crosswise; wide windows: 2-opt uncrosses them (the square's
    # perimeter, 2.0, instead of 2 + 2 diagonals)
    planner = NearestNeighbourTwoOpt(CALM)
    day = {"xy": np.array([[0.25, 0.25], [0.75, 0.75], [0.75, 0.25], [0.25, 0.75]]),
           "opens": np.zeros(4), "closes": np.full(4, 1e6)}  # fmt: skip
    crossed = [1, 2, 3, 4]
    best = planner.two_opt(crossed, day)
    assert planner.route_cost(best, day) < planner.route_cost(crossed, day)
    from itertools import pairwise

    stops = [day["xy"][i - 1] for i in best]
    inner = sum(np.linalg.norm(b - a) for a, b in pairwise(stops))
    assert inner == pytest.approx(1.5)  # three sides of the square, no diagonal
