"""Several label columns or file-name fields as tasks: `--label sentiment,topic`,
`--label digit,speaker`. The first task is read as the label (a sample without it is
skipped, as in a single-task run); the others are read as fields of each sample
(`data._fields`), and a sample that lacks one is kept, with that task's label missing
(-1: its loss is masked)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Dataset, DataSplits, _label_sort_key, canonical_label

MISSING = -1


@dataclass
class Task:
    """A task's name (its column or field) and its classes."""

    name: str
    class_names: list[str]


def task_names(label: str | int | None) -> list[str]:
    """The tasks `--label` names: 'digit,speaker' is two; a single label is one task."""
    if not isinstance(label, str) or "," not in label:
        return []
    names = [name.strip() for name in label.split(",")]
    if any(not name for name in names) or len(set(names)) < len(names):
        raise TransferKitError(
            f"--label {label!r}: name each task once, separated by commas (e.g. 'digit,speaker')."
        )
    return names


def encode_tasks(splits: DataSplits, names: list[str]) -> list[Task]:
    """The tasks of a multi-task run: the first is the read label, the others from the
    samples' fields (`attach_fields` first). Each needs two classes in the training split."""
    tasks = [Task(names[0], splits.class_names)]
    sets = [d for d in (splits.train, splits.val, splits.test) if d is not None]
    for name in names[1:]:
        values = {canonical_label(v) for d in sets for v in d.fields[name] if v.strip()}
        classes = sorted(values, key=_label_sort_key)
        task = Task(name, classes)
        train = task_column(splits.train, task)
        present = len(set(train[train != MISSING].tolist()))
        if present < 2:
            raise TransferKitError(
                f"task {name!r} of --label has {present} class(es) among the training"
                " samples: a task needs at least 2. Drop it from --label."
            )
        tasks.append(task)
    return tasks


def task_column(data: Dataset, task: Task) -> np.ndarray:
    """A task's class index per sample of `data`, MISSING where the sample has none."""
    index = {name: i for i, name in enumerate(task.class_names)}
    values = data.fields[task.name]
    return np.array(
        [index.get(canonical_label(v), MISSING) if v.strip() else MISSING for v in values],
        dtype=np.int64,
    )


def task_matrix(data: Dataset, tasks: list[Task]) -> np.ndarray:
    """Labels as a matrix, one column per task (the first: `data.labels`)."""
    columns = [data.labels.astype(np.int64)] + [task_column(data, t) for t in tasks[1:]]
    return np.stack(columns, axis=1)


def with_task_labels(splits: DataSplits, tasks: list[Task]) -> DataSplits:
    """A copy of the splits whose labels are task matrices (what the training engine
    reads for a multi-task run)."""
    from dataclasses import replace

    def matrix(data: Dataset) -> Dataset:
        return replace(data, labels=task_matrix(data, tasks))

    test = None if splits.test is None else matrix(splits.test)
    return replace(splits, train=matrix(splits.train), val=matrix(splits.val), test=test)
