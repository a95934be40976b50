"""Run the service: load and check every model first (a damaged run stops the start with
one line), then uvicorn on a socket bound here, so the line that says where it listens
is printed only once the port is ours. SIGTERM or Ctrl-C stops it gracefully: no new
connection is accepted, the requests in flight are answered, then it exits."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable

from transferkit._errors import TransferKitError
from transferkit._extras import require
from transferkit.serve._app import LOG, create_app
from transferkit.serve._config import ServeConfig
from transferkit.serve._models import load_models


def serve(runs: list[str], config: ServeConfig, echo: Callable[[str], None] = print) -> None:
    """Serve `runs` (each `RUN` or `NAME=RUN`) until stopped."""
    for module in ("fastapi", "python_multipart", "prometheus_client"):
        require(module, "transferkit serve")
    uvicorn = require("uvicorn", "transferkit serve")
    # the readers' own decompression-bomb limit, as `fit --max-image-pixels` sets it
    os.environ["TRANSFERKIT_MAX_IMAGE_PIXELS"] = str(config.max_image_pixels)
    models = load_models(runs, config)
    app = create_app(models, config)
    _log_to_stderr()
    sock = _bind(config.host, config.port)
    host, port = sock.getsockname()[:2]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,  # one JSON line per request comes from the app
            timeout_graceful_shutdown=int(config.shutdown_timeout_s),
        )
    )
    listed = ", ".join(f"{m.name} ({m.modality}, {m.engine})" for m in models)
    echo(f"serving {listed} at http://{host}:{port} (API docs at /docs)")
    server.run(sockets=[sock])


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named: asyncio turns Nagle's algorithm off only on sockets that say they
    # are TCP; with it on, a response written in two parts waits ~40 ms for the client's
    # delayed acknowledgement
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise TransferKitError(
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another --port or --host."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _log_to_stderr() -> None:
    if not LOG.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
