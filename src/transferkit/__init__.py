"""transferkit: transfer learning from a small labelled data set and a pretrained model."""

__version__ = "0.1.0"

from transferkit._cache import FeatureCache  # noqa: E402
from transferkit._errors import HubUnavailableError, TransferKitError  # noqa: E402
from transferkit._estimator import TransferClassifier  # noqa: E402
from transferkit._fit import FitResult, fit  # noqa: E402
from transferkit._run import Predictor, load  # noqa: E402
from transferkit.backbones import create_backbone, list_backbones  # noqa: E402
from transferkit.data import read_data  # noqa: E402

__all__ = [
    "FeatureCache",
    "FitResult",
    "HubUnavailableError",
    "Predictor",
    "TransferClassifier",
    "TransferKitError",
    "__version__",
    "create_backbone",
    "fit",
    "list_backbones",
    "load",
    "read_data",
]
