"""Environments whose variant changes while an agent trains: domain randomisation (each
episode's settings drawn from ranges) and curricula (a stage's settings set from
outside, by `Curriculum`).

`VariantEnv` holds one environment of a transferkit kind and rebuilds it when its config
changes; the observation and action spaces must stay the same (settings that change a
space, such as the number of customers, are refused with the setting named: across
sizes, chain `rl transfer` runs instead).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np

from transferkit._errors import TransferKitError


class VariantEnv(gymnasium.Env[Any, Any]):
    """`kind`'s environment at `config`, redrawn from `ranges` ({field: [low, high]}) at
    every reset, and switched by `set_settings` (a curriculum's next stage)."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(
        self, kind: Any, config: Any, ranges: Mapping[str, Sequence[float]] | None = None
    ) -> None:
        self.kind, self.base = kind, config
        self.ranges = {k: (float(v[0]), float(v[1])) for k, v in (ranges or {}).items()}
        fields = {f.name: f for f in dataclasses.fields(config)}
        for name, (low, high) in self.ranges.items():
            if name not in fields:
                known = ", ".join(sorted(fields))
                raise TransferKitError(
                    f"randomise: {kind.name} has no setting {name!r}; known: {known}."
                )
            current = getattr(config, name)  # None: a number left at the game's default
            if isinstance(current, bool) or not isinstance(current, (int, float, type(None))):
                raise TransferKitError(
                    f"randomise `{name}`: only a setting that is one number can be drawn"
                    f" ({name} is {current!r})."
                )
            if not low <= high:
                raise TransferKitError(f"randomise `{name}`: give [low, high] with low <= high.")
        self.inner = kind.make(config)
        self.observation_space, self.action_space = (
            self.inner.observation_space,
            self.inner.action_space,
        )
        self.drawn: dict[str, float] = {}
        self.pending: gymnasium.Env[Any, Any] | None = None
        for name, (low, high) in self.ranges.items():  # both ends must keep the spaces
            for value in (low, high):
                self._build(dataclasses.replace(config, **{name: self._typed(name, value)}), name)

    def _typed(self, name: str, value: float) -> Any:
        current = getattr(self.base, name)
        return round(value) if isinstance(current, int) and not isinstance(current, bool) else value

    def _build(self, config: Any, what: str) -> gymnasium.Env[Any, Any]:
        env: gymnasium.Env[Any, Any] = self.kind.make(config.check())
        if env.observation_space != self.observation_space or env.action_space != self.action_space:
            raise TransferKitError(
                f"`{what}` changes the environment's observation or action space: it cannot"
                " vary within one training run (across sizes, chain `rl transfer` runs)."
            )
        return env

    def set_settings(self, settings: Mapping[str, Any]) -> None:
        """The episodes from the next reset on use `settings` over the current config
        (an episode under way finishes in its own variant)."""
        config = with_settings(self.base, settings, f"{self.kind.name} stage")
        self.pending = self._build(config, ", ".join(settings) or "stage")
        self.base = config

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        super().reset(seed=seed)
        if self.pending is not None:
            self.inner, self.pending = self.pending, None
        if self.ranges:
            self.drawn = {
                name: self._typed(name, float(self.np_random.uniform(low, high)))
                for name, (low, high) in self.ranges.items()
            }
            self.inner = self.kind.make(dataclasses.replace(self.base, **self.drawn).check())
        inner_seed = int(self.np_random.integers(2**31 - 1))
        observation, info = self.inner.reset(seed=inner_seed, options=options)
        return observation, {**info, "variant": dict(self.drawn)}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        result: tuple[Any, float, bool, bool, dict[str, Any]] = self.inner.step(action)
        return result


class MaskedVariantEnv(VariantEnv):
    """A `VariantEnv` of an environment with action masks (routing)."""

    def action_masks(self) -> np.ndarray:
        inner: Any = self.inner.unwrapped
        result: np.ndarray = inner.action_masks()
        return result


def variant_env(
    kind: Any, config: Any, ranges: Mapping[str, Sequence[float]] | None = None
) -> VariantEnv:
    """A `VariantEnv`, with masks when the environment has them."""
    masked = hasattr(kind.make(config).unwrapped, "action_masks")
    return (MaskedVariantEnv if masked else VariantEnv)(kind, config, ranges)


def with_settings(config: Any, settings: Mapping[str, Any], what: str) -> Any:
    """`config` with fields replaced (lists become tuples), refusing an unknown field."""
    fields = {f.name: f for f in dataclasses.fields(config)}
    changes: dict[str, Any] = {}
    for key, value in settings.items():
        if key not in fields:
            raise TransferKitError(
                f"{what}: unknown setting {key!r}; known: {', '.join(sorted(fields))}."
            )
        changes[key] = tuple(value) if isinstance(value, list) else value
    try:
        return dataclasses.replace(config, **changes)
    except TypeError as exc:
        raise TransferKitError(f"{what}: {exc}") from None
