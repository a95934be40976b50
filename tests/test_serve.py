"""`transferkit serve`: a real server on a free local port, answering as `predict` does,
batching concurrent requests into one model call, refusing each broken limit with a JSON
4xx, and stopping gracefully."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import transferkit

from conftest import cli, write_image

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

TEXTS = ["great food and friendly staff", "the worst meal I have had", "ok"]


class Server:
    """`transferkit serve ARGS` in its own process; its URL once it is ready."""

    def __init__(self, *args: str) -> None:
        command = [sys.executable, "-m", "transferkit.cli", "serve", "--port", "0", *args]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.log: list[str] = []
        threading.Thread(target=self._read_log, daemon=True).start()
        line = self.process.stdout.readline()  # printed once the models are loaded
        match = re.search(r"http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.process.kill()
            raise AssertionError(f"no address in {line!r}; log: {self.log}")
        self.url = f"http://127.0.0.1:{match.group(1)}"
        for _ in range(200):
            try:
                if get(self.url + "/readyz")[0] == 200:
                    return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the server never became ready")

    def _read_log(self) -> None:
        for line in self.process.stderr:
            self.log.append(line)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


def get(url: str) -> tuple[int, Any]:
    return _call(urllib.request.Request(url))


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    return _call(request)


def post_json(url: str, payload: Any) -> tuple[int, Any]:
    return post(url, json.dumps(payload).encode())


def _call(request: urllib.request.Request) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw, status, kind = response.read(), response.status, response.headers["content-type"]
    except urllib.error.HTTPError as exc:
        raw, status, kind = exc.read(), exc.code, exc.headers["content-type"]
    return status, json.loads(raw) if "json" in (kind or "") else raw.decode()


def multipart(files: list[Path]) -> tuple[bytes, str]:
    boundary = "transferkit-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{p.name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + p.read_bytes()
        + b"\r\n"
        for p in files
    ]
    return b"".join(
        parts
    ) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def b64(path: Path) -> dict[str, str]:
    return {"b64": base64.b64encode(path.read_bytes()).decode()}


def predicted(capsys, run: Path, *inputs: str) -> list[dict[str, str]]:
    """`transferkit predict RUN INPUTS` as CSV rows."""
    code, out, err = cli(capsys, "predict", str(run), *inputs)
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """A text run (PyTorch) and an image run with an ONNX export (served by ONNX Runtime)."""
    from transferkit.runs._export import export

    root = tmp_path_factory.mktemp("serve")
    texts = root / "reviews.tsv"
    from conftest import TEXTS as REVIEWS

    rows = ["text\tlabel"] + [f"{t}\t{label}" for label, ts in REVIEWS.items() for t in ts]
    texts.write_text("\n".join(rows) + "\n")
    images = root / "colours"
    for c, colour in {"red": (200, 30, 30), "blue": (30, 30, 200)}.items():
        for i in range(8):
            write_image(images / c / f"{c}{i}.jpg", colour, seed=i + (100 if c == "red" else 0))
    text_run = transferkit.fit(texts, out=root / "reviews", quiet=True).run_dir
    image_run = transferkit.fit(images, out=root / "colours-run", quiet=True).run_dir
    export(image_run, "onnx")
    table = root / "table.csv"
    rng = np.random.default_rng(0)
    rows = [f"{rng.normal(4 * (i % 2)):.3f},{['red', 'blue'][i % 2]},{i % 2}" for i in range(40)]
    table.write_text("amount,colour,label\n" + "\n".join(rows) + "\n")
    sounds = root / "sounds"
    for i in range(6):
        _sound(sounds / "tone" / f"t{i}.wav", 200 + 40 * i, seed=i)
        _sound(sounds / "hiss" / f"h{i}.wav", 0, seed=50 + i)
    return {
        "reviews": text_run,
        "colours": image_run,
        "images": images,
        "table": transferkit.fit(table, out=root / "table-run", quiet=True).run_dir,
        "sounds": sounds,
        "sound": transferkit.fit(sounds, out=root / "sound-run", quiet=True).run_dir,
        "root": root,
    }


def _sound(path: Path, hz: float, seed: int) -> None:
    """Half a second of a tone at `hz` (noise when 0), 16-bit PCM at 8 kHz."""
    import soundfile

    rng = np.random.default_rng(seed)
    t = np.arange(4000) / 8000
    wave = 0.5 * np.sin(2 * np.pi * hz * t) + (0.3 if hz == 0 else 0.01) * rng.normal(size=4000)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), wave.astype(np.float32), 8000, subtype="PCM_16")


@pytest.fixture(scope="module")
def server(runs) -> Iterator[Server]:
    """Both runs, a 300 ms batching window (so concurrent requests meet) and small limits."""
    server = Server(
        f"reviews={runs['reviews']}",
        f"colours={runs['colours']}",
        f"table={runs['table']}",
        f"sound={runs['sound']}",
        "--max-wait-ms", "300",
        "--max-inputs", "4",
        "--max-text-chars", "200",
        "--max-body-bytes", "300000",
        "--max-image-pixels", "90000",
    )  # fmt: skip
    yield server
    server.process.kill()
    server.process.wait()


def test_the_service_describes_its_models(server, runs):
    assert get(server.url + "/healthz") == (200, {"status": "ok"})
    assert get(server.url + "/readyz")[1]["models"] == ["reviews", "colours", "table", "sound"]
    status, body = get(server.url + "/v1/models")
    models = {m["name"]: m for m in body["models"]}
    assert status == 200
    assert models["reviews"]["classes"] == ["neg", "pos"]
    assert models["reviews"]["engine"] == "torch"  # no export: PyTorch
    assert models["colours"]["engine"] == "onnx"  # an export: ONNX Runtime
    assert models["reviews"]["backbone"] == "minilm-l6"
    assert 0 <= models["colours"]["metrics"]["accuracy"] <= 1
    assert "max_length" in models["reviews"]["preprocessing"]
    status, openapi = get(server.url + "/openapi.json")
    assert "/v1/models/{name}/predict" in openapi["paths"]


def test_text_answers_are_predicts(server, runs, capsys):
    status, body = post_json(server.url + "/v1/models/reviews/predict", {"inputs": TEXTS})
    assert status == 200
    expected = predicted(capsys, runs["reviews"], *TEXTS)
    for answer, row in zip(body["predictions"], expected, strict=True):
        assert answer["label"] == row["predicted"]
        for name, p in answer["probabilities"].items():
            assert abs(p - float(row[f"p_{name}"])) <= 1e-5


def test_image_answers_are_predicts_as_base64_and_as_files(server, runs, capsys):
    files = sorted(runs["images"].rglob("*.jpg"))[::5]  # both classes
    url = server.url + "/v1/models/colours/predict"
    status, as_json = post_json(url, {"inputs": [b64(p) for p in files]})
    assert status == 200
    status, as_files = post(url, *multipart(files))
    assert status == 200
    expected = predicted(capsys, runs["colours"], *map(str, files))
    assert {row["predicted"] for row in expected} == {"red", "blue"}
    for a, b, row in zip(as_json["predictions"], as_files["predictions"], expected, strict=True):
        assert a == b
        assert a["label"] == row["predicted"]
        assert abs(a["confidence"] - float(row["confidence"])) <= 1e-4  # ONNX vs PyTorch


def test_table_rows_and_sounds_are_answered_as_predict_answers(server, runs, capsys, tmp_path):
    rows = [
        {"amount": "3.9", "colour": "blue"},
        {"amount": "0.2", "colour": "red"},
        {"amount": "1"},
    ]
    status, body = post_json(server.url + "/v1/models/table/predict", {"inputs": rows})
    assert status == 200
    csv_rows = tmp_path / "rows.csv"
    csv_rows.write_text("amount,colour\n3.9,blue\n0.2,red\n")
    expected = predicted(capsys, runs["table"], str(csv_rows))
    assert [a["label"] for a in body["predictions"][:2]] == [r["predicted"] for r in expected]
    assert "error" in body["predictions"][2] and "colour" in body["predictions"][2]["error"]
    files = sorted(runs["sounds"].rglob("*.wav"))[::3]
    url = server.url + "/v1/models/sound/predict"
    status, as_json = post_json(url, {"inputs": [b64(p) for p in files]})
    assert status == 200 and post(url, *multipart(files))[1] == as_json
    expected = predicted(capsys, runs["sound"], *map(str, files))
    assert {r["predicted"] for r in expected} == {"tone", "hiss"}
    for answer, row in zip(as_json["predictions"], expected, strict=True):
        assert answer["label"] == row["predicted"]
        assert abs(answer["confidence"] - float(row["confidence"])) <= 1e-5
    not_sound = tmp_path / "x.wav"
    not_sound.write_bytes(b"RIFF" + b"\0" * 40)
    assert _error(post_json(url, {"inputs": [b64(not_sound)]})) == (422, "unreadable_input")


def _error(status_body: tuple[int, Any]) -> tuple[int, str]:
    status, body = status_body
    assert set(body["error"]) == {"code", "message"} and body["error"]["message"]
    return status, body["error"]["code"]


def test_each_limit_is_a_json_4xx(server, runs, tmp_path):
    text_url = server.url + "/v1/models/reviews/predict"
    image_url = server.url + "/v1/models/colours/predict"
    assert _error(post_json(text_url, {"inputs": ["a"] * 5})) == (413, "too_many_inputs")
    assert _error(post_json(text_url, {"inputs": ["a" * 201]})) == (413, "text_too_long")
    assert _error(post_json(text_url, {"inputs": ["a" * 199] * 2000})) == (413, "body_too_large")
    assert _error(post_json(text_url, {"inputs": []})) == (422, "no_inputs")
    assert _error(post_json(text_url, {"inputs": [3]})) == (422, "bad_input")
    assert _error(post(text_url, b"{not json")) == (400, "bad_json")
    assert _error(post(text_url, b"x", "text/plain")) == (415, "unsupported_media_type")
    assert _error(post_json(server.url + "/v1/models/nope/predict", {"inputs": ["a"]}))[0] == 404
    big = tmp_path / "big.png"
    Image.new("RGB", (400, 300)).save(big)  # 120,000 pixels > 90,000
    assert _error(post_json(image_url, {"inputs": [b64(big)]})) == (413, "image_too_large")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(next(runs["images"].rglob("*.jpg")).read_bytes()[:300])
    assert _error(post_json(image_url, {"inputs": [b64(broken)]})) == (422, "unreadable_input")
    # a request never names a file on the server
    path = str(next(runs["images"].rglob("*.jpg")))
    assert _error(post_json(image_url, {"inputs": [path]})) == (422, "bad_input")
    assert _error(post(image_url, *multipart([broken])))[1] == "unreadable_input"


def _metric(server: Server, name: str) -> float:
    _, text = get(server.url + "/metrics")
    found = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_concurrent_requests_share_one_model_call(server):
    url = server.url + "/v1/models/reviews/predict"
    calls = 'transferkit_model_calls_total{model="reviews"}'
    before = _metric(server, calls)
    results: list[tuple[int, Any]] = []
    threads = [
        threading.Thread(target=lambda t=t: results.append(post_json(url, {"inputs": [t]})))
        for t in TEXTS[:2]
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [status for status, _ in results] == [200, 200]
    assert _metric(server, calls) == before + 1
    lines = [json.loads(line) for line in server.log if '"batch_size": 2' in line]
    assert len(lines) >= 2 and all(line["status"] == 200 for line in lines)
    assert all(line["latency_ms"] > 0 and line["model"] == "reviews" for line in lines)


def test_a_client_gone_mid_request_does_not_stall_the_others(server):
    body = json.dumps({"inputs": TEXTS}).encode()
    head = (
        f"POST /v1/models/reviews/predict HTTP/1.1\r\nHost: x\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    port = int(server.url.rsplit(":", 1)[1])
    for cut in (len(head) + 5, len(head) + len(body)):  # mid-body, and right after sending
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall((head + body)[:cut])
    start = time.perf_counter()
    status, answer = post_json(server.url + "/v1/models/reviews/predict", {"inputs": TEXTS})
    assert status == 200 and len(answer["predictions"]) == 3
    assert time.perf_counter() - start < 10
    assert get(server.url + "/readyz")[0] == 200


def test_decoding_is_timed_and_shutdown_finishes_the_request_in_flight(runs, tmp_path):
    server = Server(
        f"reviews={runs['reviews']}",
        f"colours={runs['colours']}",
        "--max-wait-ms", "1500",
        "--decode-timeout", "1e-6",
    )  # fmt: skip
    try:
        image = tmp_path / "noise.png"  # ~50 ms to decode, against a limit of 1 microsecond
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (1500, 1500, 3), np.uint8)).save(
            image
        )
        refused = post_json(server.url + "/v1/models/colours/predict", {"inputs": [b64(image)]})
        assert _error(refused) == (422, "decode_timeout")
        results: list[tuple[int, Any]] = []
        url = server.url + "/v1/models/reviews/predict"
        thread = threading.Thread(target=lambda: results.append(post_json(url, {"inputs": TEXTS})))
        thread.start()
        time.sleep(0.5)  # the request waits in its batch window
        # uvicorn stops gracefully, then re-raises SIGTERM, as a process stopped by it exits
        assert server.stop() == -signal.SIGTERM
        thread.join()
        assert results and results[0][0] == 200 and len(results[0][1]["predictions"]) == 3
    finally:
        server.process.kill()


def test_a_damaged_run_stops_the_start_with_one_line(runs, tmp_path, capsys):
    damaged = tmp_path / "damaged"
    shutil.copytree(runs["colours"], damaged)
    (damaged / "export" / "model.onnx").write_bytes(b"not a model")
    code, _, err = cli(capsys, "serve", str(damaged), "--port", "0")
    assert code == 2
    assert "ONNX Runtime" in err and len(err.strip().splitlines()) == 1
    (damaged / "model" / "head.safetensors").write_bytes(b"\0" * 10)
    code, _, err = cli(capsys, "serve", str(damaged), "--port", "0", "--engine", "torch")
    assert code == 2 and "damaged" in err and len(err.strip().splitlines()) == 1
    code, _, err = cli(
        capsys, "serve", str(runs["reviews"]), f"x={runs['reviews']}", "--engine", "nope"
    )
    assert code == 2 and "`engine` must be one of" in err
    code, _, err = cli(capsys, "serve", f"a={runs['reviews']}", f"a={runs['colours']}")
    assert code == 2 and "both served as 'a'" in err


def test_the_listening_socket_is_tcp_without_nagle():
    """asyncio turns Nagle's algorithm off only on sockets that name TCP; with it on, a
    response written in two parts waited for the client's delayed acknowledgement."""
    from transferkit.serve._server import _bind

    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        sock.close()
