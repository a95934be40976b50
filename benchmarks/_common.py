"""Shared bits of the benchmark scripts: where the data lies, a clean cache, a timer."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("TRANSFERKIT_DATASETS", ROOT.parent / "shared" / "datasets"))


def dataset(name: str) -> Path:
    path = DATASETS / name
    if not path.exists():
        sys.exit(f"benchmark needs {path}: set TRANSFERKIT_DATASETS to the datasets folder.")
    return path


def fresh_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=f"transferkit-bench-{prefix}-"))
    return path


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@contextmanager
def timed(results: dict, name: str):
    start = time.perf_counter()
    yield
    results[name] = time.perf_counter() - start
