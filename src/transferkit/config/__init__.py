"""The typed configuration of a job: its sections (data, backbone, strategy and training,
imbalance and threshold, evaluation, outputs, performance), validated field by field in
one place, and its round trip to a run's `config.json` and to TOML and YAML files. The
command line builds one from its flags (over a `--config` file), `fit(**options)` builds
one from its keyword options, and `--resume` reads one back from the run folder. Nothing
here imports torch."""

from transferkit.config._files import config_format, dump_config, load_config
from transferkit.config._job import (
    OPTIONS,
    SECTIONS,
    BackboneChoice,
    DataConfig,
    EvaluationConfig,
    ImbalanceConfig,
    JobConfig,
    OutputConfig,
    PerformanceConfig,
    StrategyConfig,
    check_strategy,
)

__all__ = [
    "OPTIONS",
    "SECTIONS",
    "BackboneChoice",
    "DataConfig",
    "EvaluationConfig",
    "ImbalanceConfig",
    "JobConfig",
    "OutputConfig",
    "PerformanceConfig",
    "StrategyConfig",
    "check_strategy",
    "config_format",
    "dump_config",
    "load_config",
]
