"""`transferkit fit`: its options, declared once as data and grouped into help panels,
become a `JobConfig` (over a `--config` file: flags given beside it win)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from transferkit._errors import TransferKitError
from transferkit.cli._app import app, fail
from transferkit.finetune._config import TrainConfig as _D  # defaults; no torch import

DATA, BACKBONE = "Data", "Backbone"
STRATEGY = TRAINING = "Strategy and training"
IMBALANCE, EVALUATION, OUTPUTS, PERFORMANCE = (
    "Imbalance and threshold",
    "Evaluation",
    "Outputs and tracking",
    "Performance",
)


@dataclass(frozen=True)
class Flag:
    """One option of `fit`: its parameter, the setting it sets, its type, default, help and
    panel. `target` is a keyword option of `fit` or 'train.FIELD'; `invert` for --no-X."""

    name: str
    target: str
    kind: Any
    default: Any
    help: str
    panel: str
    flags: tuple[str, ...] = ()
    invert: bool = False


FLAGS = [
    Flag("text", "text_column", str | None, None, "Text column (name or 0-based number).", DATA),
    Flag("label", "label_column", str | None, None, "Label column (name or number); several, comma-separated, for several tasks on one backbone ('digit,speaker').", DATA),
    Flag("val_size", "val_size", float, 0.2, "Validation fraction when there is no val split.", DATA),
    Flag("seed", "seed", int, 0, "Seed for the split, the head and training.", DATA),
    Flag("modality", "modality", str | None, None, "'image', 'text', 'tabular' or 'audio' instead of what is detected.", DATA),
    Flag("label_pattern", "label_pattern", str | None, None, "Image or audio files: labels from their names, e.g. '{digit}_{speaker}_{take}.wav' (the field --label names, else the first).", DATA),
    Flag("clip_seconds", "clip_seconds", float | None, None, "Sound: the clip length in seconds (default: the backbone's, 1 s); a longer file is cut, a shorter one stretched or padded.", DATA),
    Flag("windows", "windows", int | None, None, "Sound: cut each file into up to N consecutive clips of --clip-seconds and average their embeddings (long recordings). Text: read a long text in up to N overlapping windows of the backbone's length, averaged (default 16; 1 truncates).", DATA),
    Flag("encoding", "encoding", str, "onehot", "Tables: categorical columns as 'onehot' or 'ordinal'.", DATA),
    Flag("max_image_pixels", "max_image_pixels", int | None, None, "Skip images with more pixels (0: no limit). Default: TRANSFERKIT_MAX_IMAGE_PIXELS, else 89,478,485.", DATA),
    Flag("backbone", "backbone", str | None, None, "Backbone name (see `transferkit backbones`), timm:NAME or hf:MODEL_ID. Default: efficientnet_lite0 (images), minilm-l6 (text).", BACKBONE),
    Flag("weights", "weights", Path | None, None, "Local weights file (or hf: model folder) instead of a download.", BACKBONE),
    Flag("cut", "cut", str | None, None, "features: keep the groups up to this one (e.g. blocks.5; see rank --layers).", BACKBONE),
    Flag("candidates", "candidates", str | None, None, "--strategy auto: comma-separated backbones to rank (default: the built-ins).", BACKBONE),
    Flag("strategy", "strategy", str, "features", "features, finetune, top:K, gradual, contrastive (text: SetFit-style pairs, then the features head), lora (PEFT adapters), scratch, or auto (rank the candidates and cut points, then pick).", STRATEGY),
    Flag("head", "head", str, "logistic", "features: 'logistic' (C by CV on train), 'linear' or 'mlp'.", STRATEGY),
    Flag("epochs", "train.epochs", int, _D.epochs, "Training epochs.", TRAINING),
    Flag("lr", "train.lr", float, _D.lr, "Learning rate of the head; backbone groups get less.", TRAINING),
    Flag("lr_decay", "train.lr_decay", float, _D.lr_decay, "Rate factor per group down from the top.", TRAINING),
    Flag("lr_low", "train.lr_low", float | None, None, "Rate of the lowest group (rates spread up to --lr), as slice(lo, hi).", TRAINING),
    Flag("optimizer", "train.optimizer", str, _D.optimizer, "adamw, adam, sgd (Nesterov momentum) or rmsprop.", TRAINING),
    Flag("schedule", "train.schedule", str, _D.schedule, "cosine, onecycle, step, exponential or none.", TRAINING),
    Flag("warmup", "train.warmup_epochs", float, _D.warmup_epochs, "Linear warm-up, in epochs.", TRAINING),
    Flag("momentum", "train.momentum", float, _D.momentum, "sgd / rmsprop momentum.", TRAINING),
    Flag("nesterov", "train.nesterov", bool, _D.nesterov, "Nesterov momentum for sgd.", TRAINING, ("--nesterov/--no-nesterov",)),
    Flag("step_size", "train.step_size", int, _D.step_size, "step schedule: epochs between rate drops.", TRAINING),
    Flag("gamma", "train.gamma", float, _D.gamma, "step / exponential schedule: rate factor.", TRAINING),
    Flag("weight_decay", "train.weight_decay", float, _D.weight_decay, "Weight decay.", TRAINING),
    Flag("dropout", "train.dropout", float, _D.dropout, "Dropout before the head.", TRAINING),
    Flag("label_smoothing", "train.label_smoothing", float, _D.label_smoothing, "Label smoothing of the loss.", TRAINING),
    Flag("task_weights", "train.task_weights", str, _D.task_weights, "Several tasks (--label a,b): 'equal' loss weights, or 'uncertainty' (learned, Kendall et al. 2018).", TRAINING),
    Flag("grad_clip", "train.grad_clip", float | None, _D.grad_clip, "Clip gradients to this norm.", TRAINING),
    Flag("patience", "train.patience", int | None, None, "Early stopping after this many epochs without improvement.", TRAINING),
    Flag("monitor", "train.monitor", str, _D.monitor, "Best epoch and early stopping by val_accuracy or val_loss.", TRAINING),
    Flag("no_augment", "train.augment", bool, False, "No training augmentation.", TRAINING, ("--no-augment",), True),
    Flag("crop_scale_min", "train.crop_scale_min", float, _D.crop_scale_min, "Smallest area fraction of a random resized crop.", TRAINING),
    Flag("color_jitter", "train.color_jitter", float, _D.color_jitter, "Colour jitter strength (0: none).", TRAINING),
    Flag("randaugment", "train.randaugment", str | None, None, "Add RandAugment to image training, e.g. 'rand-m9-mstd0.5'.", TRAINING),
    Flag("batchnorm", "train.batchnorm", str, _D.batchnorm, "'frozen': BatchNorm keeps its statistics (small data); 'trainable': unfrozen groups update them; 'all'.", TRAINING),
    Flag("head_init", "train.head_init", str, _D.head_init, "'probe': start from the features strategy's head; 'random'.", TRAINING),
    Flag("head_epochs", "train.head_epochs", int, _D.head_epochs, "gradual: epochs of the head alone.", TRAINING),
    Flag("unfreeze_every", "train.unfreeze_every", int, _D.unfreeze_every, "gradual: epochs between unfreezing groups.", TRAINING),
    Flag("no_prefix_cache", "train.prefix_cache", bool, False, "top:K: run the frozen prefix every epoch.", TRAINING, ("--no-prefix-cache",), True),
    Flag("cached_views", "train.cached_views", int, _D.cached_views, "top:K: augmented views of each image whose prefix is cached.", TRAINING),
    Flag("pairs", "train.pairs", int | None, None, "contrastive: pairs of training rows (default: 40 per row, 640 to 8,000).", TRAINING),
    Flag("pair_loss", "train.pair_loss", str, _D.pair_loss, "contrastive: 'cosine' (SetFit's), 'cosent' or 'contrastive' (sentence-transformers losses).", TRAINING),
    Flag("pair_epochs", "train.pair_epochs", int, _D.pair_epochs, "contrastive: epochs over the pairs.", TRAINING),
    Flag("body_lr", "train.body_lr", float, _D.body_lr, "contrastive: the encoder's learning rate (AdamW).", TRAINING),
    Flag("encoders", "train.encoders", int, _D.encoders, "contrastive: tune this many encoders on different pairs and average their weights.", TRAINING),
    Flag("lora_r", "train.lora_r", int, _D.lora_r, "lora: the adapters' rank.", TRAINING),
    Flag("lora_alpha", "train.lora_alpha", float, _D.lora_alpha, "lora: the adapters' alpha (scale alpha / r).", TRAINING),
    Flag("lora_dropout", "train.lora_dropout", float, _D.lora_dropout, "lora: dropout on the adapters' input.", TRAINING),
    Flag("lora_targets", "train.lora_targets", str | None, None, "lora: comma-separated layer names to adapt (default per architecture: query,value for BERT-like models, qkv for ViTs, pointwise convolutions for CNNs).", TRAINING),
    Flag("threshold", "threshold", str | None, None, "Binary tasks: tune the decision threshold: f1, recall=R or precision=P.", IMBALANCE),
    Flag("balance", "balance", str, "none", "none, class-weight, oversample, undersample, smote, adasyn (features); class-weight, sampler, focal (trained).", IMBALANCE),
    Flag("class_weight", "class_weight", str | None, None, "Class weights by name, e.g. 'spam=5,ham=1' (default: balanced).", IMBALANCE),
    Flag("cv", "cv", int | None, None, "features: also report stratified K-fold CV over train + val.", EVALUATION),
    Flag("baseline", "baseline", str | None, None, "'raw': logistic regression on the raw inputs (seconds); 'scratch': the network from random weights, same budget.", EVALUATION),
    Flag("group", "group", str | None, None, "Per-group audit: every metric per group of this column, file-name field (--label-pattern) or folder level ('folder', 'folder:2'), the worst group and the largest gap.", EVALUATION),
    Flag("out", "out", Path | None, None, "Run folder. Default: a new folder under runs/.", OUTPUTS),
    Flag("overwrite", "overwrite", bool, False, "Allow writing into an existing non-empty --out.", OUTPUTS, ("--overwrite",)),
    Flag("track", "track", str | None, None, "Log the run to 'mlflow' or 'tensorboard' when it ends.", OUTPUTS),
    Flag("track_uri", "track_uri", str | None, None, "MLflow tracking URI or TensorBoard folder.", OUTPUTS),
    Flag("quiet", "quiet", bool, False, "No progress bars.", OUTPUTS, ("--quiet", "-q")),
    Flag("device", "device", str, "cpu", "torch device: cpu, cuda or cuda:N.", PERFORMANCE),
    Flag("batch_size", "batch_size", int | None, None, "Batch size.", PERFORMANCE),
    Flag("workers", "num_workers", int, 0, "Data-loading worker processes.", PERFORMANCE),
    Flag("cache_dir", "cache_dir", Path | None, None, "Feature cache folder.", PERFORMANCE),
    Flag("no_cache", "use_cache", bool, False, "Don't read or write the cache.", PERFORMANCE, ("--no-cache",), True),
    Flag("devices", "train.devices", int, 1, "Processes / GPUs to train on (trained strategies).", PERFORMANCE),
    Flag("ddp", "train.ddp", bool, False, "Train with Lightning's DDP across --devices.", PERFORMANCE, ("--ddp",)),
    Flag("precision", "train.precision", str, _D.precision, "Lightning precision: 32-true, bf16-mixed, 16-mixed.", PERFORMANCE),
]  # fmt: skip

JOB = "Job"


def _parameters() -> list[inspect.Parameter]:
    """`fit`'s signature for Typer: DATA, the job options, then every flag of FLAGS."""
    keyword = inspect.Parameter.KEYWORD_ONLY
    params = [
        inspect.Parameter(
            "data",
            keyword,
            default=None,
            annotation=Annotated[
                Path | None,
                typer.Argument(
                    help="Image folder (class sub-folders, optional train/val/test), a CSV,"
                    " TSV or Parquet file, or a folder of train/val/test files.",
                    show_default=False,
                ),
            ],
        ),
        _job_option("config", Path | None, "A job's config file (TOML, YAML or JSON); flags beside it override it."),
        _job_option("print_config", bool, "Print the resolved config (in --config's format, else TOML) and stop.", "--print-config"),
        _job_option("resume", Path | None, "Continue an interrupted training run from its folder (its config.json)."),
    ]  # fmt: skip
    for flag in FLAGS:
        option = typer.Option(*flag.flags, help=flag.help, rich_help_panel=flag.panel)
        if flag.invert:
            option.show_default = False
        params.append(
            inspect.Parameter(
                flag.name, keyword, default=flag.default, annotation=Annotated[flag.kind, option]
            )
        )
    return params


def _job_option(name: str, kind: Any, text: str, *flags: str) -> inspect.Parameter:
    option = typer.Option(*flags, help=text, rich_help_panel=JOB, show_default=False)
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, default=False if kind is bool else None,
        annotation=Annotated[kind, option],
    )  # fmt: skip


def fit_command(ctx: typer.Context, **values: Any) -> None:
    """Train on DATA with a pretrained backbone and write a run folder."""
    try:
        given = {name for name in values if _given(ctx, name)}
        if values["resume"] is not None:
            _resume(values, given)
            return
        config, kind = _config(values, given)
        if values["print_config"]:
            from transferkit.config import dump_config

            typer.echo(dump_config(config, kind), nl=False)
            return
        if config.data.path is None:
            raise TransferKitError("give the DATA to fit, or --resume RUN to continue a run.")
        from transferkit.jobs._fit import run

        result = run(config)
    except (TransferKitError, OSError) as exc:
        fail(exc)
    typer.echo(result.summary)


def _given(ctx: typer.Context, name: str) -> bool:
    # by name: Typer may bring its own copy of click's ParameterSource
    source = ctx.get_parameter_source(name)
    return source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")


def _config(values: dict[str, Any], given: set[str]) -> tuple[Any, str]:
    """The job's config: the --config file (else the defaults), then the flags given."""
    from transferkit.config import JobConfig, config_format, load_config

    path = values["config"]
    config = load_config(path) if path is not None else JobConfig()
    kind = config_format(path) if path is not None else "toml"
    options: dict[str, Any] = {}
    train: dict[str, Any] = {}
    if "data" in given:
        options["data"] = values["data"]
    for flag in FLAGS:
        if flag.name not in given:
            continue
        value = _value(flag, values[flag.name])
        if flag.target.startswith("train."):
            train[flag.target[6:]] = value
        else:
            options[flag.target] = value
    if train:
        options["train"] = {**config.strategy.train.to_dict(), **train}
    return config.with_options(**options).validate(), kind


def _value(flag: Flag, value: Any) -> Any:
    if flag.invert:
        return not value
    if flag.name in ("candidates", "lora_targets"):
        return [c.strip() for c in value.split(",") if c.strip()] if value else None
    if flag.name == "class_weight" and value:
        from transferkit.heads._balance import parse_class_weights

        return parse_class_weights(value)
    return value


def _resume(values: dict[str, Any], given: set[str]) -> None:
    """--resume reads the config from the run folder; only --quiet may be given beside."""
    extra = sorted(given - {"resume", "quiet"})
    if extra:
        raise TransferKitError(
            f"--resume continues a run with its own config: drop --{extra[0].replace('_', '-')}."
        )
    from transferkit.jobs._resume import resume

    typer.echo(resume(values["resume"], quiet=values["quiet"]).summary)


fit_command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context),
        *_parameters(),
    ]
)
fit_command.__annotations__ = {
    p.name: p.annotation for p in fit_command.__signature__.parameters.values()
}  # type: ignore[attr-defined]
app.command("fit")(fit_command)
