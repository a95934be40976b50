"""The `identity` backbone of tabular data: the head sees the encoded columns.

Its "weights" are the column encoder, learned from the training split only: numeric
columns are standardised (missing or non-numeric cells take the training median, and are
counted), categorical columns are one-hot encoded (a category unseen in training, or a
missing cell, encodes as all zeros) or, with `encoding="ordinal"`, become one column of
category numbers 1..k in sorted order (0 for unseen or missing), scaled to [0, 1]. The
encoder is saved as JSON beside the head.

Columns are told apart by `transferkit.data._tabular.column_kind`, the reader's rule:
non-finite numbers (inf, 1e999) are imputed like missing cells, an identifier column (many
distinct single words) is left out of the encoding and named in `dropped`, and a column
of free text is an error (the file is text). A row to encode must have every column the
encoder was trained on (`columns`): `batches` reports a row that lacks one, rather than
imputing it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._errors import TransferKitError, choice_error
from transferkit._hashing import digest_text
from transferkit.backbones._base import Backbone, BackboneConfig, Batch, register_backbone
from transferkit.data._tabular import (
    column_kind,
    is_number,
    is_present,
    reads_as_number,
    why_dropped,
)

ENCODINGS = ("onehot", "ordinal")
IDENTITY = BackboneConfig(
    name="identity",
    modality="tabular",
    feature_dim=0,  # known once the encoder has seen the training split
    licence="none (no weights)",
    weights_source="none: the column encoder is fitted on the training split",
)


@dataclass
class TabularEncoder:
    """Standardise numeric columns, one-hot encode categorical ones; fitted on train only."""

    numeric: list[str]
    medians: list[float]
    means: list[float]
    scales: list[float]
    categorical: list[str]
    categories: list[list[str]]
    encoding: str = "onehot"
    dropped: dict[str, str] = field(default_factory=dict)  # column -> why it is not encoded

    @classmethod
    def fit(cls, rows: Sequence[dict[str, str]], encoding: str = "onehot") -> TabularEncoder:
        """Learn the encoding of each column of `rows` (the training split only)."""
        if encoding not in ENCODINGS:
            raise choice_error("encoding", encoding, list(ENCODINGS))
        if not rows:
            raise TransferKitError("no training rows to learn the column encoding from.")
        numeric, categorical, categories, dropped = [], [], [], {}
        for name in rows[0]:
            present = [v for v in (r.get(name, "") for r in rows) if is_present(v)]
            kind = column_kind(present)
            if kind == "free text":
                raise TransferKitError(
                    f"column {name!r} holds free text ({len(set(present))} distinct non-numeric"
                    " values in the training split), not categories. Drop the column or"
                    " treat the file as text (--text COLUMN)."
                )
            if kind == "numeric":
                numeric.append(name)
            elif kind == "identifier":
                dropped[name] = why_dropped(kind, present)
            else:
                categorical.append(name)
                categories.append(sorted(set(present)))
        raw = np.array([[_number(r.get(n, "")) for n in numeric] for r in rows], dtype=float)
        medians = np.nanmedian(raw, axis=0) if numeric else np.zeros(0)
        medians = np.where(np.isnan(medians), 0.0, medians)  # a column with no number at all
        filled = np.where(np.isnan(raw), medians, raw)
        means, scales = filled.mean(axis=0), filled.std(axis=0)
        scales = np.where(scales > 0, scales, 1.0)
        return cls(
            numeric,
            medians.tolist(),
            means.tolist(),
            scales.tolist(),
            categorical,
            categories,
            encoding,
            dropped,
        )

    @property
    def columns(self) -> list[str]:
        """The columns the encoder reads (numeric, then categorical): a row needs them all."""
        return self.numeric + self.categorical

    def imputations(self, row: dict[str, str]) -> list[tuple[str, str]]:
        """(column, why) for each numeric cell of `row` that takes the training median:
        missing, non-numeric, or a non-finite number (inf, 1e999)."""
        found = []
        for name, median in zip(self.numeric, self.medians, strict=True):
            value = row.get(name, "")
            if is_number(value):
                continue
            what = "missing" if not is_present(value) else "not a number"
            if reads_as_number(value):
                what = "non-finite"
            found.append(
                (name, f"{name}={value!r} imputed with the training median {median:g} ({what})")
            )
        return found

    @property
    def dim(self) -> int:
        if self.encoding == "ordinal":
            return len(self.numeric) + len(self.categories)
        return len(self.numeric) + sum(len(c) for c in self.categories)

    def transform(self, rows: Sequence[dict[str, str]]) -> tuple[np.ndarray, Counter]:
        """(encoded rows, imputed cells per column)."""
        raw = np.array([[_number(r.get(n, "")) for n in self.numeric] for r in rows], dtype=float)
        raw = raw.reshape(len(rows), len(self.numeric))
        missing = np.isnan(raw)
        imputed = Counter(
            {n: int(k) for n, k in zip(self.numeric, missing.sum(axis=0), strict=True) if k}
        )
        filled = np.where(missing, np.asarray(self.medians), raw)
        parts = [(filled - np.asarray(self.means)) / np.asarray(self.scales)]
        for name, cats in zip(self.categorical, self.categories, strict=True):
            index = {c: i for i, c in enumerate(cats)}
            codes = np.array([index.get(r.get(name, ""), -1) for r in rows], dtype=int)
            if self.encoding == "ordinal":
                parts.append(((codes + 1) / max(len(cats), 1))[:, None])
                continue
            onehot = np.zeros((len(rows), len(cats)))
            seen = codes >= 0
            onehot[np.flatnonzero(seen), codes[seen]] = 1.0
            parts.append(onehot)
        return np.concatenate(parts, axis=1).astype(np.float32), imputed

    def to_json(self) -> str:
        """The encoder as JSON (its digest names the backbone)."""
        state = asdict(self)
        if not state["dropped"]:
            del state["dropped"]  # as encoders were saved before it existed: same digest
        return json.dumps(state, indent=1)


def _number(value: str) -> float:
    # Non-finite numbers become NaN here, so they take the median like missing cells and
    # never reach the standardisation (an inf mean would turn every row into NaN).
    return float(value) if is_number(value) else float("nan")


def _row(item: Any) -> dict[str, str]:
    row = item if isinstance(item, dict) else json.loads(item)
    if not isinstance(row, dict):
        raise TypeError("not a JSON object")
    return {str(k): "" if v is None else str(v) for k, v in row.items()}


def _lacking(row: dict[str, str], columns: list[str]) -> str | None:
    """Why a row cannot be encoded without guessing: trained columns it does not have."""
    missing = [name for name in columns if name not in row]
    if not missing:
        return None
    shown = ", ".join(repr(name) for name in missing[:5])
    more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
    return (
        f"lacks {len(missing)} of the {len(columns)} trained columns ({shown}{more}):"
        " give every column the model was trained on"
    )


class TabularBackbone(Backbone):
    """No network: features are the encoded columns."""

    state_file = "tabular.json"  # saved beside the head, as a trained backbone's weights are

    def __init__(self, encoder: TabularEncoder | None = None) -> None:
        super().__init__(IDENTITY, "unfitted", "identity", nn.Identity())
        self.encoder: TabularEncoder | None = None
        self.imputed: Counter = Counter()
        if encoder is not None:
            self._use(encoder)

    def _use(self, encoder: TabularEncoder) -> None:
        self.encoder = encoder
        self.config = replace(IDENTITY, feature_dim=encoder.dim)
        self.weights_digest = digest_text(encoder.to_json())

    def fit_encoder(self, rows: Sequence[Any], encoding: str = "onehot") -> TabularBackbone:
        """Learn the column encoding from the training rows (never from val or test)."""
        self._use(TabularEncoder.fit([_row(r) for r in rows], encoding))
        return self

    def preprocessing(self) -> dict[str, Any]:
        enc = self.encoder
        if enc is None:
            return {}
        return {
            "numeric": enc.numeric,
            "categorical": dict(zip(enc.categorical, enc.categories, strict=True)),
            "categorical_encoding": enc.encoding,
            "missing": "numeric: training median; categorical: all zeros",
            **({"dropped": enc.dropped} if enc.dropped else {}),
        }

    @property
    def columns(self) -> list[str]:
        """The columns the fitted encoder reads: what an input row must have."""
        if self.encoder is None:
            raise TransferKitError("the tabular encoder is not fitted: fit on training rows first.")
        return self.encoder.columns

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return []

    def forward_features(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs

    def sample_digest(self, item: Any) -> str:
        return digest_text(item if isinstance(item, str) else json.dumps(item, sort_keys=True))

    def batches(
        self, items: Sequence[Any], batch_size: int, num_workers: int = 0
    ) -> Iterator[Batch]:
        if self.encoder is None:
            raise TransferKitError("the tabular encoder is not fitted: fit on training rows first.")
        for start in range(0, len(items), batch_size):
            rows, positions, errors = [], [], {}
            for i in range(start, min(start + batch_size, len(items))):
                try:
                    row = _row(items[i])
                except (ValueError, TypeError) as exc:
                    text = str(items[i])
                    why = text if text.startswith("malformed") else type(exc).__name__
                    errors[i - start] = f"not a table row ({why[:100]})"
                    continue
                if lacking := _lacking(row, self.encoder.columns):
                    errors[i - start] = lacking  # imputing every cell would answer blindly
                    continue
                rows.append(row)
                positions.append(i - start)
            x, imputed = self.encoder.transform(rows) if rows else (np.zeros((0, 0)), Counter())
            self.imputed.update(imputed)
            yield Batch(
                positions=[start + p for p in positions],
                inputs=torch.from_numpy(x),
                errors={start + k: v for k, v in errors.items()},
            )

    @property
    def device(self) -> torch.device:
        return self._device  # no parameters to ask

    def save_trained(self, path: Path) -> None:
        assert self.encoder is not None  # saved after fitting
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.encoder.to_json(), encoding="utf-8")

    def load_trained(self, path: Path, digest: str | None = None) -> TabularBackbone:
        try:
            self._use(TabularEncoder(**json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError) as exc:
            raise TransferKitError(
                f"the column encoder {str(path)!r} is damaged ({type(exc).__name__}): retrain."
            ) from exc
        return self


@register_backbone(IDENTITY, offline_available=lambda: True)
def identity(weights: str | Path | None = None, pretrained: bool = True) -> TabularBackbone:
    """The identity backbone; `weights` may name a saved column encoder (tabular.json)."""
    backbone = TabularBackbone()
    if weights:
        backbone.load_trained(Path(weights))
    return backbone
