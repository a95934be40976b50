"""Content digests: the identity of samples and weight files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

_CHUNK = 1 << 20


def digest_bytes(data: bytes) -> str:
    """Hex digest of some bytes (sha256, truncated to 32 hex characters)."""
    return hashlib.sha256(data).hexdigest()[:32]


def digest_text(text: str) -> str:
    """Hex digest of a text sample."""
    return digest_bytes(text.encode("utf-8"))


def sha256_file(path: str | Path) -> str:
    """The full sha256 of a file's content (64 hex characters)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def digest_file(path: str | Path) -> str:
    """Hex digest of a file's content (sha256, truncated to 32 hex characters)."""
    return sha256_file(path)[:32]


def digest_file_memo(path: str | Path, memo_dir: Path | None) -> str:
    """Digest of a large file, remembered by (path, size, mtime) so it is read once."""
    path = Path(path).resolve()
    st = path.stat()
    key = digest_text(f"{path}|{st.st_size}|{st.st_mtime_ns}")
    memo = memo_dir / "digests" / f"{key}.json" if memo_dir is not None else None
    if memo is not None and memo.exists():
        try:
            return json.loads(memo.read_text())["digest"]
        except (OSError, ValueError, KeyError):
            pass  # a damaged memo is recomputed below
    value = digest_file(path)
    if memo is not None:
        try:
            memo.parent.mkdir(parents=True, exist_ok=True)
            tmp = memo.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"path": str(path), "digest": value}))
            os.replace(tmp, memo)
        except OSError:
            pass  # a read-only cache only costs a re-hash next time
    return value
