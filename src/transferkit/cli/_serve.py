"""`transferkit serve`: finished runs behind an HTTP service."""

from __future__ import annotations

from typing import Annotated

import typer

from transferkit._errors import TransferKitError
from transferkit.cli._app import Opt, app
from transferkit.cli._app import fail as _fail


@app.command("serve")
def serve_command(
    runs: Annotated[
        list[str],
        typer.Argument(help="Run folders written by `transferkit fit`, each RUN or NAME=RUN."),
    ],
    host: Annotated[str, Opt(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, Opt(help="Port to listen on (0: any free port, printed).")] = 8000,
    engine: Annotated[
        str,
        Opt(
            help="'auto' (ONNX Runtime when the run has an export, else PyTorch), 'onnx', 'torch'."
        ),
    ] = "auto",
    max_batch_size: Annotated[
        int, Opt(help="Inputs per model call at most (1: no batching, one call per request).")
    ] = 32,
    max_wait_ms: Annotated[
        float, Opt(help="How long a batch waits for more requests after its first, in ms.")
    ] = 5.0,
    max_body_bytes: Annotated[int, Opt(help="Largest request body, in bytes.")] = 20_000_000,
    max_inputs: Annotated[int, Opt(help="Most inputs in one request.")] = 64,
    max_text_chars: Annotated[int, Opt(help="Longest text, in characters.")] = 100_000,
    max_image_pixels: Annotated[int, Opt(help="Largest image, in pixels.")] = 40_000_000,
    decode_timeout: Annotated[
        float, Opt(help="Seconds to decode one image or sound at most.")
    ] = 5.0,
    shutdown_timeout: Annotated[
        float, Opt(help="On SIGTERM, seconds to finish the requests in flight.")
    ] = 30.0,
) -> None:
    """Serve finished runs over HTTP: POST /v1/models/NAME/predict, GET /v1/models,
    /healthz, /readyz, /metrics, /docs. Concurrent requests are batched into one model
    call; every limit is a JSON 4xx."""
    from transferkit.serve import ServeConfig, serve

    try:
        config = ServeConfig(
            host=host,
            port=port,
            engine=engine,
            max_batch_size=max_batch_size,
            max_wait_ms=max_wait_ms,
            max_body_bytes=max_body_bytes,
            max_inputs=max_inputs,
            max_text_chars=max_text_chars,
            max_image_pixels=max_image_pixels,
            decode_timeout_s=decode_timeout,
            shutdown_timeout_s=shutdown_timeout,
        )
        serve(runs, config, echo=lambda line: typer.echo(line))
    except (TransferKitError, OSError) as exc:
        _fail(exc)
