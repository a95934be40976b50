"""report.html and compare.html: self-contained pages built from a run folder's files,
checked as text and rendered in headless Chromium."""

from __future__ import annotations

import io
import json
import os
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import transferkit
import transferkit.selection._auto as auto
from _chromium import chromium_path, render
from transferkit.cli import app
from transferkit.runs._report import _mistakes, write_report

from conftest import write_image

RED, BLUE = (200, 30, 30), (30, 30, 200)


@pytest.fixture(scope="module")
def noisy_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """train/ and val/ of red and blue images; val holds one image of each colour filed
    under the other class, so the run makes confident mistakes to show."""
    root = tmp_path_factory.mktemp("noisy") / "colours"
    for split, n in (("train", 10), ("val", 4)):
        for name, colour in (("red", RED), ("blue", BLUE)):
            for i in range(n):
                seed = zlib.crc32(f"{split}{name}{i}".encode())
                write_image(root / split / name / f"{name}{i}.jpg", colour, seed=seed)
    write_image(root / "val" / "red" / "odd.jpg", BLUE, seed=1)
    write_image(root / "val" / "blue" / "odd.jpg", RED, seed=2)
    return root


@pytest.fixture(scope="module")
def trained_run(noisy_folder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    result = transferkit.fit(
        noisy_folder,
        strategy="top:1",
        baseline="scratch",
        out=tmp_path_factory.mktemp("runs") / "top1",
        quiet=True,
        train={"epochs": 2, "augment": False},
    )
    assert "report: " in result.summary
    return result.run_dir


def _page(run: Path) -> str:
    return (run / "report.html").read_text(encoding="utf-8")


def test_a_trained_run_gets_a_self_contained_report_with_every_section(trained_run):
    page = _page(trained_run)
    for section in ("summary", "model", "data", "curves", "errors", "mistakes", "baseline"):
        assert f'<section id="{section}">' in page, section
    # nothing is fetched: every image is a data URI, there is no script and no link
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page
    # learning curves (loss, val metrics, rate per group), confusion matrix, ROC and PR,
    # the transfer-vs-scratch plot, and a thumbnail for each of the two mistakes
    assert page.count('src="data:image/png;base64,') >= 7
    assert page.count('src="data:image/jpeg;base64,') == 2
    assert "Learning rate per layer group" in page or page.count("data:image/png") >= 7
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert f"{metrics['accuracy']:.4f}" in page
    assert "truly red" in page and "truly blue" in page
    assert ("Transfer gain" in page) != ("NEGATIVE TRANSFER" in page)


def test_the_report_renders_in_headless_chromium(trained_run, tmp_path):
    if chromium_path() is None:
        if os.environ.get("TRANSFERKIT_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is required here (TRANSFERKIT_REQUIRE_CHROMIUM) but missing")
        pytest.skip("chromium is not installed (`apt-get install chromium`)")
    from PIL import Image

    check = (
        "({images: document.images.length,"
        " broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".length, sections: document.querySelectorAll('section').length,"
        " title: document.title})"
    )
    page = render((trained_run / "report.html").resolve().as_uri(), check)
    assert page.errors == [], page.errors
    assert page.value["broken"] == 0
    assert page.value["images"] >= 9 and page.value["sections"] >= 7
    assert page.value["title"].startswith("transferkit report")
    shot = Image.open(io.BytesIO(page.screenshot)).convert("L")
    assert shot.size[0] == 1200
    assert np.asarray(shot, dtype=float).std() > 10  # not a blank page
    keep = os.environ.get("TRANSFERKIT_SCREENSHOT_DIR")
    (Path(keep) if keep else tmp_path).mkdir(parents=True, exist_ok=True)
    (Path(keep or tmp_path) / "report.png").write_bytes(page.screenshot)


def test_auto_runs_show_the_ranking_and_the_reason(noisy_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(auto, "FEW_PER_CLASS", 1000)  # keep it on features: fast
    result = transferkit.fit(noisy_folder, strategy="auto", out=tmp_path / "r", quiet=True)
    page = _page(result.run_dir)
    assert '<section id="ranking">' in page
    assert "Why efficientnet_lite0 with features" in page
    assert "efficientnet_lite0 @ blocks" in page  # the cut points are in the table
    assert '<section id="curves">' not in page  # features: no epochs to plot


def test_report_command_rebuilds_and_refuses_a_folder_that_is_not_a_run(trained_run, tmp_path):
    (trained_run / "report.html").unlink()
    result = CliRunner().invoke(app, ["report", str(trained_run)])
    assert result.exit_code == 0, result.output
    assert (trained_run / "report.html").is_file()
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code != 0 and "metrics.json" in result.output


def test_compare_puts_runs_side_by_side(trained_run, noisy_folder, tmp_path):
    frozen = transferkit.fit(noisy_folder, out=tmp_path / "frozen", quiet=True)
    out = tmp_path / "compare.html"
    args = ["compare", str(trained_run), str(frozen.run_dir), "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "top1" in page and "frozen" in page
    assert "top:1" in page and "features" in page
    assert page.count('src="data:image/png;base64,') == 2  # metrics, learning curves
    again = CliRunner().invoke(app, args)
    assert again.exit_code != 0 and "--overwrite" in again.output


def test_mistakes_of_a_text_run_show_a_snippet_not_a_thumbnail():
    long_text = "free entry " * 60
    rows = [
        {"input": "t1", "label": "ham", "predicted": "spam", "confidence": "0.7", "text": "hi"},
        {
            "input": "t2",
            "label": "ham",
            "predicted": "spam",
            "confidence": "0.9",
            "text": long_text,
        },
        {"input": "t3", "label": "spam", "predicted": "spam", "confidence": "0.99", "text": "win"},
    ]
    shown = _mistakes(rows, 5)
    assert [m["input"] for m in shown] == ["t2", "t1"]  # most confident first, only mistakes
    assert shown[0]["text"].endswith("…") and len(shown[0]["text"]) == 281
    assert all(m["thumbnail"] is None for m in shown)


def test_write_report_needs_metrics(tmp_path):
    with pytest.raises(transferkit.TransferKitError, match=r"metrics\.json"):
        write_report(tmp_path)
