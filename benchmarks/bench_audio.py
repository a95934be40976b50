"""Sound on FSDD (`../shared/datasets/fsdd`: 3,000 spoken digits, 6 speakers, 8 kHz), with
the official split: takes 0-4 test, 5-49 train (val drawn from train, stratified, seed 0).
The folders below are links to the recordings, labels from the file names
(`--label-pattern '{digit}_{speaker}_{take}.wav'`), as a user would lay them out.

- `digits`: `features` test accuracy with each audio backbone (spectrogram CNN at its
  output and at two cut points, CREPE tiny), their LogME from `rank`, and Kendall's tau
  between LogME and accuracy. The hand-made route (spectrogram PNGs, then `fit` on the
  images) reached 0.857; bar 0.92.
- `trained`: a trained strategy (`STRATEGY`, default top:1 under `CUT`, default blocks.4,
  with SpecAugment, 8 epochs); bar 0.97. top:2 and top:3 of the whole network (`CUT=`)
  reached 0.917 and 0.907 (below `features`' 0.940 at the output).
- `speakers`: the six speakers, `features`; bar 0.98.
- `multitask`: digit + speaker in one run (`--label digit,speaker`) against one run per
  task, same `STRATEGY` and budget, each from a cold cache: wall time (bar 0.6x the two)
  and each task's test accuracy (bar: within 1 point of its single-task run or better).
- `loso`: leave one speaker out (train on five, test on the sixth, all six): digit
  accuracy of `features` at `blocks.5` (2,688 features: the feature methods' covariances
  stay small), then of `adapt --method auto` with the held-out speaker as the unlabelled
  target (its labels read only to evaluate).
- `throughput`: clips per second of `fit`'s feature extraction (cold cache) against one
  plain loop of the same work (decode, front end, CNN) over the same clips.

Run: python benchmarks/bench_audio.py [digits|trained|speakers|multitask|loso|throughput ...]
(STRATEGY=features|top:K, EPOCHS=N, TRAIN='{json settings}' and CUT=GROUP set `trained`
and `multitask`.)
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

import transferkit

from _common import dataset, fresh_dir

PATTERN = "{digit}_{speaker}_{take}.wav"
WORK = Path(fresh_dir("audio"))
CACHE = WORK / "cache"
RECORDINGS = dataset("fsdd") / "recordings"


def official_split() -> Path:
    """train/ and test/ folders of links: takes 0-4 test, 5-49 train."""
    root = WORK / "fsdd"
    for wav in sorted(RECORDINGS.glob("*.wav")):
        take = int(wav.stem.split("_")[2])
        link = root / ("test" if take < 5 else "train") / wav.name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(wav)
    return root


def fit(data: Path, name: str, **options) -> dict:
    start = time.perf_counter()
    result = transferkit.fit(
        data, label_pattern=PATTERN, out=WORK / "runs" / name, quiet=True,
        cache_dir=str(CACHE), seed=0, **options,
    )  # fmt: skip
    m = result.metrics
    row = {"run": name, "accuracy": round(m["accuracy"], 4), "on": m["evaluated_on"]}
    row["seconds"] = round(time.perf_counter() - start, 1)
    print(row, flush=True)
    return row


def digits() -> None:
    from scipy.stats import kendalltau

    from transferkit.selection._rank import rank

    data = official_split()
    candidates = {
        "spectrogram:efficientnet_lite0": {},
        "spectrogram:efficientnet_lite0 @ blocks.5": {"cut": "blocks.5"},
        "spectrogram:efficientnet_lite0 @ blocks.4": {"cut": "blocks.4"},
        "crepe-tiny": {"backbone": "crepe-tiny"},
    }
    accuracy = {
        name: fit(data, f"digits-{i}", label_column="digit", **options)["accuracy"]
        for i, (name, options) in enumerate(candidates.items())
    }
    ranked = rank(
        data, ["spectrogram:efficientnet_lite0", "crepe-tiny"], layers=True,
        label_column="digit", label_pattern=PATTERN, cache_dir=CACHE, out=WORK / "rank",
    )  # fmt: skip
    logme = {c.name: c.scores["logme"] for c in ranked.ranked if c.name in accuracy}
    names = sorted(logme)
    tau = kendalltau([logme[n] for n in names], [accuracy[n] for n in names]).statistic
    for n in names:
        print(f"digits: {n:45s} LogME {logme[n]:+.4f}  features test accuracy {accuracy[n]:.4f}")
    best = max(accuracy.values())
    print(f"digits: best features {best:.4f} (bar 0.92: {'met' if best >= 0.92 else 'NOT met'})")
    print(f"digits: Kendall's tau, LogME vs accuracy, {len(names)} candidates: {tau:+.3f}")


def trained() -> None:
    """STRATEGY (default top:1) under CUT (default blocks.4; empty: the whole network)
    with SpecAugment, EPOCHS (default 8) epochs."""
    strategy = os.environ.get("STRATEGY", "top:1")
    train = {"epochs": int(os.environ.get("EPOCHS", "8")), "cached_views": 4}
    train.update(json.loads(os.environ.get("TRAIN", "{}")))  # e.g. '{"lr": 0.03}'
    cut = os.environ.get("CUT", "blocks.4")  # top:K trains the K groups below it
    name = f"digits-{strategy.replace(':', '')}" + (f"-{cut}" if cut else "")
    row = fit(official_split(), name, label_column="digit", strategy=strategy, train=train,
              **({"cut": cut} if cut else {}))  # fmt: skip
    print(f"trained: {strategy} {train} cut {cut} test accuracy {row['accuracy']:.4f} (bar 0.97:"
          f" {'met' if row['accuracy'] >= 0.97 else 'NOT met'}), {row['seconds']} s")  # fmt: skip


def multitask() -> None:
    """digit + speaker in one run against one run per task, same STRATEGY (default top:1
    under CUT, default blocks.4) and budget (EPOCHS, default 4), each run from a cold cache
    (a shared cache would hand the later runs the first one's embeddings or prefix
    outputs)."""
    strategy = os.environ.get("STRATEGY", "top:1")
    train = {"epochs": int(os.environ.get("EPOCHS", "4")), "cached_views": 4}
    train.update(json.loads(os.environ.get("TRAIN", "{}")))
    data = official_split()
    seconds, accuracy = {}, {}
    for name, label in (("multi", "digit,speaker"), ("digit", "digit"), ("speaker", "speaker")):
        start = time.perf_counter()
        cut = os.environ.get("CUT", "blocks.4")
        result = transferkit.fit(
            data, label_pattern=PATTERN, label_column=label, strategy=strategy,
            train=train if strategy != "features" else None, seed=0, quiet=True,
            out=WORK / "runs" / f"multitask-{name}", cache_dir=str(WORK / f"cache-{name}"),
            **({"cut": cut} if cut else {}),
        )  # fmt: skip
        seconds[name] = time.perf_counter() - start
        if name == "multi":
            for task, m in result.metrics["tasks"].items():
                accuracy[f"multi-{task}"] = m["accuracy"]
        else:
            accuracy[name] = result.metrics["accuracy"]
        print(f"multitask: {name} {seconds[name]:.1f} s, {accuracy}", flush=True)
    ratio = seconds["multi"] / (seconds["digit"] + seconds["speaker"])
    gaps = {t: 100 * (accuracy[f"multi-{t}"] - accuracy[t]) for t in ("digit", "speaker")}
    print(f"multitask ({strategy}): {seconds['multi']:.1f} s vs {seconds['digit']:.1f} +"
          f" {seconds['speaker']:.1f} s: {ratio:.2f}x the two (bar 0.6x:"
          f" {'met' if ratio <= 0.6 else 'NOT met'}); digit {accuracy['multi-digit']:.4f} vs"
          f" {accuracy['digit']:.4f} ({gaps['digit']:+.1f} points), speaker"
          f" {accuracy['multi-speaker']:.4f} vs {accuracy['speaker']:.4f}"
          f" ({gaps['speaker']:+.1f}) (bar: each within 1 point or better:"
          f" {'met' if min(gaps.values()) >= -1 else 'NOT met'})")  # fmt: skip


def speakers() -> None:
    row = fit(official_split(), "speakers", label_column="speaker")
    print(f"speakers: features test accuracy {row['accuracy']:.4f} (bar 0.98:"
          f" {'met' if row['accuracy'] >= 0.98 else 'NOT met'})")  # fmt: skip


def loso() -> None:
    files = sorted(RECORDINGS.glob("*.wav"))
    names = sorted({f.stem.split("_")[1] for f in files})
    plain, adapted = [], []
    for held in names:
        root = WORK / f"loso-{held}"
        for wav in files:
            folder = root / ("target" if wav.stem.split("_")[1] == held else "source")
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / wav.name).exists():
                (folder / wav.name).symlink_to(wav)
        # features: trained on five speakers, evaluated on the sixth by `adapt`'s report
        result = transferkit.adapt(
            root / "source", root / "target", method="auto", target_labels=True,
            label_pattern=PATTERN, label_column="digit", quiet=True, cache_dir=str(CACHE),
            out=WORK / "runs" / f"loso-{held}", cut="blocks.5",
        )  # fmt: skip
        m = result.metrics
        source_only = m["target_accuracy_by_method"]["source-only"]
        plain.append(source_only)
        adapted.append(m["accuracy"])
        oracle = m["oracle"]
        print(f"loso: {held:10s} features {source_only:.4f}  adapt"
              f" ({m['adaptation']['method']}) {m['accuracy']:.4f}"
              f"  oracle {oracle['method']} {oracle['accuracy']:.4f}", flush=True)  # fmt: skip
    p, a = np.array(plain), np.array(adapted)
    print(f"loso: features mean {p.mean():.4f}, worst {p.min():.4f}; adapt mean {a.mean():.4f},"
          f" worst {a.min():.4f}; gain {100 * (a - p).mean():+.2f} points")  # fmt: skip


def throughput() -> None:
    import torch

    from transferkit.backbones import create_backbone
    from transferkit.data._audio import decode_audio, fixed_length
    from transferkit.features._cache import FeatureCache
    from transferkit.features._extract import extract_features

    files = [str(f) for f in sorted(RECORDINGS.glob("*.wav"))[:600]]
    backbone = create_backbone("spectrogram:efficientnet_lite0").for_inference()
    backbone.model  # noqa: B018  (built before timing)
    start = time.perf_counter()
    extract_features(backbone, files, FeatureCache(WORK / "cold"), batch_size=32)
    pipeline = time.perf_counter() - start

    settings = backbone.audio_settings()
    n = int(settings["sample_rate"] * settings["seconds"])
    model, front = backbone.model, backbone.front
    start = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(files), 32):
            pictures = []
            for f in files[i : i + 32]:
                wave = decode_audio(f, settings["sample_rate"])[:n]
                x = torch.from_numpy(fixed_length(wave, max(len(wave), 1024)))
                pictures.append(front(x[None])[0])
            x = torch.stack(pictures).contiguous(memory_format=torch.channels_last)
            model.forward_features(x).mean(dim=3)
    plain = time.perf_counter() - start
    print(f"throughput: {len(files)} clips; fit's extraction {len(files) / pipeline:.1f} clips/s,"
          f" the plain loop {len(files) / plain:.1f} clips/s: {pipeline / plain:.2f}x its time"
          f" (bar 1.3x)")  # fmt: skip


if __name__ == "__main__":
    runs = {
        "digits": digits,
        "trained": trained,
        "speakers": speakers,
        "multitask": multitask,
        "loso": loso,
        "throughput": throughput,
    }
    for name in sys.argv[1:] or list(runs):
        runs[name]()
