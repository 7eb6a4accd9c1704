"""`lookup_from`: point ids in a query name points of another collection,
whose vectors are searched with here. Checked against numpy on the query
API (root and prefetch), the recommend query and the legacy recommend."""

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 5
N = 80


def dot_ranking(data, q, exclude=()):
    order = np.argsort(-(data @ q), kind="stable")
    return [int(i) for i in order if int(i) not in exclude]


@pytest.fixture
def two_collections(client, collection_name):
    """`collection_name` (searched, Dot) and a second collection whose points
    have an unnamed vector and a named one, `alt`, of the same size."""
    rng = np.random.default_rng(11)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT)
    )
    client.upsert(
        collection_name,
        points=models.Batch(ids=list(range(N)), vectors=data.tolist(), payloads=[{"i": i} for i in range(N)]),
        wait=True,
    )
    other = collection_name + "_src"
    client.create_collection(
        other,
        vectors_config={
            "": models.VectorParams(size=DIM, distance=models.Distance.DOT),
            "alt": models.VectorParams(size=DIM, distance=models.Distance.DOT),
        },
    )
    src = rng.normal(size=(4, DIM)).astype(np.float32)
    alt = rng.normal(size=(4, DIM)).astype(np.float32)
    client.upsert(
        other,
        points=[
            models.PointStruct(id=i, vector={"": src[i].tolist(), "alt": alt[i].tolist()})
            for i in range(4)
        ],
        wait=True,
    )
    yield data, other, src, alt
    client.delete_collection(other)


def test_nearest_id_from_another_collection(client, collection_name, two_collections):
    data, other, src, alt = two_collections
    for vector, want_vec in [(None, src[2]), ("alt", alt[2])]:
        got = client.query_points(
            collection_name,
            query=2,
            lookup_from=models.LookupLocation(collection=other, vector=vector),
            limit=10,
            search_params=models.SearchParams(exact=True),
        ).points
        # Point 2 exists here too, but the id named a point over there: it
        # is not left out of the results.
        assert [p.id for p in got] == dot_ranking(data, want_vec)[:10]
        assert got[0].score == pytest.approx(float(data[got[0].id] @ want_vec), rel=1e-5)

    # Without lookup_from the id is this collection's point 2, left out.
    got = client.query_points(collection_name, query=2, limit=5, search_params=models.SearchParams(exact=True))
    assert [p.id for p in got.points] == dot_ranking(data, data[2], exclude={2})[:5]


def test_recommend_and_prefetch_with_lookup(client, collection_name, two_collections):
    data, other, src, _ = two_collections
    got = client.query_points(
        collection_name,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[0, 1], negative=[3])),
        lookup_from=models.LookupLocation(collection=other),
        limit=8,
        search_params=models.SearchParams(exact=True),
    ).points
    avg = 2 * (src[0] + src[1]) / 2 - src[3]
    assert [p.id for p in got] == dot_ranking(data, avg)[:8]

    # A prefetch with its own lookup_from, rescored by a plain vector.
    q = np.ones(DIM, dtype=np.float32)
    got = client.query_points(
        collection_name,
        prefetch=models.Prefetch(query=1, lookup_from=models.LookupLocation(collection=other), limit=20),
        query=q.tolist(),
        limit=5,
    ).points
    pool = dot_ranking(data, src[1])[:20]
    want = sorted(pool, key=lambda i: -float(data[i] @ q))[:5]
    assert [p.id for p in got] == want

    # The legacy route takes it as a collection and vector too.
    r = httpx.post(
        f"{client._client.rest_uri}/collections/{collection_name}/points/recommend",
        json={"positive": [3], "limit": 4, "lookup_from": {"collection": other}, "params": {"exact": True}},
    )
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["result"]] == dot_ranking(data, src[3])[:4]


def test_lookup_errors(client, collection_name, two_collections):
    _, other, _, _ = two_collections
    for location, status in [
        (models.LookupLocation(collection="no_such_collection"), 404),
        (models.LookupLocation(collection=other, vector="missing"), 400),
    ]:
        with pytest.raises(UnexpectedResponse) as e:
            client.query_points(collection_name, query=1, lookup_from=location)
        assert e.value.status_code == status, e.value.content
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(collection_name, query=99, lookup_from=models.LookupLocation(collection=other))
    assert e.value.status_code == 404
    assert b"99" in e.value.content
