"""ONNX export: agreement with PyTorch, and ONNX Runtime vs PyTorch throughput, side by side.

For each data set: a `features` run (default backbone), `transferkit export --format
onnx`, then every validation input goes through both engines:
- agreement: the largest absolute difference of any class probability;
- throughput, end to end (decode/tokenize + model, batches of 64, no feature cache): the
  PyTorch predictor vs `OnnxPredictor` (preprocessing from the sidecar, ONNX Runtime);
- throughput, model only (the same ready tensors, batches of 64): the PyTorch module that
  was exported vs the ONNX Runtime session.
Each timing is the best of 3 passes, inputs per second. PyTorch and ONNX Runtime both use
every core of this machine.

Run: python benchmarks/bench_export.py [hymenoptera|sms_spam ...]
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch

import transferkit
from transferkit.data import read_data
from transferkit.runs._export import Deployable, OnnxPredictor, TextDeployable, export
from transferkit.runs._run import Predictor

from _common import dataset, fresh_dir, remove

# settings
DATA = {
    "hymenoptera": dataset("hymenoptera"),
    "sms_spam": dataset("sms_spam") / "SMSSpamCollection",
}
BATCH = 64
REPEATS = 3


def best_rate(n: int, run) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return n / min(times)


def batched(fn, items):
    out = [fn(items[i : i + BATCH]) for i in range(0, len(items), BATCH)]
    return np.concatenate([o[0] for o in out])


def measure(name: str) -> dict:
    data = DATA[name]
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    try:
        run = transferkit.fit(data, out=runs / "run", cache_dir=cache, quiet=True)
        start = time.perf_counter()
        exported = export(run.run_dir, "onnx")
        export_seconds = time.perf_counter() - start
        size_mb = exported.path.stat().st_size / 1e6
        items = list(read_data(data, seed=0).val.inputs)
        torch_model = Predictor(run.run_dir, use_cache=False)
        onnx_model = OnnxPredictor(run.run_dir)
        torch_proba = batched(torch_model.predict_rows, items)
        onnx_proba = batched(onnx_model.predict_rows, items)
        diff = float(np.abs(torch_proba - onnx_proba).max())
        same = float(np.mean(torch_proba.argmax(1) == onnx_proba.argmax(1)))
        end_to_end = {
            "pytorch": best_rate(len(items), lambda: batched(torch_model.predict_rows, items)),
            "onnxruntime": best_rate(len(items), lambda: batched(onnx_model.predict_rows, items)),
        }
        backbone = torch_model.backbone
        kind = TextDeployable if backbone.modality == "text" else Deployable
        module = kind(backbone, torch_model.head).eval()
        ready = [b.inputs for b in backbone.batches(items, BATCH)]
        feeds = [
            {k: v.numpy() for k, v in b.items() if k in ("input_ids", "attention_mask")}
            if isinstance(b, dict)
            else {"pixels": b.numpy()}
            for b in ready
        ]

        def torch_pass():
            with torch.inference_mode():
                for feed in feeds:
                    module(*[torch.from_numpy(v) for v in feed.values()])

        def onnx_pass():
            for feed in feeds:
                onnx_model.session.run(None, feed)

        model_only = {
            "pytorch": best_rate(len(items), torch_pass),
            "onnxruntime": best_rate(len(items), onnx_pass),
        }
    finally:
        remove(cache)
        remove(runs)
    return {
        "inputs": len(items),
        "max_abs_probability_difference": diff,
        "same_predicted_class": same,
        "export_seconds": round(export_seconds, 1),
        "onnx_file_mb": round(size_mb, 1),
        "end_to_end_inputs_per_s": {k: round(v, 1) for k, v in end_to_end.items()},
        "end_to_end_ratio_onnx_over_torch": round(
            end_to_end["onnxruntime"] / end_to_end["pytorch"], 2
        ),
        "model_only_inputs_per_s": {k: round(v, 1) for k, v in model_only.items()},
        "model_only_ratio_onnx_over_torch": round(
            model_only["onnxruntime"] / model_only["pytorch"], 2
        ),
    }


def main() -> None:
    names = sys.argv[1:] or list(DATA)
    print(json.dumps({name: measure(name) for name in names}, indent=2))


if __name__ == "__main__":
    main()
