"""Grouped search: query_points_groups through the client, and the legacy
/points/search/groups and /points/recommend/groups over raw HTTP (the
client no longer wraps them). Every answer is checked against a grouping
computed here from numpy scores."""

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 8
N = 300


def make_chunks(client, name, seed=5):
    """Chunks of documents: `doc` is a string id (30 documents), `page` an
    integer, `tags` a list; a few chunks have no `doc` or a float one."""
    client.create_collection(
        name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE)
    )
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(N, DIM)).astype(np.float32)
    payloads = []
    for i in range(N):
        p = {"doc": f"doc-{i % 30}", "page": i % 7, "tags": [f"t{i % 3}", f"t{i % 5}"]}
        if i % 50 == 0:
            del p["doc"]
        if i % 50 == 1:
            p["doc"] = 1.5
        payloads.append(p)
    client.upsert(
        name,
        points=models.Batch(ids=list(range(N)), vectors=data.tolist(), payloads=payloads),
        wait=True,
    )
    return data, payloads


def expected_groups(scores, payloads, key, group_size, limit, keep=lambda i: True):
    """Qdrant's grouping: hits best first; a hit joins each of its groups
    with room and opens a new one while fewer than `limit` exist."""
    groups: dict = {}
    for i in np.argsort(-scores, kind="stable"):
        i = int(i)
        if not keep(i):
            continue
        values = payloads[i].get(key)
        values = values if isinstance(values, list) else [values]
        for v in dict.fromkeys(values):
            if isinstance(v, bool) or not isinstance(v, (str, int)):
                continue
            if v in groups:
                if len(groups[v]) < group_size:
                    groups[v].append(i)
            elif len(groups) < limit:
                groups[v] = [i]
    return groups


def cosine(data, q):
    dn = data / np.linalg.norm(data, axis=1, keepdims=True)
    return dn @ (q / np.linalg.norm(q))


def as_dict(result):
    return {g.id: [h.id for h in g.hits] for g in result.groups}


@pytest.mark.parametrize("key,group_size,limit", [("doc", 3, 5), ("page", 4, 7), ("tags", 2, 10)])
def test_query_points_groups_match_reference(client, collection_name, key, group_size, limit):
    data, payloads = make_chunks(client, collection_name)
    q = np.random.default_rng(1).normal(size=DIM).astype(np.float32)
    got = client.query_points_groups(
        collection_name,
        group_by=key,
        query=q.tolist(),
        group_size=group_size,
        limit=limit,
        search_params=models.SearchParams(exact=True),
    )
    want = expected_groups(cosine(data, q), payloads, key, group_size, limit)
    assert as_dict(got) == want
    # Groups come in the order of their best hit; hits carry payloads.
    firsts = [g.hits[0].score for g in got.groups]
    assert firsts == sorted(firsts, reverse=True)
    assert all(h.payload is not None for g in got.groups for h in g.hits)


def test_defaults_filter_and_threshold(client, collection_name):
    data, payloads = make_chunks(client, collection_name)
    q = np.random.default_rng(2).normal(size=DIM).astype(np.float32)
    scores = cosine(data, q)
    # Defaults: 10 groups of at most 3 hits.
    got = client.query_points_groups(collection_name, group_by="doc", query=q.tolist())
    assert as_dict(got) == expected_groups(scores, payloads, "doc", 3, 10)

    only = models.Filter(must=[models.FieldCondition(key="page", match=models.MatchAny(any=[0, 1]))])
    threshold = 0.2
    got = client.query_points_groups(
        collection_name,
        group_by="doc",
        query=q.tolist(),
        query_filter=only,
        score_threshold=threshold,
        group_size=2,
        limit=50,
    )
    want = expected_groups(
        scores,
        payloads,
        "doc",
        2,
        50,
        keep=lambda i: payloads[i]["page"] in (0, 1) and scores[i] >= threshold,
    )
    assert as_dict(got) == want


def test_with_lookup_reads_the_group_ids_from_another_collection(client, collection_name):
    data, payloads = make_chunks(client, collection_name)
    pages = collection_name + "_pages"
    client.create_collection(
        pages, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    try:
        client.upsert(
            pages,
            points=[
                models.PointStruct(id=p, vector=[float(p), 1.0], payload={"title": f"page {p}"})
                for p in range(0, 7, 2)
            ],
            wait=True,
        )
        q = np.random.default_rng(3).normal(size=DIM).astype(np.float32)
        got = client.query_points_groups(
            collection_name,
            group_by="page",
            query=q.tolist(),
            group_size=1,
            limit=7,
            with_lookup=models.WithLookup(collection=pages, with_payload=True, with_vectors=True),
        )
        assert len(got.groups) == 7
        for g in got.groups:
            if g.id % 2 == 0:
                assert g.lookup.id == g.id
                assert g.lookup.payload == {"title": f"page {g.id}"}
                assert g.lookup.vector == [float(g.id), 1.0]
            else:
                assert g.lookup is None
        # The short form: a collection name; payload by default, no vectors.
        got = client.query_points_groups(
            collection_name, group_by="page", query=q.tolist(), limit=7, with_lookup=pages
        )
        looked = [g.lookup for g in got.groups if g.lookup is not None]
        assert len(looked) == 4
        assert all(p.payload and p.vector is None for p in looked)
    finally:
        client.delete_collection(pages)


def test_hybrid_prefetch_then_groups(client, collection_name):
    data, payloads = make_chunks(client, collection_name)
    q = np.random.default_rng(4).normal(size=DIM).astype(np.float32)
    got = client.query_points_groups(
        collection_name,
        group_by="doc",
        prefetch=[models.Prefetch(query=q.tolist(), limit=40), models.Prefetch(query=(-q).tolist(), limit=40)],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        group_size=2,
        limit=100,
    )
    hits = [h.id for g in got.groups for h in g.hits]
    # Only the 80 prefetched points can be grouped. The prefetches search
    # only points that have the key, as the grouped query's own filter does.
    scores = cosine(data, q)
    order = [int(i) for i in np.argsort(-scores, kind="stable") if "doc" in payloads[int(i)]]
    pool = set(order[:40]) | set(order[-40:])
    assert set(hits) <= pool
    assert all(len(g.hits) <= 2 for g in got.groups)
    assert len(got.groups) == len({payloads[i]["doc"] for i in pool if isinstance(payloads[i].get("doc"), str)})


def test_legacy_search_and_recommend_groups(helio_url, client, collection_name):
    data, payloads = make_chunks(client, collection_name)
    q = np.random.default_rng(6).normal(size=DIM).astype(np.float32)
    r = httpx.post(
        f"{helio_url}/collections/{collection_name}/points/search/groups",
        json={
            "vector": q.tolist(),
            "group_by": "doc",
            "group_size": 2,
            "limit": 4,
            "with_payload": ["doc"],
            "params": {"exact": True},
        },
    )
    assert r.status_code == 200, r.text
    groups = r.json()["result"]["groups"]
    want = expected_groups(cosine(data, q), payloads, "doc", 2, 4)
    assert {g["id"]: [h["id"] for h in g["hits"]] for g in groups} == want
    assert all(set(h["payload"]) == {"doc"} for g in groups for h in g["hits"])
    assert all("lookup" not in g for g in groups)

    # Recommend from point 7: its own vector, the point itself left out.
    r = httpx.post(
        f"{helio_url}/collections/{collection_name}/points/recommend/groups",
        json={"positive": [7], "group_by": "doc", "group_size": 3, "limit": 3, "params": {"exact": True}},
    )
    assert r.status_code == 200, r.text
    groups = r.json()["result"]["groups"]
    want = expected_groups(cosine(data, data[7]), payloads, "doc", 3, 3, keep=lambda i: i != 7)
    assert {g["id"]: [h["id"] for h in g["hits"]] for g in groups} == want


def test_bad_grouped_requests(helio_url, client, collection_name):
    make_chunks(client, collection_name)
    url = f"{helio_url}/collections/{collection_name}/points"
    q = [0.1] * DIM
    # Bodies of the wrong shape are 422 (as Qdrant's validation errors
    # are), a vector of the wrong size is 400; each error names its field.
    for path, body, status, needle in [
        ("query/groups", {"query": q}, 422, "group_by"),
        ("query/groups", {"query": q, "group_by": ""}, 422, "group_by"),
        ("query/groups", {"query": q, "group_by": "doc", "group_size": 0}, 422, "group_size"),
        ("query/groups", {"query": q, "group_by": "doc", "limit": 0}, 422, "limit"),
        ("query/groups", {"query": [0.1, 0.2], "group_by": "doc"}, 400, "dim"),
        ("search/groups", {"vector": q, "group_by": "doc", "limit": 3}, 422, "group_size"),
        ("search/groups", {"vector": q, "group_by": "doc", "group_size": 1, "limit": 3, "bogus": 1}, 422, "bogus"),
    ]:
        r = httpx.post(f"{url}/{path}", json=body)
        assert r.status_code == status, (path, body, r.text)
        assert r.json()["status"]["error"], r.text
        assert needle in r.text.lower(), (needle, r.text)
    r = httpx.post(f"{url}/query/groups", json={"query": q, "group_by": "doc", "limit": 10**6, "group_size": 10**6})
    assert r.status_code == 400 and "group_size" in r.text, r.text
    r = httpx.post(f"{url}/query/groups", json={"query": q, "group_by": "doc", "with_lookup": "nowhere"})
    assert r.status_code == 404, r.text
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points_groups("no_such_collection", group_by="doc", query=q)
    assert e.value.status_code == 404
