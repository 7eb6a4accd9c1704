#!/usr/bin/env python3
"""p50/p95 of one short text through /v1/embeddings over HTTP, with a
plain keep-alive connection (no SDK overhead), against a running server.

    python3 scripts/embed-latency.py http://127.0.0.1:6333 [N]

Each text is new (another power rating), so every request runs the model;
then the same text N times, which the embedding cache answers.
"""

from __future__ import annotations

import http.client
import json
import random
import statistics
import sys
import time
from urllib.parse import urlparse


def main() -> None:
    url = urlparse(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:6333")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=30)
    model = "sentence-transformers/all-MiniLM-L6-v2"

    def once(text: str) -> float:
        body = json.dumps({"input": text, "model": model})
        t = time.perf_counter()
        conn.request("POST", "/v1/embeddings", body, {"content-type": "application/json"})
        resp = conn.getresponse()
        data = resp.read()
        elapsed = (time.perf_counter() - t) * 1000
        if resp.status != 200:
            raise SystemExit(f"HTTP {resp.status}: {data[:200]!r}")
        return elapsed

    for i in range(10):
        once(f"aquecimento {i}")
    # Nearly as short as the cached text: a different five-digit rating
    # each time, from a random start so later runs against the same server
    # (whose cache keeps every text) rarely meet one already embedded.
    base = random.randrange(10_000, 99_000 - n) if n < 80_000 else 10_000
    fresh = sorted(once(f"painel solar {base + i}w monocristalino") for i in range(n))
    cached = sorted(once("painel solar 550w monocristalino") for _ in range(n))
    for label, ms in (("model (new text)", fresh), ("cache hit", cached)):
        p95 = ms[int(len(ms) * 0.95) - 1]
        print(f"{label}: p50 {statistics.median(ms):.2f} ms, p95 {p95:.2f} ms over {len(ms)}")


if __name__ == "__main__":
    main()
