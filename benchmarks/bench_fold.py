"""What does folding the BatchNorms buy, and what does it change?

Side by side in one process, on the validation images of hymenoptera (decoded and
preprocessed once, before any clock starts): efficientnet_lite0 as built, and the same
network in its inference-only form (`Backbone.for_inference`: BatchNorms folded into the
convolutions), each running `pooled_all` (every cut point, the features and the source
logits: what `rank` runs) on batches of 32. The two alternate batch by batch, 3 rounds over
the images; prints the median seconds per batch of each, their ratio, and the largest
difference between their features relative to the largest feature.

Run: python benchmarks/bench_fold.py
"""

from __future__ import annotations

import json
import statistics
import time

import torch

from transferkit.backbones import create_backbone

from _common import dataset

# settings
DATA = dataset("hymenoptera") / "val"
BATCH_SIZE = 32
ROUNDS = 3


def main() -> None:
    plain = create_backbone("efficientnet_lite0")
    folded = create_backbone("efficientnet_lite0").for_inference()
    images = sorted(str(p) for p in DATA.rglob("*.jpg"))
    batches = [b.inputs for b in plain.batches(images, BATCH_SIZE)]
    cuts = plain.pooled_cuts()
    seconds: dict[str, list[float]] = {"plain": [], "folded": []}
    worst = 0.0
    with torch.inference_mode():
        plain.pooled_all(batches[0], cuts)  # first calls pay one-time set-up
        folded.pooled_all(batches[0], cuts)
        for _ in range(ROUNDS):
            for batch in batches:
                outputs = {}
                for name, backbone in (("plain", plain), ("folded", folded)):
                    start = time.perf_counter()
                    outputs[name] = backbone.pooled_all(batch, cuts)
                    seconds[name].append(time.perf_counter() - start)
                a, b = outputs["plain"]["features"], outputs["folded"]["features"]
                worst = max(worst, float((a - b).abs().max() / a.abs().max()))
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(
        json.dumps(
            {
                "images": len(images),
                "batches_timed_each": len(seconds["plain"]),
                "median_seconds_per_batch": {k: round(v, 3) for k, v in median.items()},
                "plain_over_folded": round(median["plain"] / median["folded"], 2),
                "max_feature_difference_relative": f"{worst:.1e}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
