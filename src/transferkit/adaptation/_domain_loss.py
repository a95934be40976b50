"""The domain losses of the deep methods, as one module both trainers share: the adapter
over cached features (`_deep`) and the backbone's top layer groups (`_deep_backbone`).

`dann` puts a discriminator behind gradient reversal (its weight on Ganin et al.'s
schedule), `cdan+e` conditions it on the class probabilities and weights samples by
their entropy, `mcc` and `dan` are skada's statistical losses (minimum class confusion,
multi-kernel MMD). Everything here acts on the head's hidden layer.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

CDAN_MAX_DIM = 4096  # past this, CDAN's outer product becomes a random multilinear map


def hidden_features(head: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """An adapter head's hidden layer: standardisation, dropout, linear, ReLU."""
    net: nn.Sequential = head.net  # type: ignore[assignment]
    out: torch.Tensor = net[:3]((x - head.get_buffer("mean")) / head.get_buffer("scale"))
    return out


def ganin_lambda(progress: float) -> float:
    """The gradient-reversal weight of Ganin et al. (2016): 0 at the start, towards 1."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


def gradient_reversal(x: torch.Tensor, weight: float) -> torch.Tensor:
    """Identity forward; the gradient times -weight backward (skada's layer)."""
    from skada.deep.modules import GradientReversalLayer

    out: torch.Tensor = GradientReversalLayer.apply(x, weight)
    return out


def entropy_weights(logits: torch.Tensor, n_source: int) -> torch.Tensor:
    """CDAN+E's sample weights, 1 + exp(-entropy) of each prediction (confident samples
    count more), normalised within each domain so both weigh the same in total."""
    p = torch.softmax(logits, dim=1).detach()
    entropy = -(p * torch.log(p + 1e-7)).sum(1)
    w = 1.0 + torch.exp(-entropy)
    ws, wt = w[:n_source], w[n_source:]
    return torch.cat([ws / ws.sum(), wt / wt.sum()]) * len(w) / 2


def statistical_loss(
    method: str, fs: torch.Tensor, ft: torch.Tensor, logits_t: torch.Tensor
) -> torch.Tensor:
    """The non-adversarial domain losses, skada's: MCC on the target's logits (the paper's
    temperature 2.5), or DAN's multi-kernel MMD between the hidden features."""
    from skada.deep.losses import dan_loss, mcc_loss

    out: torch.Tensor = mcc_loss(logits_t, T=2.5) if method == "mcc" else dan_loss(fs, ft)
    return out


def discriminator(width: int) -> nn.Sequential:
    """The domain discriminator: two hidden layers of 256 with dropout, one logit."""
    return nn.Sequential(
        nn.Linear(width, 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 256),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(256, 1),
    )


class DomainLoss(nn.Module):
    """One method's domain loss on hidden features of width `width`, `tradeoff` times it;
    the adversarial methods hold their discriminator (trained with the rest)."""

    def __init__(self, method: str, width: int, n_classes: int, tradeoff: float, seed: int):
        super().__init__()
        self.method, self.tradeoff = method, tradeoff
        self.mapped = False
        if method == "cdan+e":
            if width * n_classes > CDAN_MAX_DIM:
                g = torch.Generator().manual_seed(seed)
                self.register_buffer("map_f", torch.randn(width, CDAN_MAX_DIM, generator=g))
                self.register_buffer("map_g", torch.randn(n_classes, CDAN_MAX_DIM, generator=g))
                self.mapped = True
                width = CDAN_MAX_DIM
            else:
                width = width * n_classes
        adversarial = method in ("dann", "cdan+e")
        self.discriminator = discriminator(width) if adversarial else None

    def conditioned(self, f: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
        """CDAN's input to the discriminator: features (x) class probabilities."""
        g = torch.softmax(logits, dim=1).detach()
        if self.mapped:
            mapped = (f @ self.get_buffer("map_f")) * (g @ self.get_buffer("map_g"))
            return mapped / math.sqrt(CDAN_MAX_DIM)
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)

    def forward(
        self,
        fs: torch.Tensor,
        ft: torch.Tensor,
        logits_s: torch.Tensor,
        logits_t: torch.Tensor,
        progress: float,
    ) -> torch.Tensor:
        """The loss for one mixed batch, `progress` (0 to 1) into training."""
        if self.method in ("mcc", "dan"):
            return self.tradeoff * statistical_loss(self.method, fs, ft, logits_t)
        weight = self.tradeoff * ganin_lambda(progress)
        f = torch.cat([fs, ft])
        logits = torch.cat([logits_s, logits_t])
        inputs = self.conditioned(f, logits) if self.method == "cdan+e" else f
        assert self.discriminator is not None
        d = self.discriminator(gradient_reversal(inputs, weight))[:, 0]
        is_source = torch.cat([torch.ones(len(fs)), torch.zeros(len(ft))]).to(d)
        sample_weight = entropy_weights(logits, len(fs)) if self.method == "cdan+e" else None
        return nn.functional.binary_cross_entropy_with_logits(d, is_source, sample_weight)

    def step(
        self,
        module: Any,
        xs: torch.Tensor,
        xt: torch.Tensor,
        ys: torch.Tensor,
        progress: float,
    ) -> torch.Tensor:
        """One mixed batch's loss for a LightningModule `module` with an adapter `head`:
        the source's cross-entropy plus this domain loss (both logged per epoch)."""
        head = module.head
        fs, ft = hidden_features(head, xs), hidden_features(head, xt)
        classify = head.net[3:]
        logits_s, logits_t = classify(fs), classify(ft)
        task = nn.functional.cross_entropy(logits_s, ys)
        domain = self(fs, ft, logits_s, logits_t, progress)
        n = len(ys)
        module.log("train_loss", task, on_step=False, on_epoch=True, batch_size=n)
        module.log("domain_loss", domain, on_step=False, on_epoch=True, batch_size=n)
        out: torch.Tensor = task + domain
        return out


def annealed_rate(total_steps: int):  # type: ignore[no-untyped-def]
    """Ganin et al.'s rate schedule, the multiplier lr_p / lr = (1 + 10 p) ** -0.75."""
    total = max(1, total_steps)

    def factor(step: int) -> float:
        return float((1.0 + 10.0 * min(1.0, step / total)) ** -0.75)

    return factor
