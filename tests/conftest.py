"""Shared fixtures: an isolated cache, no model hub, small real inputs."""

from __future__ import annotations

import os
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

# Two workers share the machine's cores (pytest-xdist, see pyproject.toml): one torch
# thread each, rather than two pools of threads competing for the same cores. Set before
# any test imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

# Tests never reach a model hub, and never touch the user's cache.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

DATASETS = Path(
    os.environ.get(
        "TRANSFERKIT_DATASETS", Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["TRANSFERKIT_CACHE_DIR"] = str(tmp_path_factory.mktemp("transferkit-cache"))


def shared_dataset(name: str) -> Path:
    """A folder of ../shared/datasets, or a skip when it is absent."""
    path = DATASETS / name
    if not path.exists():
        pytest.skip(f"real data set {name!r} not found at {path} (../shared/datasets is absent)")
    return path


def write_image(path: Path, colour: tuple[int, int, int], seed: int, size: int = 48) -> Path:
    """A small JPEG: one colour plus noise, so classes differ and samples differ."""
    rng = np.random.default_rng(seed)
    pixels = np.clip(np.array(colour) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="JPEG" if path.suffix == ".jpg" else None)
    return path


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """An image folder: 'red' and 'blue' classes, 12 JPEGs each, no split folders."""
    root = tmp_path / "colours"
    for c, colour in {"red": (200, 30, 30), "blue": (30, 30, 200)}.items():
        for i in range(12):
            write_image(root / c / f"{c}{i}.jpg", colour, seed=zlib.crc32(f"{c}{i}".encode()))
    return root


TEXTS = {
    "pos": [
        "I loved this film, wonderful acting",
        "great product, works perfectly",
        "absolutely fantastic experience",
        "the food was delicious and fresh",
        "highly recommend, excellent value",
        "a brilliant, moving story",
        "superb service and friendly staff",
        "best purchase I made this year",
        "beautiful photography and music",
        "happy with it, very good quality",
        "an enjoyable and clever movie",
        "amazing battery life, love it",
    ],
    "neg": [
        "terrible film, a waste of time",
        "the product broke after one day",
        "awful experience, never again",
        "the food was cold and bland",
        "do not buy, poor value",
        "a boring, pointless story",
        "rude staff and slow service",
        "worst purchase I made this year",
        "ugly and badly made",
        "very disappointed, bad quality",
        "a dull and stupid movie",
        "battery dies in an hour, hate it",
    ],
}


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    """A headed TSV of 24 short reviews, labels 'pos' / 'neg'."""
    path = tmp_path / "reviews.tsv"
    lines = ["text\tlabel"] + [f"{t}\t{label}" for label, texts in TEXTS.items() for t in texts]
    path.write_text("\n".join(lines) + "\n")
    return path


def cli(capsys, *args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    """Run `transferkit ARGS` through the console entry point, in this process (no
    interpreter to start), from `cwd` if given: the exit code, stdout and stderr."""
    from transferkit.cli import main

    argv, debug = sys.argv, os.environ.pop("TRANSFERKIT_DEBUG", None)
    sys.argv = ["transferkit", *args]
    here = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(here)
        sys.argv = argv
        os.environ.pop("TRANSFERKIT_DEBUG", None)
        if debug is not None:
            os.environ["TRANSFERKIT_DEBUG"] = debug
    captured = capsys.readouterr()
    return code, captured.out, captured.err
