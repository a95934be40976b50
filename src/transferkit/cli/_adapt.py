"""`transferkit adapt`: a labelled source, an unlabelled target, one model for the target."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from transferkit.cli._app import Opt, app
from transferkit.config._adapt import ADAPT_METHODS, CRITERIA, LABEL_SHIFT

DATA, ADAPT, BACKBONE, OUTPUTS, PERFORMANCE = (
    "Data",
    "Adaptation",
    "Backbone",
    "Outputs",
    "Performance",
)


@app.command("adapt")
def adapt_command(
    source: Annotated[
        list[Path] | None,
        Opt(
            help="Labelled source data, in any layout `transferkit fit` reads; give it"
            " several times for several sources (each a domain of its own).",
            metavar="PATH",
            rich_help_panel=DATA,
        ),
    ] = None,
    target: Annotated[
        Path | None,
        Opt(
            help="Unlabelled target: a folder of images, or a text file (one text per line,"
            " or a CSV/TSV with a text column).",
            rich_help_panel=DATA,
        ),
    ] = None,
    target_labels: Annotated[
        bool,
        Opt(
            "--target-labels",
            help="The target has labels: read them only to evaluate, after the method is"
            " chosen (the run says so).",
            rich_help_panel=DATA,
        ),
    ] = False,
    text: Annotated[str | None, Opt(help="Source text column.", rich_help_panel=DATA)] = None,
    label: Annotated[str | None, Opt(help="Source label column.", rich_help_panel=DATA)] = None,
    label_pattern: Annotated[
        str | None,
        Opt(
            help="Image or audio files: labels from their names, e.g."
            " '{digit}_{speaker}_{take}.wav' with --label digit (the target's too).",
            rich_help_panel=DATA,
        ),
    ] = None,
    target_text: Annotated[
        str | None, Opt(help="Target text column (name or number).", rich_help_panel=DATA)
    ] = None,
    group: Annotated[
        str | None,
        Opt(
            help="Per-group audit on the target (with --target-labels; else on the source's"
            " validation split): a column, a file-name field or 'folder:K'.",
            rich_help_panel=DATA,
        ),
    ] = None,
    target_label: Annotated[
        str | None,
        Opt(help="Target label column, with --target-labels.", rich_help_panel=DATA),
    ] = None,
    val_size: Annotated[
        float,
        Opt(help="Source validation fraction (the criterion reads it).", rich_help_panel=DATA),
    ] = 0.2,
    seed: Annotated[int, Opt(help="Seed for the split and the methods.", rich_help_panel=DATA)] = 0,
    method: Annotated[
        str,
        Opt(
            help=f"'auto' (every method, the criterion's choice) or one of"
            f" {', '.join(ADAPT_METHODS)}.",
            rich_help_panel=ADAPT,
        ),
    ] = "auto",
    criterion: Annotated[
        str,
        Opt(
            help=f"How the method is chosen without target labels: {', '.join(CRITERIA)}.",
            rich_help_panel=ADAPT,
        ),
    ] = "circular",
    label_shift: Annotated[
        str | None,
        Opt(
            help=f"Re-estimate the target's class priors and correct: {', '.join(LABEL_SHIFT)}.",
            rich_help_panel=ADAPT,
        ),
    ] = None,
    strategy: Annotated[
        str,
        Opt(
            help="'features' (the methods on cached features), or 'top:K' with a deep"
            " --method: its domain loss trains the backbone's last K layer groups too.",
            rich_help_panel=ADAPT,
        ),
    ] = "features",
    epochs: Annotated[
        int | None,
        Opt(help="top:K: training epochs (default 8).", rich_help_panel=ADAPT),
    ] = None,
    lr: Annotated[
        float | None,
        Opt(
            help="top:K: the head's rate (default 0.01; each group below at 0.3 times the"
            " one above).",
            rich_help_panel=ADAPT,
        ),
    ] = None,
    threshold: Annotated[
        str | None,
        Opt(
            help="Binary tasks: a decision rule, 'f1', 'recall=R' or 'precision=P', tuned on"
            " the source's out-of-fold predictions; with --label-shift, for the target's"
            " estimated class mix.",
            rich_help_panel=ADAPT,
        ),
    ] = None,
    backbone: Annotated[
        str | None, Opt(help="Backbone (default: the modality's).", rich_help_panel=BACKBONE)
    ] = None,
    weights: Annotated[
        Path | None, Opt(help="Local weights file or folder.", rich_help_panel=BACKBONE)
    ] = None,
    cut: Annotated[
        str | None,
        Opt(
            help="Features from the groups up to this one (e.g. blocks.5).",
            rich_help_panel=BACKBONE,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        Opt(
            help="Run folder (default runs/TIME-SOURCE-to-TARGET-BACKBONE).",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    overwrite: Annotated[
        bool, Opt("--overwrite", help="Replace the run files in --out.", rich_help_panel=OUTPUTS)
    ] = False,
    quiet: Annotated[
        bool, Opt("--quiet", help="No progress bars.", rich_help_panel=OUTPUTS)
    ] = False,
    resume: Annotated[
        Path | None,
        Opt(
            help="Continue an interrupted run of a deep method from its folder (its"
            " config.json and checkpoints); give nothing else but --quiet.",
            rich_help_panel=OUTPUTS,
        ),
    ] = None,
    device: Annotated[
        str, Opt(help="cpu, cuda, cuda:N or mps.", rich_help_panel=PERFORMANCE)
    ] = "cpu",
    batch_size: Annotated[
        int | None, Opt(help="Embedding batch size.", rich_help_panel=PERFORMANCE)
    ] = None,
    cache_dir: Annotated[
        Path | None, Opt(help="Feature cache folder.", rich_help_panel=PERFORMANCE)
    ] = None,
    no_cache: Annotated[
        bool,
        Opt(
            "--no-cache",
            help="Do not read or write the feature cache.",
            rich_help_panel=PERFORMANCE,
        ),
    ] = False,
) -> None:
    """Adapt a model trained on a labelled SOURCE to an unlabelled TARGET (domain shift)."""
    from transferkit._errors import TransferKitError
    from transferkit.jobs._adapt import adapt, resume_adapt

    if resume is not None:
        if source or target is not None:
            raise TransferKitError(
                "--resume continues a run with its own source and target: drop --source"
                " and --target."
            )
        typer.echo(resume_adapt(resume, quiet=quiet).summary)
        return
    if not source or target is None:
        missing = "--source" if not source else "--target"
        raise TransferKitError(
            f"give {missing} PATH (or --resume RUN to continue an interrupted run)."
        )

    train = {k: v for k, v in (("epochs", epochs), ("lr", lr)) if v is not None}
    if train and strategy == "features":
        raise TransferKitError("--epochs and --lr set how top:K trains: add --strategy top:K.")
    result = adapt(
        list(source),
        target,
        method=method,
        target_labels=target_labels,
        criterion=criterion,
        label_shift=label_shift,
        threshold=threshold,
        strategy=strategy,
        **({"train": train} if train else {}),
        target_text_column=target_text,
        target_label_column=target_label,
        text_column=text,
        label_column=label,
        label_pattern=label_pattern,
        group=group,
        val_size=val_size,
        seed=seed,
        backbone=backbone,
        weights=weights,
        cut=cut,
        out=out,
        overwrite=overwrite,
        quiet=quiet,
        device=device,
        batch_size=batch_size,
        cache_dir=str(cache_dir) if cache_dir else None,
        use_cache=not no_cache,
    )
    typer.echo(result.summary)
