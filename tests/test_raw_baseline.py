"""The raw baseline: a logistic regression on pixels, TF-IDF terms or encoded columns."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pytest

import transferkit
from transferkit.evaluation._raw import RAW_IMAGE_SIZE, raw_baseline

from conftest import shared_dataset, write_image

KEYS = {
    "strategy",
    "inputs",
    "model",
    "evaluated_on",
    "accuracy",
    "balanced_accuracy",
    "macro_f1",
    "n_skipped",
    "seconds",
}
WORDS = {
    "sport": ["goal", "match", "team", "score", "league", "coach", "referee", "season"],
    "cooking": ["recipe", "oven", "flour", "butter", "sauce", "garlic", "simmer", "bake"],
}


def _sentences(words: list[str], n: int, rng: np.random.Generator) -> list[str]:
    return [" ".join(rng.choice(words, size=6)) for _ in range(n)]


def _write_text_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows))
    return path


def test_text_whose_words_differ_by_class_is_easy(tmp_path):
    rng = np.random.default_rng(0)
    rows = [(t, c) for c, words in WORDS.items() for t in _sentences(words, 30, rng)]
    splits = transferkit.read_data(_write_text_csv(tmp_path / "topics.csv", rows))
    result = raw_baseline(splits)
    assert set(result) >= KEYS
    assert result["strategy"] == "raw"
    assert result["evaluated_on"] == "val"
    assert result["model"] == "logistic regression, C by 3-fold CV"
    assert result["inputs"].startswith("TF-IDF word 1-2 grams (")
    assert result["accuracy"] >= 0.95
    assert result["n_skipped"] == 0
    assert 0.0 < result["seconds"] < 60.0


def test_text_with_random_labels_is_near_chance(tmp_path):
    rng = np.random.default_rng(1)
    words = WORDS["sport"] + WORDS["cooking"]
    texts = _sentences(words, 300, rng)
    rows = list(zip(texts, rng.choice(["a", "b"], size=len(texts)), strict=True))
    splits = transferkit.read_data(_write_text_csv(tmp_path / "noise.csv", rows))
    result = raw_baseline(splits, seed=3)
    assert 0.3 <= result["balanced_accuracy"] <= 0.7


def test_text_is_evaluated_on_test_when_there_is_one(tmp_path):
    rng = np.random.default_rng(2)
    for split, n in {"train": 20, "val": 5, "test": 7}.items():
        rows = [(t, c) for c, words in WORDS.items() for t in _sentences(words, n, rng)]
        _write_text_csv(tmp_path / "data" / f"{split}.csv", rows)
    splits = transferkit.read_data(tmp_path / "data")
    result = raw_baseline(splits)
    assert result["evaluated_on"] == "test"
    assert (result["n_train"], result["n_eval"]) == (40, 14)


def test_a_class_too_small_for_cv_falls_back_to_a_fixed_c(tmp_path):
    rng = np.random.default_rng(3)
    train = [(t, "sport") for t in _sentences(WORDS["sport"], 10, rng)]
    train.append((" ".join(WORDS["cooking"][:6]), "cooking"))
    _write_text_csv(tmp_path / "data" / "train.csv", train)
    val = [(t, c) for c, words in WORDS.items() for t in _sentences(words, 3, rng)]
    _write_text_csv(tmp_path / "data" / "val.csv", val)
    result = raw_baseline(transferkit.read_data(tmp_path / "data"))
    assert result["model"] == "logistic regression, C=1 (a class has < 2 samples)"
    assert result["cv_folds"] == 0


def test_cv_folds_never_exceed_the_smallest_class(tmp_path):
    rng = np.random.default_rng(4)
    train = [(t, "sport") for t in _sentences(WORDS["sport"], 10, rng)]
    train += [(t, "cooking") for t in _sentences(WORDS["cooking"], 2, rng)]
    _write_text_csv(tmp_path / "data" / "train.csv", train)
    val = [(t, c) for c, words in WORDS.items() for t in _sentences(words, 3, rng)]
    _write_text_csv(tmp_path / "data" / "val.csv", val)
    result = raw_baseline(transferkit.read_data(tmp_path / "data"))
    assert result["cv_folds"] == 2
    assert result["model"] == "logistic regression, C by 2-fold CV"


COLOURS = {"red": (200, 30, 30), "green": (30, 200, 30), "blue": (30, 30, 200)}


def _colour_folder(root: Path, per_class: int = 10) -> Path:
    for name, colour in COLOURS.items():
        for i in range(per_class):
            seed = zlib.crc32(f"{name}{i}".encode())
            write_image(root / name / f"{name}{i}.png", colour, seed=seed, size=40)
    return root


def test_images_whose_colour_decides_the_class_are_easy(tmp_path):
    splits = transferkit.read_data(_colour_folder(tmp_path / "colours"))
    result = raw_baseline(splits)
    side = RAW_IMAGE_SIZE
    assert result["inputs"] == f"{side}x{side} RGB pixels ({side * side * 3} values)"
    assert result["accuracy"] >= 0.95
    assert result["n_skipped"] == 0


def test_an_image_that_fails_to_decode_is_skipped_and_counted(tmp_path):
    root = _colour_folder(tmp_path / "colours")
    whole = (root / "red" / "red0.png").read_bytes()
    # The header survives, so the reader keeps the file; its pixels are cut short.
    (root / "red" / "red0.png").write_bytes(whole[: len(whole) // 2])
    splits = transferkit.read_data(root)
    assert not splits.skipped
    result = raw_baseline(splits)
    assert result["n_skipped"] == 1
    assert result["n_train"] + result["n_eval"] == 3 * 10 - 1
    assert result["accuracy"] >= 0.95


def test_a_table_uses_the_encoded_columns(tmp_path):
    rng = np.random.default_rng(5)
    lines = ["size,colour,label"]
    for i in range(60):
        label = "big" if i % 2 else "small"
        size = rng.normal(10.0 if i % 2 else 0.0, 1.0)
        lines.append(f"{size:.3f},{rng.choice(['red', 'green', 'blue'])},{label}")
    path = tmp_path / "shapes.csv"
    path.write_text("\n".join(lines) + "\n")
    splits = transferkit.read_data(path)
    assert splits.modality == "tabular"
    result = raw_baseline(splits)
    assert result["inputs"] == "the encoded columns (4)"  # size, and colour one-hot in 3
    assert result["accuracy"] >= 0.9
    assert result["n_skipped"] == 0


@pytest.mark.slow
def test_sms_spam_raw_baseline():
    data = shared_dataset("sms_spam") / "SMSSpamCollection"
    result = raw_baseline(transferkit.read_data(data, seed=0))
    assert result["evaluated_on"] == "val"
    assert result["n_eval"] == 1115
    assert result["accuracy"] > 0.9
