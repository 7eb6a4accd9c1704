"""Vector search: query_points / query_batch_points through the client, the
legacy /points/search routes over raw HTTP (qdrant-client >= 1.14 no longer
wraps them), every distance checked against numpy."""

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 6
N = 120

DISTANCES = [
    models.Distance.COSINE,
    models.Distance.DOT,
    models.Distance.EUCLID,
    models.Distance.MANHATTAN,
]


def reference_scores(distance, data, q):
    """Qdrant's score for each row of `data` against `q`."""
    if distance == models.Distance.COSINE:
        dn = data / np.linalg.norm(data, axis=1, keepdims=True)
        return dn @ (q / np.linalg.norm(q))
    if distance == models.Distance.DOT:
        return data @ q
    if distance == models.Distance.EUCLID:
        return np.linalg.norm(data - q, axis=1)
    return np.abs(data - q).sum(axis=1)


def higher_is_better(distance):
    return distance in (models.Distance.COSINE, models.Distance.DOT)


def ranked(distance, scores):
    order = np.argsort(-scores if higher_is_better(distance) else scores, kind="stable")
    return order


def make_collection(client, name, distance, seed=3):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=distance))
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    payloads = [{"i": i, "bucket": i % 4, "name": f"p{i}", "extra": {"deep": i * 2}} for i in range(N)]
    client.upsert(
        name,
        points=models.Batch(ids=list(range(N)), vectors=data.tolist(), payloads=payloads),
        wait=True,
    )
    return data, payloads


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_query_points_scores_match_numpy(client, collection_name, distance):
    data, _ = make_collection(client, collection_name, distance)
    rng = np.random.default_rng(99)
    for _ in range(3):
        q = rng.normal(size=DIM).astype(np.float32)
        want_scores = reference_scores(distance, data, q)
        order = ranked(distance, want_scores)[:10]
        res = client.query_points(collection_name, query=q.tolist(), limit=10)
        got_ids = [p.id for p in res.points]
        assert got_ids == [int(i) for i in order]
        got_scores = np.array([p.score for p in res.points])
        np.testing.assert_allclose(got_scores, want_scores[order], rtol=1e-4, atol=1e-4)
        # Best first.
        if higher_is_better(distance):
            assert all(a >= b for a, b in zip(got_scores, got_scores[1:]))
        else:
            assert all(a <= b for a, b in zip(got_scores, got_scores[1:]))
            assert all(s >= 0 for s in got_scores)

    # score_threshold: at least (similarities) or at most (distances).
    q = rng.normal(size=DIM).astype(np.float32)
    scores = reference_scores(distance, data, q)
    threshold = float(np.median(scores))
    res = client.query_points(collection_name, query=q.tolist(), limit=N, score_threshold=threshold)
    if higher_is_better(distance):
        want = {i for i in range(N) if scores[i] >= threshold}
        assert all(p.score >= threshold - 1e-5 for p in res.points)
    else:
        want = {i for i in range(N) if scores[i] <= threshold}
        assert all(p.score <= threshold + 1e-5 for p in res.points)
    got = {p.id for p in res.points}
    # Allow float rounding at the exact median point only.
    assert len(got ^ want) <= 1, (sorted(got - want), sorted(want - got))
    assert N // 2 - 1 <= len(got) <= N // 2 + 1


def test_cosine_returns_normalised_vectors(client, collection_name):
    data, _ = make_collection(client, collection_name, models.Distance.COSINE)
    res = client.query_points(collection_name, query=data[0].tolist(), limit=3, with_vectors=True)
    assert res.points[0].id == 0
    assert res.points[0].score == pytest.approx(1.0, abs=1e-5)
    for p in res.points:
        v = np.array(p.vector)
        assert np.linalg.norm(v) == pytest.approx(1.0, abs=1e-5)
        expected = data[p.id] / np.linalg.norm(data[p.id])
        np.testing.assert_allclose(v, expected, atol=1e-5)


def test_query_variants_filter_paging_and_selectors(client, collection_name):
    distance = models.Distance.DOT
    data, payloads = make_collection(client, collection_name, distance)
    q = np.random.default_rng(5).normal(size=DIM).astype(np.float32)
    scores = reference_scores(distance, data, q)
    order = [int(i) for i in ranked(distance, scores)]

    # NearestQuery is the same as a bare vector.
    a = client.query_points(collection_name, query=q.tolist(), limit=7)
    b = client.query_points(collection_name, query=models.NearestQuery(nearest=q.tolist()), limit=7)
    assert [p.id for p in a.points] == [p.id for p in b.points] == order[:7]

    # limit / offset.
    page = client.query_points(collection_name, query=q.tolist(), limit=5, offset=5)
    assert [p.id for p in page.points] == order[5:10]

    # Filter.
    flt = models.Filter(must=[models.FieldCondition(key="bucket", match=models.MatchValue(value=2))])
    res = client.query_points(collection_name, query=q.tolist(), query_filter=flt, limit=8)
    assert [p.id for p in res.points] == [i for i in order if payloads[i]["bucket"] == 2][:8]

    # The client asks for payloads by default; the server's own default
    # (checked over raw HTTP in the legacy test) is none.
    top = res.points[0]
    assert top.payload == payloads[top.id]
    assert top.vector is None
    res = client.query_points(collection_name, query=q.tolist(), limit=2, with_payload=False)
    assert all(not p.payload for p in res.points)

    # with_payload include / exclude / list; with_vectors.
    res = client.query_points(
        collection_name, query=q.tolist(), limit=3,
        with_payload=models.PayloadSelectorInclude(include=["name", "extra"]), with_vectors=True,
    )
    for p in res.points:
        assert p.payload == {"name": f"p{p.id}", "extra": {"deep": p.id * 2}}
        np.testing.assert_allclose(p.vector, data[p.id], rtol=1e-6)
    res = client.query_points(
        collection_name, query=q.tolist(), limit=3,
        with_payload=models.PayloadSelectorExclude(exclude=["name", "extra"]),
    )
    for p in res.points:
        assert p.payload == {"i": p.id, "bucket": p.id % 4}
    res = client.query_points(collection_name, query=q.tolist(), limit=3, with_payload=["i"])
    assert [p.payload for p in res.points] == [{"i": i} for i in order[:3]]
    res = client.query_points(collection_name, query=q.tolist(), limit=3, with_payload=True)
    assert [p.payload for p in res.points] == [payloads[i] for i in order[:3]]

    # Search params are accepted and exact search is exact.
    for params in (
        models.SearchParams(hnsw_ef=128, exact=True),
        models.SearchParams(hnsw_ef=16, exact=False, indexed_only=False),
        models.SearchParams(exact=True, indexed_only=False),
    ):
        res = client.query_points(collection_name, query=q.tolist(), limit=10, search_params=params)
        assert [p.id for p in res.points] == order[:10]
    # indexed_only=True on a collection whose points are all unindexed may
    # answer with fewer points, but never with wrong ones.
    res = client.query_points(
        collection_name, query=q.tolist(), limit=10, search_params=models.SearchParams(indexed_only=True)
    )
    ids = [p.id for p in res.points]
    assert all(i in order for i in ids)
    assert ids == sorted(ids, key=order.index)


def test_query_by_point_id_excludes_itself(client, collection_name):
    distance = models.Distance.EUCLID
    data, _ = make_collection(client, collection_name, distance)
    scores = reference_scores(distance, data, data[17])
    order = [int(i) for i in ranked(distance, scores) if i != 17]
    res = client.query_points(collection_name, query=17, limit=5)
    assert [p.id for p in res.points] == order[:5]
    # An unknown id is a 404.
    with pytest.raises(UnexpectedResponse) as exc:
        client.query_points(collection_name, query=100_000, limit=5)
    assert exc.value.status_code in (400, 404)


def test_query_batch_points(client, collection_name):
    distance = models.Distance.MANHATTAN
    data, payloads = make_collection(client, collection_name, distance)
    rng = np.random.default_rng(8)
    qs = rng.normal(size=(3, DIM)).astype(np.float32)
    flt = models.Filter(must_not=[models.FieldCondition(key="bucket", match=models.MatchAny(any=[0, 1]))])
    requests = [
        models.QueryRequest(query=qs[0].tolist(), limit=4),
        models.QueryRequest(query=models.NearestQuery(nearest=qs[1].tolist()), limit=3, filter=flt, with_payload=True),
        models.QueryRequest(query=qs[2].tolist(), limit=2, offset=1, with_vector=True),
    ]
    results = client.query_batch_points(collection_name, requests=requests)
    assert len(results) == 3
    o0 = [int(i) for i in ranked(distance, reference_scores(distance, data, qs[0]))]
    o1 = [int(i) for i in ranked(distance, reference_scores(distance, data, qs[1])) if payloads[i]["bucket"] >= 2]
    o2 = [int(i) for i in ranked(distance, reference_scores(distance, data, qs[2]))]
    assert [p.id for p in results[0].points] == o0[:4]
    assert [p.id for p in results[1].points] == o1[:3]
    assert [p.payload for p in results[1].points] == [payloads[i] for i in o1[:3]]
    assert [p.id for p in results[2].points] == o2[1:3]
    assert all(p.vector is not None for p in results[2].points)


def test_query_without_query_lists_points(client, collection_name):
    make_collection(client, collection_name, models.Distance.DOT)
    res = client.query_points(collection_name, limit=5, with_payload=["i"])
    assert [p.id for p in res.points] == [0, 1, 2, 3, 4]
    assert [p.payload for p in res.points] == [{"i": i} for i in range(5)]


def _post(helio_url, path, body):
    resp = httpx.post(helio_url + path, json=body, timeout=30)
    return resp


def test_legacy_search_and_search_batch(client, collection_name, helio_url):
    distance = models.Distance.COSINE
    data, payloads = make_collection(client, collection_name, distance)
    q = np.random.default_rng(21).normal(size=DIM).astype(np.float32)
    scores = reference_scores(distance, data, q)
    order = [int(i) for i in ranked(distance, scores)]

    body = {
        "vector": q.tolist(),
        "limit": 5,
        "offset": 2,
        "with_payload": {"include": ["name"]},
        "with_vector": True,
        "params": {"hnsw_ef": 64, "exact": True, "indexed_only": False},
    }
    resp = _post(helio_url, f"/collections/{collection_name}/points/search", body)
    assert resp.status_code == 200, resp.text
    points = [models.ScoredPoint.model_validate(p) for p in resp.json()["result"]]
    assert [p.id for p in points] == order[2:7]
    np.testing.assert_allclose([p.score for p in points], scores[order[2:7]], atol=1e-5)
    assert [p.payload for p in points] == [{"name": f"p{i}"} for i in order[2:7]]
    assert all(abs(np.linalg.norm(p.vector) - 1) < 1e-5 for p in points)

    # Named form {"name": "", "vector": [...]}, filter, threshold. The
    # threshold sits between the 10th and 11th scores rather than on the
    # 10th: numpy scores in float64, Helio in float32 (with SIMD on this
    # CPU), and the two differ in the last bits.
    gap = float(scores[order[9]]) - float(scores[order[10]])
    assert gap > 1e-5, "the data must separate the 10th and 11th scores"
    threshold = float(scores[order[9]]) - gap / 2
    body = {
        "vector": {"name": "", "vector": q.tolist()},
        "limit": 50,
        "score_threshold": threshold,
        "filter": {"must": [{"key": "bucket", "match": {"any": [1, 3]}}]},
        "with_payload": {"exclude": ["extra", "name"]},
    }
    resp = _post(helio_url, f"/collections/{collection_name}/points/search", body)
    assert resp.status_code == 200, resp.text
    points = [models.ScoredPoint.model_validate(p) for p in resp.json()["result"]]
    want = [i for i in order[:10] if payloads[i]["bucket"] in (1, 3)]
    assert [p.id for p in points] == want
    assert [p.payload for p in points] == [{"i": i, "bucket": i % 4} for i in want]

    # Without with_payload / with_vector the server returns neither.
    resp = _post(helio_url, f"/collections/{collection_name}/points/search", {"vector": q.tolist(), "limit": 2})
    assert resp.status_code == 200, resp.text
    for p in resp.json()["result"]:
        assert p.get("payload") is None and p.get("vector") is None
    resp = _post(helio_url, f"/collections/{collection_name}/points/query", {"query": q.tolist(), "limit": 2})
    assert resp.status_code == 200, resp.text
    for p in resp.json()["result"]["points"]:
        assert p.get("payload") is None and p.get("vector") is None

    batch = {"searches": [{"vector": q.tolist(), "limit": 3}, {"vector": data[4].tolist(), "limit": 1}]}
    resp = _post(helio_url, f"/collections/{collection_name}/points/search/batch", batch)
    assert resp.status_code == 200, resp.text
    result = resp.json()["result"]
    assert [[p["id"] for p in r] for r in result] == [order[:3], [4]]
