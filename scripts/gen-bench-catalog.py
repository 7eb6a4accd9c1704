#!/usr/bin/env python3
"""Writes a large distributor catalog for the assistant's benchmarks
(`helio bench assistant`): the sample catalogs' products, each repeated
with new SKUs, small price changes and stock, until N rows.

Usage: scripts/gen-bench-catalog.py N OUT.csv   (deterministic, seed 7)
"""

import csv
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
n, out = int(sys.argv[1]), Path(sys.argv[2])
rng = random.Random(7)
with open(HERE.parent / "data" / "samples" / "solartech-distribuicao.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
fields = list(rows[0].keys())
with open(out, "w", newline="", encoding="utf-8") as f:
    w = csv.DictWriter(f, fieldnames=fields)
    w.writeheader()
    for i in range(n):
        row = dict(rows[i % len(rows)])
        row["sku"] = f"BN-{i:06d}"
        row["distributor"] = "Bench Distribuição"
        price = float(str(row["price"]).replace(",", ""))
        row["price"] = f"{price * rng.uniform(0.9, 1.1):.2f}"
        row["stock"] = str(rng.choice([0, 5, 20, 120, 800]))
        w.writerow(row)
print(f"wrote {n} products to {out}")
