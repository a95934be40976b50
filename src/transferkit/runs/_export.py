"""Export a finished run (backbone + head + softmax) to ONNX or TorchScript, and predict with
the ONNX file through ONNX Runtime.

`export(run, "onnx")` writes `RUN/export/model.onnx` (one file: `dynamo` exporter, opset
from torch, dynamic batch axis, and dynamic sequence axis for text) and
`RUN/export/model.json`, the sidecar that says what goes in and what comes out: input
names, shapes and dtypes, the preprocessing (image size, crop, interpolation, mean and
std; for text the tokenizer, saved beside the model in `tokenizer/`, and its maximum
length), the class names and a tuned threshold. Every export is checked before it is
kept: the exported model and the PyTorch model run on real inputs of the run (its
evaluated samples) and must agree within 1e-4 on every probability.

`OnnxPredictor` reads only the export folder: preprocessing from the sidecar (timm's
transform for images, the saved tokenizer for texts), inference through ONNX Runtime.
"""

from __future__ import annotations

import csv
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._errors import TransferKitError, choice_error
from transferkit.runs._folder import inside, output_path, record

FORMATS = {"onnx": "model.onnx", "torchscript": "model.torchscript.pt"}
TOLERANCE = 1e-4
CHECK_SAMPLES = 16


class Deployable(nn.Module):
    """Backbone features -> head -> softmax, as one module with tensor inputs only."""

    def __init__(self, backbone: Any, head: nn.Module) -> None:
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(self.backbone.forward_features(pixels)), dim=1)


class TextDeployable(Deployable):
    """Windows in (a long text is several rows), texts out: `window_weights` (texts x
    windows) averages each text's windows."""

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, window_weights: torch.Tensor
    ) -> torch.Tensor:
        inputs = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "window_weights": window_weights,
        }
        return torch.softmax(self.head(self.backbone.forward_features(inputs)), dim=1)


@dataclass
class ExportResult:
    path: Path
    sidecar: Path
    max_abs_diff: float
    n_checked: int


def export(run: str | Path, format: str = "onnx", *, overwrite: bool = False) -> ExportResult:
    """Write `RUN/export/` for `format` ('onnx' or 'torchscript'), checked on real inputs."""
    from transferkit.runs._run import Predictor

    if format not in FORMATS:
        raise choice_error("format", format, list(FORMATS))
    if format == "onnx":
        from transferkit._extras import require

        for module in ("onnx", "onnxscript", "onnxruntime"):  # the exporter and its check
            require(module, "export --format onnx")
    predictor = Predictor(run)
    modality = predictor.config["backbone"]["modality"]
    spectrogram = str(predictor.config["backbone"]["spec"]).startswith("spectrogram:")
    if modality not in ("image", "text") and not (modality == "audio" and spectrogram):
        why = {
            "tabular": "whose column encoding runs in Python",
            "audio": "and only the spectrogram backbones' runs are exported",
        }.get(modality, "")
        raise TransferKitError(
            f"export covers image, text and spectrogram runs; {str(run)!r} is a {modality}"
            f" run, {why}: use `transferkit predict` for it."
        )
    audio_windows = predictor.config["backbone"].get("preprocessing", {}).get("windows", 1)
    if modality == "audio" and int(audio_windows) > 1:
        raise TransferKitError(
            f"{str(run)!r} averages several windows per file, which export does not cover:"
            " use `transferkit predict` for it."
        )
    if predictor.tasks:
        raise TransferKitError(
            f"{str(run)!r} is a multi-task run, which export does not cover yet: use"
            " `transferkit predict` for it."
        )
    run_dir = predictor.run_dir
    target = inside(run_dir, f"export/{FORMATS[format]}")
    if target.exists() and not overwrite:
        raise TransferKitError(f"{str(target)!r} already exists: pass --overwrite to replace it.")
    target = output_path(run_dir, f"export/{FORMATS[format]}")
    backbone = predictor.backbone
    backbone.model.eval()  # built now: the weights load outside the exporter's trace
    kind = TextDeployable if modality == "text" else Deployable
    module = kind(backbone, predictor.head).eval()
    samples = _real_inputs(predictor, backbone)
    example = _tensors(backbone, (samples * 2)[:2])  # two rows: the batch axis stays dynamic
    if modality == "text":  # and a text of two windows: the windows axis stays its own
        example = _tensors(backbone, [samples[0], "word " * 2 * backbone.config.max_length])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exporter notices (deprecations, shape hints)
        if format == "onnx":
            _to_onnx(module, example, target, modality)
        else:
            with torch.no_grad():
                torch.jit.trace(module, example, strict=False).save(str(target))
    diff = _check(module, target, format, _tensors(backbone, samples))
    record(run_dir, f"export/{FORMATS[format]}")
    if modality == "text":
        _save_tokenizer(backbone.tokenizer, run_dir)
    sidecar = _write_sidecar(predictor, backbone, target, format, diff, len(samples))
    return ExportResult(target, sidecar, diff, len(samples))


def _save_tokenizer(tokenizer: Any, run_dir: Path) -> None:
    """The tokenizer into `export/tokenizer/`, file by file through checked paths (written
    to a private folder first: `save_pretrained` would follow a link it met)."""
    import shutil
    import tempfile

    staging = Path(tempfile.mkdtemp(dir=inside(run_dir, "export"), prefix=".tokenizer-"))
    try:
        tokenizer.save_pretrained(str(staging))
        for file in sorted(p for p in staging.rglob("*") if p.is_file()):
            name = f"export/tokenizer/{file.relative_to(staging).as_posix()}"
            os.replace(file, output_path(run_dir, name))
            record(run_dir, name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _data_images(run_dir: Path, refs: list[str]) -> list[str]:
    """The images a run's predictions name that lie in the data folder it was fitted on
    (config.json): a path in a run folder's files never opens a file from elsewhere."""
    from transferkit.runs._files import read_run_json, settings_of
    from transferkit.runs._write import resolve_ref

    data = settings_of(read_run_json(run_dir, "config.json")).get("data")
    if not data:
        return []
    root = Path(data).resolve()
    found = [resolve_ref(ref, run_dir).resolve() for ref in refs]
    return [str(p) for p in found if p.is_file() and p.is_relative_to(root)]


def _to_onnx(module: nn.Module, example: tuple[torch.Tensor, ...], target: Path, modality: str):
    batch = torch.export.Dim("batch", min=1, max=4096)
    if modality == "text":
        seq = torch.export.Dim("seq", min=1, max=4096)
        windows = torch.export.Dim("windows", min=1, max=65536)
        names = ["input_ids", "attention_mask", "window_weights"]
        shapes: Any = {
            "input_ids": {0: windows, 1: seq},
            "attention_mask": {0: windows, 1: seq},
            "window_weights": {0: batch, 1: windows},
        }
    else:
        names = ["spectrogram" if modality == "audio" else "pixels"]
        shapes = ({0: batch},)  # by position: the forward's argument is named `pixels`
    torch.onnx.export(
        module,
        example,
        str(target),
        dynamo=True,
        external_data=False,
        input_names=names,
        output_names=["probabilities"],
        dynamic_shapes=shapes,
        verbose=False,
    )


def _real_inputs(predictor: Any, backbone: Any) -> list[str]:
    """Up to 16 readable inputs the run evaluated (from its predictions file)."""
    items: list[str] = []
    for name in ("predictions_val.csv", "predictions_test.csv"):
        path = inside(predictor.run_dir, name)
        if not path.is_file():
            continue
        try:
            with open(path, newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    items.append(row.get("text") if backbone.modality == "text" else row["input"])
        except (UnicodeDecodeError, csv.Error, KeyError) as exc:
            raise TransferKitError(f"{str(path)!r} is damaged ({exc}): restore it.") from exc
    items = [i for i in items if i]
    if backbone.modality in ("image", "audio"):
        items = _data_images(predictor.run_dir, items)
    if not items:
        raise TransferKitError(
            f"no input of {str(predictor.run_dir)!r} is readable to check the export against:"
            " the run's predictions_*.csv lists none (were its images moved?)."
        )
    step = max(1, len(items) // CHECK_SAMPLES)
    return items[::step][:CHECK_SAMPLES]


def _tensors(backbone: Any, items: list[str]) -> tuple[torch.Tensor, ...]:
    inputs = []
    for batch in backbone.batches(items, len(items)):
        inputs.append(batch.inputs)
    first = inputs[0]
    if backbone.modality == "text":
        return (first["input_ids"], first["attention_mask"], first["window_weights"])
    return (first,)


def _check(module: nn.Module, target: Path, format: str, inputs: tuple[torch.Tensor, ...]) -> float:
    with torch.inference_mode():
        expected = module(*inputs).numpy()
    if format == "onnx":
        session = _session(target)
        names = [i.name for i in session.get_inputs()]
        got = session.run(None, {n: t.numpy() for n, t in zip(names, inputs, strict=True)})[0]
    else:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "switch to torch.export"
            got = torch.jit.load(str(target))(*inputs).numpy()
    diff = float(np.abs(got - expected).max())
    if not diff <= TOLERANCE:
        target.unlink(missing_ok=True)
        Path(str(target) + ".json").unlink(missing_ok=True)  # no sidecar without its model
        raise TransferKitError(
            f"the {format} export differs from the PyTorch model by {diff:.2e} on a probability"
            f" (tolerance {TOLERANCE}); it was not kept."
        )
    return diff


def _write_sidecar(
    predictor: Any,
    backbone: Any,
    target: Path,
    format: str,
    diff: float,
    n_checked: int,
) -> Path:
    from transferkit import __version__
    from transferkit.runs._write import write_json

    config = predictor.config
    k = len(predictor.class_names)
    if backbone.modality == "text":
        inputs = [
            {"name": "input_ids", "dtype": "int64", "shape": ["windows", "seq"]},
            {"name": "attention_mask", "dtype": "int64", "shape": ["windows", "seq"]},
            {"name": "window_weights", "dtype": "float32", "shape": ["batch", "windows"]},
        ]
        steps = (
            "tokenize with the tokenizer in tokenizer/ (transformers AutoTokenizer) without"
            " special tokens; a text longer than max_length less the special tokens is cut"
            " into overlapping windows (window_overlap of a window shared, at most `windows`"
            " per text), each window gets the special tokens; pad to the longest window;"
            " window_weights[text, window] is 1 / (the text's windows) for each of its"
            " windows (transferkit.backbones._windows.encode_windows does exactly this)"
        )
    elif backbone.modality == "audio":
        size = backbone.config.input_size
        inputs = [{"name": "spectrogram", "dtype": "float32", "shape": ["batch", 3, size, size]}]
        steps = (
            "decode (soundfile), mix down to mono, resample to sample_rate (torchaudio);"
            " keep the first `seconds`; mel power spectrogram (torchaudio MelSpectrogram:"
            " n_fft, win_length, hop_length, n_mels, f_min, f_max, power 2); 10*log10 floored"
            " at 1e-10 and at top_db below the clip's peak; standardise per clip; flip the"
            " frequency axis (low at the bottom); bilinear resize to input_size x input_size;"
            " three equal channels. The ONNX predictor runs exactly this (transferkit's"
            " LogMel on the settings here): a clip's own length decides its spectrogram's"
            " stretch, so the front end stays outside the batched model"
        )
    else:
        size = backbone.config.input_size
        inputs = [{"name": "pixels", "dtype": "float32", "shape": ["batch", 3, size, size]}]
        steps = (
            "RGB; resize the shorter side to input_size / crop_pct (interpolation);"
            " centre crop input_size; scale to [0, 1]; subtract mean, divide by std; CHW"
        )
    return write_json(
        predictor.run_dir,
        f"export/{target.name}.json",
        {
            "format": format,
            "file": target.name,
            "transferkit_version": __version__,
            "run": str(predictor.run_dir.resolve()),
            "backbone": config["backbone"]["spec"],
            "weights_digest": config["backbone"]["weights_digest"],
            "modality": backbone.modality,
            "strategy": config.get("strategy"),
            "class_names": predictor.class_names,
            "threshold": config.get("threshold"),
            "inputs": inputs,
            "outputs": [{"name": "probabilities", "dtype": "float32", "shape": ["batch", k]}],
            "preprocessing": {**backbone.preprocessing(), "steps": steps},
            "tokenizer": "tokenizer" if backbone.modality == "text" else None,
            "checked": {"inputs": n_checked, "max_abs_diff": diff, "tolerance": TOLERANCE},
        },
    )


def _check_current(run: Path, sidecar: dict[str, Any]) -> None:
    """The export must be of the model now in the run folder (a refit with --overwrite
    replaces the model; an old export must not answer for it)."""
    from transferkit.runs._files import read_run_json
    from transferkit.runs._run import check_model_config

    path = inside(run, "model/model.json")
    if not path.is_file():
        return
    saved = check_model_config(read_run_json(run, "model/model.json"), path)
    same = saved["class_names"] == sidecar["class_names"] and saved["backbone"].get(
        "weights_digest"
    ) == sidecar.get("weights_digest", saved["backbone"].get("weights_digest"))
    if not same:
        raise TransferKitError(
            f"{str(run / 'export')!r} holds the export of an earlier model of this run folder:"
            f" run `transferkit export {run} --format onnx --overwrite`."
        )


def _session(path: Path) -> Any:
    from transferkit._extras import require

    ort = require("onnxruntime", "the ONNX predictor")

    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own types for a missing or bad model
        first = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise TransferKitError(
            f"{str(path)!r} cannot be loaded by ONNX Runtime ({first}): rerun `transferkit"
            " export RUN --format onnx --overwrite`."
        ) from exc


class OnnxPredictor:
    """Predict with `RUN/export/model.onnx` and its sidecar, through ONNX Runtime."""

    def __init__(self, run: str | Path) -> None:
        from transferkit.runs._files import read_run_json

        folder = inside(run, "export")
        if not inside(run, "export/model.onnx.json").is_file():
            raise TransferKitError(
                f"{str(run)!r} has no ONNX export: run `transferkit export {run} --format onnx`."
            )
        self.folder = folder
        self.config = read_run_json(run, "export/model.onnx.json")
        names, modality, file = (self.config.get(k) for k in ("class_names", "modality", "file"))
        if not (
            isinstance(names, list)
            and all(isinstance(n, str) for n in names)
            and modality in ("image", "text", "audio")
            and isinstance(file, str)
            and isinstance(self.config.get("preprocessing"), dict)
        ):
            raise TransferKitError(
                f"{str(folder / 'model.onnx.json')!r} is damaged (class_names, modality, file or"
                f" preprocessing): rerun `transferkit export {run} --format onnx --overwrite`."
            )
        _check_current(Path(run), self.config)
        self.class_names: list[str] = names
        self.modality: str = modality
        self.session = _session(inside(folder, file, "file in model.onnx.json"))
        readers = {"text": self._text_encoder, "audio": self._sound_reader}
        self._prepare = readers.get(self.modality, self._image_reader)()

    def _image_reader(self) -> Any:
        import timm.data

        from transferkit.backbones._vision import open_image

        p = self.config["preprocessing"]
        transform = timm.data.create_transform(
            input_size=(3, p["input_size"], p["input_size"]),
            interpolation=p["interpolation"],
            mean=tuple(p["mean"]),
            std=tuple(p["std"]),
            crop_pct=p["crop_pct"],
            is_training=False,
        )
        draft = int(p["input_size"] / (p["crop_pct"] or 1.0))

        def read(items: list[str]) -> tuple[list[int], dict[str, np.ndarray], dict[int, str]]:
            arrays, ok, errors = [], [], {}
            for i, item in enumerate(items):
                try:
                    arrays.append(transform(open_image(item, draft)).numpy())
                    ok.append(i)
                except Exception as exc:  # any decoding failure is an error row, not a crash
                    errors[i] = (
                        getattr(exc, "reason", None)
                        or (f"unreadable image ({type(exc).__name__}: {exc})"[:200])
                    )
            inputs = {"pixels": np.stack(arrays)} if arrays else {}
            return ok, inputs, errors

        return read

    def _sound_reader(self) -> Any:
        """The spectrogram front end the sidecar describes, on each file."""
        from transferkit.backbones._audio import FRONT_END, ClipTransform, LogMel

        p = self.config["preprocessing"]
        missing = [k for k in (*FRONT_END, "input_size") if k not in p]
        if missing:
            raise TransferKitError(
                f"{str(self.folder / 'model.onnx.json')!r} lacks the front end's {missing[0]!r}:"
                f" rerun `transferkit export {self.folder.parent} --format onnx --overwrite`."
            )
        settings = {k: p[k] for k in FRONT_END}
        transform = ClipTransform(settings, LogMel(settings, int(p["input_size"])), train=False)

        def read(items: list[str]) -> tuple[list[int], dict[str, np.ndarray], dict[int, str]]:
            arrays, ok, errors = [], [], {}
            for i, item in enumerate(items):
                try:
                    with torch.inference_mode():
                        arrays.append(transform(str(item)).numpy())
                    ok.append(i)
                except Exception as exc:  # any decoding failure is an error row, not a crash
                    errors[i] = (
                        getattr(exc, "reason", None)
                        or (f"unreadable audio ({type(exc).__name__}: {exc})"[:200])
                    )
            return ok, ({"spectrogram": np.stack(arrays)} if arrays else {}), errors

        return read

    def _text_encoder(self) -> Any:
        from transformers import AutoTokenizer

        where = inside(self.folder, str(self.config.get("tokenizer")), "tokenizer in the sidecar")
        redo = f"rerun `transferkit export {self.folder.parent} --format onnx --overwrite`"
        if not where.is_dir() or not any(where.iterdir()):
            raise TransferKitError(
                f"the export's tokenizer {str(where)!r} is missing or empty: {redo}."
            )
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(where), local_files_only=True)
        except (OSError, ValueError, TypeError) as exc:
            raise TransferKitError(
                f"the export's tokenizer {str(where)!r} cannot be loaded ({type(exc).__name__}):"
                f" {redo}."
            ) from exc
        max_length = self.config["preprocessing"]["max_length"]

        preprocessing = self.config["preprocessing"]
        windows = int(preprocessing.get("windows", 1))

        def read(items: list[str]) -> tuple[list[int], dict[str, np.ndarray], dict[int, str]]:
            from transferkit.backbones._windows import encode_windows

            texts = [str(t) for t in items]
            inputs = encode_windows(tokenizer, texts, max_length, windows)
            return list(range(len(items))), inputs, {}

        return read

    def predict_rows(self, items: list[str]) -> tuple[np.ndarray, dict[int, str]]:
        """(probabilities, errors) for one batch; unreadable inputs get NaN and a reason."""
        proba = np.full((len(items), len(self.class_names)), np.nan)
        ok, inputs, errors = self._prepare(items)
        if ok:
            proba[ok] = self.session.run(None, inputs)[0]
        return proba, errors
