#!/usr/bin/env python3
"""Measures how long a catalog drop takes to become searchable.

Starts `helio serve` (the binary given, on a fresh storage and data dir),
drops CSV files into its inbox the way a client should (temporary name,
then rename), and polls `helio-catalog` until every valid product is
there by BM25, then until every one has its dense vector. Prints both
times from the moment of the drop. Uses only the standard library.

    python3 scripts/pipeline-latency.py target/release/helio data/samples/*.csv --expect 357
    python3 scripts/pipeline-latency.py target/release/helio --rows 1000
    python3 scripts/pipeline-latency.py target/release/helio --rows 1000 --drops 10

`--rows N` drops one file of N products made from the SolarTech sample
(SKUs and names suffixed, so every text is new to the embedding cache).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.load(r)


def count(base: str, flt: dict | None) -> int:
    try:
        return post(f"{base}/collections/helio-catalog/points/count", {"filter": flt, "exact": True})["result"]["count"]
    except Exception:
        return 0


def make_file(path: Path, n: int, tag: str = "") -> Path:
    sample = Path(__file__).resolve().parents[1] / "data" / "samples" / "solartech-distribuicao.csv"
    with open(sample, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    # A file is one distributor's full offer: each tagged file is its own
    # distributor, so earlier drops stay.
    dist = header.index("distributor") if "distributor" in header else None
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for i in range(n):
            row = list(body[i % len(body)])
            lot = i // len(body)
            row[0], row[1] = f"{row[0]}-L{lot}{tag}", f"{row[1]} lote {lot}{tag}"
            if dist is not None and tag:
                row[dist] = f"{row[dist]} {tag}"
            w.writerow(row)
    return path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("files", nargs="*")
    ap.add_argument("--expect", type=int, help="valid products in the files")
    ap.add_argument("--rows", type=int, help="make one file of this many products instead")
    ap.add_argument("--drops", type=int, default=1,
                    help="with --rows: drop this many files of new products, one after the other, "
                         "and report p50/p95")
    ap.add_argument("--model-dir", default="models/all-MiniLM-L6-v2")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="helio-pipeline-"))
    if args.drops > 1 and not args.rows:
        ap.error("--drops needs --rows (each drop must bring new products)")
    if args.rows:
        args.expect = args.rows
    elif not args.files or not args.expect:
        ap.error("give files and --expect, or --rows")
    env = dict(os.environ, HELIO_LOG="warn", HELIO_MODEL_DIR=args.model_dir)
    proc = subprocess.Popen(
        [args.binary, "serve", "--port", "0", "--storage", str(root / "storage"), "--data-dir", str(root / "data")],
        stdout=subprocess.PIPE, env=env,
    )
    try:
        base = ""
        for raw in proc.stdout:
            line = raw.decode()
            if line.startswith("helio listening on "):
                base = line.split()[-1]
                break
        inbox = root / "data" / "inbox"
        keywords, denses = [], []
        for k in range(args.drops):
            files = args.files
            if args.rows:
                # A new distributor each time, with products new to the cache.
                files = [str(make_file(root / f"catalogo-{k}.csv", args.rows, f"-D{k}"))]
            already = count(base, None)
            started = time.monotonic()
            for f in files:
                tmp = inbox / (Path(f).name + ".part")
                shutil.copy(f, tmp)
                tmp.rename(inbox / Path(f).name)
            want = already + args.expect
            keyword = dense = None
            while time.monotonic() - started < 600:
                if keyword is None and count(base, None) >= want:
                    keyword = time.monotonic() - started
                if keyword is not None and count(base, {"must": [{"has_vector": ""}]}) >= want:
                    dense = time.monotonic() - started
                    break
                time.sleep(0.02)
            if keyword is None or dense is None:
                raise SystemExit(f"drop {k + 1}: not all {args.expect} products arrived within 600 s")
            keywords.append(keyword)
            denses.append(dense)
            print(f"drop {k + 1}: {args.expect} products: searchable by BM25 after {keyword:.2f} s, "
                  f"all dense vectors after {dense:.2f} s", flush=True)
        if args.drops > 1:
            def pct(xs: list[float], p: float) -> float:
                xs = sorted(xs)
                return xs[round((len(xs) - 1) * p)]
            print(f"{args.drops} drops of {args.expect}: BM25 p50 {pct(keywords, 0.5):.2f} s, "
                  f"p95 {pct(keywords, 0.95):.2f} s; dense p50 {pct(denses, 0.5):.2f} s, "
                  f"p95 {pct(denses, 0.95):.2f} s")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
