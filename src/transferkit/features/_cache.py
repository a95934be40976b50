"""FeatureCache: embeddings stored on disk by content, memory-mapped, verified on read."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from transferkit._hashing import digest_file
from transferkit._paths import default_cache_dir

_FORMAT = 1
MAX_SHARDS = 16  # more shards than this for one key are merged into one


class FeatureCache:
    """Embeddings keyed by (backbone identity, sample content digest).

    The backbone identity already covers its name, weights digest and
    preprocessing (and, later, the augmentation view). Each `put` writes one
    shard: a `.npy` array (memory-mapped on read) and a `.json` index holding
    the sample digests and the array's checksum. A shard whose array does not
    match its checksum is deleted and its rows recomputed, never used.
    """

    def __init__(self, root: str | Path | None = None, enabled: bool = True) -> None:
        self.root = Path(root) if root is not None else default_cache_dir() / "features"
        self.enabled = enabled
        self.discarded_shards = 0
        self.read_only = False  # set when the folder cannot be written: hits are still read

    def check_writable(self) -> bool:
        """Whether new embeddings can be stored; a cache that cannot be written is used
        read-only (found rows are read, the others computed and not stored)."""
        if not self.enabled:
            return True
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-test-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError:
            self._go_read_only()
        return not self.read_only

    def _go_read_only(self) -> None:
        if not self.read_only:
            warnings.warn(self.read_only_line(), RuntimeWarning, stacklevel=3)
        self.read_only = True

    def read_only_line(self) -> str:
        """The one line a summary says about a cache that could not be written."""
        return (
            f"feature cache {str(self.root)!r} is read-only (it cannot be written): cached"
            " embeddings were read, new ones were computed and not stored (give a writable"
            " --cache-dir to keep them)"
        )

    def read_facts(self, key: str) -> dict[str, Any] | None:
        """What was recorded about a backbone under `key` (`backbones._lazy`), if anything
        readable; a damaged record is ignored (the backbone is built instead)."""
        if not self.enabled:
            return None
        try:
            facts = json.loads((self.root / "backbones" / f"{key}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return facts if isinstance(facts, dict) else None

    def write_facts(self, key: str, facts: dict[str, Any]) -> None:
        """Record a backbone's facts (atomically; a read-only cache records nothing)."""
        if not self.enabled or self.read_only:
            return
        folder = self.root / "backbones"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            staging = folder / f".{key}.{uuid.uuid4().hex}.tmp"
            staging.write_text(json.dumps(facts, sort_keys=True), encoding="utf-8")
            os.replace(staging, folder / f"{key}.json")
        except OSError:
            self._go_read_only()

    def read_head(self, key: str) -> tuple[Any, dict[str, Any]] | None:
        """A logistic head `write_head` kept under `key`, with its info; None if absent or
        damaged (it is fitted again)."""
        if not self.enabled:
            return None
        from transferkit.heads._linear import load_linear_head

        try:
            return load_linear_head(self.root / "heads", key)
        except Exception:  # a damaged entry is refitted, never trusted
            return None

    def write_head(self, key: str, head: Any, info: dict[str, Any]) -> None:
        """Keep a fitted logistic head (a second identical fit skips the fitting)."""
        if not self.enabled or self.read_only:
            return
        from transferkit.heads._linear import save_linear_head

        folder = self.root / "heads"
        staging = folder / f".{key}.{uuid.uuid4().hex}"
        try:
            save_linear_head(head, staging, info=info)
            for name in ("head.safetensors", "head.json"):
                os.replace(staging / name, folder / f"{key}.{name}")
            staging.rmdir()
        except OSError:
            self._go_read_only()

    def _space(self, key: str) -> Path:
        return self.root / key

    def get(self, key: str, digests: list[str], dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(features, found): rows for the digests found in the cache, and which were found."""
        features = np.zeros((len(digests), dim), dtype=np.float32)
        found = np.zeros(len(digests), dtype=bool)
        if not self.enabled or not self._space(key).is_dir():
            return features, found
        wanted: dict[str, list[int]] = {}
        for i, d in enumerate(digests):
            wanted.setdefault(d, []).append(i)
        for index_path in sorted(self._space(key).glob("*.json")):
            if not wanted:
                break
            self._read_shard(index_path, dim, wanted, features, found)
        return features, found

    def _read_shard(
        self,
        index_path: Path,
        dim: int,
        wanted: dict[str, list[int]],
        features: np.ndarray,
        found: np.ndarray,
    ) -> None:
        array_path = index_path.with_suffix(".npy")
        try:
            index = json.loads(index_path.read_text())
            rows = {d: r for r, d in enumerate(index["digests"]) if d in wanted}
            if not rows:
                return
            if index.get("format") != _FORMAT or digest_file(array_path) != index["checksum"]:
                raise ValueError("checksum mismatch")
            array = np.load(array_path, mmap_mode="r")
            if array.shape != (len(index["digests"]), dim):
                raise ValueError(f"shape {array.shape} is not ({len(index['digests'])}, {dim})")
        except FileNotFoundError:
            return  # merged away by a concurrent compaction: its rows live in the new shard
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self._discard(index_path, array_path, exc)
            return
        for digest, row in rows.items():
            for i in wanted.pop(digest):
                features[i] = array[row]
                found[i] = True

    def _discard(self, index_path: Path, array_path: Path, exc: Exception) -> None:
        warnings.warn(
            f"feature cache shard {array_path.name} is corrupt ({exc}); it is deleted and its"
            " embeddings recomputed.",
            RuntimeWarning,
            stacklevel=4,
        )
        self.discarded_shards += 1
        for path in (index_path, array_path):
            with contextlib.suppress(OSError):
                path.unlink()

    def put(self, key: str, digests: list[str], features: np.ndarray) -> None:
        """Store rows; writes are atomic (a killed write leaves no shard behind)."""
        if not self.enabled or self.read_only or len(digests) == 0:
            return
        space = self._space(key)
        try:
            space.mkdir(parents=True, exist_ok=True)
            _write_shard(space, list(digests), features)
            if len(list(space.glob("*.json"))) > MAX_SHARDS:
                self._compact(space, features.shape[1])
        except OSError:  # no permission, a read-only file system, a full disk
            self._go_read_only()

    def _compact(self, space: Path, dim: int) -> None:
        """Merge a key's shards into one, so lookups stay one file read per key."""
        indexes = sorted(space.glob("*.json"))
        digests: list[str] = []
        rows: list[np.ndarray] = []
        seen: set[str] = set()
        for index_path in indexes:
            try:
                listed = json.loads(index_path.read_text())["digests"]
            except (OSError, ValueError, KeyError, TypeError):
                continue  # left for `get` to detect and discard
            fresh = [d for d in dict.fromkeys(listed) if d not in seen]
            if not fresh:
                continue
            features = np.zeros((len(fresh), dim), dtype=np.float32)
            found = np.zeros(len(fresh), dtype=bool)
            self._read_shard(
                index_path, dim, {d: [i] for i, d in enumerate(fresh)}, features, found
            )
            digests.extend(d for d, ok in zip(fresh, found, strict=True) if ok)
            rows.append(features[found])
            seen.update(fresh)
        if not digests:
            return
        _write_shard(space, digests, np.concatenate(rows))
        for index_path in indexes:  # the index first: a shard without one is never read
            for path in (index_path, index_path.with_suffix(".npy")):
                with contextlib.suppress(OSError):
                    path.unlink()


def _write_shard(space: Path, digests: list[str], features: np.ndarray) -> None:
    name = uuid.uuid4().hex
    array_path, index_path = space / f"{name}.npy", space / f"{name}.json"
    tmp = space / f".{name}.npy.tmp"
    with open(tmp, "wb") as f:
        np.save(f, np.ascontiguousarray(features, dtype=np.float32))
    os.replace(tmp, array_path)
    index = {"format": _FORMAT, "digests": digests, "checksum": digest_file(array_path)}
    tmp_index = space / f".{name}.json.tmp"
    tmp_index.write_text(json.dumps(index))
    os.replace(tmp_index, index_path)  # the index last: a shard without it is never read
