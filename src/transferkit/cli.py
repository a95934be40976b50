"""The `transferkit` command: a thin layer over the Python functions."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Annotated

import typer

from transferkit._errors import TransferKitError

app = typer.Typer(
    help="Transfer learning from a small labelled data set and a pretrained model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _fail(exc: Exception) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(code=2)


@app.command()
def fit(
    data: Annotated[
        Path,
        typer.Argument(
            help="Image folder (class sub-folders, optional train/val/test), a CSV/TSV file,"
            " or a folder of train/val/test CSV/TSV files."
        ),
    ],
    backbone: Annotated[
        str | None,
        typer.Option(
            help="Backbone name (see `transferkit backbones`), timm:NAME or hf:MODEL_ID."
            " Default: efficientnet_lite0 for images, minilm-l6 for text."
        ),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option(
            help="How to transfer: 'features' (frozen backbone, cached embeddings, trained head)."
        ),
    ] = "features",
    head: Annotated[
        str, typer.Option(help="'logistic' (C by cross-validation on train), 'linear' or 'mlp'.")
    ] = "logistic",
    out: Annotated[
        Path | None, typer.Option(help="Run folder. Default: a new folder under runs/.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Allow writing into an existing non-empty --out.")
    ] = False,
    text: Annotated[
        str | None, typer.Option(help="Text column (name or 0-based number) of delimited data.")
    ] = None,
    label: Annotated[
        str | None, typer.Option(help="Label column (name or 0-based number) of delimited data.")
    ] = None,
    weights: Annotated[
        Path | None,
        typer.Option(help="Local weights file (or hf: model folder) instead of a download."),
    ] = None,
    val_size: Annotated[
        float, typer.Option(help="Validation fraction when the data has no val split.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed for the split and the head.")] = 0,
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            help="Feature cache folder. Default: $TRANSFERKIT_CACHE_DIR or the user cache dir."
        ),
    ] = None,
    no_cache: Annotated[
        bool,
        typer.Option("--no-cache", help="Recompute embeddings; don't read or write the cache."),
    ] = False,
    batch_size: Annotated[int | None, typer.Option(help="Backbone batch size.")] = None,
    workers: Annotated[int, typer.Option(help="Image-decoding worker processes.")] = 0,
    device: Annotated[str, typer.Option(help="torch device, e.g. cpu or cuda.")] = "cpu",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train on DATA with a pretrained backbone and write a run folder."""
    from transferkit._fit import fit as run_fit

    try:
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
        )
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    typer.echo(result.summary)


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="A run folder written by `transferkit fit`.")],
    inputs: Annotated[list[str], typer.Argument(help="Image paths, folders of images, or texts.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write a CSV here instead of printing.")
    ] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Feature cache folder.")] = None,
    device: Annotated[str, typer.Option(help="torch device.")] = "cpu",
) -> None:
    """Predict the class of each input with a finished run."""
    from transferkit._run import load

    if output is not None and output.exists():
        _fail(TransferKitError(f"{str(output)!r} already exists: choose another --output."))
    try:
        model = load(run, cache_dir=cache_dir, device=device)
        items = _expand_inputs(inputs, model.config["backbone"]["modality"])
        proba, errors = model.predict_rows(items, show_progress=sys.stderr.isatty())
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    header = ["input", "predicted", "confidence", *[f"p_{c}" for c in model.class_names], "error"]
    rows = []
    for i, (item, p) in enumerate(zip(items, proba, strict=True)):
        if i in errors:  # an unreadable input gets a row with its reason, not a crash
            rows.append([item, "", "", *[""] * len(p), errors[i]])
            continue
        k = int(p.argmax())
        rows.append([item, model.class_names[k], f"{p[k]:.6f}", *[f"{v:.6f}" for v in p], ""])
    if output is None:
        csv.writer(sys.stdout).writerows([header, *rows])
    else:
        with open(output, "w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([header, *rows])
    if errors:
        typer.echo(
            f"{len(errors)} of {len(items)} input(s) could not be read (see 'error')", err=True
        )


def _expand_inputs(inputs: list[str], modality: str) -> list[str]:
    """Folders expand to the files inside them (images); other arguments stay as given."""
    if modality != "image":
        return list(inputs)
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
    from transferkit._demo import run_demo

    try:
        result = run_demo(out=out, quiet=quiet)
    except (TransferKitError, OSError) as exc:
        _fail(exc)
    typer.echo(result.summary)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
