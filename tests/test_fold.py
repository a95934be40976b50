"""Folding inference BatchNorms into convolutions: same outputs, or the network untouched."""

from __future__ import annotations

import torch
from torch import nn

from transferkit.backbones._fold import fold_batchnorm


def _norms(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def _trained_norm(channels: int) -> nn.BatchNorm2d:
    norm = nn.BatchNorm2d(channels)
    with torch.no_grad():  # statistics and affine away from the identity
        norm.running_mean.uniform_(-1, 1)
        norm.running_var.uniform_(0.5, 2)
        norm.weight.uniform_(0.5, 1.5)
        norm.bias.uniform_(-1, 1)
    return norm


def test_efficientnet_lite0_features_survive_folding_at_every_cut():
    from transferkit.backbones import create_backbone

    plain = create_backbone("efficientnet_lite0")  # ImageNet statistics, not the identity
    folded = create_backbone("efficientnet_lite0")
    assert _norms(folded.model) > 40
    folded.for_inference()
    assert _norms(folded.model) == 0  # every BatchNorm of the network went into a convolution
    x = torch.randn(4, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    cuts = plain.pooled_cuts()
    with torch.inference_mode():
        want, got = plain.pooled_all(x, cuts), folded.pooled_all(x, cuts)
    for name in want:
        scale = float(want[name].abs().max())
        assert torch.allclose(got[name], want[name], atol=1e-4 * scale), name


def test_a_fold_that_changes_the_output_is_undone_and_the_network_left_as_it_was():
    class Reused(nn.Module):  # the convolution's output feeds the norm and a residual
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.norm = _trained_norm(3)

        def forward(self, x):
            y = self.conv(x)
            return self.norm(y) + y

    torch.manual_seed(0)
    model = Reused().eval()
    same, count = fold_batchnorm(model, torch.randn(2, 3, 8, 8))
    assert count == 0 and same is model and _norms(model) == 1


def test_a_plain_conv_norm_pair_folds_and_a_training_network_does_not():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), _trained_norm(4), nn.ReLU()).eval()
    x = torch.randn(2, 3, 9, 9)
    folded, count = fold_batchnorm(model, x)
    assert count == 1 and _norms(folded) == 0 and _norms(model) == 1  # the original is kept
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-5)
    training, count = fold_batchnorm(model.train(), x)
    assert count == 0 and training is model


def test_a_norm_before_its_convolution_is_not_folded():
    torch.manual_seed(0)
    model = nn.Sequential(_trained_norm(3), nn.Conv2d(3, 4, 3)).eval()
    same, count = fold_batchnorm(model, torch.randn(2, 3, 9, 9))
    assert count == 0 and same is model


def test_features_fits_and_loaded_runs_fold_while_training_keeps_the_norms(colour_folder, tmp_path):
    import numpy as np

    import transferkit

    frozen = transferkit.fit(
        colour_folder, out=tmp_path / "f", cache_dir=tmp_path / "c1", quiet=True
    )
    assert _norms(frozen.model.backbone.model) == 0
    loaded = transferkit.load(frozen.run_dir, cache_dir=tmp_path / "c2")  # embeds afresh
    assert not loaded.backbone.is_built  # folding waits for the first use of the network
    images = sorted(str(p) for p in colour_folder.rglob("*.jpg"))[:6]
    folded = loaded.embed(images)
    assert _norms(loaded.backbone.model) == 0
    from transferkit.backbones import create_backbone

    plain = create_backbone("efficientnet_lite0")
    with torch.inference_mode():
        want = np.concatenate([plain.embed_batch(b) for b in plain.batches(images, 6)])
    np.testing.assert_allclose(folded, want, atol=1e-4 * float(np.abs(want).max()))
    # a trained strategy trains its BatchNorms: nothing is folded
    trained = transferkit.fit(
        colour_folder,
        strategy="top:1",
        out=tmp_path / "t",
        quiet=True,
        train={"epochs": 1, "augment": False},
    )
    assert _norms(trained.model.backbone.model) > 40


def test_a_norm_fed_by_no_convolution_does_not_stop_the_others_folding():
    class Mixed(nn.Module):  # `late` reads a product, while a freed conv output came before
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.norm = _trained_norm(4)
            self.side = nn.Conv2d(4, 4, 1)
            self.late = _trained_norm(4)

        def forward(self, x):
            y = torch.relu(self.norm(self.conv(x)))
            self.side(y).mean()  # its output is freed at once
            return self.late(y * 2)

    torch.manual_seed(0)
    model = Mixed().eval()
    x = torch.randn(2, 3, 9, 9)
    folded, count = fold_batchnorm(model, x)
    assert count == 1 and isinstance(folded.norm, nn.Identity)
    assert isinstance(folded.late, nn.BatchNorm2d)
    with torch.no_grad():
        assert torch.allclose(folded(x), model(x), atol=1e-5)
