"""Run folders under bad and hostile input: the manifest, `--overwrite`, symbolic links,
paths from a run's own files, damaged files, and the one-line errors of the command line."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from PIL import Image

import transferkit
from transferkit import TransferKitError

from conftest import cli, write_image

MANIFEST = "manifest.json"

USER_FILES = {
    "history.csv": "my own history\n",
    "predictions_2023.csv": "a,b\n1,2\n",
    "ranking.xlsx": "not a spreadsheet, but mine",
    "export/slides.pdf": "%PDF-1.4 mine",
    "model/notes.txt": "notes on the model",
    "checkpoints/mine.ckpt": "my checkpoint",
}


def one_error_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err
    return lines[0]


@pytest.fixture
def image_run(colour_folder, tmp_path):
    return transferkit.fit(colour_folder, out=tmp_path / "run", quiet=True).run_dir


# -- the manifest and --overwrite ------------------------------------------------------------


def test_the_manifest_lists_every_file_the_run_wrote_with_size_and_digest(image_run):
    from transferkit._hashing import sha256_file
    from transferkit.runs._folder import read_manifest

    files = read_manifest(image_run)
    on_disk = sorted(
        p.relative_to(image_run).as_posix()
        for p in image_run.rglob("*")
        if p.is_file() and p.name != MANIFEST
    )
    assert sorted(files) == on_disk
    assert {"metrics.json", "model/model.json", "report.html", "predictions_val.csv"} <= set(files)
    for name, entry in files.items():
        assert entry["size"] == (image_run / name).stat().st_size
        assert entry["sha256"] == sha256_file(image_run / name)


def test_overwrite_removes_only_what_transferkit_wrote(colour_folder, image_run, capsys):
    from transferkit._hashing import sha256_file
    from transferkit.runs._folder import read_manifest

    for name, text in USER_FILES.items():
        (image_run / name).parent.mkdir(parents=True, exist_ok=True)
        (image_run / name).write_text(text)
    stale = image_run / "predictions_test.csv"
    stale.write_text("from an earlier run\n")
    files = json.loads((image_run / MANIFEST).read_text())
    files["files"]["predictions_test.csv"] = {
        "size": stale.stat().st_size,
        "sha256": sha256_file(stale),
    }
    (image_run / MANIFEST).write_text(json.dumps(files))

    code, out, err = cli(
        capsys, "fit", str(colour_folder), "--out", str(image_run), "--overwrite", "-q"
    )
    assert code == 0, err
    for name, text in USER_FILES.items():
        assert (image_run / name).read_text() == text, name
    assert not stale.exists()  # an earlier run's file that this run does not write is gone
    kept = [line for line in out.splitlines() if line.startswith("kept ")]
    assert len(kept) == 1 and all(name in kept[0] for name in USER_FILES)
    assert "model/notes.txt" not in read_manifest(image_run)


def test_overwrite_never_deletes_through_a_linked_folder(
    colour_folder, image_run, tmp_path, capsys
):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.onnx").write_text("not the run's")
    (elsewhere / "model.onnx.json").write_text("{}")
    (image_run / "export").symlink_to(elsewhere, target_is_directory=True)
    code, _, err = cli(
        capsys, "fit", str(colour_folder), "--out", str(image_run), "--overwrite", "-q"
    )
    assert code == 0, err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["model.onnx", "model.onnx.json"]
    assert (image_run / "export").is_symlink()


def test_a_file_of_the_users_at_a_name_the_run_writes_is_refused_before_any_work(
    colour_folder, tmp_path, capsys
):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.json").write_text('{"mine": true}')
    code, _, err = cli(capsys, "fit", str(colour_folder), "--out", str(out), "--overwrite", "-q")
    assert code == 2
    assert "metrics.json" in one_error_line(err)
    assert (out / "metrics.json").read_text() == '{"mine": true}'
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json"]


def test_a_run_file_changed_since_is_kept_as_the_users(colour_folder, tmp_path, capsys):
    from transferkit.runs._folder import read_manifest

    run = tmp_path / "run"
    transferkit.fit(
        colour_folder, strategy="top:1", out=run, quiet=True, train={"epochs": 1, "augment": False}
    )
    assert {"history.csv", "checkpoints/last.ckpt", "model/backbone.safetensors"} <= set(
        read_manifest(run)
    )
    with open(run / "history.csv", "a") as f:
        f.write("# my note\n")
    code, out, err = cli(capsys, "fit", str(colour_folder), "--out", str(run), "--overwrite", "-q")
    assert code == 0, err
    assert (run / "history.csv").read_text().endswith("# my note\n")
    assert not (run / "checkpoints" / "last.ckpt").exists()  # unchanged, so it was the run's
    assert not (run / "model" / "backbone.safetensors").exists()
    assert "history.csv" in next(line for line in out.splitlines() if line.startswith("kept "))


# -- links and paths in a run folder -----------------------------------------------------------


def test_report_never_writes_through_a_link(image_run, tmp_path, capsys):
    target = tmp_path / "precious.txt"
    target.write_text("precious")
    (image_run / "report.html").unlink()
    (image_run / "report.html").symlink_to(target)
    code, _, err = cli(capsys, "report", str(image_run))
    assert code == 2 and "symbolic link" in one_error_line(err)
    assert target.read_text() == "precious"


def test_report_never_embeds_a_linked_file(image_run, tmp_path, capsys):
    private = tmp_path / "private.png"
    Image.new("RGB", (8, 8), (1, 2, 3)).save(private)
    data = json.loads((image_run / "metrics.json").read_text())
    (image_run / "ranking.json").write_text(json.dumps({"why": "", "candidates": []}))
    (image_run / "ranking.png").symlink_to(private)
    code, _, err = cli(capsys, "report", str(image_run))
    assert code == 2 and "ranking.png" in one_error_line(err)
    secret = base64.b64encode(private.read_bytes()).decode("ascii")
    assert secret not in (image_run / "report.html").read_text()
    assert data == json.loads((image_run / "metrics.json").read_text())


def test_a_rebuilt_report_never_embeds_a_path_named_in_the_predictions(image_run, tmp_path):
    private = tmp_path / "private.png"
    pixels = Image.new("RGB", (64, 64), (250, 10, 120))
    pixels.save(private)
    path = image_run / "predictions_val.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    row = dict(rows[0])
    wrong = next(c for c in ("red", "blue") if c != row["label"])
    row.update(input=str(private), predicted=wrong, confidence="0.999999")
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([row, *rows[1:]])
    from transferkit.runs._report import _thumbnail

    would_embed = _thumbnail(str(private))
    assert would_embed is not None
    page = transferkit.runs._report.write_report(image_run).read_text()
    assert would_embed not in page and "private.png" in page  # named, never shown


def test_a_model_json_path_cannot_climb_out_of_the_run(image_run):
    config_path = image_run / "model" / "model.json"
    config = json.loads(config_path.read_text())
    config["backbone"]["trained_weights"] = "../../../../etc/passwd"
    config_path.write_text(json.dumps(config))
    with pytest.raises(TransferKitError, match=r"trained_weights in model\.json.*climbs out"):
        transferkit.load(image_run)


def test_a_linked_model_folder_is_refused(image_run, tmp_path):
    moved = tmp_path / "model-elsewhere"
    shutil.move(str(image_run / "model"), moved)
    (image_run / "model").symlink_to(moved, target_is_directory=True)
    with pytest.raises(TransferKitError, match="symbolic link"):
        transferkit.load(image_run)


# -- damaged files: one line, no traceback -----------------------------------------------------


def test_damaged_run_files_are_one_line_errors(image_run, capsys):
    metrics = image_run / "metrics.json"
    good = metrics.read_text()
    metrics.write_text(good[: len(good) // 2])
    code, _, err = cli(capsys, "report", str(image_run))
    assert code == 2 and "metrics.json" in one_error_line(err) and "damaged" in err
    metrics.write_text(good)
    predictions = image_run / "predictions_val.csv"
    lines = predictions.read_text().splitlines()
    parts = lines[1].split(",")
    parts[4] = "lots"  # the confidence column
    predictions.write_text("\n".join([lines[0], ",".join(parts), *lines[2:]]) + "\n")
    code, _, err = cli(capsys, "report", str(image_run))
    assert code == 2 and "predictions_val.csv' line 2" in one_error_line(err)


def test_a_truncated_head_is_a_one_line_error(image_run, colour_folder, capsys):
    head = image_run / "model" / "head.safetensors"
    head.write_bytes(head.read_bytes()[:100])
    image = str(next(colour_folder.rglob("*.jpg")))
    code, _, err = cli(capsys, "predict", str(image_run), image)
    assert code == 2 and "damaged" in one_error_line(err) and "model" in err


def test_a_truncated_checkpoint_on_resume_is_a_one_line_error(colour_folder, tmp_path, capsys):
    run = tmp_path / "run"
    transferkit.fit(
        colour_folder, strategy="top:1", out=run, quiet=True, train={"epochs": 1, "augment": False}
    )
    checkpoint = run / "checkpoints" / "last.ckpt"
    checkpoint.write_bytes(checkpoint.read_bytes()[:2000])
    code, _, err = cli(capsys, "fit", "--resume", str(run), "-q")
    assert code == 2 and "last.ckpt" in one_error_line(err) and "damaged" in err


def test_a_missing_or_empty_export_tokenizer_is_a_one_line_error(text_file, tmp_path, capsys):
    from transferkit.runs._export import export

    run = transferkit.fit(text_file, out=tmp_path / "run", quiet=True).run_dir
    export(run, "onnx")
    tokenizer = run / "export" / "tokenizer"
    shutil.rmtree(tokenizer)
    code, _, err = cli(capsys, "predict", str(run), "great film", "--engine", "onnx")
    assert code == 2 and "tokenizer" in one_error_line(err) and "missing or empty" in err
    tokenizer.mkdir()
    code, _, err = cli(capsys, "predict", str(run), "great film", "--engine", "onnx")
    assert code == 2 and "missing or empty" in one_error_line(err)


# -- predict refuses what does not fit the run -------------------------------------------------


def test_a_text_run_given_a_file_path_says_so(text_file, tmp_path, capsys):
    run = transferkit.fit(text_file, out=tmp_path / "run", quiet=True).run_dir
    code, _, err = cli(capsys, "predict", str(run), str(text_file))
    assert code == 2 and "--texts-file" in one_error_line(err)
    long_text = "a sentence far longer than any file name " * 20  # no ENAMETOOLONG crash
    code, _, err = cli(capsys, "predict", str(run), long_text)
    assert code == 0, err


def test_a_texts_file_in_windows_1252_is_read(text_file, tmp_path, capsys):
    run = transferkit.fit(text_file, out=tmp_path / "run", quiet=True).run_dir
    texts = tmp_path / "texts.txt"
    texts.write_bytes("café terrible, a waste\nsuperb — loved it\n".encode("cp1252"))
    code, out, err = cli(capsys, "predict", str(run), "--texts-file", str(texts))
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["input"] for r in rows] == ["café terrible, a waste", "superb — loved it"]


def test_predicting_a_table_without_its_trained_columns_is_refused(tmp_path, capsys):
    lines = ["a,b,c,label"] + [f"{i},{i % 3},{i * 2},{i % 2}" for i in range(40)]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n")
    run = transferkit.fit(tmp_path / "t.csv", out=tmp_path / "run", quiet=True).run_dir
    (tmp_path / "new.csv").write_text("x,y\n1,2\n3,4\n")
    code, _, err = cli(capsys, "predict", str(run), str(tmp_path / "new.csv"))
    line = one_error_line(err)
    assert code == 2 and all(f"'{c}'" in line or c in line.split() for c in "abc"), line


# -- the command line: a traceback only for a bug ----------------------------------------------


def test_a_bug_prints_its_traceback_and_asks_for_a_report(image_run, capsys, monkeypatch):
    import transferkit.runs._report

    def broken(*args, **kwargs):
        raise RuntimeError("an internal mistake")

    monkeypatch.setattr(transferkit.runs._report, "write_report", broken)
    code, _, err = cli(capsys, "report", str(image_run))
    assert code == 1
    assert "Traceback" in err and "RuntimeError: an internal mistake" in err
    assert err.strip().splitlines()[-1].startswith("error: this is a bug in transferkit")


def test_debug_shows_the_traceback_of_bad_input_too(tmp_path, capsys):
    code, _, err = cli(capsys, "fit", str(tmp_path / "missing"), "--debug")
    assert code == 2 and "Traceback" in err and "does not exist" in err
    code, _, err = cli(capsys, "fit", str(tmp_path / "missing"))
    assert code == 2 and "does not exist" in one_error_line(err)


# -- images too large, and folders that cannot be written ----------------------------------------


def _png_header_only(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims width x height (its pixel data is one empty row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    idat = zlib.compress(b"\x00" * 16)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def test_a_180_megapixel_image_is_skipped_and_counted_in_fit(colour_folder, tmp_path, capsys):
    _png_header_only(colour_folder / "red" / "huge.png", 15000, 12000)
    out = tmp_path / "run"
    code, stdout, err = cli(capsys, "fit", str(colour_folder), "--out", str(out), "-q")
    assert code == 0, err
    assert "skipped 1 input(s)" in stdout and "too large" in stdout
    with open(out / "skipped.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["input"].endswith("huge.png") and "180,000,000" in row["reason"]
    code, _, err = cli(
        capsys,
        "fit",
        str(colour_folder),
        "--out",
        str(tmp_path / "r2"),
        "-q",
        "--max-image-pixels",
        "-1",
    )
    assert code == 2


def _without_root_rights(*args: str) -> list[str]:
    """A `transferkit` command that cannot override file permissions: root writes anywhere,
    so as root the command runs without the capabilities that let it (setpriv)."""
    command = [sys.executable, "-m", "transferkit.cli", *args]
    if os.geteuid() != 0:
        return command
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: a read-only folder cannot be made")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--", *command]


def _run(command: list[str], cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TRANSFERKIT_CACHE_DIR": str(cache)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def restore_rights(tmp_path):
    yield
    for path in [tmp_path, *tmp_path.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            path.chmod(0o755)


def test_a_read_only_output_folder_fails_before_any_embedding(
    colour_folder, tmp_path, restore_rights
):
    out = tmp_path / "readonly"
    out.mkdir()
    out.chmod(0o555)
    cache = tmp_path / "cache"
    command = _without_root_rights("fit", str(colour_folder), "--out", str(out / "run"), "-q")
    proc = _run(command, cache)
    assert proc.returncode == 2, proc.stderr
    assert "cannot be written" in one_error_line(proc.stderr)
    assert not list(cache.rglob("*.npy"))  # it failed before embedding anything


def test_a_read_only_cache_is_used_read_only(colour_folder, tmp_path, restore_rights):
    cache = tmp_path / "cache"
    first = _run(
        _without_root_rights("fit", str(colour_folder), "--out", str(tmp_path / "r1"), "-q"), cache
    )
    assert first.returncode == 0, first.stderr
    stored = sorted(cache.rglob("*.npy"))
    assert stored
    for path in [cache, *cache.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    for name, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        write_image(colour_folder / name / "new.jpg", colour, seed=99)
    second = _run(
        _without_root_rights("fit", str(colour_folder), "--out", str(tmp_path / "r2"), "-q"), cache
    )
    assert second.returncode == 0, second.stderr
    assert "is read-only (it cannot be written): cached embeddings were read" in second.stdout
    assert sorted(cache.rglob("*.npy")) == stored
    image = str(colour_folder / "blue" / "new.jpg")
    predict = _run(_without_root_rights("predict", str(tmp_path / "r2"), image), cache)
    assert predict.returncode == 0, predict.stderr
    assert "blue" in predict.stdout.splitlines()[1]


def test_an_identifier_column_is_named_in_the_summary(tmp_path, capsys):
    import numpy as np

    rng = np.random.default_rng(0)
    lines = ["customer," + ",".join(f"x{j}" for j in range(6)) + ",label"]
    for i in range(120):
        y = i % 2
        values = ",".join(f"{rng.normal(2 * y, 1):.3f}" for _ in range(6))
        lines.append(f"c{i},{values},{y}")
    table = tmp_path / "customers.csv"
    table.write_text("\n".join(lines) + "\n")
    code, out, err = cli(capsys, "fit", str(table), "--out", str(tmp_path / "run"), "-q")
    assert code == 0, err
    data = next(line for line in out.splitlines() if line.startswith("data: "))
    assert data.startswith("data: tabular") and "customer (identifier" in data
    code, out, err = cli(
        capsys, "fit", str(table), "--out", str(tmp_path / "as-text"), "-q", "--modality", "text"
    )
    assert code == 0, err
    assert next(line for line in out.splitlines() if line.startswith("data: ")).startswith(
        "data: text"
    )


# -- what a review of the above found ------------------------------------------------------


def test_export_and_tensorboard_list_only_their_own_files(colour_folder, image_run, capsys):
    from transferkit.runs._export import export
    from transferkit.runs._folder import read_manifest
    from transferkit.runs._tracking import track_run

    (image_run / "export").mkdir()
    (image_run / "export" / "slides.pdf").write_text("mine")
    (image_run / "tensorboard").mkdir()
    (image_run / "tensorboard" / "mine.txt").write_text("mine")
    export(image_run, "onnx")
    track_run(image_run, "tensorboard")
    listed = read_manifest(image_run)
    assert {"export/model.onnx", "export/model.onnx.json"} <= set(listed)
    assert any(name.startswith("tensorboard/events.out") for name in listed)
    assert "export/slides.pdf" not in listed and "tensorboard/mine.txt" not in listed
    code, out, err = cli(
        capsys, "fit", str(colour_folder), "--out", str(image_run), "--overwrite", "-q"
    )
    assert code == 0, err
    assert (image_run / "export" / "slides.pdf").read_text() == "mine"
    assert (image_run / "tensorboard" / "mine.txt").read_text() == "mine"
    assert not (image_run / "export" / "model.onnx").exists()
    assert "export/slides.pdf" in next(line for line in out.splitlines() if line.startswith("kept"))


def test_history_is_never_written_through_a_link(tmp_path):
    from transferkit.finetune._train import History

    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / "history.csv").symlink_to(victim)
    with pytest.raises(TransferKitError, match="symbolic link"):
        History(run)
    assert victim.read_text() == "precious"


def test_run_files_follow_the_umask(image_run):
    mask = os.umask(0)
    os.umask(mask)
    for name in ("report.html", "metrics.json", "manifest.json", "predictions_val.csv"):
        assert (image_run / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_a_run_without_a_manifest_can_still_be_reported(image_run, capsys):
    (image_run / MANIFEST).unlink()  # as a run folder of an earlier version has none
    code, _, err = cli(capsys, "report", str(image_run))
    assert code == 0, err


def test_a_damaged_manifest_is_a_one_line_error(colour_folder, image_run, capsys):
    (image_run / MANIFEST).write_text("{not json")
    code, _, err = cli(
        capsys, "fit", str(colour_folder), "--out", str(image_run), "--overwrite", "-q"
    )
    assert code == 2 and "manifest.json" in one_error_line(err)
    assert (image_run / "metrics.json").exists()  # nothing was removed


@pytest.mark.parametrize(
    ("name", "damage", "command"),
    [
        ("model/model.json", lambda c: {**c, "backbone": "x"}, "predict"),
        ("model/model.json", lambda c: {**c, "class_names": "ab"}, "predict"),
        ("metrics.json", lambda m: {**m, "per_class": ["a"]}, "report"),
        ("metrics.json", lambda m: {**m, "accuracy": "high"}, "compare"),
    ],
)
def test_run_files_of_the_wrong_shape_are_one_line_errors(
    image_run, colour_folder, tmp_path, capsys, name, damage, command
):
    path = image_run / name
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    image = str(next(colour_folder.rglob("*.jpg")))
    args = {
        "predict": ["predict", str(image_run), image],
        "report": ["report", str(image_run)],
        "compare": ["compare", str(image_run), str(image_run), "-o", str(tmp_path / "c.html")],
    }[command]
    code, _, err = cli(capsys, *args)
    assert code == 2 and name.split("/")[-1] in one_error_line(err) and "damaged" in err


def test_rank_names_the_files_it_kept(colour_folder, tmp_path, capsys):
    out = tmp_path / "rank"
    code, _, err = cli(capsys, "rank", str(colour_folder), "--out", str(out))
    assert code == 0, err
    (out / "notes.txt").write_text("mine")
    code, stdout, err = cli(capsys, "rank", str(colour_folder), "--out", str(out), "--overwrite")
    assert code == 0, err
    assert "kept 1 file(s) transferkit did not write: notes.txt" in stdout
    assert (out / "notes.txt").read_text() == "mine"
