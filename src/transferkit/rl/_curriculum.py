"""Curriculum learning as a Stable-Baselines3 callback: an ordered list of stages (each a
set of settings over the run's environment, the last usually the target itself) and a
promotion rule per stage, either a step budget or a threshold on the mean return of the
last `window` training episodes of the stage. The run records when each stage was
reached (`curriculum.json`, and a column of `history.csv`'s evaluations)."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError

try:
    from stable_baselines3.common.callbacks import BaseCallback
except ImportError:  # pragma: no cover - without the [rl] extra
    BaseCallback = object  # type: ignore[assignment,misc]


@dataclass(frozen=True)
class Stage:
    """One stage: its settings and when to move on (`steps`, or `threshold` over the
    last `window` episodes; both: whichever comes first; neither: the last stage)."""

    settings: dict[str, Any] = field(default_factory=dict)
    steps: int | None = None
    threshold: float | None = None
    window: int = 20

    @classmethod
    def parse(cls, data: Any, index: int) -> Stage:
        if not isinstance(data, Mapping):
            raise TransferKitError(f"curriculum stage {index + 1}: expected a table of settings.")
        rest = {k: v for k, v in data.items() if k not in ("steps", "threshold", "window")}
        stage = cls(dict(rest.get("settings", rest)), data.get("steps"), data.get("threshold"),
                    int(data.get("window", 20)))  # fmt: skip
        if stage.steps is not None and stage.steps < 1:
            raise TransferKitError(f"curriculum stage {index + 1}: `steps` must be at least 1.")
        if stage.window < 1:
            raise TransferKitError(f"curriculum stage {index + 1}: `window` must be at least 1.")
        return stage


def parse_stages(data: Sequence[Any]) -> list[Stage]:
    stages = [Stage.parse(item, i) for i, item in enumerate(data)]
    for i, stage in enumerate(stages[:-1]):
        if stage.steps is None and stage.threshold is None:
            raise TransferKitError(
                f"curriculum stage {i + 1} has no promotion rule: give `steps` or `threshold`."
            )
    return stages


class Curriculum(BaseCallback):
    """Moves the training environments through `stages` (they must be `VariantEnv`s)."""

    def __init__(self, stages: Sequence[Stage], run: Path | None = None) -> None:
        super().__init__()
        self.stages, self.run = list(stages), run
        self.index, self.started_at = 0, 0
        self.returns: deque[float] = deque(maxlen=self.stages[0].window)
        self.reached: list[dict[str, Any]] = []

    def _on_training_start(self) -> None:
        if not self.reached:  # a resumed run keeps its stage
            self._enter(0)

    def _enter(self, index: int) -> None:
        self.index, self.started_at = index, int(self.num_timesteps)
        stage = self.stages[index]
        self.training_env.env_method("set_settings", stage.settings)
        self.returns = deque(maxlen=stage.window)
        self.reached.append({"stage": index + 1, "timesteps": self.started_at,
                             "settings": stage.settings})  # fmt: skip
        self._write()

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "episode" in info:
                self.returns.append(float(info["episode"]["r"]))
        if self.index < len(self.stages) - 1 and self.ready():
            self._enter(self.index + 1)
        return True

    def ready(self) -> bool:
        """The promotion rule of the current stage."""
        stage = self.stages[self.index]
        if stage.steps is not None and self.num_timesteps - self.started_at >= stage.steps:
            return True
        full = len(self.returns) == stage.window
        return bool(
            stage.threshold is not None and full and np.mean(self.returns) >= stage.threshold
        )

    def _write(self) -> None:
        if self.run is None:
            return
        from transferkit.runs._write import write_json

        stages = [asdict(s) for s in self.stages]
        write_json(self.run, "curriculum.json", {"stages": stages, "reached": self.reached})
