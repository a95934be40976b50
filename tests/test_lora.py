"""Strategy `lora`: adapters through PEFT, only they train, merged back for saving and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import transferkit
from transferkit.backbones import create_backbone
from transferkit.finetune._config import TrainConfig
from transferkit.finetune._lora import ADAPTER, default_targets, inject, merge


def _inputs(backbone):
    if backbone.modality == "text":
        return backbone.tokenizer(
            ["a fine day", "the worst film"], padding=True, return_tensors="pt"
        )
    torch.manual_seed(0)
    return torch.randn(2, 3, 224, 224)


@pytest.mark.parametrize("spec", ["minilm-l6", "efficientnet_lite0"])
def test_only_the_adapters_and_the_head_get_gradients(spec: str) -> None:
    from transferkit.finetune._module import TransferModule
    from transferkit.finetune._strategies import make_strategy

    backbone = create_backbone(spec)
    info = inject(backbone, 4, 8.0, 0.0, None)
    assert info["targets"] and info["adapter_parameters"] > 0
    config = TrainConfig()
    strategy = make_strategy("lora", config)
    module = TransferModule(backbone, 2, config, strategy)
    strategy.freeze_before_training(module)
    module(dict(_inputs(backbone)) if spec == "minilm-l6" else _inputs(backbone)).sum().backward()
    for name, p in backbone.named_parameters():
        assert (p.grad is not None) == (ADAPTER in name), name
    assert all(p.grad is not None for p in module.head.parameters())
    groups = strategy.param_groups(module)
    assert [g["name"] for g in groups] == ["head", "lora"]
    assert sum(p.numel() for p in groups[1]["params"]) == info["adapter_parameters"]


@pytest.mark.parametrize("spec", ["minilm-l6", "efficientnet_lite0"])
def test_the_merged_model_answers_as_the_adapted_one(spec: str) -> None:
    from peft.tuners.lora import LoraLayer

    backbone = create_backbone(spec).eval()
    inject(backbone, 4, 8.0, 0.0, None)
    with torch.no_grad():  # trained adapters: B is zero at the start, so move it
        torch.manual_seed(1)
        for name, p in backbone.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
        inputs = dict(_inputs(backbone)) if spec == "minilm-l6" else _inputs(backbone)
        adapted = backbone.forward_features(inputs)
        merged_layers = merge(backbone)
        merged = backbone.forward_features(inputs)
    assert merged_layers > 0
    assert not any(isinstance(m, LoraLayer) for m in backbone.model.modules())
    assert not any(ADAPTER in n for n, _ in backbone.named_parameters())
    assert torch.allclose(adapted, merged, atol=1e-4)


def test_default_targets_per_architecture() -> None:
    assert default_targets(create_backbone("minilm-l6").model) == ["query", "value"]
    targets = default_targets(create_backbone("efficientnet_lite0").model)
    assert "conv_pw" in targets and "classifier" not in targets


def test_a_lora_run_saves_the_adapter_and_exports_the_merged_model(
    text_file: Path, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    from safetensors import safe_open

    from transferkit.runs._export import export

    run = tmp_path / "run"
    result = transferkit.fit(
        text_file, strategy="lora", train={"epochs": 1, "lora_r": 4}, out=run, quiet=True
    )
    lora = result.metrics["lora"]
    assert lora["r"] == 4 and lora["trainable_share"] <= 0.02
    assert lora["merged_layers"] == 12  # query and value of 6 layers
    assert result.metrics["peak_memory_mb"] > 0
    with safe_open(run / "model" / "adapter.safetensors", "pt") as f:
        keys, meta = list(f.keys()), f.metadata()
    assert keys and all(ADAPTER in k for k in keys)
    assert meta["base_weights_digest"] == create_backbone("minilm-l6").weights_digest
    export(run, "onnx")
    checked = json.loads((run / "export" / "model.onnx.json").read_text())["checked"]
    assert checked["inputs"] > 0 and checked["max_abs_diff"] <= checked["tolerance"]


def test_lora_settings_fail_in_one_line(text_file: Path, tmp_path: Path) -> None:
    with pytest.raises(transferkit.TransferKitError, match="`lora_r` must be at least 1"):
        TrainConfig(lora_r=0).validate()
    with pytest.raises(transferkit.TransferKitError, match="matches no layer"):
        transferkit.fit(
            text_file,
            strategy="lora",
            train={"epochs": 1, "lora_targets": ["no_such_layer"]},
            out=tmp_path / "run",
            quiet=True,
        )
