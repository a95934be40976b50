"""The settings of one service: where it listens, which engine runs the models, how
requests are batched, and the limits every request is held to."""

from __future__ import annotations

from dataclasses import dataclass, fields

from transferkit._errors import TransferKitError, choice_error

ENGINES = ["auto", "onnx", "torch"]


@dataclass(frozen=True)
class ServeConfig:
    """`engine="auto"` serves a run's ONNX export when it has one, else its PyTorch model.
    `max_batch_size` inputs at most go to one model call, gathered for up to `max_wait_ms`
    after the first request of a batch arrives (1 turns batching off: one call per
    request). Limits: the request body in bytes, inputs per request, characters per text,
    pixels per image (the readers' decompression-bomb limit) and seconds to decode one
    image or sound."""

    host: str = "127.0.0.1"
    port: int = 8000
    engine: str = "auto"
    max_batch_size: int = 32
    max_wait_ms: float = 5.0
    max_body_bytes: int = 20_000_000
    max_inputs: int = 64
    max_text_chars: int = 100_000
    max_image_pixels: int = 40_000_000
    decode_timeout_s: float = 5.0
    shutdown_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise choice_error("engine", self.engine, ENGINES)
        if not 0 <= self.port <= 65535:
            raise TransferKitError(
                f"`port` must be within 0-65535 (0: any free port). Got {self.port}."
            )
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name not in ("host", "engine", "port") and not value > 0:
                raise TransferKitError(f"`{field.name}` must be above 0. Got {value!r}.")
        if self.max_wait_ms > 10_000:
            raise TransferKitError(
                f"`max_wait_ms` is {self.max_wait_ms}: a batch waits at most 10,000 ms; lower it."
            )
