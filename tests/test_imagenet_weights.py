"""The built-in ImageNet weights are really loaded: the 1000-class head recognises real photos."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from transferkit import create_backbone

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the test photos")

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE = {967, 968, 504}  # espresso, cup, coffee mug


@pytest.fixture(scope="module")
def lite0():
    return create_backbone("efficientnet_lite0")


def _top5(backbone, array) -> set[int]:
    tensor = backbone.transform()(Image.fromarray(array).convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        return set(backbone.classify(tensor).topk(5).indices[0].tolist())


def test_chelsea_is_a_cat(lite0):
    top5 = _top5(lite0, skimage_data.chelsea())
    assert len(top5 & CATS) >= 2, top5


def test_coffee_is_espresso_or_a_cup(lite0):
    tensor = lite0.transform()(Image.fromarray(skimage_data.coffee()).convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        top1 = int(lite0.classify(tensor).argmax())
    assert top1 in COFFEE


def test_random_weights_do_not_recognise_the_cat():
    random = create_backbone("efficientnet_lite0", pretrained=False)
    assert len(_top5(random, skimage_data.chelsea()) & CATS) < 2
