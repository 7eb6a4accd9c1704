"""MMR (`{"nearest": v, "mmr": {...}}`) through the client, checked against
a maximal-marginal-relevance reference written here with numpy."""

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 8
N = 200


def similarity(distance, a, b):
    """Qdrant's internal similarity of each row of `a` to `b`."""
    if distance == models.Distance.COSINE:
        an = a / np.linalg.norm(a, axis=-1, keepdims=True)
        return an @ (b / np.linalg.norm(b))
    if distance == models.Distance.DOT:
        return a @ b
    if distance == models.Distance.EUCLID:
        return -(np.linalg.norm(a - b, axis=-1) ** 2)
    return -np.abs(a - b).sum(axis=-1)


def reference(distance, data, q, candidates, diversity, limit, keep=lambda i: True):
    """Ids picked by MMR among the `candidates` nearest points to `q`."""
    rel = similarity(distance, data, q)
    pool = [i for i in np.argsort(-rel, kind="stable") if keep(int(i))][:candidates]
    lam = 1.0 - diversity
    picked = [int(pool[0])]
    rest = [int(i) for i in pool[1:]]
    while len(picked) < limit and rest:
        worth = [lam * rel[c] - (1 - lam) * max(similarity(distance, data[[p]], data[c])[0] for p in picked) for c in rest]
        picked.append(rest.pop(int(np.argmax(worth))))
    return picked


def make(client, name, distance):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=distance))
    rng = np.random.default_rng(31)
    # Near-duplicates: 40 centres, five jittered copies each.
    centres = rng.normal(size=(N // 5, DIM))
    data = (np.repeat(centres, 5, axis=0) + rng.normal(scale=0.05, size=(N, DIM))).astype(np.float32)
    client.upsert(
        name,
        points=models.Batch(ids=list(range(N)), vectors=data.tolist(), payloads=[{"group": i // 5} for i in range(N)]),
        wait=True,
    )
    return data


@pytest.mark.parametrize("distance", [models.Distance.COSINE, models.Distance.EUCLID], ids=lambda d: d.value)
@pytest.mark.parametrize("diversity", [0.0, 0.5, 0.9])
def test_mmr_matches_reference(client, collection_name, distance, diversity):
    data = make(client, collection_name, distance)
    q = np.random.default_rng(2).normal(size=DIM).astype(np.float32)
    got = client.query_points(
        collection_name,
        query=models.NearestQuery(nearest=q.tolist(), mmr=models.Mmr(diversity=diversity, candidates_limit=50)),
        limit=8,
        search_params=models.SearchParams(exact=True),
    ).points
    want = reference(distance, data, q, 50, diversity, 8)
    assert [p.id for p in got] == want
    # Each keeps its ordinary query score.
    for p in got:
        plain = similarity(distance, data[[p.id]], q)[0]
        expected = np.sqrt(-plain) if distance == models.Distance.EUCLID else plain
        assert p.score == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_mmr_spreads_near_duplicates(client, collection_name):
    data = make(client, collection_name, models.Distance.COSINE)
    q = data[0] + 0.01
    plain = client.query_points(collection_name, query=q.tolist(), limit=5).points
    diverse = client.query_points(
        collection_name,
        query=models.NearestQuery(nearest=q.tolist(), mmr=models.Mmr(diversity=0.7, candidates_limit=100)),
        limit=5,
    ).points
    groups = lambda pts: len({p.id // 5 for p in pts})
    assert groups(plain) == 1  # five copies of one centre
    assert groups(diverse) >= 4


def test_mmr_by_id_with_filter_and_prefetch(client, collection_name):
    distance = models.Distance.COSINE
    data = make(client, collection_name, distance)
    even = models.Filter(must=[models.FieldCondition(key="group", match=models.MatchAny(any=list(range(0, 40, 2))))])
    got = client.query_points(
        collection_name,
        query=models.NearestQuery(nearest=7, mmr=models.Mmr(diversity=0.6)),
        query_filter=even,
        limit=6,
        search_params=models.SearchParams(exact=True),
    ).points
    # candidates_limit defaults to the limit; the point itself is left out.
    want = reference(distance, data, data[7], 6, 0.6, 6, keep=lambda i: i != 7 and (i // 5) % 2 == 0)
    assert [p.id for p in got] == want

    q = np.ones(DIM, dtype=np.float32)
    got = client.query_points(
        collection_name,
        prefetch=models.Prefetch(query=q.tolist(), limit=40),
        query=models.NearestQuery(nearest=q.tolist(), mmr=models.Mmr(diversity=0.8, candidates_limit=30)),
        limit=5,
    ).points
    assert [p.id for p in got] == reference(distance, data, q, 30, 0.8, 5)


def test_bad_mmr(helio_url, client, collection_name):
    make(client, collection_name, models.Distance.COSINE)
    url = f"{helio_url}/collections/{collection_name}/points/query"
    q = [0.1] * DIM
    for mmr, status in [
        ({"diversity": 1.5}, 422),
        ({"diversity": -0.1}, 422),
        ({"candidates_limit": 20000}, 422),
        ({"lambda": 0.5}, 422),
    ]:
        r = httpx.post(url, json={"query": {"nearest": q, "mmr": mmr}})
        assert r.status_code == status, (mmr, r.text)
    r = httpx.post(url, json={"query": {"nearest": [0.1, 0.2], "mmr": {}}})
    assert r.status_code == 400, r.text
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(collection_name, query=models.NearestQuery(nearest=9999, mmr=models.Mmr()))
    assert e.value.status_code == 404
