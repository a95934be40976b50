"""Training settings for the strategies that train backbone layers, validated in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from transferkit._errors import TransferKitError, choice_error

OPTIMIZERS = ("adamw", "adam", "sgd", "rmsprop")
SCHEDULES = ("cosine", "onecycle", "step", "exponential", "none")
# frozen: every BatchNorm layer runs on (and keeps) its running statistics, as Keras
#   recommends for fine-tuning on small data; its scale and shift still train where the
#   group is unfrozen.
# trainable: BatchNorm layers in unfrozen groups update their statistics (fastai, Lightning);
#   frozen groups keep theirs.
# all: every BatchNorm layer updates its statistics, frozen groups included.
BATCHNORM = ("frozen", "trainable", "all")


PAIR_LOSSES = ("cosine", "cosent", "contrastive")


@dataclass
class ContrastiveConfig:
    """How the encoder is tuned. `pairs` None: 40 per labelled row (SetFit's 20 iterations
    of one positive and one negative pair per row), at least 640 and at most 8,000;
    `repeats` > 1 tunes that many encoders from different pair samples and averages their
    weights (a model soup of one recipe), which steadies few-shot runs."""

    pairs: int | None = None
    epochs: int = 1
    lr: float = 2e-5
    batch_size: int = 16
    warmup: float = 0.1
    loss: str = "cosine"
    repeats: int = 1
    seed: int = 0

    def validate(self) -> ContrastiveConfig:
        """One line naming the first bad setting by its `fit` name."""
        if self.loss not in PAIR_LOSSES:
            raise choice_error("pair_loss", self.loss, list(PAIR_LOSSES))
        counts = {
            "pair_epochs": self.epochs,
            "encoders": self.repeats,
            "batch_size": self.batch_size,
        }
        for name, value in counts.items():
            if int(value) < 1:
                raise TransferKitError(f"`{name}` must be at least 1; got {value}.")
        if self.pairs is not None and self.pairs < 2:
            raise TransferKitError(f"`pairs` must be at least 2 (or unset); got {self.pairs}.")
        if not self.lr > 0:
            raise TransferKitError(f"`body_lr` must be positive; got {self.lr}.")
        return self

    def n_pairs(self, n_rows: int) -> int:
        if self.pairs is not None:
            return int(self.pairs)
        return int(min(max(40 * n_rows, 640), 8000))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TrainConfig:
    """How to train: optimizer, schedule, regularisation, stopping. Defaults suit small data.

    `head_init='probe'` starts the head from the logistic regression that the `features`
    strategy would fit on the (cached) embeddings, so fine-tuning begins from a good
    classifier instead of distorting the backbone to fit a random one (LP-FT, Kumar et
    al. 2022). The defaults (SGD with Nesterov momentum, one-cycle, head rate 0.01, each
    group below at 0.3 times the rate of the one above) are the LP-FT recipe; on hymenoptera
    they beat AdamW at 1e-3 (docs/decisions.md). `lr` is the head's rate; each backbone
    group below the head gets `lr * lr_decay**d` at depth `d` from the top (discriminative
    rates), or the rates spread geometrically between `lr_low` and `lr` when `lr_low` is
    given (fastai's `slice(lo, hi)`).
    """

    epochs: int = 8
    batch_size: int = 32
    lr: float = 0.01
    lr_decay: float = 0.3
    lr_low: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.01
    schedule: str = "onecycle"
    warmup_epochs: float = 0.0
    step_size: int = 3
    gamma: float = 0.5
    dropout: float = 0.2
    label_smoothing: float = 0.0
    grad_clip: float | None = 1.0
    precision: str = "32-true"
    patience: int | None = None
    monitor: str = "val_accuracy"
    augment: bool = True
    crop_scale_min: float = 0.35
    color_jitter: float = 0.1
    randaugment: str | None = None
    prefix_cache: bool = True
    cached_views: int = 4
    batchnorm: str = "frozen"
    head_init: str = "probe"
    task_weights: str = "equal"  # several tasks: 'equal', or 'uncertainty' (learned)
    head_epochs: int = 1
    unfreeze_every: int = 1
    num_workers: int = 0
    devices: int = 1
    accelerator: str = "cpu"
    device_index: int | None = None  # "cuda:1" trains on GPU 1 (one device)
    ddp: bool = False
    seed: int = 0
    # imbalanced classes (set from `fit(balance=...)`): none | class-weight | sampler | focal
    balance: str = "none"
    class_weights: list[float] | None = None  # one per class, for balance="class-weight"
    focal_gamma: float = 2.0
    # contrastive: pairs (None: from the data's size), their loss and epochs, the
    # encoder's rate, and how many encoders to tune and average (ContrastiveConfig)
    pairs: int | None = None
    pair_loss: str = "cosine"
    pair_epochs: int = 1
    body_lr: float = 2e-5
    encoders: int = 1
    # lora: the adapters' rank, scale (alpha / r), dropout and the layers they adapt
    # (None: per architecture, finetune._lora.default_targets)
    lora_r: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_targets: list[str] | None = None
    # which epoch's weights are kept: "best" by `monitor` on the validation split, or
    # "last" (a fixed budget: what tiny data gets, where a validation split of a few
    # rows would choose by chance)
    select: str = "best"
    # set by auto: stop as soon as the validation accuracy is below this (its features
    # model's), rather than train to the end
    stop_below: float | None = None

    def validate(self) -> TrainConfig:
        """Raise a one-line error naming the first bad setting."""
        positive = {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr}
        for name, value in positive.items():
            if not value > 0:
                raise TransferKitError(f"`{name}` must be positive; got {value}.")
        self._validate_counts()
        if not 0 < self.lr_decay <= 1:
            raise TransferKitError(f"`lr_decay` must be in (0, 1]; got {self.lr_decay}.")
        if self.lr_low is not None and not 0 < self.lr_low <= self.lr:
            raise TransferKitError(f"`lr_low` must be in (0, lr={self.lr}]; got {self.lr_low}.")
        if not 0 <= self.dropout < 1 or not 0 <= self.label_smoothing < 1:
            raise TransferKitError("`dropout` and `label_smoothing` must be in [0, 1).")
        choices = {
            "optimizer": list(OPTIMIZERS),
            "schedule": list(SCHEDULES),
            "batchnorm": list(BATCHNORM),
            "task_weights": ["equal", "uncertainty"],
            "head_init": ["probe", "random"],
            "select": ["best", "last"],
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise choice_error(name, getattr(self, name), allowed)
        if self.balance not in ("none", "class-weight", "sampler", "focal"):
            raise choice_error(
                "balance", self.balance, ["none", "class-weight", "sampler", "focal"]
            )
        if self.monitor not in ("val_accuracy", "val_loss"):
            raise choice_error("monitor", self.monitor, ["val_accuracy", "val_loss"])
        self.contrastive().validate()
        if self.lora_r < 1 or not self.lora_alpha > 0 or not 0 <= self.lora_dropout < 1:
            raise TransferKitError(
                "`lora_r` must be at least 1, `lora_alpha` positive and `lora_dropout` in"
                f" [0, 1); got {self.lora_r}, {self.lora_alpha} and {self.lora_dropout}."
            )
        return self

    def contrastive(self) -> ContrastiveConfig:
        """The settings of strategy 'contrastive' among these."""
        return ContrastiveConfig(
            pairs=self.pairs,
            epochs=self.pair_epochs,
            lr=self.body_lr,
            batch_size=16,
            loss=self.pair_loss,
            repeats=self.encoders,
            seed=self.seed,
        )

    def _validate_counts(self) -> None:
        at_least = {
            "unfreeze_every": (self.unfreeze_every, 1),
            "cached_views": (self.cached_views, 1),
            "devices": (self.devices, 1),
            "head_epochs": (self.head_epochs, 0),
        }
        for name, (value, low) in at_least.items():
            if value < low:
                raise TransferKitError(f"`{name}` must be at least {low}; got {value}.")
        if self.warmup_epochs < 0 or not 0 < self.crop_scale_min <= 1:
            raise TransferKitError(
                "`warmup_epochs` must be >= 0 and `crop_scale_min` in (0, 1];"
                f" got {self.warmup_epochs} and {self.crop_scale_min}."
            )
        if self.devices > 1 and not self.ddp:
            raise TransferKitError(
                f"`devices` is {self.devices}: pass `--ddp` (ddp=True) to train across them."
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TransferKitError(
                f"unknown training setting {unknown[0]!r}: known ones are"
                f" {', '.join(sorted(known))}."
            )
        return cls(**data).validate()
