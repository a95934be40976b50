"""The same `transferkit fit` command run twice: the second takes its embeddings from the cache.

Wall time of the whole command, as a user sees it (interpreter start, imports,
reading, head training and writing included), on hymenoptera and on sms_spam,
each with an empty cache first. Prints the ratio second/first per data set.

Run: python benchmarks/bench_rerun_cli.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _common import dataset, fresh_dir, remove

# settings
CASES = {
    "hymenoptera": [str(dataset("hymenoptera"))],
    "sms_spam": [str(dataset("sms_spam") / "SMSSpamCollection")],
}
TRANSFERKIT = [sys.executable, "-m", "transferkit.cli"]


def run(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(TRANSFERKIT + args, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    results = {}
    for name, data in CASES.items():
        cache, runs = fresh_dir("cache"), fresh_dir("runs")
        env = {**os.environ, "TRANSFERKIT_CACHE_DIR": str(cache)}
        try:
            first = run(["fit", *data, "--out", str(Path(runs) / "1"), "-q"], env)
            second = run(["fit", *data, "--out", str(Path(runs) / "2"), "-q"], env)
            m1 = json.loads((Path(runs) / "1" / "metrics.json").read_text())
            m2 = json.loads((Path(runs) / "2" / "metrics.json").read_text())
        finally:
            remove(cache)
            remove(runs)
        results[name] = {
            "first_s": round(first, 2),
            "second_s": round(second, 2),
            "second_over_first": round(second / first, 3),
            "same_accuracy": m1["accuracy"] == m2["accuracy"],
            "second_fit_phases": m2["timings"],
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
