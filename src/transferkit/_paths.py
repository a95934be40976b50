"""Where transferkit keeps its caches."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """The cache folder: `$TRANSFERKIT_CACHE_DIR`, else the user's cache dir."""
    env = os.environ.get("TRANSFERKIT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("transferkit"))
