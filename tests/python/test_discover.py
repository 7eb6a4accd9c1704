"""Discovery and context queries through the client (DiscoverQuery,
ContextQuery) and the legacy /points/discover routes, checked against the
scores computed here with numpy from Qdrant's published formulas."""

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 6
N = 150


def similarity(distance, data, v):
    """Higher-is-better similarity of each row to `v`, as Qdrant compares
    examples: minus the squared distance for Euclid, minus the distance for
    Manhattan."""
    if distance == models.Distance.COSINE:
        dn = data / np.linalg.norm(data, axis=1, keepdims=True)
        return dn @ (v / np.linalg.norm(v))
    if distance == models.Distance.DOT:
        return data @ v
    if distance == models.Distance.EUCLID:
        return -(np.linalg.norm(data - v, axis=1) ** 2)
    return -np.abs(data - v).sum(axis=1)


def fast_sigmoid(x):
    return x / (1.0 + np.abs(x))


def discover_scores(distance, data, target, pairs):
    rank = np.zeros(len(data))
    for p, n in pairs:
        rank += np.sign(similarity(distance, data, p) - similarity(distance, data, n))
    return rank + 0.5 * (fast_sigmoid(similarity(distance, data, target)) + 1.0)


def context_scores(distance, data, pairs):
    loss = np.zeros(len(data))
    for p, n in pairs:
        diff = similarity(distance, data, p) - similarity(distance, data, n) - np.finfo(np.float32).eps
        loss += fast_sigmoid(np.minimum(diff, 0.0))
    return loss


def make(client, name, distance):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=distance))
    data = np.random.default_rng(21).normal(size=(N, DIM)).astype(np.float32)
    client.upsert(
        name,
        points=models.Batch(ids=list(range(N)), vectors=data.tolist(), payloads=[{"even": i % 2 == 0} for i in range(N)]),
        wait=True,
    )
    return data


def check(got, scores, exclude=(), keep=lambda i: True, limit=10):
    """`got` are the best `limit` by `scores`, with their scores; ties may
    come in any order, so the comparison is by score."""
    pool = [i for i in range(len(scores)) if i not in exclude and keep(i)]
    best = sorted(pool, key=lambda i: -scores[i])[:limit]
    assert len(got) == len(best)
    assert [p.score for p in got] == pytest.approx([scores[i] for i in best], abs=1e-4)
    for p in got:
        assert p.id not in exclude and keep(p.id)
        assert p.score == pytest.approx(scores[p.id], abs=1e-4)


DISTANCES = [models.Distance.COSINE, models.Distance.DOT, models.Distance.EUCLID, models.Distance.MANHATTAN]


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_discover_matches_reference(client, collection_name, distance):
    data = make(client, collection_name, distance)
    rng = np.random.default_rng(7)
    target = rng.normal(size=DIM).astype(np.float32)
    # Pairs mixing stored points (left out of the results) and vectors.
    extra = rng.normal(size=(2, DIM)).astype(np.float32)
    got = client.query_points(
        collection_name,
        query=models.DiscoverQuery(
            discover=models.DiscoverInput(
                target=target.tolist(),
                context=[
                    models.ContextPair(positive=3, negative=4),
                    models.ContextPair(positive=extra[0].tolist(), negative=extra[1].tolist()),
                ],
            )
        ),
        limit=10,
    ).points
    pairs = [(data[3], data[4]), (extra[0], extra[1])]
    check(got, discover_scores(distance, data, target, pairs), exclude={3, 4})


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_context_matches_reference(client, collection_name, distance):
    data = make(client, collection_name, distance)
    only_even = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    got = client.query_points(
        collection_name,
        query=models.ContextQuery(context=[models.ContextPair(positive=10, negative=11), models.ContextPair(positive=12, negative=13)]),
        query_filter=only_even,
        limit=20,
    ).points
    pairs = [(data[10], data[11]), (data[12], data[13])]
    check(got, context_scores(distance, data, pairs), exclude={10, 11, 12, 13}, keep=lambda i: i % 2 == 0, limit=20)
    assert all(-2.0 < p.score <= 0.0 for p in got)


def test_discover_over_prefetch_and_with_lookup(client, collection_name):
    distance = models.Distance.DOT
    data = make(client, collection_name, distance)
    q = np.ones(DIM, dtype=np.float32)
    # A single pair (not a list) is accepted too.
    got = client.query_points(
        collection_name,
        prefetch=models.Prefetch(query=q.tolist(), limit=30),
        query=models.DiscoverQuery(discover=models.DiscoverInput(target=5, context=models.ContextPair(positive=6, negative=7))),
        limit=10,
    ).points
    pool = set(np.argsort(-(data @ q), kind="stable")[:30].tolist())
    check(got, discover_scores(distance, data, data[5], [(data[6], data[7])]), exclude={5, 6, 7}, keep=lambda i: i in pool)

    other = collection_name + "_ex"
    client.create_collection(other, vectors_config=models.VectorParams(size=DIM, distance=distance))
    try:
        ex = np.random.default_rng(8).normal(size=(3, DIM)).astype(np.float32)
        client.upsert(other, points=models.Batch(ids=[5, 6, 7], vectors=ex.tolist()), wait=True)
        got = client.query_points(
            collection_name,
            query=models.DiscoverQuery(discover=models.DiscoverInput(target=5, context=[models.ContextPair(positive=6, negative=7)])),
            lookup_from=models.LookupLocation(collection=other),
            limit=10,
        ).points
        # Examples from elsewhere: this collection's 5, 6, 7 may be results.
        check(got, discover_scores(distance, data, ex[0], [(ex[1], ex[2])]))
    finally:
        client.delete_collection(other)


def test_legacy_discover_routes(helio_url, client, collection_name):
    distance = models.Distance.COSINE
    data = make(client, collection_name, distance)
    url = f"{helio_url}/collections/{collection_name}/points/discover"
    body = {"target": 1, "context": [{"positive": 2, "negative": 9}], "limit": 5, "with_payload": True}
    r = httpx.post(url, json=body)
    assert r.status_code == 200, r.text
    scores = discover_scores(distance, data, data[1], [(data[2], data[9])])

    class P:
        def __init__(self, d):
            self.id, self.score = d["id"], d["score"]

    result = r.json()["result"]
    check([P(d) for d in result], scores, exclude={1, 2, 9}, limit=5)
    assert all("even" in d["payload"] for d in result)

    # No target: a context search. The batch route answers each in order.
    ctx = {"context": [{"positive": 2, "negative": 9}], "limit": 7}
    r = httpx.post(url + "/batch", json={"searches": [body, ctx]})
    assert r.status_code == 200, r.text
    first, second = r.json()["result"]
    assert [d["id"] for d in first] == [d["id"] for d in result]
    check([P(d) for d in second], context_scores(distance, data, [(data[2], data[9])]), exclude={2, 9}, limit=7)


def test_bad_discover_requests(helio_url, client, collection_name):
    make(client, collection_name, models.Distance.COSINE)
    url = f"{helio_url}/collections/{collection_name}/points"
    for path, body, status in [
        ("discover", {"limit": 5}, 400),  # neither target nor context
        ("discover", {"target": 1, "context": [{"positive": 2}], "limit": 5}, 422),
        ("discover", {"target": 10_000, "context": [], "limit": 5}, 404),
        ("query", {"query": {"discover": {"context": []}}}, 422),  # no target
        ("query", {"query": {"context": [{"positive": [1.0, 2.0], "negative": 2}]}}, 400),  # wrong size
        ("query", {"query": {"context": [{"positive": "nope", "negative": 2}]}}, 400),
    ]:
        r = httpx.post(f"{url}/{path}", json=body)
        assert r.status_code == status, (path, body, r.text)
        assert r.json()["status"]["error"], r.text
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(collection_name, query=models.ContextQuery(context=[]))
    assert e.value.status_code == 400
