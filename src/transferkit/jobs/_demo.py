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
    """Export the digits, let `auto` rank efficientnet_lite0's cut points and pick, say what
    the chosen cut gains over the network's output features, reload the model, check."""
    folder = export_digits(default_cache_dir() / "demo" / "sklearn-digits")
    # auto's training, when its rule picks one, on a demo's budget: two epochs, one cached
    # view of each image (it is kept only if it beats the features model at the best cut)
    budget = {"epochs": 2, "cached_views": 1}
    result = fit(folder, strategy="auto", out=out, quiet=quiet, train=budget)
    result.summary += _cut_gain(result.run_dir)
    rows = [r for r in (result.run_dir / "predictions_val.csv").read_text().splitlines()[1:11]]
    paths = [r.split(",")[1] for r in rows]
    reported = [r.split(",")[3] for r in rows]
    again = result.model.predict(paths)
    agree = sum(a == b for a, b in zip(again, reported, strict=True))
    result.summary += (
        f"\nreloaded model agrees with the run on {agree}/{len(rows)} checked predictions"
    )
    return result


def _cut_gain(run_dir: Path) -> str:
    """The best cut against the network's output, from the run's ranking.json."""
    from transferkit.runs._files import read_json

    ranking = read_json(run_dir, "ranking.json") or {}
    rows = [r for r in ranking.get("candidates", []) if not r.get("skipped")]
    if not rows or rows[0].get("cut") is None:
        return "\nthe network's output features rank above each of its cut points"
    best = rows[0]
    output = next((r for r in rows if r["backbone"] == best["backbone"] and r["cut"] is None), None)
    if output is None:
        return ""
    probe = (best["scores"].get("probe_accuracy"), output["scores"].get("probe_accuracy"))
    gain = (probe[0] - probe[1]) * 100 if None not in probe else float("nan")
    return (
        f"\nbest cut {best['name']}: linear probe {probe[0]:.3f} against {probe[1]:.3f} at the"
        f" network's output ({gain:+.1f} points; LogME {best['scores']['logme']:.3f} against"
        f" {output['scores']['logme']:.3f}): the layers above it are too specific to ImageNet"
    )
