"""A policy that reads a table, one row per entity (a customer, an ad), and scores each
row with the same network: `EntityPolicy` for PPO and A2C, `MaskableEntityPolicy` for
MaskablePPO.

An MLP over the flattened table must learn the same rule once per row position and is
tied to the table's size; here every row is encoded by one shared network (with the
global features beside it), the rows are mean-pooled into a context, each row's logit
comes from its code and the context, and the value from the context. The policy's
weights do not depend on the number of rows: a policy trained on 20 customers reads 50.

The observation is the rows, then `global_features` values; `extra_actions` actions come
before the rows' (the depot, for routing), scored from the context.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

try:
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.policies import ActorCriticPolicy
except ImportError:  # pragma: no cover - without the [rl] extra
    ActorCriticPolicy = MaskableActorCriticPolicy = object  # type: ignore[assignment,misc]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class EntityNetwork(nn.Module):
    """Logits per action and a latent for the value, from rows and global features."""

    def __init__(self, row_features: int, global_features: int, extra_actions: int,
                 hidden: int = 64) -> None:  # fmt: skip
        super().__init__()
        self.f, self.g, self.k = row_features, global_features, extra_actions
        self.encode = _mlp([row_features + global_features, hidden, hidden])
        self.score = _mlp([2 * hidden + global_features, hidden, 1])
        self.extra = _mlp([hidden + global_features, hidden, max(extra_actions, 1)])
        self.critic = _mlp([hidden + global_features, hidden, hidden])
        self.latent_dim_vf = hidden
        self.latent_dim_pi = 0  # set by the policy: the number of actions

    def split(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, width = features.shape
        n = (width - self.g) // self.f
        rows = features[:, : n * self.f].reshape(batch, n, self.f)
        return rows, features[:, n * self.f : n * self.f + self.g]

    def context(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows, glob = self.split(features)
        spread = glob.unsqueeze(1).expand(-1, rows.shape[1], -1)
        codes = self.encode(torch.cat([rows, spread], dim=-1))
        return codes, torch.cat([codes.mean(dim=1), glob], dim=-1)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        codes, context = self.context(features)
        spread = context.unsqueeze(1).expand(-1, codes.shape[1], -1)
        logits: torch.Tensor = self.score(torch.cat([codes, spread], dim=-1)).squeeze(-1)
        if self.k:
            logits = torch.cat([self.extra(context)[:, : self.k], logits], dim=-1)
        return logits

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        latent: torch.Tensor = self.critic(self.context(features)[1])
        return latent

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class _EntityMixin:
    """Replaces the MLP extractor by `EntityNetwork` and the action layer by the identity
    (the network's outputs are the logits)."""

    def __init__(self, *args: Any, row_features: int = 1, global_features: int = 0,
                 extra_actions: int = 0, hidden: int = 64, **kwargs: Any) -> None:  # fmt: skip
        self.entity_settings = (row_features, global_features, extra_actions, hidden)
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        me: Any = self  # an SB3 actor-critic policy once mixed in
        f, g, k, hidden = self.entity_settings
        me.mlp_extractor = EntityNetwork(f, g, k, hidden)
        me.mlp_extractor.latent_dim_pi = int(me.action_space.n)

    def _build(self, lr_schedule: Any) -> None:
        me: Any = self
        super()._build(lr_schedule)  # type: ignore[misc]
        me.action_net = nn.Identity()
        with torch.no_grad():  # small first logits: a near-uniform policy to start
            for head in (me.mlp_extractor.score, me.mlp_extractor.extra):
                head[-1].weight.mul_(0.01)
                head[-1].bias.zero_()
        me.optimizer = me.optimizer_class(  # the action layer's parameters are gone
            me.parameters(), lr=lr_schedule(1), **me.optimizer_kwargs
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data: dict[str, Any] = super()._get_constructor_parameters()  # type: ignore[misc]
        f, g, k, hidden = self.entity_settings
        data.update(row_features=f, global_features=g, extra_actions=k, hidden=hidden)
        return data


def fit_to(policy: Any, env: Any) -> bool:
    """Let an entity policy act in `env` when its table has another number of rows (its
    weights do not depend on it): the spaces and the action distribution follow the
    environment. False (and nothing changed) for any other policy or the same spaces."""
    if not isinstance(getattr(policy, "mlp_extractor", None), EntityNetwork):
        return False
    if policy.observation_space == env.observation_space:
        return False
    policy.observation_space, policy.action_space = env.observation_space, env.action_space
    if isinstance(policy, MaskableActorCriticPolicy):
        from sb3_contrib.common.maskable.distributions import make_masked_proba_distribution

        policy.action_dist = make_masked_proba_distribution(env.action_space)
    else:
        from stable_baselines3.common.distributions import make_proba_distribution

        policy.action_dist = make_proba_distribution(env.action_space)
    return True


class EntityPolicy(_EntityMixin, ActorCriticPolicy):
    """For PPO and A2C."""


class MaskableEntityPolicy(_EntityMixin, MaskableActorCriticPolicy):
    """For MaskablePPO."""
