"""The settings an adaptation job adds to a job's: the target, the method and how it is
chosen. The source is the job's `data` section; the backbone, outputs and performance
sections mean what they mean for `fit`."""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from transferkit._errors import TransferKitError, choice_error

# the methods (transferkit.adaptation._methods registers each under this name); the last
# four are deep: an adapter network over the cached features, trained with a domain loss
ADAPT_METHODS = (
    "source-only",
    "coral",
    "subspace",
    "linear-ot",
    "ot",
    "kde-reweight",
    "classifier-reweight",
    "self-training",
    "coral+self-training",
    "linear-ot+self-training",
    "dann",
    "cdan+e",
    "mcc",
    "dan",
)
CRITERIA = ("dev", "circular", "snd", "entropy")
LABEL_SHIFT = ("em", "bbse")


@dataclass
class AdaptationConfig:
    """The target (unlabelled, or labelled for evaluation only) and the method."""

    target: str | None = None
    target_labels: bool = False
    target_text_column: str | int | None = None
    target_label_column: str | int | None = None
    method: str = "auto"
    criterion: str = "circular"
    label_shift: str | None = None
    more_sources: list[str] = field(default_factory=list)  # labelled sources past the first

    def validate(self) -> AdaptationConfig:
        if not isinstance(self.target, str) or not self.target:
            raise TransferKitError("give the TARGET to adapt to (`--target PATH`).")
        if not isinstance(self.target_labels, bool):
            raise TransferKitError(
                f"`target_labels` must be true or false. Got {self.target_labels!r}."
            )
        if not isinstance(self.more_sources, list) or not all(
            isinstance(p, str) and p for p in self.more_sources
        ):
            raise TransferKitError(
                f"`more_sources` must be a list of paths. Got {self.more_sources!r}."
            )
        if self.method not in (*ADAPT_METHODS, "auto"):
            raise choice_error("method", self.method, [*ADAPT_METHODS, "auto"])
        if self.criterion not in CRITERIA:
            raise choice_error("criterion", self.criterion, list(CRITERIA))
        if self.label_shift is not None and self.label_shift not in LABEL_SHIFT:
            raise choice_error("label_shift", self.label_shift, list(LABEL_SHIFT))
        if self.target_label_column is not None and not self.target_labels:
            raise TransferKitError(
                "--target-label names the target's label column, which is read only with"
                " --target-labels: add it, or drop --target-label."
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the configuration") -> AdaptationConfig:
        known = [f.name for f in fields(cls)]
        for key in data:
            if key not in known:
                message = f"unknown setting in section 'adaptation' of {source}: {key!r}."
                close = difflib.get_close_matches(str(key), known, n=1)
                raise TransferKitError(message + (f" Did you mean {close[0]!r}?" if close else ""))
        return cls(**data)
