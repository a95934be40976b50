"""`transferkit serve`: finished runs behind an HTTP service (FastAPI on uvicorn), with
dynamic batching of concurrent requests, limits on every input, a JSON log line per
request and Prometheus counters. `serve(runs, ServeConfig(...))` runs it; `create_app`
gives the ASGI app over models already loaded (`load_models`)."""

from transferkit.serve._app import create_app
from transferkit.serve._config import ServeConfig
from transferkit.serve._models import ServedModel, load_models
from transferkit.serve._server import serve

__all__ = ["ServeConfig", "ServedModel", "create_app", "load_models", "serve"]
