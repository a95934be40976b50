"""transferkit: transfer learning from a small labelled data set and a pretrained model."""

__version__ = "0.1.0"

from transferkit._cache import FeatureCache
from transferkit._errors import HubUnavailableError, TransferKitError
from transferkit._estimator import TransferClassifier
from transferkit._fit import FitResult, fit
from transferkit._run import Predictor, load
from transferkit.backbones import create_backbone, list_backbones
from transferkit.data import read_data
from transferkit.selection._rank import RankResult, rank

__all__ = [
    "FeatureCache",
    "FitResult",
    "HubUnavailableError",
    "Predictor",
    "RankResult",
    "TransferClassifier",
    "TransferKitError",
    "__version__",
    "create_backbone",
    "fit",
    "list_backbones",
    "load",
    "rank",
    "read_data",
]
