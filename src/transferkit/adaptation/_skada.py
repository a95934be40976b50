"""skada, imported on demand, without its import-time switch leaking into the rest of
transferkit.

skada turns on scikit-learn's metadata routing for the whole process when it is imported
(`sklearn.set_config(enable_metadata_routing=True)`). The rest of transferkit (and the
user's own scikit-learn code) runs without it, so the setting is put back at once and
turned on only around skada's own calls (`routing()`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from transferkit._extras import require


def skada() -> ModuleType:
    """The skada package (the `adapt` extra), with scikit-learn's settings left as they were."""
    import sklearn

    before = sklearn.get_config()["enable_metadata_routing"]
    module = require("skada", "domain adaptation")
    sklearn.set_config(enable_metadata_routing=before)
    return module


@contextmanager
def routing() -> Iterator[None]:
    """scikit-learn's metadata routing on, for skada's pipelines (`sample_domain`)."""
    import sklearn

    with sklearn.config_context(enable_metadata_routing=True):
        yield
