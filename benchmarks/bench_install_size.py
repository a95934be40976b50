"""Installed size of transferkit's core and of `[all]`, each in a fresh virtual
environment: the size of its site-packages folder, in MB (torch included: it is most
of either). Both environments are removed afterwards.

Run: python benchmarks/bench_install_size.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from _common import fresh_dir, remove

# settings
TARGETS = {"core": ".", "[all]": ".[all]"}
ROOT = Path(__file__).resolve().parents[1]


def size_mb(folder: Path) -> float:
    return (
        sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6
    )


def measure(target: str) -> float:
    venv = fresh_dir("venv")
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = venv / "bin" / "pip"
        subprocess.run(
            [str(pip), "install", "-q", target], cwd=ROOT, check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return size_mb(next((venv / "lib").glob("python3*/site-packages")))
    finally:
        remove(venv)


def main() -> None:
    sizes = {name: measure(target) for name, target in TARGETS.items()}
    for name, mb in sizes.items():
        print(f"{name:6s} {mb:8.0f} MB")
    print(f"[all] adds {sizes['[all]'] - sizes['core']:.0f} MB to the core")


if __name__ == "__main__":
    main()
