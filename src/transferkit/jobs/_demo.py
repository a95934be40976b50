"""The main job: a real image data set that ships with scikit-learn, end to end, offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from transferkit._paths import default_cache_dir
from transferkit.jobs._fit import FitResult, fit


def export_digits(folder: Path) -> Path:
    """Write scikit-learn's 1,797 handwritten digits (8×8, 16 grey levels) as PNG class folders."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    done = folder / ".complete"
    if done.exists():
        return folder
    for i, (image, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        target = folder / str(label) / f"{i:04d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        pixels = (255 - image * 255 / 16).astype(np.uint8)  # dark ink on light paper
        Image.fromarray(pixels, mode="L").resize((32, 32), Image.NEAREST).save(target)
    done.write_text("1797\n")
    return folder


def run_demo(out: str | Path | None = None, quiet: bool = False) -> FitResult:
    """Export the digits, fit `efficientnet_lite0` features + logistic head, reload, check."""
    folder = export_digits(default_cache_dir() / "demo" / "sklearn-digits")
    result = fit(folder, out=out, quiet=quiet)
    rows = [r for r in (result.run_dir / "predictions_val.csv").read_text().splitlines()[1:11]]
    paths = [r.split(",")[1] for r in rows]
    reported = [r.split(",")[3] for r in rows]
    again = result.model.predict(paths)
    agree = sum(a == b for a, b in zip(again, reported, strict=True))
    result.summary += (
        f"\nreloaded model agrees with the run on {agree}/{len(rows)} checked predictions"
    )
    return result
