"""The HTTP service over loaded models (FastAPI; no `from __future__ import annotations`
here: FastAPI reads the routes' annotations at definition).

- `POST /v1/models/{name}/predict`: `transferkit predict`'s answers, one per input;
- `GET /v1/models` and `/v1/models/{name}`: classes, backbone, preprocessing, threshold,
  the run's headline metrics;
- `GET /healthz` (the process answers), `/readyz` (every model's batch worker runs),
  `/metrics` (Prometheus text), `/docs` and `/openapi.json`.

Every refusal is `{"error": {"code": ..., "message": ...}}` with a 4xx status; each request
is one JSON line on the `transferkit.serve` logger."""

import json
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from transferkit.serve._batcher import Batcher
from transferkit.serve._config import ServeConfig
from transferkit.serve._inputs import RequestError, read_inputs
from transferkit.serve._models import ServedModel

LOG = logging.getLogger("transferkit.serve")

_BINARY = {"type": "object", "properties": {"b64": {"type": "string", "format": "byte"}}}
PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["inputs"],
                    "properties": {
                        "inputs": {
                            "type": "array",
                            "description": "texts; table rows (column -> value); images or"
                            ' sounds as {"b64": ...}',
                            "items": {"anyOf": [{"type": "string"}, {"type": "object"}, _BINARY]},
                        }
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    },
                }
            },
        },
    }
}


class Metrics:
    """Prometheus counters of one app (its own registry, so two apps never mix)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "transferkit_requests", "Requests answered", ["model", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "transferkit_request_seconds", "Request latency", ["model"], registry=self.registry
        )
        self.calls = Counter(
            "transferkit_model_calls", "Model calls (batches)", ["model"], registry=self.registry
        )
        self.inputs = Counter(
            "transferkit_inputs", "Inputs predicted", ["model"], registry=self.registry
        )
        self.batch = Histogram(
            "transferkit_batch_inputs",
            "Inputs per model call",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
            registry=self.registry,
        )

    def on_batch(self, model: str) -> Any:
        def record(n_inputs: int) -> None:
            self.calls.labels(model).inc()
            self.inputs.labels(model).inc(n_inputs)
            self.batch.labels(model).observe(n_inputs)

        return record


class BodyLimit:
    """Refuses a body over `limit` bytes with a 413, from its Content-Length at once, or
    while it streams in (a chunked body has no length)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await _send_error(send, 413, "body_too_large", self._message())
            return
        seen = 0
        started = False

        async def counted() -> Any:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise _TooLarge
            return message

        async def watched(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await _send_error(send, 413, "body_too_large", self._message())

    def _message(self) -> str:
        return f"the request body is over the limit of {self.limit:,} bytes: send fewer inputs."


class RequestLog:
    """Times each request from its arrival to its last byte sent and hands it to `record`
    (a plain ASGI wrapper: Starlette's `BaseHTTPMiddleware` streams every response
    through a second task and stream)."""

    def __init__(self, app: Any, record: Any) -> None:
        self.app, self.record = app, record

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.record(scope, status[0], time.perf_counter() - start)


class _TooLarge(Exception):
    pass


async def _send_error(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Service:
    """What the routes share: the models by name, their batchers, the decoding threads,
    the private folder requests' files are written to, and the counters."""

    def __init__(self, models: list[ServedModel], config: ServeConfig) -> None:
        self.models, self.config = {m.name: m for m in models}, config
        self.metrics = Metrics()
        self.batchers: dict[str, Batcher] = {}
        self.decoder = ThreadPoolExecutor(max_workers=4, thread_name_prefix="transferkit-decode")
        self.folder = Path()

    @asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        config = self.config
        self.batchers = {
            name: Batcher(
                m.answer, config.max_batch_size, config.max_wait_ms, self.metrics.on_batch(name)
            )
            for name, m in self.models.items()
        }
        for batcher in self.batchers.values():
            batcher.start()
        self.folder = Path(tempfile.mkdtemp(prefix="transferkit-serve-"))
        try:
            yield
        finally:  # uvicorn has finished the requests in flight
            for batcher in self.batchers.values():
                await batcher.stop()
            self.decoder.shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(self.folder, ignore_errors=True)

    def find(self, name: str) -> ServedModel:
        if name not in self.models:
            raise RequestError(
                404, "unknown_model", f"no model {name!r}: GET /v1/models lists them."
            )
        return self.models[name]

    async def predict(self, name: str, request: Any) -> dict[str, Any]:
        model = self.find(name)
        request.state.model = name
        with tempfile.TemporaryDirectory(dir=self.folder) as folder:
            items = await read_inputs(
                request, model.modality, self.config, Path(folder), self.decoder
            )
            request.state.inputs = len(items)
            answers, batch_size = await self.batchers[name].submit(items)
        request.state.batch_size = batch_size
        return {"model": name, "predictions": answers}

    def record(self, scope: Any, status: int, seconds: float) -> None:
        """One JSON line for a request (and the counters of a model's requests)."""
        state = scope.get("state") or {}
        model = state.get("model")
        if model is not None:
            self.metrics.requests.labels(model, str(status)).inc()
            self.metrics.latency.labels(model).observe(seconds)
        line = {
            "time": round(time.time(), 3),
            "method": scope["method"],
            "path": scope["path"],
            "status": status,
            "latency_ms": round(seconds * 1000, 2),
            "model": model,
            "inputs": state.get("inputs"),
            "batch_size": state.get("batch_size"),
        }
        LOG.info(json.dumps(line))

    @property
    def ready(self) -> bool:
        return bool(self.batchers) and all(b.alive for b in self.batchers.values())


def create_app(models: list[ServedModel], config: ServeConfig) -> Any:
    """The ASGI app answering with `models` (loaded and warmed by `load_models`)."""
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse, Response

    service = Service(models, config)
    app = FastAPI(
        title="transferkit",
        summary="Finished transferkit runs as a service.",
        lifespan=service.lifespan,
    )
    app.add_middleware(BodyLimit, limit=config.max_body_bytes)
    app.add_middleware(RequestLog, record=service.record)  # outermost: sees the 413s too

    @app.exception_handler(RequestError)
    async def refused(request: Request, exc: RequestError) -> JSONResponse:
        return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, exc.status)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> Any:
        """Every model is loaded and its batch worker runs."""
        body = {"ready": service.ready, "models": list(service.models)}
        return JSONResponse(body, 200 if service.ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Counters in Prometheus' text format."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        """Every served model: classes, backbone, preprocessing, threshold, metrics."""
        return {"models": [m.info for m in models]}

    @app.get("/v1/models/{name}")
    async def describe(name: str) -> dict[str, Any]:
        """One model's description."""
        return service.find(name).info

    @app.post("/v1/models/{name}/predict", openapi_extra=PREDICT_BODY)
    async def predict(name: str, request: Request) -> dict[str, Any]:
        """`transferkit predict`'s answer for each input: label (tuned threshold applied),
        confidence, probabilities by class; `error` for an input the model cannot read."""
        return await service.predict(name, request)

    return app
