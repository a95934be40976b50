"""A request's inputs, read and held to the service's limits before they reach a model.

JSON bodies carry `{"inputs": [...]}`: texts as strings, table rows as objects of column
-> value, images and sounds as `{"b64": "<base64 bytes>"}`. Multipart bodies carry image
or sound files. A request never names a file on the server: bytes are written to a
private folder of the request and read from there by the run's own readers, so the
answers are `transferkit predict`'s. Each broken limit is a `RequestError`, a JSON 4xx.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import json
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from transferkit._errors import TransferKitError
from transferkit.serve._config import ServeConfig

BINARY = ("image", "audio")  # sent as bytes; read by content, never by a file name


class RequestError(Exception):
    """A request the service refuses: an HTTP status, a short code and a one-line message
    that says what to change."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


async def read_inputs(
    request: Any, modality: str, config: ServeConfig, folder: Path, decoder: Executor
) -> list[str]:
    """The request's inputs as the run reads them (texts, JSON rows, paths in `folder`)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        raw = await _json_inputs(request, config)
        if modality in BINARY:
            payloads = [_decoded(x, i, modality) for i, x in enumerate(raw)]
            return await _saved(payloads, modality, config, folder, decoder)
        return [_checked(x, i, modality, config) for i, x in enumerate(raw)]
    if kind == "multipart/form-data":
        if modality not in BINARY:
            raise RequestError(
                415,
                "unsupported_media_type",
                f'a {modality} model takes JSON: {{"inputs": [...]}} as application/json.',
            )
        payloads = await _form_files(request, config)
        return await _saved(payloads, modality, config, folder, decoder)
    raise RequestError(
        415,
        "unsupported_media_type",
        f"content type {kind or 'none'!r}: send application/json"
        + (" or multipart/form-data files." if modality in BINARY else "."),
    )


async def _json_inputs(request: Any, config: ServeConfig) -> list[Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise RequestError(400, "bad_json", f"the body is not valid JSON ({exc}).") from None
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise RequestError(
            422, "no_inputs", 'the body must be {"inputs": [...]} with at least one input.'
        )
    _count(len(inputs), config)
    return inputs


def _count(n: int, config: ServeConfig) -> None:
    if n > config.max_inputs:
        raise RequestError(
            413,
            "too_many_inputs",
            f"{n} inputs in one request; the limit is {config.max_inputs}: split the request.",
        )


def _checked(value: Any, i: int, modality: str, config: ServeConfig) -> str:
    if modality == "tabular":
        if not isinstance(value, dict) or not all(
            isinstance(v, (str, int, float, bool)) or v is None for v in value.values()
        ):
            raise RequestError(
                422, "bad_input", f"input {i}: a table row is an object of column -> value."
            )
        return json.dumps(value)
    if not isinstance(value, str):
        raise RequestError(422, "bad_input", f"input {i}: a {modality} input is a string.")
    if len(value) > config.max_text_chars:
        raise RequestError(
            413,
            "text_too_long",
            f"input {i} has {len(value):,} characters; the limit is {config.max_text_chars:,}.",
        )
    return value


def _decoded(value: Any, i: int, modality: str) -> bytes:
    data = value.get("b64") if isinstance(value, dict) else None
    if not isinstance(data, str):
        raise RequestError(
            422,
            "bad_input",
            f'input {i}: a {modality} input is {{"b64": "<base64 of the file>"}} (a request'
            " never names a file on the server).",
        )
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(422, "bad_input", f"input {i}: 'b64' is not valid base64.") from None


async def _form_files(request: Any, config: ServeConfig) -> list[bytes]:
    from starlette.datastructures import UploadFile
    from starlette.formparsers import MultiPartException

    try:
        form = await request.form(max_files=config.max_inputs + 1, max_fields=config.max_inputs)
    except MultiPartException as exc:
        raise RequestError(
            400, "bad_multipart", f"the multipart body is malformed ({exc})."
        ) from None
    files = [v for _, v in form.multi_items() if isinstance(v, UploadFile)]
    if not files:
        raise RequestError(422, "no_inputs", "the multipart body holds no file.")
    _count(len(files), config)
    return [await f.read() for f in files]


async def _saved(
    payloads: list[bytes], modality: str, config: ServeConfig, folder: Path, decoder: Executor
) -> list[str]:
    """Each payload written to the request's folder and decoded once within the time limit
    (a bomb, a truncated file or an unsupported format is refused before batching)."""
    loop = asyncio.get_running_loop()
    paths = []
    for i, data in enumerate(payloads):
        path = folder / f"{i}.upload"  # no suffix that a reader could take as a format
        path.write_bytes(data)
        check = _check_image if modality == "image" else _check_sound
        try:
            await asyncio.wait_for(
                loop.run_in_executor(decoder, check, path, data, config), config.decode_timeout_s
            )
        except TimeoutError:
            raise RequestError(
                422,
                "decode_timeout",
                f"input {i} took over {config.decode_timeout_s:g} s to decode: send a smaller"
                " or simpler file.",
            ) from None
        except RequestError as exc:
            raise RequestError(exc.status, exc.code, f"input {i}: {exc.message}") from None
        paths.append(str(path))
    return paths


def _check_image(path: Path, data: bytes, config: ServeConfig) -> None:
    from PIL import Image

    from transferkit.data._images import decode_image

    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except Exception:  # decode_image below names the problem
        width = height = 0
    if width * height > config.max_image_pixels:
        raise RequestError(
            413,
            "image_too_large",
            f"{width} x {height} = {width * height:,} pixels; the limit is"
            f" {config.max_image_pixels:,}: send a smaller image.",
        )
    try:
        decode_image(path, 512)  # JPEGs at reduced scale: a check, not the model input
    except TransferKitError as exc:
        raise RequestError(422, "unreadable_input", getattr(exc, "reason", str(exc))) from None


def _check_sound(path: Path, data: bytes, config: ServeConfig) -> None:
    import soundfile

    try:
        soundfile.read(path, frames=1)
    except Exception as exc:  # soundfile raises its own types for unknown formats
        raise RequestError(
            422, "unreadable_input", f"unreadable sound ({type(exc).__name__}: {exc})"[:200]
        ) from None
