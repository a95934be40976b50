"""Contrastive few-shot fine-tuning of a sentence encoder (SetFit, Tunstall et al. 2022).

Pairs of labelled rows, as many of the same class as of different classes, train the
encoder through a sentence-transformers loss so that same-class texts embed close and
different-class texts apart; the usual head is then fitted on the new embeddings. The
loss is sentence-transformers' own; the loop around it is a few lines of torch, since the
encoder is the run's backbone (its pooling, normalisation and cut) rather than a
`SentenceTransformer` loaded again from disk.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn

from transferkit._errors import TransferKitError
from transferkit.finetune._config import ContrastiveConfig


def sample_pairs(labels: np.ndarray, n_pairs: int, seed: int) -> list[tuple[int, int, float]]:
    """`n_pairs` pairs of row indices with 1.0 for the same class and 0.0 for different
    classes: half of each (balanced whatever the class sizes), never a row with itself,
    drawn with `seed`. Unique pairs come first; once every unique pair of a kind is used,
    they repeat in a new random order."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    rows = np.arange(len(labels))
    i, j = np.triu_indices(len(labels), k=1)
    same = labels[i] == labels[j]
    kinds = {1.0: (i[same], j[same]), 0.0: (i[~same], j[~same])}
    if not len(kinds[1.0][0]) or not len(kinds[0.0][0]):
        raise TransferKitError(
            "contrastive tuning needs two rows of one class and rows of two classes;"
            f" the training split has {len(rows)} rows in {len(set(labels.tolist()))} class(es)."
        )
    pairs: list[tuple[int, int, float]] = []
    for target, (a, b) in kinds.items():
        want = n_pairs // 2 + (n_pairs % 2 if target == 1.0 else 0)
        order = np.concatenate([rng.permutation(len(a)) for _ in range(math.ceil(want / len(a)))])[
            :want
        ]
        for k in order:  # each pair in a random direction
            x, y = (a[k], b[k]) if rng.random() < 0.5 else (b[k], a[k])
            pairs.append((int(x), int(y), target))
    return [pairs[k] for k in rng.permutation(len(pairs))]


class _SentenceEncoder(nn.Module):
    """The backbone as sentence-transformers' losses call a model: features in, a dict
    holding `sentence_embedding` out."""

    def __init__(self, backbone: Any):
        super().__init__()
        self.backbone = backbone
        self.net = backbone.model  # registered, so that .parameters() are the encoder's

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": self.backbone.forward_features(features)}


def _loss(name: str, model: nn.Module) -> nn.Module:
    import importlib

    try:  # sentence-transformers >= 6 keeps the losses here, earlier versions one level up
        losses = importlib.import_module("sentence_transformers.sentence_transformer.losses")
    except ImportError:
        losses = importlib.import_module("sentence_transformers.losses")
    kinds = {
        "cosent": "CoSENTLoss",
        "contrastive": "OnlineContrastiveLoss",
        "cosine": "CosineSimilarityLoss",
    }
    loss: nn.Module = getattr(losses, kinds[name])(model)
    return loss


def tune_encoder(
    backbone: Any, texts: list[str], labels: np.ndarray, config: ContrastiveConfig
) -> dict[str, Any]:
    """Tune `backbone` (an `HFTextBackbone`) in place on pairs of `texts`; the average
    weights of `config.repeats` runs when more than one. Returns what happened: the
    number of pairs and steps, and the mean loss of the first and last tenth of steps."""
    config.validate()
    start = {k: v.detach().clone() for k, v in backbone.model.state_dict().items()}
    soup: dict[str, torch.Tensor] | None = None
    history: list[list[float]] = []
    for r in range(config.repeats):
        if r:
            backbone.model.load_state_dict(start)
        history.append(_tune_once(backbone, texts, labels, config, config.seed + r))
        state = backbone.model.state_dict()
        if config.repeats > 1:
            soup = (
                {k: v.detach().clone().float() for k, v in state.items()}
                if soup is None
                else {k: soup[k] + v.float() for k, v in state.items()}
            )
    if soup is not None:
        backbone.model.load_state_dict(
            {k: (v / config.repeats).to(start[k].dtype) for k, v in soup.items()}
        )
    backbone.model.eval()
    tenth = max(1, len(history[0]) // 10)
    return {
        **config.to_dict(),
        "pairs": config.n_pairs(len(texts)),
        "steps": sum(len(h) for h in history),
        "loss_first": float(np.mean([h[:tenth] for h in history])),
        "loss_last": float(np.mean([h[-tenth:] for h in history])),
    }


def _tune_once(
    backbone: Any, texts: list[str], labels: np.ndarray, config: ContrastiveConfig, seed: int
) -> list[float]:
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    pairs = sample_pairs(labels, config.n_pairs(len(texts)), seed)
    encoder = _SentenceEncoder(backbone).train()
    loss_fn = _loss(config.loss, encoder)
    params = [p for p in backbone.model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr)
    steps = config.epochs * math.ceil(len(pairs) / config.batch_size)
    warmup = int(config.warmup * steps)
    schedule = get_linear_schedule_with_warmup(optimizer, warmup, steps)  # type: ignore[no-untyped-call]
    rng = np.random.default_rng(seed)
    losses: list[float] = []
    for epoch in range(config.epochs):
        order = rng.permutation(len(pairs)) if epoch else np.arange(len(pairs))
        for s in range(0, len(order), config.batch_size):
            batch = [pairs[k] for k in order[s : s + config.batch_size]]
            left = _tokens(backbone, [texts[a] for a, _, _ in batch])
            right = _tokens(backbone, [texts[b] for _, b, _ in batch])
            target = torch.tensor([t for _, _, t in batch], device=backbone.device)
            loss = loss_fn([left, right], target)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
    return losses


def _tokens(backbone: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    encoded: dict[str, torch.Tensor] = backbone.encode(texts)  # long texts as windows
    return encoded
