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


def binary_figures(data: Path, settings: dict, positive: str, bar: dict[str, float]) -> dict:
    """`transferkit.fit` once per setting (one shared cache): the positive class's precision
    and recall, PR-AUC and the decision threshold, on the evaluation split; `bar` holds the
    minimum of each figure and `meets_bar` says whether all are reached."""
    import transferkit

    runs, cache = fresh_dir("runs"), fresh_dir("cache")
    results: dict[str, dict] = {}
    try:
        for name, extra in settings.items():
            result = transferkit.fit(
                data,
                out=runs / name.replace(" ", "_").replace("=", ""),
                cache_dir=cache,
                quiet=True,
                **extra,
            )
            m = result.metrics
            r = {
                "precision": round(m["per_class"][positive]["precision"], 4),
                "recall": round(m["per_class"][positive]["recall"], 4),
                "pr_auc": round(m["pr_auc"], 4),
                "threshold": round(m["threshold"]["value"], 4) if "threshold" in m else 0.5,
            }
            r["meets_bar"] = all(r[key] >= low for key, low in bar.items())
            results[name] = r
            print(name, r, flush=True)
        results["class_counts"] = m["class_counts"]
    finally:
        remove(runs)
        remove(cache)
    return results
