"""The configuration of one job, grouped as a user thinks of it, validated in one place.

`JobConfig` has seven sections: what data (`data`), which network (`backbone`), how to
transfer (`strategy`, with the training settings), imbalanced classes (`imbalance`), what
else to measure (`evaluation`), where the results go (`outputs`) and how fast
(`performance`). The Python call `fit(data, **options)`, the command line and a run's
`config.json` are three views of the same object: `from_options` builds it from `fit`'s
keyword options, `to_dict` / `from_dict` round-trip it through JSON, TOML and YAML.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError, choice_error
from transferkit.config._choices import (
    BASELINES,
    ENCODINGS,
    HEADS,
    MODALITIES,
    STRATEGIES,
)
from transferkit.finetune._config import TrainConfig

# TrainConfig fields a job sets from its other sections (data.seed, performance.*,
# imbalance.*): a config file names them once, where they belong
DERIVED_TRAINING = (
    "seed",
    "batch_size",
    "num_workers",
    "accelerator",
    "device_index",
    "balance",
    "class_weights",
    "stop_below",
)


# settings that default to a value but may be unset (None): a TOML file, which has no
# null, writes them as the string "none"
NULL = "none"
NULLABLE = ("grad_clip",)


@dataclass
class DataConfig:
    """What to read: the path, its columns, how to split it."""

    path: str | None = None
    text_column: str | int | None = None
    label_column: str | int | None = None
    val_size: float = 0.2
    seed: int = 0
    modality: str | None = None
    label_pattern: str | None = None  # labels from file names: '{digit}_{speaker}.wav'
    encoding: str = "onehot"
    max_image_pixels: int | None = None


@dataclass
class BackboneChoice:
    """Which pretrained network, with which weights, cut where."""

    name: str | None = None
    weights: str | None = None
    cut: int | str | None = None
    candidates: list[str] | None = None  # what strategy 'auto' ranks
    clip_seconds: float | None = None  # audio: the clip length (the backbone's own: None)
    windows: int | None = None  # audio: windows of clip_seconds per file, averaged


@dataclass
class StrategyConfig:
    """How to transfer, and the training settings of the strategies that train."""

    name: str = "features"
    head: str = "logistic"
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass
class ImbalanceConfig:
    """Imbalanced classes: resampling or weights, and a tuned decision threshold."""

    balance: str = "none"
    class_weight: dict[str, float] | None = None
    threshold: str | None = None


@dataclass
class EvaluationConfig:
    """What is measured beside the held-out score: cross-validation and baselines."""

    cv: int | None = None
    baseline: str | None = None
    group: str | None = None  # the per-group audit: a column, pattern field or folder level


@dataclass
class OutputConfig:
    """Where the results go: the run folder, an experiment tracker, the console."""

    out: str | None = None
    overwrite: bool = False
    track: str | None = None
    track_uri: str | None = None
    quiet: bool = False


@dataclass
class PerformanceConfig:
    """Where and how fast: the device, batches, workers and the feature cache."""

    device: str = "cpu"
    batch_size: int | None = None
    num_workers: int = 0
    cache_dir: str | None = None
    use_cache: bool = True


SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "backbone": BackboneChoice,
    "strategy": StrategyConfig,
    "imbalance": ImbalanceConfig,
    "evaluation": EvaluationConfig,
    "outputs": OutputConfig,
    "performance": PerformanceConfig,
}

# fit's keyword options -> (section, field): the flat view of the same settings
OPTIONS: dict[str, tuple[str, str]] = {
    "data": ("data", "path"),
    "text_column": ("data", "text_column"),
    "label_column": ("data", "label_column"),
    "val_size": ("data", "val_size"),
    "seed": ("data", "seed"),
    "modality": ("data", "modality"),
    "label_pattern": ("data", "label_pattern"),
    "encoding": ("data", "encoding"),
    "max_image_pixels": ("data", "max_image_pixels"),
    "backbone": ("backbone", "name"),
    "weights": ("backbone", "weights"),
    "cut": ("backbone", "cut"),
    "candidates": ("backbone", "candidates"),
    "clip_seconds": ("backbone", "clip_seconds"),
    "windows": ("backbone", "windows"),
    "strategy": ("strategy", "name"),
    "head": ("strategy", "head"),
    "train": ("strategy", "train"),
    "balance": ("imbalance", "balance"),
    "class_weight": ("imbalance", "class_weight"),
    "threshold": ("imbalance", "threshold"),
    "cv": ("evaluation", "cv"),
    "baseline": ("evaluation", "baseline"),
    "group": ("evaluation", "group"),
    "out": ("outputs", "out"),
    "overwrite": ("outputs", "overwrite"),
    "track": ("outputs", "track"),
    "track_uri": ("outputs", "track_uri"),
    "quiet": ("outputs", "quiet"),
    "device": ("performance", "device"),
    "batch_size": ("performance", "batch_size"),
    "num_workers": ("performance", "num_workers"),
    "cache_dir": ("performance", "cache_dir"),
    "use_cache": ("performance", "use_cache"),
}


@dataclass
class JobConfig:
    """One job's settings in seven sections; `validate` checks every field."""

    data: DataConfig = field(default_factory=DataConfig)
    backbone: BackboneChoice = field(default_factory=BackboneChoice)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)
    imbalance: ImbalanceConfig = field(default_factory=ImbalanceConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    outputs: OutputConfig = field(default_factory=OutputConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)

    @classmethod
    def from_options(cls, data: str | Path | None = None, **options: Any) -> JobConfig:
        """The config of `fit(data, **options)` (the names of `fit`'s keyword options)."""
        if data is not None:
            options["data"] = data
        return cls().with_options(**options)

    def with_options(self, **options: Any) -> JobConfig:
        """A copy with `fit`-style options set (None for an option given as None)."""
        sections = {name: replace(getattr(self, name)) for name in SECTIONS}
        for option, value in options.items():
            if option not in OPTIONS:
                raise _unknown("option", option, list(OPTIONS))
            section, name = OPTIONS[option]
            setattr(sections[section], name, _plain(option, value))
        return JobConfig(**sections)

    def options(self) -> dict[str, Any]:
        """The flat view: `fit`'s keyword options with this config's values."""
        return {option: getattr(getattr(self, s), f) for option, (s, f) in OPTIONS.items()}

    def to_dict(self) -> dict[str, Any]:
        """Plain data, section by section (training settings without the derived ones)."""
        out = {name: asdict(getattr(self, name)) for name in SECTIONS}
        out["strategy"]["train"] = {
            k: v for k, v in self.strategy.train.to_dict().items() if k not in DERIVED_TRAINING
        }
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "the configuration") -> JobConfig:
        """Build from `to_dict`'s shape; a section or key it does not know is an error that
        names it (a typo must not be ignored). Missing keys take their defaults."""
        if not isinstance(data, dict):
            raise TransferKitError(
                f"{source} must be a table of sections; got {type(data).__name__}."
            )
        sections: dict[str, Any] = {}
        for name, values in data.items():
            if name not in SECTIONS:
                raise _unknown(f"section in {source}", name, list(SECTIONS))
            sections[name] = _section(name, values, source)
        return cls(**sections)

    def validate(self) -> JobConfig:
        """Check every field; the first bad one is a one-line error naming it."""
        _validate_data(self.data)
        _validate_backbone(self.backbone, self.strategy.name)
        _validate_strategy(self.strategy)
        _validate_imbalance(self.imbalance)
        _validate_evaluation(self.evaluation)
        _validate_outputs(self.outputs)
        _validate_performance(self.performance)
        return self


def _plain(option: str, value: Any) -> Any:
    """An option's value as the config keeps it: paths as strings, training as TrainConfig."""
    if option == "train":
        if isinstance(value, TrainConfig):
            return replace(value)
        return TrainConfig.from_dict(dict(value or {}))
    if isinstance(value, Path):
        return str(value)
    if option == "candidates" and value is not None:
        return [str(v) for v in value]
    if option == "class_weight" and value is not None:
        return {str(k): float(v) for k, v in dict(value).items()}
    return value


def _section(name: str, values: Any, source: str) -> Any:
    kind = SECTIONS[name]
    if not isinstance(values, dict):
        raise TransferKitError(
            f"section {name!r} of {source} must be a table of settings; got {values!r}."
        )
    known = [f.name for f in fields(kind)]
    for key in values:
        if key not in known:
            raise _unknown(f"setting in section {name!r} of {source}", key, known)
    values = dict(values)
    if name == "strategy" and "train" in values:
        train = dict(values["train"] or {})
        derived = sorted(set(train) & set(DERIVED_TRAINING))
        if derived:
            raise TransferKitError(
                f"training setting {derived[0]!r} in {source} is set elsewhere: use"
                " data.seed, performance.batch_size / num_workers / device, and the"
                " imbalance section."
            )
        train = {k: None if k in NULLABLE and v == NULL else v for k, v in train.items()}
        values["train"] = TrainConfig.from_dict(train)
    return kind(**values)


def _unknown(what: str, name: str, known: list[str]) -> TransferKitError:
    message = f"unknown {what}: {name!r}. Known: {', '.join(known)}."
    close = difflib.get_close_matches(str(name), known, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return TransferKitError(message)


def _check_type(name: str, value: Any, kinds: tuple[type, ...], what: str) -> None:
    if value is not None and (
        not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)
    ):
        raise TransferKitError(f"`{name}` must be {what}. Got {value!r}.")


def _validate_data(data: DataConfig) -> None:
    _check_type("data", data.path, (str,), "a path")
    _check_type("text_column", data.text_column, (str, int), "a column name or number")
    _check_type("label_column", data.label_column, (str, int), "a column name or number")
    _check_type("label_pattern", data.label_pattern, (str,), "a file-name pattern")
    _check_type("val_size", data.val_size, (int, float), "a number")
    if not 0 < data.val_size < 1:
        raise TransferKitError(f"`val_size` must be in (0, 1). Got {data.val_size}.")
    _check_type("seed", data.seed, (int,), "a whole number")
    if data.modality is not None and data.modality not in MODALITIES:
        raise choice_error("modality", data.modality, list(MODALITIES))
    if data.encoding not in ENCODINGS:
        raise choice_error("encoding", data.encoding, list(ENCODINGS))
    _check_type("max_image_pixels", data.max_image_pixels, (int,), "a number of pixels")
    if data.max_image_pixels is not None and data.max_image_pixels < 0:
        raise TransferKitError(
            f"`max_image_pixels` must be a number of pixels (0: no limit). Got"
            f" {data.max_image_pixels}."
        )


def _validate_backbone(backbone: BackboneChoice, strategy: str) -> None:
    _check_type("backbone", backbone.name, (str,), "a backbone name")
    _check_type("weights", backbone.weights, (str,), "a path")
    _check_type("cut", backbone.cut, (str, int), "a group name or index")
    _check_type("clip_seconds", backbone.clip_seconds, (int, float), "a number of seconds")
    _check_type("windows", backbone.windows, (int,), "a number of windows")
    if backbone.clip_seconds is not None and not 0.1 <= backbone.clip_seconds <= 60:
        raise TransferKitError(
            f"`clip_seconds` must be from 0.1 to 60 seconds. Got {backbone.clip_seconds}."
        )
    if backbone.windows is not None and not 1 <= backbone.windows <= 64:
        raise TransferKitError(f"`windows` must be from 1 to 64. Got {backbone.windows}.")
    if backbone.cut is not None and strategy == "auto":
        raise TransferKitError("auto picks the cut point itself: drop --cut, or name a strategy.")
    if backbone.cut is not None and strategy != "features" and not strategy.startswith("top:"):
        raise TransferKitError(
            f"`cut` ends the network at a layer group: strategy 'features' uses it frozen, and"
            f" top:K trains its K groups below the cut; not strategy {strategy!r}."
        )
    if backbone.candidates is not None and strategy != "auto":
        raise TransferKitError(
            f"`candidates` are ranked by strategy 'auto', not {strategy!r}: add --strategy auto"
            " or give one --backbone."
        )
    if backbone.candidates and (backbone.weights or backbone.name):
        raise TransferKitError(
            "--candidates lists the backbones auto ranks: drop --backbone / --weights, or"
            " drop --candidates to rank that one backbone's cut points."
        )


def check_strategy(strategy: str) -> str:
    """Validate a strategy's name; only the ones this version implements pass."""
    base = strategy.split(":")[0] + (":K" if strategy.startswith("top:") else "")
    if base not in STRATEGIES:
        raise choice_error("strategy", strategy, list(STRATEGIES))
    return strategy


def _validate_strategy(strategy: StrategyConfig) -> None:
    _check_type("strategy", strategy.name, (str,), "a strategy name")
    check_strategy(strategy.name)
    check_head(strategy.head, strategy.name)
    strategy.train.validate()


def check_head(head: str, strategy: str) -> None:
    """Trained strategies train a linear head (from the logistic probe): say so."""
    if head not in HEADS:
        raise choice_error("head", head, list(HEADS))
    if strategy not in ("features", "auto", "contrastive") and head not in ("logistic", "linear"):
        raise TransferKitError(
            f"head {head!r} is for strategy 'features'; strategy {strategy!r} trains a linear"
            " head started from the logistic probe. Drop `--head`, or use --strategy features."
        )


def _validate_imbalance(imbalance: ImbalanceConfig) -> None:
    from transferkit.heads._balance import BALANCE
    from transferkit.heads._threshold import parse_rule

    if imbalance.balance not in BALANCE:
        raise choice_error("balance", imbalance.balance, list(BALANCE))
    if imbalance.class_weight and imbalance.balance not in ("none", "class-weight"):
        raise TransferKitError(
            f"`class_weight` goes with balance 'class-weight', not {imbalance.balance!r}: drop one."
        )
    if imbalance.threshold is not None:
        parse_rule(imbalance.threshold)


def _validate_evaluation(evaluation: EvaluationConfig) -> None:
    _check_type("cv", evaluation.cv, (int,), "a number of folds")
    if evaluation.cv is not None and evaluation.cv < 2:
        raise TransferKitError(f"`cv` must be at least 2 folds. Got {evaluation.cv}.")
    if evaluation.baseline not in (None, *BASELINES):
        raise choice_error("baseline", str(evaluation.baseline), list(BASELINES))
    _check_type("group", evaluation.group, (str, int), "a column, file-name field or 'folder:K'")
    if isinstance(evaluation.group, int):
        evaluation.group = str(evaluation.group)  # a column number, as the flag gives it
    if evaluation.group is not None and not evaluation.group.strip():
        raise TransferKitError("`group` is empty: name a column, file-name field or 'folder:K'.")


def _validate_outputs(outputs: OutputConfig) -> None:
    _check_type("out", outputs.out, (str,), "a folder")
    from transferkit.runs._tracking import check_tracker

    check_tracker(outputs.track, outputs.track_uri)


def _validate_performance(performance: PerformanceConfig) -> None:
    device = performance.device
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise TransferKitError(
            f"`device` must be 'cpu', 'cuda', 'cuda:N' or 'mps'. Got {device!r}."
        )
    _check_type("batch_size", performance.batch_size, (int,), "a whole number")
    if performance.batch_size is not None and performance.batch_size < 1:
        raise TransferKitError(f"`batch_size` must be at least 1. Got {performance.batch_size}.")
    _check_type("num_workers", performance.num_workers, (int,), "a whole number")
    if performance.num_workers < 0:
        raise TransferKitError(f"`num_workers` must be 0 or more. Got {performance.num_workers}.")
    _check_type("cache_dir", performance.cache_dir, (str,), "a folder")
