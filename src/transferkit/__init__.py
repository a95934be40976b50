"""transferkit: transfer learning from a small labelled data set and a pretrained model.

The public names are loaded on first use (Scientific Python's SPEC 1), so that importing
the package, or asking the command line for `--help`, does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> the module that defines it
_PUBLIC = {
    "AdaptResult": "transferkit.jobs._adapt_data",
    "FeatureCache": "transferkit.features._cache",
    "FitResult": "transferkit.jobs._fit",
    "HubUnavailableError": "transferkit._errors",
    "Predictor": "transferkit.runs._run",
    "RankResult": "transferkit.selection._rank",
    "TransferClassifier": "transferkit.jobs._estimator",
    "TransferKitError": "transferkit._errors",
    "adapt": "transferkit.jobs._adapt",
    "create_backbone": "transferkit.backbones._registry",
    "fit": "transferkit.jobs._fit",
    "list_backbones": "transferkit.backbones._registry",
    "load": "transferkit.runs._run",
    "rank": "transferkit.selection._rank",
    "read_data": "transferkit.data._read",
}

__all__ = [
    "AdaptResult",
    "FeatureCache",
    "FitResult",
    "HubUnavailableError",
    "Predictor",
    "RankResult",
    "TransferClassifier",
    "TransferKitError",
    "__version__",
    "adapt",
    "create_backbone",
    "fit",
    "list_backbones",
    "load",
    "rank",
    "read_data",
]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'transferkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and editors see
    from transferkit._errors import HubUnavailableError, TransferKitError
    from transferkit.backbones._registry import create_backbone, list_backbones
    from transferkit.data._read import read_data
    from transferkit.features._cache import FeatureCache
    from transferkit.jobs._adapt import adapt
    from transferkit.jobs._adapt_data import AdaptResult
    from transferkit.jobs._estimator import TransferClassifier
    from transferkit.jobs._fit import FitResult, fit
    from transferkit.runs._run import Predictor, load
    from transferkit.selection._rank import RankResult, rank
