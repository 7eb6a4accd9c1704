"""A collection big enough for the optimizer to build HNSW graphs: wait until
every vector is indexed, then compare top-10 against numpy brute force."""

import time

import numpy as np
import pytest
from qdrant_client import models

N = 2000
DIM = 32
K = 10
INDEX_TIMEOUT_S = 40.0


def test_hnsw_recall_after_indexing(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
        hnsw_config=models.HnswConfigDiff(m=16, ef_construct=100),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10),
    )
    rng = np.random.default_rng(2024)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    for start in range(0, N, 500):
        ids = list(range(start, min(start + 500, N)))
        client.upsert(
            collection_name,
            points=models.Batch(ids=ids, vectors=data[ids].tolist(), payloads=[{"even": i % 2 == 0} for i in ids]),
            wait=True,
        )

    deadline = time.monotonic() + INDEX_TIMEOUT_S
    while True:
        info = client.get_collection(collection_name)
        if info.indexed_vectors_count == info.points_count == N and info.status == models.CollectionStatus.GREEN:
            break
        assert time.monotonic() < deadline, (
            f"not indexed after {INDEX_TIMEOUT_S}s: indexed={info.indexed_vectors_count} "
            f"points={info.points_count} status={info.status}"
        )
        time.sleep(0.25)
    assert info.segments_count >= 1

    normed = data / np.linalg.norm(data, axis=1, keepdims=True)
    queries = rng.normal(size=(40, DIM)).astype(np.float32)
    hits = 0
    for q in queries:
        truth = np.argsort(-(normed @ (q / np.linalg.norm(q))))[:K]
        res = client.query_points(collection_name, query=q.tolist(), limit=K, with_payload=False)
        assert len(res.points) == K
        hits += len(set(int(i) for i in truth) & {p.id for p in res.points})
    recall = hits / (K * len(queries))
    assert recall >= 0.95, recall

    # Exact search is exact; indexed_only sees every (indexed) point.
    q = queries[0]
    truth = [int(i) for i in np.argsort(-(normed @ (q / np.linalg.norm(q))))[:K]]
    exact = client.query_points(
        collection_name, query=q.tolist(), limit=K, search_params=models.SearchParams(exact=True)
    )
    assert [p.id for p in exact.points] == truth
    only_indexed = client.query_points(
        collection_name, query=q.tolist(), limit=K,
        search_params=models.SearchParams(hnsw_ef=256, indexed_only=True),
    )
    assert len(set(p.id for p in only_indexed.points) & set(truth)) >= K - 1

    # Filtered search over the graph is still accurate.
    even = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    scores = normed @ (q / np.linalg.norm(q))
    truth_even = [int(i) for i in np.argsort(-scores) if i % 2 == 0][:K]
    res = client.query_points(
        collection_name, query=q.tolist(), limit=K, query_filter=even,
        search_params=models.SearchParams(hnsw_ef=128),
    )
    assert all(p.id % 2 == 0 for p in res.points)
    assert len({p.id for p in res.points} & set(truth_even)) >= K - 1
