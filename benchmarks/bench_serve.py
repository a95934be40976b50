"""`transferkit serve` under load on 127.0.0.1: dynamic batching against one model call per
request, and against a plain FastAPI endpoint written the obvious way; then faults.

Models: a `features` run on hymenoptera (efficientnet_lite0) and one on 600 sms_spam
texts (minilm-l6), both fitted here. Every server runs in its own process on the same
engine (`--engine torch`, or `--engine onnx` after an export), on this machine's cores,
and is loaded by K client threads (K = 1, 8, 32) that each send REQUESTS requests of one
input (an image as base64, or a text) over a kept-alive connection. Printed per server
and K: throughput (requests/s) and p50 / p99 latency (ms). Servers:
- `batched`: `transferkit serve` (max batch 32, wait 5 ms);
- `per-request`: `transferkit serve --max-batch-size 1` (one model call per request);
- `plain`: FastAPI + uvicorn, the run loaded once (`transferkit.Predictor`, feature cache
  off as in a service), then `model.predict` per request in a sync endpoint (FastAPI's
  thread pool), as most tutorials write it.

Faults (text model): the server is killed with SIGKILL under load and restarted, and
must give the same answers; a model file corrupted before start must stop it with one
line; clients that disconnect mid-request must not stall the others.

Run: python benchmarks/bench_serve.py [--requests 16] [--engine torch|onnx]
Writes benchmarks/runs/serve.json.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from _common import ROOT, dataset, fresh_dir, remove

CLIENTS = (1, 8, 32)
HYMENOPTERA = dataset("hymenoptera")
SMS = dataset("sms_spam") / "SMSSpamCollection"

PLAIN = """
import base64, os, sys, tempfile
import uvicorn
from fastapi import FastAPI
import transferkit

# the feature cache off, as in `transferkit serve`: a service's inputs are new ones (with
# it on, the inputs this script repeats would be answered from disk, not computed)
model = transferkit.Predictor(sys.argv[1], use_cache=False)
app = FastAPI()

@app.post("/predict")
def predict(body: dict):  # the obvious way: one model call per request, in the thread pool
    inputs = body["inputs"]
    if isinstance(inputs[0], dict):  # images as base64: to files, as the model reads them
        with tempfile.TemporaryDirectory() as folder:
            paths = []
            for i, x in enumerate(inputs):
                path = os.path.join(folder, f"{i}.jpg")
                with open(path, "wb") as f:
                    f.write(base64.b64decode(x["b64"]))
                paths.append(path)
            return {"labels": model.predict(paths)}
    return {"labels": model.predict(inputs)}

print(f"serving at http://127.0.0.1:{sys.argv[2]}", flush=True)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            self.process.kill()
            raise SystemExit(f"server did not start: {command}: {line!r}")
        self.port = int(match.group(1))
        for _ in range(600):  # the plain server prints before it listens
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)
        self.process.wait(timeout=120)


def serve(*args: str) -> Server:
    return Server([sys.executable, "-m", "transferkit.cli", "serve", "--port", "0", *args])


def request(conn: http.client.HTTPConnection, path: str, payload: dict) -> tuple[int, dict]:
    conn.request("POST", path, json.dumps(payload), {"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read())


def load(port: int, path: str, inputs: list, clients: int, per_client: int) -> dict:
    """`clients` threads, each sending `per_client` one-input requests; throughput and
    latency percentiles over all of them."""
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        mine = []
        for i in range(per_client):
            x = inputs[(k * per_client + i) % len(inputs)]
            start = time.perf_counter()
            status, _ = request(conn, path, {"inputs": [x]})
            mine.append(time.perf_counter() - start)
            if status != 200:
                failures[0] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    warm = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    request(warm, path, {"inputs": inputs[:1]})
    warm.close()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    ms = np.array(latencies) * 1000
    return {
        "throughput": round(len(latencies) / wall, 2),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "failures": failures[0],
    }


def fit_runs(root: Path, export: bool) -> dict[str, Path]:
    import transferkit

    texts = root / "sms" / SMS.name  # the first 600 messages, in the file's own format
    texts.parent.mkdir()
    lines = SMS.read_text(encoding="utf-8").splitlines()[:600]
    texts.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runs = {
        "images": transferkit.fit(HYMENOPTERA, out=root / "images", quiet=True).run_dir,
        "texts": transferkit.fit(texts, out=root / "texts", quiet=True).run_dir,
    }
    if export:
        from transferkit.runs._export import export as to_onnx

        for run in runs.values():
            to_onnx(run, "onnx")
    return runs


def inputs_of(kind: str) -> list:
    if kind == "images":
        files = sorted((HYMENOPTERA / "val").rglob("*.jpg"))[:64]
        return [{"b64": base64.b64encode(p.read_bytes()).decode()} for p in files]
    lines = SMS.read_text(encoding="utf-8").splitlines()[1000:1064]
    return [line.split("\t", 1)[1] for line in lines]


def throughput(runs: dict[str, Path], engine: str, per_client: int) -> dict:
    results: dict = {}
    for kind, run in runs.items():
        inputs = inputs_of(kind)
        servers = {
            "batched": lambda run=run: serve(f"m={run}", "--engine", engine),
            "per-request": lambda run=run: serve(
                f"m={run}", "--engine", engine, "--max-batch-size", "1"
            ),
            "plain": lambda run=run: Server(
                [sys.executable, "-c", PLAIN, str(run), str(free_port())]
            ),
        }
        for name, start in servers.items():
            server = start()
            path = "/predict" if name == "plain" else "/v1/models/m/predict"
            try:
                for clients in CLIENTS:
                    n = per_client * 2 if clients == 1 else per_client
                    figures = load(server.port, path, inputs, clients, n)
                    results[f"{kind}/{name}/{clients}"] = figures
                    print(f"{kind:7s} {name:12s} {clients:3d} clients: {figures}", flush=True)
            finally:
                server.stop()
        for clients in CLIENTS:
            b, p = results[f"{kind}/batched/{clients}"], results[f"{kind}/per-request/{clients}"]
            plain = results[f"{kind}/plain/{clients}"]
            results[f"{kind}/gain/{clients}"] = {
                "vs_per_request": round(b["throughput"] / p["throughput"], 2),
                "vs_plain": round(b["throughput"] / plain["throughput"], 2),
                "p99_no_worse_than_per_request": b["p99_ms"] <= p["p99_ms"],
                "p99_no_worse_than_plain": b["p99_ms"] <= plain["p99_ms"],
            }
            print(kind, clients, "clients: gain", results[f"{kind}/gain/{clients}"], flush=True)
    return results


def faults(run: Path, root: Path) -> dict:
    texts = inputs_of("texts")[:32]
    out: dict = {}
    server = serve(f"m={run}")
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    _, before = request(conn, "/v1/models/m/predict", {"inputs": texts})
    conn.close()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
                request(c, "/v1/models/m/predict", {"inputs": texts[:4]})
                c.close()
            except (OSError, http.client.HTTPException, ValueError):
                return  # the server is gone

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(3)
    server.stop(signal.SIGKILL)  # under load
    stop.set()
    for t in threads:
        t.join()
    start = time.perf_counter()
    server = serve(f"m={run}")
    restart_s = time.perf_counter() - start
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=600)
    _, after = request(conn, "/v1/models/m/predict", {"inputs": texts})
    out["sigkill_restart"] = {
        "same_answers": before["predictions"] == after["predictions"],
        "restart_seconds": round(restart_s, 1),
    }
    # clients that disconnect mid-request (half a body; a whole one, then gone)
    body = json.dumps({"inputs": texts}).encode()
    head = (
        "POST /v1/models/m/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    for cut in [len(head) + len(body) // 2, len(head) + len(body)] * 8:
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall((head + body)[:cut])
    start = time.perf_counter()
    status, answer = request(conn, "/v1/models/m/predict", {"inputs": texts})
    out["disconnects"] = {
        "status_after": status,
        "same_answers": answer.get("predictions") == before["predictions"],
        "latency_ms_after_16_gone": round((time.perf_counter() - start) * 1000, 1),
    }
    conn.close()
    server.stop()
    damaged = root / "damaged"
    shutil.copytree(run, damaged)
    (damaged / "model" / "head.safetensors").write_bytes(b"\0" * 64)
    done = subprocess.run(
        [sys.executable, "-m", "transferkit.cli", "serve", str(damaged), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out["corrupted_model"] = {"exit_code": done.returncode, "stderr": done.stderr.strip()}
    print("faults", json.dumps(out, indent=1), flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=16, help="requests per client")
    parser.add_argument("--engine", choices=["torch", "onnx"], default="torch")
    parser.add_argument("--skip-faults", action="store_true")
    parser.add_argument("--kinds", default="images,texts")
    args = parser.parse_args()
    root = fresh_dir("serve")
    os.environ.setdefault("TRANSFERKIT_CACHE_DIR", str(root / "cache"))
    try:
        runs = {k: v for k, v in fit_runs(root, args.engine == "onnx").items() if k in args.kinds}
        results = {
            "engine": args.engine,
            "requests_per_client": args.requests,
            "cores": os.cpu_count(),
        }
        results.update(throughput(runs, args.engine, args.requests))
        if not args.skip_faults:
            results["faults"] = faults(runs["texts"], root)
    finally:
        remove(root)
    target = ROOT / "benchmarks" / "runs" / f"serve-{args.engine}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(results, indent=1))
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
