"""scroll (paging, filters, order_by) and count."""

import random

import httpx
import pytest
from qdrant_client import models

N = 57


@pytest.fixture
def coll(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID)
    )
    rng = random.Random(11)
    payloads = {}
    points = []
    for i in range(1, N + 1):
        p = {"rank": rng.randint(0, 1000), "kind": "even" if i % 2 == 0 else "odd"}
        if i % 5 == 0:
            p["price"] = i * 1.5
        payloads[i] = p
        points.append(models.PointStruct(id=i, vector=[float(i), 0.0], payload=p))
    client.upsert(collection_name, points=points, wait=True)
    return collection_name, payloads


def test_scroll_pages_to_the_end(client, coll):
    name, payloads = coll
    seen = []
    offset = None
    pages = 0
    while True:
        points, offset = client.scroll(name, limit=10, offset=offset)
        pages += 1
        assert len(points) <= 10
        seen.extend(p.id for p in points)
        for p in points:
            assert p.payload == payloads[p.id]
            assert p.vector is None
        if offset is None:
            break
        assert pages < 20
    assert seen == sorted(payloads)  # id order, each once
    assert pages == 6


def test_scroll_filter_and_vectors(client, coll):
    name, payloads = coll
    flt = models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="even"))])
    points, nxt = client.scroll(name, scroll_filter=flt, limit=100, with_vectors=True, with_payload=False)
    assert nxt is None
    assert [p.id for p in points] == [i for i in sorted(payloads) if payloads[i]["kind"] == "even"]
    for p in points:
        assert p.vector == pytest.approx([float(p.id), 0.0])
        assert not p.payload

    # Paging with a filter: the offset is the next matching id.
    first, nxt = client.scroll(name, scroll_filter=flt, limit=5)
    assert [p.id for p in first] == [2, 4, 6, 8, 10]
    assert nxt == 12
    second, _ = client.scroll(name, scroll_filter=flt, limit=5, offset=nxt)
    assert [p.id for p in second] == [12, 14, 16, 18, 20]

    points, _ = client.scroll(name, limit=3, with_payload=["rank"])
    assert [set(p.payload) for p in points] == [{"rank"}] * 3


def test_scroll_order_by(client, coll):
    name, payloads = coll
    client.create_payload_index(
        name,
        "rank",
        field_schema=models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True, range=True),
        wait=True,
    )
    points, _ = client.scroll(name, limit=N, order_by="rank")
    ranks = [p.payload["rank"] for p in points]
    assert ranks == sorted(payloads[i]["rank"] for i in payloads)
    assert all(p.order_value == p.payload["rank"] for p in points)
    assert len(points) == N

    points, _ = client.scroll(
        name, limit=10, order_by=models.OrderBy(key="rank", direction=models.Direction.DESC)
    )
    want = sorted((p["rank"] for p in payloads.values()), reverse=True)[:10]
    assert [p.payload["rank"] for p in points] == want

    points, _ = client.scroll(
        name,
        limit=N,
        order_by=models.OrderBy(key="rank", direction=models.Direction.DESC, start_from=500),
    )
    want = sorted((p["rank"] for p in payloads.values() if p["rank"] <= 500), reverse=True)
    assert [p.payload["rank"] for p in points] == want

    points, _ = client.scroll(
        name, limit=N, order_by=models.OrderBy(key="rank", start_from=500)
    )
    want = sorted(p["rank"] for p in payloads.values() if p["rank"] >= 500)
    assert [p.payload["rank"] for p in points] == want

    # Order by combined with a filter.
    flt = models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="odd"))])
    points, _ = client.scroll(name, limit=N, scroll_filter=flt, order_by="rank")
    want = sorted(p["rank"] for p in payloads.values() if p["kind"] == "odd")
    assert [p.payload["rank"] for p in points] == want


def test_count_exact_and_approximate(client, coll):
    name, payloads = coll
    assert client.count(name).count == N
    assert client.count(name, exact=True).count == N
    approx = client.count(name, exact=False).count
    assert approx == N  # one node, no sampling: the estimate is exact here

    flt = models.Filter(
        must=[models.FieldCondition(key="rank", range=models.Range(gte=200, lt=700))],
        must_not=[models.FieldCondition(key="kind", match=models.MatchValue(value="odd"))],
    )
    want = sum(1 for p in payloads.values() if 200 <= p["rank"] < 700 and p["kind"] != "odd")
    assert client.count(name, count_filter=flt, exact=True).count == want
    approx = client.count(name, count_filter=flt, exact=False).count
    assert 0 <= approx <= N

    has_price = models.Filter(must_not=[models.IsEmptyCondition(is_empty=models.PayloadField(key="price"))])
    assert client.count(name, count_filter=has_price).count == N // 5


def test_scroll_pages_over_mixed_int_and_uuid_ids(client, collection_name):
    import uuid

    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    rng = random.Random(5)
    uuids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(7)]
    ints = [40, 3, 17, 2**63, 8]
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=[1, 0]) for i in ints + uuids],
        wait=True,
    )
    # Integer ids first (numeric order), then UUIDs (by value = hex order).
    want = sorted(ints) + sorted(uuids)
    seen, offset = [], None
    for _ in range(10):
        points, offset = client.scroll(collection_name, limit=3, offset=offset, with_payload=False)
        seen.extend(p.id for p in points)
        if offset is None:
            break
    assert seen == want
    # Starting from a UUID offset that is itself a point includes it.
    points, _ = client.scroll(collection_name, limit=100, offset=want[6])
    assert [p.id for p in points] == want[6:]


def test_query_order_by_orders_by_a_payload_field(client, coll):
    name, payloads = coll
    client.create_payload_index(name, "rank", models.PayloadSchemaType.INTEGER, wait=True)
    got = client.query_points(
        name,
        query=models.OrderByQuery(order_by=models.OrderBy(key="rank", direction=models.Direction.DESC)),
        query_filter=models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="odd"))]),
        limit=5,
        offset=2,
        with_payload=True,
    ).points
    odd = sorted((p for p in payloads.values() if p["kind"] == "odd"), key=lambda p: -p["rank"])
    assert [p.payload["rank"] for p in got] == [p["rank"] for p in odd[2:7]]
    # The shorthand: a key, ascending.
    first = client.query_points(name, query=models.OrderByQuery(order_by="rank"), limit=3).points
    ranks = sorted(p["rank"] for p in payloads.values())
    assert [payloads[p.id]["rank"] for p in first] == ranks[:3]


def test_query_sample_random_draws_distinct_matching_points(client, coll):
    name, payloads = coll
    even = models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="even"))])
    draws = set()
    for _ in range(5):
        got = client.query_points(
            name, query=models.SampleQuery(sample=models.Sample.RANDOM), query_filter=even, limit=10
        ).points
        ids = [p.id for p in got]
        assert len(ids) == 10 and len(set(ids)) == 10
        assert all(payloads[i]["kind"] == "even" for i in ids)
        draws.add(tuple(sorted(ids)))
    # 28 even points, 10 drawn each time: five identical draws would mean no randomness.
    assert len(draws) > 1
    # Asking for more than there are returns them all, once each.
    everything = client.query_points(
        name, query=models.SampleQuery(sample=models.Sample.RANDOM), query_filter=even, limit=100
    ).points
    assert sorted(p.id for p in everything) == sorted(i for i, p in payloads.items() if p["kind"] == "even")


def test_order_by_and_sample_errors(client, coll, helio_url):
    name, _ = coll
    bad = httpx.post(f"{helio_url}/collections/{name}/points/query", json={"query": {"sample": "sometimes"}})
    assert bad.status_code in (400, 422) and "sample" in bad.json()["status"]["error"]
    over_prefetch = httpx.post(
        f"{helio_url}/collections/{name}/points/query",
        json={"prefetch": [{"query": [1.0, 0.0], "limit": 5}], "query": {"order_by": "rank"}},
    )
    assert over_prefetch.status_code == 400, over_prefetch.text
