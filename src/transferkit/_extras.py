"""Optional dependencies, grouped as install extras: a feature whose extra is missing
fails at once with the line to run."""

from __future__ import annotations

import importlib
from types import ModuleType

from transferkit._errors import TransferKitError

# module -> the extra that installs it
EXTRAS = {
    "mlflow": "track",
    "tensorboard": "track",
    "onnx": "export",
    "onnxscript": "export",
    "onnxruntime": "export",
    "skada": "adapt",
    "ot": "adapt",
    "gymnasium": "rl",
    "stable_baselines3": "rl",
    "sb3_contrib": "rl",
    "pyvrp": "rl",
    "fastapi": "serve",
    "uvicorn": "serve",
    "python_multipart": "serve",
    "prometheus_client": "serve",
}


def require(module: str, feature: str) -> ModuleType:
    """Import `module` for `feature`, or say which `pip install` line brings it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, "all")
        raise TransferKitError(
            f"{feature} needs the Python package {top!r}, which is not installed: run"
            f' pip install "transferkit[{extra}]"'
        ) from None
