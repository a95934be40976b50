"""The commands besides `fit`: rank, lr-find, predict, export, track, report, compare,
backbones, demo. Each imports what it needs when it runs."""

from __future__ import annotations

import csv
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from transferkit._errors import TransferKitError
from transferkit.cli._app import Opt, app
from transferkit.cli._app import fail as _fail


def _names(candidates: str | None) -> list[str] | None:
    return [c.strip() for c in candidates.split(",") if c.strip()] if candidates else None


@app.command("rank")
def rank_command(
    data: Annotated[Path, typer.Argument(help="The data, as for `transferkit fit`.")],
    candidates: Annotated[
        str | None,
        Opt(
            help="Comma-separated backbones: built-in names, NAME:random, timm:NAME,"
            " hf:MODEL_ID, run:PATH. Default: the modality's default backbone."
        ),
    ] = None,
    layers: Annotated[
        bool, Opt("--layers", help="Also score each layer group as the cut point.")
    ] = False,
    text: Annotated[str | None, Opt(help="Text column.")] = None,
    label: Annotated[str | None, Opt(help="Label column.")] = None,
    label_pattern: Annotated[
        str | None, Opt(help="Image or audio files: labels from their names, as for fit.")
    ] = None,
    out: Annotated[Path | None, Opt(help="Run folder to write; default runs/NAME-rank-...")] = None,
    overwrite: Annotated[bool, Opt("--overwrite", help="Replace the run files in --out.")] = False,
    max_samples: Annotated[int, Opt(help="Score at most this many training samples.")] = 2000,
    seed: Annotated[int, Opt(help="Seed for the split and the sample.")] = 0,
    cache_dir: Annotated[Path | None, Opt(help="Feature cache folder.")] = None,
) -> None:
    """Rank candidate backbones (and cut points) by transferability, before any training."""
    from transferkit.selection._rank import rank

    names = _names(candidates)
    try:
        result = rank(
            data,
            names,
            layers=layers,
            out=out,
            overwrite=overwrite,
            text_column=text,
            label_column=label,
            label_pattern=label_pattern,
            seed=seed,
            cache_dir=cache_dir,
            max_samples=max_samples,
        )
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    typer.echo(result.table)
    if result.kept:
        from transferkit.runs._write import kept_line

        typer.echo(kept_line(result.kept))
    typer.echo(f"{result.why}.\nrun folder: {result.run_dir}")


@app.command("lr-find")
def lr_find(
    data: Annotated[Path, typer.Argument(help="The data, as for `transferkit fit`.")],
    backbone: Annotated[str | None, Opt(help="Backbone name; default by modality.")] = None,
    strategy: Annotated[str, Opt(help="finetune, top:K, gradual or scratch.")] = "finetune",
    text: Annotated[str | None, Opt(help="Text column.")] = None,
    label: Annotated[str | None, Opt(help="Label column.")] = None,
    steps: Annotated[int, Opt(help="Rates to try, log-spaced from 1e-6 to 1.")] = 60,
    batch_size: Annotated[int | None, Opt(help="Batch size.")] = None,
    seed: Annotated[int, Opt(help="Seed.")] = 0,
    output: Annotated[Path | None, Opt("--output", "-o", help="Write the curve as CSV.")] = None,
) -> None:
    """Sweep the learning rate over a few batches and suggest one (Lightning's range test)."""
    from transferkit.jobs._lr_find import lr_find as run_lr_find

    if output is not None and output.exists():
        _fail(TransferKitError(f"{str(output)!r} already exists: choose another --output."))
    try:
        result = run_lr_find(
            data,
            backbone=backbone,
            strategy=strategy,
            text_column=text,
            label_column=label,
            seed=seed,
            batch_size=batch_size,
            steps=steps,
        )
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    if output is not None:
        with open(output, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows(
                [["lr", "loss"], *zip(result["lr"], result["loss"], strict=True)]
            )
    suggestion = result["suggestion"]
    shown = f"{suggestion:.2e}" if suggestion else "none (the loss never fell steadily)"
    typer.echo(f"suggested learning rate: {shown} ({len(result['lr'])} rates tried)")


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A run folder written by `transferkit fit`.")],
    inputs: Annotated[
        list[str] | None, typer.Argument(help="Image paths, folders of images, or texts.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write a CSV here instead of printing.")
    ] = None,
    texts_file: Annotated[
        Path | None,
        typer.Option(help="Text runs: a file with one text per line (UTF-8, or Windows-1252)."),
    ] = None,
    engine: Annotated[
        str, typer.Option(help="'torch' (the run's model) or 'onnx' (RUN/export, ONNX Runtime).")
    ] = "torch",
    batch_size: Annotated[int, typer.Option(help="Inputs per batch.", min=1)] = 64,
    cache_dir: Annotated[Path | None, typer.Option(help="Feature cache folder.")] = None,
    device: Annotated[str, typer.Option(help="torch device.")] = "cpu",
) -> None:
    """Predict the class of each input with a finished run, in batches, as a CSV."""
    from transferkit.runs._run import load

    if output is not None and output.exists():
        _fail(TransferKitError(f"{str(output)!r} already exists: choose another --output."))
    if engine not in ("torch", "onnx"):
        _fail(TransferKitError(f"--engine {engine!r}: use 'torch' or 'onnx'."))
    try:
        model = load(run, cache_dir=cache_dir, device=device)
        predict_rows = _engine(model, run, engine)
        items, shown = _items(model, list(inputs or []), texts_file)
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    try:
        with ExitStack() as stack:
            handle = (
                sys.stdout
                if output is None
                else stack.enter_context(open(output, "w", newline="", encoding="utf-8"))
            )
            n_errors = _stream_predictions(handle, model, predict_rows, items, shown, batch_size)
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    if n_errors:
        typer.echo(f"{n_errors} of {len(items)} input(s) could not be read (see 'error')", err=True)


def _engine(model: Any, run: Path, engine: str) -> Any:
    """The function that predicts a batch: the run's torch model, or its ONNX export."""
    if engine == "torch":
        return model.predict_rows
    if model.tasks:
        raise TransferKitError("a multi-task run has no ONNX export: use --engine torch.")
    if model.config["backbone"]["modality"] == "tabular":
        raise TransferKitError(
            "a tabular run has no ONNX export (its column encoding runs in Python):"
            " use --engine torch."
        )
    from transferkit.runs._export import OnnxPredictor

    return OnnxPredictor(run).predict_rows


def _items(model: Any, inputs: list[str], texts_file: Path | None) -> tuple[list, list]:
    """(what the model reads, what the CSV shows) for each input: image paths and texts
    as given; for a tabular run, every row of the CSV files given."""
    modality = model.config["backbone"]["modality"]
    if modality != "tabular":
        items = _expand_inputs(inputs, modality, texts_file)
        return items, items
    from transferkit.data._tabular import read_rows

    if not inputs or texts_file is not None:
        raise TransferKitError("give the CSV file(s) of rows to predict (not --texts-file).")
    required = getattr(model.backbone, "columns", None)  # the trained columns
    pairs = [
        pair
        for value in inputs
        for pair in zip(*read_rows(Path(value), required=required), strict=True)
    ]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _stream_predictions(
    handle: Any,
    model: Any,
    predict_rows: Any,
    items: list[str],
    shown: list[str],
    batch_size: int,
) -> int:
    """Predict `items` batch by batch, writing each batch's rows as soon as it is done; an
    unreadable input gets a row with its reason, not a crash. Returns the error count."""
    from transferkit._progress import progress_bar, progress_enabled

    writer = csv.writer(handle)
    others = model.tasks[1:]  # a multi-task run: a prediction and confidence per other task
    writer.writerow(
        [
            "input",
            "predicted",
            "confidence",
            *[f"p_{c}" for c in model.class_names],
            *[f"{what}_{t['name']}" for t in others for what in ("predicted", "confidence")],
            "error",
        ]
    )
    n_errors = 0
    blank = [""] * (2 + len(model.class_names) + 2 * len(others))
    with progress_bar("predicting", len(items), progress_enabled(False)) as advance:
        for start in range(0, len(items), batch_size):
            answers = model.answers(items[start : start + batch_size], predict_rows)
            for shown_as, answer in zip(shown[start:], answers, strict=False):
                if "error" in answer:
                    n_errors += 1
                    writer.writerow([shown_as, *blank, answer["error"]])
                    continue
                extra = [
                    x
                    for task in answer.get("tasks", {}).values()
                    for x in (task["label"], f"{task['confidence']:.6f}")
                ]
                probabilities = [f"{v:.6f}" for v in answer["probabilities"].values()]
                label, confidence = answer["label"], f"{answer['confidence']:.6f}"
                writer.writerow([shown_as, label, confidence, *probabilities, *extra, ""])
            handle.flush()
            advance(len(answers))
    return n_errors


@app.command("export")
def export_command(
    run: Annotated[Path, typer.Argument(help="A run folder written by `transferkit fit`.")],
    format: Annotated[str, Opt(help="'onnx' or 'torchscript'.")] = "onnx",
    overwrite: Annotated[bool, Opt(help="Replace an earlier export of this format.")] = False,
) -> None:
    """Write RUN/export/: backbone + head + softmax as one model, with a JSON sidecar (inputs,
    preprocessing, classes), checked against the PyTorch model on the run's own inputs."""
    from transferkit.runs._export import export

    try:
        result = export(run, format, overwrite=overwrite)
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    typer.echo(
        f"{result.path} ({result.path.stat().st_size / 1e6:.1f} MB) and {result.sidecar.name}:"
        f" max |probability difference| {result.max_abs_diff:.1e} on {result.n_checked} of the"
        " run's inputs"
    )


@app.command("track")
def track_command(
    run: Annotated[Path, typer.Argument(help="A run folder written by `transferkit fit`.")],
    track: Annotated[str, Opt(help="'mlflow' or 'tensorboard'.")] = "mlflow",
    track_uri: Annotated[
        str | None, Opt(help="MLflow tracking URI or TensorBoard folder (default: local).")
    ] = None,
) -> None:
    """Log a finished run (settings, per-epoch metrics, files) to an experiment tracker."""
    from transferkit.runs._tracking import check_tracker, track_run

    try:
        check_tracker(track, track_uri)
        if not (run / "metrics.json").is_file():
            raise TransferKitError(f"{str(run)!r} has no metrics.json: give a finished run folder.")
        typer.echo(track_run(run, track, track_uri))
    except (TransferKitError, OSError, ImportError) as exc:
        _fail(exc)


@app.command("report")
def report_command(
    run: Annotated[Path, typer.Argument(help="A run folder written by `transferkit fit`.")],
) -> None:
    """Rebuild RUN/report.html: one self-contained page (plots and thumbnails embedded)."""
    from transferkit.runs._report import write_report

    try:
        typer.echo(str(write_report(run)))
    except (TransferKitError, OSError) as exc:
        _fail(exc)


@app.command("compare")
def compare_command(
    runs: Annotated[list[Path], typer.Argument(help="Two or more run folders.")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The page to write (a folder: compare.html).")
    ] = Path("compare.html"),
    overwrite: Annotated[bool, Opt(help="Replace an existing page.")] = False,
) -> None:
    """Write one page comparing runs side by side: settings, metrics, learning curves."""
    from transferkit.runs._compare import compare_runs

    target = output / "compare.html" if output.is_dir() else output
    if target.exists() and not overwrite:
        _fail(
            TransferKitError(f"{str(target)!r} already exists: choose another -o or --overwrite.")
        )
    try:
        typer.echo(str(compare_runs(runs, target)))
    except (TransferKitError, OSError) as exc:
        _fail(exc)


def _expand_inputs(inputs: list[str], modality: str, texts_file: Path | None = None) -> list[str]:
    """Folders expand to the files inside them (images); other arguments stay as given; a
    texts file adds one text per non-empty line."""
    if modality not in ("image", "audio"):
        for value in inputs:
            if _is_file(value):
                raise TransferKitError(
                    f"input {value!r} is a file, and a text run classifies the texts it is"
                    f" given: to predict one text per line of it, pass --texts-file {value}."
                )
        if texts_file is not None:
            from transferkit.data._delimited import read_text_lines

            inputs = [*inputs, *read_text_lines(texts_file)]
        if not inputs:
            raise TransferKitError("no input: give texts, or --texts-file with one per line.")
        return list(inputs)
    if texts_file is not None:
        raise TransferKitError(f"--texts-file is for text runs; give {modality} files or folders.")
    items: list[str] = []
    for value in inputs:
        path = Path(value)
        if path.is_dir():
            items.extend(
                str(p)
                for p in sorted(path.rglob("*"))
                if p.is_file() and not p.name.startswith(".")
            )
        elif path.is_file():
            items.append(value)
        else:
            raise TransferKitError(
                f"input {value!r} does not exist: give {modality} files or folders."
            )
    if not items:
        raise TransferKitError(f"no input files found: give {modality} files or folders of them.")
    return items


def _is_file(value: str) -> bool:
    try:
        return Path(value).is_file()
    except (OSError, ValueError):  # a long text is no file name (ENAMETOOLONG, NUL bytes)
        return False


@app.command()
def backbones() -> None:
    """List the registered backbones and whether their weights are available offline."""
    from rich.console import Console
    from rich.table import Table

    from transferkit.backbones import list_backbones

    table = Table(title="transferkit backbones")
    for column in ("name", "modality", "features", "licence", "offline", "weights"):
        table.add_column(column)
    for row in list_backbones():
        table.add_row(
            row["name"],
            row["modality"],
            str(row["feature_dim"]),
            row["licence"],
            "yes" if row["offline"] else "no",
            row["weights"],
        )
    table.add_row("timm:NAME", "image", "-", "per model", "with --weights", "any timm model")
    table.add_row(
        "hf:MODEL_ID", "text", "-", "per model", "with --weights", "any transformers encoder"
    )
    Console(width=max(120, Console().width)).print(table)


@app.command()
def demo(
    out: Annotated[
        Path | None, typer.Option(help="Run folder. Default: a new folder under runs/.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """The main job on data that ships with scikit-learn: 1,797 handwritten digits."""
    from transferkit.jobs._demo import run_demo

    try:
        result = run_demo(out=out, quiet=quiet)
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    typer.echo(result.summary)
