"""Labels from file names: `--label-pattern '{digit}_{speaker}_{take}.wav' --label digit`.

A pattern is the file name with its variable parts written as `{field}`; it must match a
file's whole name. The label is the field `--label` names (the first field without it).
A file whose name does not match is skipped, with the pattern in the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from transferkit._errors import TransferKitError
from transferkit.data._dataset import Skipped
from transferkit.data._walk import on_path, walk_files

_FIELD = re.compile(r"\{([^{}]*)\}")


def compile_pattern(pattern: str) -> tuple[re.Pattern[str], list[str]]:
    """(the regular expression of `pattern`, its field names in order)."""
    fields = _FIELD.findall(pattern)
    if not fields:
        raise TransferKitError(
            f"--label-pattern {pattern!r} has no {{field}}: write the variable parts of the"
            " file names as fields, e.g. '{digit}_{speaker}_{take}.wav'."
        )
    for name in fields:
        if not name.isidentifier():
            raise TransferKitError(
                f"--label-pattern {pattern!r}: field {{{name}}} is not a name (letters,"
                " digits and _, not starting with a digit)."
            )
    if len(set(fields)) < len(fields):
        raise TransferKitError(f"--label-pattern {pattern!r} names a field twice.")
    parts = _FIELD.split(pattern)  # literal, field, literal, field, ..., literal
    regex = "".join(
        re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
    )
    return re.compile(regex), fields


def label_field(pattern: str, fields: list[str], label: str | int | None) -> str:
    """The field that holds the label: `label` by name, or by 0-based number, or the first."""
    if label is None:
        return fields[0]
    if isinstance(label, int) or str(label).isdigit():
        index = int(label)
        if index < len(fields):
            return fields[index]
    elif str(label) in fields:
        return str(label)
    raise TransferKitError(
        f"--label {label!r} is not a field of --label-pattern {pattern!r}: use one of"
        f" {', '.join(fields)}."
    )


def read_pattern_files(
    root: Path,
    split: str,
    pattern: str,
    label: str | int | None,
    check: Callable[[Path], str | None],
) -> tuple[list[str], list[str], list[Skipped]]:
    """(paths, labels, skipped) of the files anywhere under `root` whose names match
    `pattern`; `check` gives a reason to skip a file that matches."""
    regex, fields = compile_pattern(pattern)
    field = label_field(pattern, fields, label)
    files, problems = walk_files(root, on_path(root))
    skipped = [Skipped(item=str(p), reason=why, split=split) for p, why in problems]
    paths: list[str] = []
    labels: list[str] = []
    for path in files:
        if path.name.startswith("."):
            continue
        match = regex.fullmatch(path.name)
        if match is None:
            why = f"file name does not match --label-pattern {pattern!r}"
            skipped.append(Skipped(item=str(path), reason=why, split=split))
            continue
        reason = check(path)
        if reason is not None:
            skipped.append(Skipped(item=str(path), reason=reason, split=split))
            continue
        paths.append(str(path))
        labels.append(match.group(field))
    return paths, labels, skipped
