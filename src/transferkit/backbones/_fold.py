"""Fold inference BatchNorms into the convolutions that feed them.

At inference a BatchNorm is a fixed per-channel scale and shift, so it can live in the
weights and bias of the convolution before it (PyTorch's `fuse_conv_bn_weights`): the same
outputs, to float rounding, without the BatchNorm pass over every activation. On a 2-core
CPU that makes an EfficientNet-Lite0 forward about 1.5x faster (`benchmarks/bench_fold.py`;
`benchmarks/bench_rank.py` measures the ranking it speeds up).

A pair is folded only when a traced forward shows the BatchNorm reading exactly the
convolution's output (and neither runs twice), and the folded network is kept only when it
gives the outputs of the original on a batch of noise; otherwise the original is left
untouched. That check is all or nothing: a network where one pair cannot be folded (its
convolution's output is also read elsewhere, e.g. by a residual sum the trace cannot see)
keeps all its BatchNorms.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights

TOLERANCE = 1e-4  # largest output difference kept, relative to the largest output


class _AfterNorm(nn.Module):
    """What a folded timm `BatchNormAct2d` still does after its normalisation."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.drop = norm.drop
        self.act = norm.act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.drop(x))


def _replacement(norm: nn.Module) -> nn.Module | None:
    """What stands in for `norm` once folded; None for a BatchNorm we do not know."""
    if type(norm) is nn.BatchNorm2d:
        return nn.Identity()
    if type(norm).__name__ == "BatchNormAct2d" and hasattr(norm, "act"):
        return _AfterNorm(norm)
    return None


def _pairs(model: nn.Module, example: torch.Tensor) -> list[tuple[str, str]]:
    """(convolution, BatchNorm) module names where the BatchNorm's input *is* the
    convolution's output in a forward pass of `example`."""
    produced: dict[int, str] = {}
    alive: list[torch.Tensor] = []  # held for the trace: a freed tensor's id is reused
    pairs: list[tuple[str, str]] = []
    hooks = []

    def after_conv(name: str):
        def hook(_module, _inputs, output):
            alive.append(output)
            produced[id(output)] = name

        return hook

    def before_norm(name: str):
        def hook(_module, inputs):
            conv = produced.get(id(inputs[0]))
            if conv is not None:
                pairs.append((conv, name))

        return hook

    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            hooks.append(module.register_forward_hook(after_conv(name)))
        elif isinstance(module, nn.BatchNorm2d):
            hooks.append(module.register_forward_pre_hook(before_norm(name)))
    try:
        with torch.no_grad():
            model(example)
    finally:
        for hook in hooks:
            hook.remove()
    alive.clear()
    # a module run twice (shared) or a convolution feeding two norms cannot be folded
    convs, norms = [c for c, _ in pairs], [n for _, n in pairs]
    return [(c, n) for c, n in pairs if convs.count(c) == 1 and norms.count(n) == 1]


def _output(model: nn.Module, example: torch.Tensor) -> torch.Tensor:
    # full float32 convolutions on a GPU too: TF32's rounding is not a folding error
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        out = model(example)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"the network returns {type(out).__name__}, not a tensor")
    return out.float()


def fold_batchnorm(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, int]:
    """(the network with its inference BatchNorms folded, how many were folded); the
    network itself, unchanged, when none can be, the folded one disagrees, or anything in
    the attempt fails (folding is a speed-up, never a reason to stop)."""
    if model.training or not any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
        return model, 0
    try:
        return _fold(model, example)
    except Exception:  # e.g. a forward that rejects noise, or a network with dict outputs
        return model, 0


def _fold(model: nn.Module, example: torch.Tensor) -> tuple[nn.Module, int]:
    pairs = _pairs(model, example)
    if not pairs:
        return model, 0
    folded = copy.deepcopy(model)
    count = 0
    with torch.no_grad():
        for conv_name, norm_name in pairs:
            conv, norm = folded.get_submodule(conv_name), folded.get_submodule(norm_name)
            stand_in = _replacement(norm)
            if stand_in is None or not norm.track_running_stats or norm.running_var is None:
                continue
            weight, bias = fuse_conv_bn_weights(
                conv.weight,
                conv.bias,
                norm.running_mean,
                norm.running_var,
                norm.eps,
                norm.weight,
                norm.bias,
            )
            conv.weight, conv.bias = weight, bias
            parent, _, child = norm_name.rpartition(".")
            setattr(folded.get_submodule(parent) if parent else folded, child, stand_in)
            count += 1
    reference, result = _output(model, example), _output(folded, example)
    scale = float(reference.abs().max()) or 1.0
    if count == 0 or float((result - reference).abs().max()) > TOLERANCE * scale:
        return model, 0
    return folded, count
