"""The `timeout` query parameter of the search routes: a query that cannot
finish in time is a 408 in Qdrant's envelope, and the server goes on."""

import httpx
import numpy as np
from qdrant_client import models

DIM = 64
N = 20_000


def test_timeout_is_a_408_and_the_server_goes_on(helio_url, client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    rng = np.random.default_rng(4)
    for start in range(0, N, 5_000):
        client.upsert(
            collection_name,
            points=models.Batch(
                ids=list(range(start, start + 5_000)),
                vectors=rng.normal(size=(5_000, DIM)).astype(np.float32).tolist(),
            ),
            wait=True,
        )
    url = f"{helio_url}/collections/{collection_name}/points/query"
    # A context query scores every point against every pair: 20,000 points
    # × 2,000 pairs × 2 × 64 dimensions, about 3 s in the test build.
    pairs = rng.normal(size=(2_000, 2, DIM)).round(3).tolist()
    heavy = {"query": {"context": [{"positive": p, "negative": n} for p, n in pairs]}, "limit": 3}
    r = httpx.post(url, params={"timeout": 1}, json=heavy, timeout=60)
    assert r.status_code == 408, r.text[:300]
    assert "timeout" in r.json()["status"]["error"].lower()

    # Light queries still answer, with or without a timeout; 0 is refused.
    light = {"query": [0.1] * DIM, "limit": 3}
    assert len(httpx.post(url, params={"timeout": 30}, json=light).json()["result"]["points"]) == 3
    assert len(httpx.post(url, json=light).json()["result"]["points"]) == 3
    r = httpx.post(url, params={"timeout": 0}, json=light)
    assert r.status_code == 400, r.text
    r = httpx.post(
        f"{helio_url}/collections/{collection_name}/points/search",
        params={"timeout": 30},
        json={"vector": [0.1] * DIM, "limit": 2},
    )
    assert r.status_code == 200 and len(r.json()["result"]) == 2
