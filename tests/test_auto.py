"""`strategy="auto"`: the documented rule picks, and the run says what and why."""

from __future__ import annotations

import pytest

import transferkit
import transferkit._auto as auto

from conftest import write_image


def test_separable_data_keeps_the_frozen_features(colour_folder, tmp_path):
    result = transferkit.fit(colour_folder, strategy="auto", out=tmp_path / "r", quiet=True)
    assert result.metrics["strategy"] == "features"
    assert result.metrics["auto"]["picked"] == "features"
    assert "already separate the classes" in result.metrics["auto"]["why"]
    assert result.summary.startswith("auto picked 'features': linear probe 1.000")


def test_few_samples_per_class_keep_the_frozen_features(colour_folder, tmp_path, monkeypatch):
    monkeypatch.setattr(auto, "quick_probe", lambda *a: 0.8)
    result = transferkit.fit(colour_folder, strategy="auto", out=tmp_path / "r", quiet=True)
    assert result.metrics["auto"]["picked"] == "features"
    assert "too few samples per class" in result.metrics["auto"]["why"]


@pytest.mark.slow
def test_enough_images_train_the_top_group_on_cached_prefixes(tmp_path, monkeypatch):
    for c, colour in {"warm": (180, 90, 40), "cool": (40, 90, 180)}.items():
        for i in range(64):
            write_image(
                tmp_path / "data" / c / f"{i}.jpg", colour, seed=i + (0 if c == "warm" else 99)
            )
    monkeypatch.setattr(auto, "quick_probe", lambda *a: 0.9)
    result = transferkit.fit(
        tmp_path / "data",
        strategy="auto",
        out=tmp_path / "r",
        quiet=True,
        train={"epochs": 1, "augment": False},
    )
    assert result.metrics["auto"]["picked"] == "top:1" and result.metrics["strategy"] == "top:1"
    assert (result.run_dir / "history.csv").is_file()


def test_text_on_a_cpu_keeps_the_frozen_features(text_file, tmp_path, monkeypatch):
    monkeypatch.setattr(auto, "quick_probe", lambda *a: 0.8)
    monkeypatch.setattr(auto, "FEW_PER_CLASS", 2)
    result = transferkit.fit(text_file, strategy="auto", out=tmp_path / "r", quiet=True)
    assert result.metrics["auto"]["picked"] == "features"
    assert "on a CPU" in result.metrics["auto"]["why"]
