"""How long `transferkit --help` and `transferkit fit --help` take, as a user sees it.

Wall time of the whole command (interpreter start and imports included), median of
`REPEAT` runs, for this tree and, side by side, for another checkout given as
`--before PATH` (its `src/` put first on PYTHONPATH, same interpreter and libraries).

Run: python benchmarks/bench_cli_startup.py [--before /path/to/older/checkout]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

# settings
REPEAT = 7
COMMANDS = {"--help": ["--help"], "fit --help": ["fit", "--help"]}
ROOT = Path(__file__).resolve().parents[1]


def wall(args: list[str], src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "transferkit.cli", *args],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    trees = {"this tree": ROOT / "src"}
    if "--before" in sys.argv:
        trees["before"] = Path(sys.argv[sys.argv.index("--before") + 1]).resolve() / "src"
    for name, args in COMMANDS.items():
        row = {tree: wall(args, src) for tree, src in trees.items()}
        shown = ", ".join(f"{tree} {seconds:.2f} s" for tree, seconds in row.items())
        ratio = (
            f" (before / now: {row['before'] / row['this tree']:.1f}x)" if "before" in row else ""
        )
        print(f"transferkit {name}: {shown}{ratio}", flush=True)


if __name__ == "__main__":
    main()
