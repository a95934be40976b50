"""Datasets and their splits: plain inputs, integer labels, class names, skipped items."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from transferkit._errors import TransferKitError


@dataclass
class Skipped:
    """An input that was left out, where it came from, and why."""

    item: str
    reason: str
    split: str = ""


@dataclass
class Dataset:
    """Inputs (image paths or texts) with integer labels into `class_names`."""

    inputs: list[str]
    labels: np.ndarray
    class_names: list[str]
    modality: str
    refs: list[str]  # what names each sample for a person: a path, or "file:line"
    # other facts of each sample by name (a group, another task's label): `data._fields`
    fields: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.inputs)

    def subset(self, index: np.ndarray | list[int]) -> Dataset:
        index = np.asarray(index, dtype=int)
        return Dataset(
            inputs=[self.inputs[i] for i in index],
            labels=self.labels[index],
            class_names=self.class_names,
            modality=self.modality,
            refs=[self.refs[i] for i in index],
            fields={k: [v[i] for i in index] for k, v in self.fields.items()},
        )

    def joined(self, other: Dataset) -> Dataset:
        """This dataset's samples, then `other`'s (the same classes)."""
        return Dataset(
            inputs=[*self.inputs, *other.inputs],
            labels=np.concatenate([self.labels, other.labels]),
            class_names=self.class_names,
            modality=self.modality,
            refs=[*self.refs, *other.refs],
            fields={k: [*v, *other.fields[k]] for k, v in self.fields.items() if k in other.fields},
        )

    def class_counts(self) -> dict[str, int]:
        counts = Counter(int(v) for v in self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.class_names)}


@dataclass
class DataSplits:
    """train / val / optional test, the skipped inputs, and how the split was made."""

    train: Dataset
    val: Dataset
    test: Dataset | None
    skipped: list[Skipped] = field(default_factory=list)
    split_source: str = ""
    layout: str = ""
    columns: dict[str, list[str]] | None = None  # tabular: feature and dropped columns
    imputed: list[Skipped] = field(default_factory=list)  # tabular: cells filled in, and how
    detected: str = ""  # one line for the summary: what was detected in the data and used
    tasks: list[Any] = field(default_factory=list)  # a multi-task run's `data._tasks.Task`s

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names

    @property
    def modality(self) -> str:
        return self.train.modality


_INTEGER = re.compile(r"[+-]?[0-9]+")


def canonical_label(label: str) -> str:
    """The class name of a label as written: stripped of surrounding whitespace, and a
    finite number named by its canonical form (`1`, `1.0`, ` 1 `, `1e0` are all `1`;
    `0.50` is `0.5`), so that the same number is one class whatever the file wrote."""
    stripped = label.strip()
    if not stripped:
        return label  # a class folder named " " keeps its name: it is not an empty label
    label = stripped
    if _INTEGER.fullmatch(label):
        # exact, by the digits (a float would round long integers, and int() refuses
        # more than 4,300 digits)
        digits = label.lstrip("+-").lstrip("0") or "0"
        return f"-{digits}" if label.startswith("-") and digits != "0" else digits
    if "_" in label:
        return label  # float() reads "1_0" as 10; a class named 1_0 is a name, not a number
    try:
        number = float(label)
    except ValueError:
        return label
    if not math.isfinite(number):
        return label
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def encode_labels(
    raw: dict[str, list[str]],
    modality: str,
    inputs: dict[str, list[str]],
    refs: dict[str, list[str]],
) -> dict[str, Dataset]:
    """Datasets per split, sharing one sorted class list (numeric labels sorted as numbers).
    Labels are named by `canonical_label` first, for every modality."""
    canonical = {s: [canonical_label(label) for label in labels] for s, labels in raw.items()}
    names = sorted(
        {label for labels in canonical.values() for label in labels}, key=_label_sort_key
    )
    index = {name: i for i, name in enumerate(names)}
    return {
        split: Dataset(
            inputs=inputs[split],
            labels=np.array([index[label] for label in labels], dtype=np.int64),
            class_names=names,
            modality=modality,
            refs=refs[split],
        )
        for split, labels in canonical.items()
    }


def _label_sort_key(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


def stratified_split(
    data: Dataset, fraction: float, seed: int, what: str
) -> tuple[Dataset, Dataset]:
    """Split off `fraction` of `data`, stratified by class, with a fixed seed."""
    from sklearn.model_selection import train_test_split

    if not 0.0 < fraction < 1.0:
        raise TransferKitError(f"`val_size` must be between 0 and 1 (exclusive); got {fraction}.")
    counts = data.class_counts()
    too_few = {c: n for c, n in counts.items() if 0 < n < 2}
    if too_few:
        name, n = next(iter(too_few.items()))
        raise TransferKitError(
            f"class {name!r} has only {n} sample in {what}: a stratified split needs at least 2"
            " per class. Add samples or remove the class."
        )
    n_classes = sum(1 for n in counts.values() if n > 0)
    n_held = int(np.ceil(fraction * len(data)))
    if n_held < n_classes or len(data) - n_held < n_classes:
        raise TransferKitError(
            f"{what} has {len(data)} samples in {n_classes} classes: a stratified split with"
            f" `val_size` {fraction} cannot give every class a sample on both sides. Change"
            " `--val-size`, or provide a val/ split."
        )
    keep, held = train_test_split(
        np.arange(len(data)), test_size=fraction, random_state=seed, stratify=data.labels
    )
    return data.subset(np.sort(keep)), data.subset(np.sort(held))


def check_trainable(train: Dataset, n_skipped: int = 0, min_per_class: int = 2) -> None:
    """Fail with a clear message when training cannot work on what the training split holds."""
    after = f" after skipping {n_skipped} unreadable input(s)" if n_skipped else ""
    counts = train.class_counts()
    present = {c: n for c, n in counts.items() if n > 0}
    if len(present) < 2:
        only = next(iter(present), "none")
        raise TransferKitError(
            f"only one class remains in the training split ({only!r}){after}: a classifier"
            " needs at least 2 classes."
        )
    absent = [c for c, n in counts.items() if n == 0]
    if absent:
        raise TransferKitError(
            f"class {absent[0]!r} has no training samples{after} (it appears only in val/test):"
            " add training samples for it or remove it from the evaluation data."
        )
    short = {c: n for c, n in counts.items() if n < min_per_class}
    if short:
        name, n = next(iter(short.items()))
        raise TransferKitError(
            f"class {name!r} has {n} training sample(s){after}; at least {min_per_class} are"
            " needed. Add samples or remove the class."
        )
