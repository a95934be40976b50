"""A job's configuration as a TOML, YAML or JSON file, and back."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.config._job import NULL, NULLABLE, JobConfig

FORMATS = {".toml": "toml", ".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def config_format(path: str | Path) -> str:
    """'toml', 'yaml' or 'json', from the file's suffix."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise TransferKitError(
            f"config file {str(path)!r}: name it .toml, .yaml, .yml or .json (the suffix says"
            " how to read it)."
        )
    return FORMATS[suffix]


def load_config(path: str | Path) -> JobConfig:
    """Read and validate a job's configuration file."""
    data = read_mapping(path)
    return JobConfig.from_dict(data or {}, source=repr(str(path))).validate()


def read_mapping(path: str | Path) -> Any:
    """A TOML, YAML or JSON file's content, with a one-line cause when it cannot be read."""
    kind = config_format(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TransferKitError(f"config file {str(path)!r} does not exist.") from None
    except UnicodeDecodeError:
        raise TransferKitError(f"config file {str(path)!r} is not UTF-8 text.") from None
    try:
        return _parse(text, kind)
    except ValueError as exc:  # tomllib, yaml and json errors all say where
        raise TransferKitError(f"config file {str(path)!r} is not valid {kind}: {exc}") from None


def _parse(text: str, kind: str) -> Any:
    if kind == "toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10
            import tomli as tomllib
        return tomllib.loads(text)
    if kind == "yaml":
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc).replace("\n", " ")) from None
    return json.loads(text)


def dump_config(config: JobConfig, kind: str) -> str:
    """The configuration as text in `kind` ('toml', 'yaml' or 'json'); unset (None)
    settings are left out of TOML, which has no null."""
    data = config.to_dict()
    if kind == "json":
        return json.dumps(data, indent=2) + "\n"
    if kind == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False)
    import tomli_w

    return tomli_w.dumps(_without_none(data))


def _without_none(value: Any) -> Any:
    """TOML has no null: an unset setting is left out (it loads back as its default), and
    one whose default is set is written as the string "none" (see `NULL`)."""
    if isinstance(value, dict):
        return {
            k: (NULL if k in NULLABLE else None) if v is None else _without_none(v)
            for k, v in value.items()
            if v is not None or k in NULLABLE
        }
    return value
