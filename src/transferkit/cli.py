"""The `transferkit` command: a thin layer over the Python functions."""

from __future__ import annotations

import csv
import os
import sys
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import typer

from transferkit._errors import TransferKitError, one_line
from transferkit.finetune._config import TrainConfig as _D  # defaults, no torch import

app = typer.Typer(
    help="Transfer learning from a small labelled data set and a pretrained model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


DEBUG_ENV = "TRANSFERKIT_DEBUG"


def _debug() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def _one_line(exc: BaseException) -> str:
    return one_line(str(exc)) or type(exc).__name__


def _fail(exc: Exception) -> None:
    """Bad input, files or configuration: one line and exit code 2 (`--debug`: the
    traceback too)."""
    if _debug():
        traceback.print_exception(exc)
    typer.echo(f"error: {_one_line(exc)}", err=True)
    raise typer.Exit(code=2)


Opt = typer.Option


@app.callback()
def _options(
    debug: Annotated[
        bool,
        Opt(
            "--debug",
            help="Print the full traceback of any error (also TRANSFERKIT_DEBUG=1); it may be"
            " given anywhere on the command line.",
        ),
    ] = False,
) -> None:
    """Transfer learning from a small labelled data set and a pretrained model."""
    if debug:
        os.environ[DEBUG_ENV] = "1"


@app.command()
def fit(
    data: Annotated[
        Path | None,
        typer.Argument(
            help="Image folder (class sub-folders, optional train/val/test), a CSV/TSV file,"
            " or a folder of train/val/test CSV/TSV files. Not needed with --resume."
        ),
    ] = None,
    backbone: Annotated[
        str | None,
        Opt(
            help="Backbone name (see `transferkit backbones`), timm:NAME or hf:MODEL_ID."
            " Default: efficientnet_lite0 for images, minilm-l6 for text."
        ),
    ] = None,
    strategy: Annotated[
        str,
        Opt(
            help="How to transfer: 'features' (frozen backbone, cached embeddings, head),"
            " 'finetune' (all layers, discriminative rates), 'top:K' (last K groups),"
            " 'gradual' (unfreeze from the top), 'scratch' (random init baseline),"
            " 'auto' (rank the candidates and their cut points, then pick)."
        ),
    ] = "features",
    head: Annotated[
        str, Opt(help="features: 'logistic' (C by CV on train), 'linear' or 'mlp'.")
    ] = "logistic",
    out: Annotated[Path | None, Opt(help="Run folder. Default: a new folder under runs/.")] = None,
    overwrite: Annotated[bool, Opt(help="Allow writing into an existing non-empty --out.")] = False,
    resume: Annotated[
        Path | None,
        Opt(help="Continue an interrupted training run folder from its last checkpoint."),
    ] = None,
    text: Annotated[str | None, Opt(help="Text column (name or 0-based number).")] = None,
    label: Annotated[str | None, Opt(help="Label column (name or 0-based number).")] = None,
    weights: Annotated[
        Path | None, Opt(help="Local weights file (or hf: model folder) instead of a download.")
    ] = None,
    val_size: Annotated[float, Opt(help="Validation fraction when there is no val split.")] = 0.2,
    seed: Annotated[int, Opt(help="Seed for the split, the head and training.")] = 0,
    epochs: Annotated[int, Opt(help="Training epochs (trained strategies).")] = _D.epochs,
    lr: Annotated[float, Opt(help="Learning rate of the head; backbone groups get less.")] = _D.lr,
    lr_decay: Annotated[float, Opt(help="Rate factor per group down from the top.")] = _D.lr_decay,
    lr_low: Annotated[
        float | None,
        Opt(help="Rate of the lowest group (rates spread up to --lr), as slice(lo, hi)."),
    ] = None,
    optimizer: Annotated[
        str, Opt(help="adamw, adam, sgd (Nesterov momentum) or rmsprop.")
    ] = _D.optimizer,
    schedule: Annotated[
        str, Opt(help="cosine, onecycle, step, exponential or none.")
    ] = _D.schedule,
    warmup: Annotated[float, Opt(help="Linear warm-up, in epochs.")] = _D.warmup_epochs,
    momentum: Annotated[float, Opt(help="sgd / rmsprop momentum.")] = _D.momentum,
    nesterov: Annotated[bool, Opt(help="Nesterov momentum for sgd.")] = _D.nesterov,
    step_size: Annotated[int, Opt(help="step schedule: epochs between rate drops.")] = _D.step_size,
    gamma: Annotated[float, Opt(help="step / exponential schedule: rate factor.")] = _D.gamma,
    weight_decay: Annotated[float, Opt(help="Weight decay.")] = _D.weight_decay,
    dropout: Annotated[float, Opt(help="Dropout before the head.")] = _D.dropout,
    label_smoothing: Annotated[
        float, Opt(help="Label smoothing of the training loss.")
    ] = _D.label_smoothing,
    grad_clip: Annotated[float | None, Opt(help="Clip gradients to this norm.")] = _D.grad_clip,
    patience: Annotated[
        int | None, Opt(help="Early stopping after this many epochs without improvement.")
    ] = None,
    no_augment: Annotated[bool, Opt("--no-augment", help="No training augmentation.")] = False,
    crop_scale_min: Annotated[
        float, Opt(help="Smallest area fraction of a random resized crop.")
    ] = _D.crop_scale_min,
    color_jitter: Annotated[float, Opt(help="Colour jitter strength (0: none).")] = _D.color_jitter,
    no_prefix_cache: Annotated[
        bool, Opt("--no-prefix-cache", help="top:K: run the frozen prefix every epoch.")
    ] = False,
    batchnorm: Annotated[
        str,
        Opt(
            help="'frozen': BatchNorm keeps its running statistics (Keras' advice for small"
            " data); 'trainable': unfrozen groups update them; 'all': every layer does."
        ),
    ] = _D.batchnorm,
    randaugment: Annotated[
        str | None, Opt(help="Add RandAugment to image training, e.g. 'rand-m9-mstd0.5'.")
    ] = None,
    head_init: Annotated[
        str, Opt(help="'probe': start from the features strategy's head; 'random'.")
    ] = _D.head_init,
    head_epochs: Annotated[int, Opt(help="gradual: epochs of the head alone.")] = _D.head_epochs,
    unfreeze_every: Annotated[
        int, Opt(help="gradual: epochs between unfreezing groups.")
    ] = _D.unfreeze_every,
    cached_views: Annotated[
        int, Opt(help="top:K: augmented views of each image whose frozen prefix is cached.")
    ] = _D.cached_views,
    monitor: Annotated[
        str, Opt(help="Metric for the best epoch and early stopping: val_accuracy or val_loss.")
    ] = _D.monitor,
    precision: Annotated[
        str, Opt(help="Lightning precision: 32-true, bf16-mixed, 16-mixed.")
    ] = _D.precision,
    cache_dir: Annotated[Path | None, Opt(help="Feature cache folder.")] = None,
    no_cache: Annotated[bool, Opt("--no-cache", help="Don't read or write the cache.")] = False,
    batch_size: Annotated[int | None, Opt(help="Batch size.")] = None,
    workers: Annotated[int, Opt(help="Data-loading worker processes.")] = 0,
    device: Annotated[str, Opt(help="torch device: cpu or cuda.")] = "cpu",
    devices: Annotated[int, Opt(help="Processes / GPUs to train on (trained strategies).")] = 1,
    ddp: Annotated[bool, Opt("--ddp", help="Train with Lightning's DDP across --devices.")] = False,
    threshold: Annotated[
        str | None,
        Opt(help="Binary tasks: tune the decision threshold: f1, recall=R or precision=P."),
    ] = None,
    balance: Annotated[
        str,
        Opt(
            help="Imbalanced classes: none, class-weight, oversample, undersample, smote,"
            " adasyn (features); class-weight, sampler, focal (trained strategies)."
        ),
    ] = "none",
    class_weight: Annotated[
        str | None, Opt(help="Class weights by name, e.g. 'spam=5,ham=1' (default: balanced).")
    ] = None,
    cv: Annotated[
        int | None, Opt(help="features: also report stratified K-fold CV over train + val.")
    ] = None,
    encoding: Annotated[
        str, Opt(help="Tables: categorical columns as 'onehot' or 'ordinal'.")
    ] = "onehot",
    baseline: Annotated[
        str | None,
        Opt(help="'scratch': also train from random weights, same budget; report the gain."),
    ] = None,
    candidates: Annotated[
        str | None,
        Opt(help="--strategy auto: comma-separated backbones to rank (default: the built-ins)."),
    ] = None,
    cut: Annotated[
        str | None,
        Opt(help="features: keep the groups up to this one (e.g. layer2, blocks.5; see rank)."),
    ] = None,
    track: Annotated[
        str | None, Opt(help="Log the run to 'mlflow' or 'tensorboard' when it ends.")
    ] = None,
    track_uri: Annotated[
        str | None,
        Opt(help="MLflow tracking URI (e.g. http://127.0.0.1:5000) or TensorBoard folder."),
    ] = None,
    modality: Annotated[
        str | None,
        Opt(help="'image', 'text' or 'tabular' instead of what is detected from DATA."),
    ] = None,
    max_image_pixels: Annotated[
        int | None,
        Opt(
            help="Skip images with more pixels than this (0: no limit). Default:"
            " TRANSFERKIT_MAX_IMAGE_PIXELS, else 89,478,485.",
            min=0,
        ),
    ] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train on DATA with a pretrained backbone and write a run folder."""
    from transferkit.heads._balance import parse_class_weights
    from transferkit.jobs._fit import fit as run_fit
    from transferkit.jobs._fit import resume as run_resume

    train = {
        "epochs": epochs,
        "lr": lr,
        "lr_decay": lr_decay,
        "lr_low": lr_low,
        "optimizer": optimizer,
        "schedule": schedule,
        "momentum": momentum,
        "nesterov": nesterov,
        "step_size": step_size,
        "gamma": gamma,
        "crop_scale_min": crop_scale_min,
        "color_jitter": color_jitter,
        "prefix_cache": not no_prefix_cache,
        "warmup_epochs": warmup,
        "weight_decay": weight_decay,
        "dropout": dropout,
        "label_smoothing": label_smoothing,
        "grad_clip": grad_clip,
        "patience": patience,
        "augment": not no_augment,
        "batchnorm": batchnorm,
        "precision": precision,
        "randaugment": randaugment,
        "head_init": head_init,
        "devices": devices,
        "ddp": ddp,
        "head_epochs": head_epochs,
        "unfreeze_every": unfreeze_every,
        "cached_views": cached_views,
        "monitor": monitor,
    }
    try:
        if resume is not None:
            result = run_resume(resume, quiet=quiet)
        elif data is None:
            raise TransferKitError("give the DATA to fit, or --resume RUN to continue a run.")
        else:
            result = run_fit(
                data,
                backbone=backbone,
                strategy=strategy,
                head=head,
                out=out,
                overwrite=overwrite,
                text_column=text,
                label_column=label,
                weights=weights,
                val_size=val_size,
                seed=seed,
                cache_dir=cache_dir,
                use_cache=not no_cache,
                batch_size=batch_size,
                num_workers=workers,
                device=device,
                quiet=quiet,
                train=train,
                threshold=threshold,
                balance=balance,
                class_weight=parse_class_weights(class_weight) if class_weight else None,
                cv=cv,
                encoding=encoding,
                baseline=baseline,
                candidates=_names(candidates),
                track=track,
                track_uri=track_uri,
                cut=cut,
                modality=modality,
                max_image_pixels=max_image_pixels,
            )
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    typer.echo(result.summary)


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
            seed=seed,
            cache_dir=cache_dir,
            max_samples=max_samples,
        )
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    typer.echo(result.table)
    if result.kept:
        from transferkit.runs._run import kept_line

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
    from transferkit.jobs._fit import lr_find as run_lr_find

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
        modality = model.config["backbone"]["modality"]
        predict_rows = model.predict_rows
        if engine == "onnx":
            if modality == "tabular":
                raise TransferKitError(
                    "a tabular run has no ONNX export (its column encoding runs in Python):"
                    " use --engine torch."
                )
            from transferkit.runs._export import OnnxPredictor

            predict_rows = OnnxPredictor(run).predict_rows
        if modality == "tabular":  # each input is a CSV file; each of its rows is predicted
            from transferkit.data._tabular import read_rows

            if not inputs or texts_file is not None:
                raise TransferKitError(
                    "give the CSV file(s) of rows to predict (not --texts-file)."
                )

            required = getattr(model.backbone, "columns", None)  # the trained columns
            pairs = [
                pair
                for value in inputs or []
                for pair in zip(*read_rows(Path(value), required=required), strict=True)
            ]
            items, shown = [p[0] for p in pairs], [p[1] for p in pairs]
        else:
            items = shown = _expand_inputs(list(inputs or []), modality, texts_file)
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
    writer.writerow(
        ["input", "predicted", "confidence", *[f"p_{c}" for c in model.class_names], "error"]
    )
    n_errors = 0
    with progress_bar("predicting", len(items), progress_enabled(False)) as advance:
        for start in range(0, len(items), batch_size):
            proba, errors = predict_rows(items[start : start + batch_size])
            n_errors += len(errors)
            for i, p in enumerate(proba):
                row = [shown[start + i]]
                if i in errors:
                    writer.writerow([*row, "", "", *[""] * len(p), errors[i]])
                    continue
                k = int(model.decide(p[None])[0])  # the run's tuned threshold, when it has one
                probabilities = [f"{v:.6f}" for v in p]
                writer.writerow([*row, model.class_names[k], f"{p[k]:.6f}", *probabilities, ""])
            handle.flush()
            advance(len(proba))
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
    from transferkit.runs._report import compare_runs

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
    if modality != "image":
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
        raise TransferKitError("--texts-file is for text runs; give image files or folders.")
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
            raise TransferKitError(f"input {value!r} does not exist: give image files or folders.")
    if not items:
        raise TransferKitError("no input files found: give image files or folders of images.")
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


def main() -> None:
    """The console entry point: a one-line cause for bad input, files or configuration
    (exit 2); a traceback only for a bug, with a line asking to report it (exit 1)."""
    args = sys.argv[1:]
    if "--debug" in args:  # accepted after the command too
        os.environ[DEBUG_ENV] = "1"
        args = [a for a in args if a != "--debug"]
    try:
        app(args=args, prog_name="transferkit")
    except (TransferKitError, OSError) as exc:
        if _debug():
            traceback.print_exception(exc)
        typer.echo(f"error: {_one_line(exc)}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:
        traceback.print_exc()
        typer.echo(
            "error: this is a bug in transferkit, not a problem with your input: please report"
            " it with the traceback above and the command you ran.",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
