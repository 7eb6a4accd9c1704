#!/usr/bin/env python3
"""p50/p95 of one short text through /v1/embeddings over HTTP, with a
plain keep-alive connection (no SDK overhead), against a running server.

    python3 scripts/embed-latency.py http://127.0.0.1:6333 [N] [--batches FILE]

Each text is new (another power rating), so every request runs the model;
then the same text N times, which the embedding cache answers.

With --batches FILE, a second connection sends batches of 32 lines of FILE
(each tagged so the cache never answers them) for as long as the single
texts are measured: what a query meets while the server ingests a catalog.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import threading
import time
from urllib.parse import urlparse

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


def connect(url):
    return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=120)


def post(conn, payload) -> float:
    body = json.dumps({"input": payload, "model": MODEL})
    t = time.perf_counter()
    conn.request("POST", "/v1/embeddings", body, {"content-type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    elapsed = (time.perf_counter() - t) * 1000
    if resp.status != 200:
        raise SystemExit(f"HTTP {resp.status}: {data[:200]!r}")
    return elapsed


def load(url, path: str, stop: threading.Event, sent: list[int]) -> None:
    """Batches of 32 lines of `path`, each line tagged with a fresh number."""
    lines = [line.strip() for line in open(path, encoding="utf-8") if line.strip()]
    conn = connect(url)
    while not stop.is_set():
        tag = random.randrange(10**9)
        post(conn, [f"{line} #{tag}" for line in random.sample(lines, 32)])
        sent[0] += 32


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", nargs="?", default="http://127.0.0.1:6333")
    parser.add_argument("n", nargs="?", type=int, default=200)
    parser.add_argument("--batches", metavar="FILE", help="send batches of its lines meanwhile")
    args = parser.parse_args()
    url = urlparse(args.url)
    n = args.n
    conn = connect(url)

    for i in range(10):
        post(conn, f"aquecimento {random.randrange(10**6)} {i}")

    stop = threading.Event()
    sent = [0]
    loader = None
    if args.batches:
        loader = threading.Thread(target=load, args=(url, args.batches, stop, sent), daemon=True)
        loader.start()
        time.sleep(1.0)  # let the first batches reach the model
    started, before = time.perf_counter(), sent[0]
    # Nearly as short as the cached text: a different five-digit rating
    # each time, from a random start so later runs against the same server
    # (whose cache keeps every text) rarely meet one already embedded.
    base = random.randrange(10_000, 99_000 - n) if n < 80_000 else 10_000
    fresh = sorted(post(conn, f"painel solar {base + i}w monocristalino") for i in range(n))
    if loader:
        stop.set()
        elapsed = time.perf_counter() - started
        loader.join()
        done = sent[0] - before
        print(f"batches meanwhile: {done} texts, {done / elapsed:.0f} texts/s")
    cached = sorted(post(conn, "painel solar 550w monocristalino") for _ in range(n))
    for label, ms in (("model (new text)", fresh), ("cache hit", cached)):
        p95 = ms[int(len(ms) * 0.95) - 1]
        print(f"{label}: p50 {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms over {len(ms)}")


if __name__ == "__main__":
    main()
