"""How much does `transferkit fit` cost compared with the work it cannot avoid?

On hymenoptera (its own train/val split), in one process, side by side:
  A. one plain forward pass of the backbone over all train+val images
     (torchvision ImageFolder + DataLoader + the same timm model in eval mode);
  B. the first `transferkit.fit` (empty feature cache): read, embed, train the
     head, evaluate, write the run folder;
  C. the same `fit` again (embeddings from the cache);
  D. the PyTorch transfer-learning tutorial's "fixed feature extractor" loop:
     frozen backbone recomputed every epoch, new linear layer, SGD with
     momentum, StepLR, 10 epochs, random crop + flip augmentation.
A, B and D use the same weights, the same channels_last layout and the same
batch size. Prints the ratios B/A, C/B and D/B, and the accuracy of B and D.

Run: python benchmarks/bench_fit_vs_forward.py
"""

from __future__ import annotations

import copy
import json

import torch
from torch import nn
from torchvision import datasets, transforms

import transferkit
from transferkit.backbones import create_backbone

from _common import dataset, fresh_dir, remove, timed

# settings
DATA = dataset("hymenoptera")
BATCH_SIZE = 32
WORKERS = 2  # decoding processes for the plain loops (the tutorial uses 4)
EPOCHS = 10
SEED = 0


def backbone_model() -> nn.Module:
    return create_backbone("efficientnet_lite0").model  # ImageNet weights, channels_last


def eval_transform() -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC),
            transforms.CenterCrop(224),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )


def loader(split: str, transform, shuffle: bool = False) -> torch.utils.data.DataLoader:
    folder = datasets.ImageFolder(str(DATA / split), transform)
    return torch.utils.data.DataLoader(
        folder, batch_size=BATCH_SIZE, shuffle=shuffle, num_workers=WORKERS
    )


@torch.inference_mode()
def plain_forward(model: nn.Module) -> int:
    n = 0
    for split in ("train", "val"):
        for x, _ in loader(split, eval_transform()):
            model.forward_head(
                model.forward_features(x.contiguous(memory_format=torch.channels_last)),
                pre_logits=True,
            )
            n += len(x)
    return n


def tutorial_loop(model: nn.Module) -> float:
    """The tutorial's fixed-feature-extractor recipe, on CPU."""
    torch.manual_seed(SEED)
    model = copy.deepcopy(model)
    for p in model.parameters():
        p.requires_grad = False
    model.classifier = nn.Linear(model.num_features, 2)
    train_tf = transforms.Compose(
        [
            transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    optimizer = torch.optim.SGD(model.classifier.parameters(), lr=0.001, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
    loss_fn = nn.CrossEntropyLoss()
    best = 0.0
    for _ in range(EPOCHS):
        model.train()
        for x, y in loader("train", train_tf, shuffle=True):
            optimizer.zero_grad()
            loss_fn(model(x.contiguous(memory_format=torch.channels_last)), y).backward()
            optimizer.step()
        scheduler.step()
        model.eval()
        correct = total = 0
        with torch.inference_mode():
            for x, y in loader("val", eval_transform()):
                correct += (
                    (model(x.contiguous(memory_format=torch.channels_last)).argmax(1) == y)
                    .sum()
                    .item()
                )
                total += len(y)
        best = max(best, correct / total)  # the tutorial keeps the best epoch
    return best


def main() -> None:
    torch.manual_seed(SEED)
    t: dict[str, float] = {}
    cache, runs = fresh_dir("cache"), fresh_dir("runs")
    try:
        model = backbone_model()
        plain_forward(model)  # warm-up: first-touch allocations, page cache
        with timed(t, "forward"):
            n_images = plain_forward(model)
        with timed(t, "fit_first"):
            first = transferkit.fit(DATA, out=runs / "first", cache_dir=cache, quiet=True)
        with timed(t, "fit_second"):
            second = transferkit.fit(DATA, out=runs / "second", cache_dir=cache, quiet=True)
        with timed(t, "tutorial"):
            tutorial_acc = tutorial_loop(model)
    finally:
        remove(cache)
        remove(runs)
    result = {
        "images": n_images,
        "seconds": {k: round(v, 2) for k, v in t.items()},
        "fit_first_over_forward": round(t["fit_first"] / t["forward"], 3),
        "fit_second_over_first": round(t["fit_second"] / t["fit_first"], 3),
        "tutorial_over_fit_first": round(t["tutorial"] / t["fit_first"], 2),
        "fit_accuracy": round(first.metrics["accuracy"], 4),
        "fit_second_accuracy": round(second.metrics["accuracy"], 4),
        "tutorial_best_accuracy": round(tutorial_acc, 4),
        "fit_phases_first": first.metrics["timings"],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
