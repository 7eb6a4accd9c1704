"""Named and sparse vectors, and the query API's prefetch stages and fusion,
through the official qdrant-client (and raw REST where the client hides
the wire shape)."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


TEXT = {1: [1, 0, 0, 0], 2: [0.9, 0.1, 0, 0], 3: [0, 1, 0, 0], 4: [0, 0, 1, 0.2]}
IMAGE = {1: [0, 0, 1], 2: [5, 5, 5], 3: [1, 2, 3]}  # point 4 has no image vector


@pytest.fixture
def named(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "text": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "image": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        },
    )
    points = []
    for pid, text in TEXT.items():
        vector = {"text": text}
        if pid in IMAGE:
            vector["image"] = IMAGE[pid]
        points.append(models.PointStruct(id=pid, vector=vector, payload={"n": pid}))
    client.upsert(collection_name, points, wait=True)
    return collection_name


def test_named_vectors_config_is_echoed(client, named):
    info = client.get_collection(named)
    vectors = info.config.params.vectors
    assert set(vectors) == {"text", "image"}
    assert vectors["text"].size == 4 and vectors["text"].distance == models.Distance.COSINE
    assert vectors["image"].size == 3 and vectors["image"].distance == models.Distance.EUCLID
    assert info.points_count == 4


def test_named_vectors_are_returned_by_name(client, named):
    [p] = client.retrieve(named, [2], with_vectors=True)
    assert set(p.vector) == {"text", "image"}
    np.testing.assert_allclose(p.vector["text"], unit(TEXT[2]), rtol=1e-6)
    assert p.vector["image"] == IMAGE[2]  # Euclid vectors are stored as given
    [p] = client.retrieve(named, [4], with_vectors=True)
    assert set(p.vector) == {"text"}
    [p] = client.retrieve(named, [2], with_vectors=["image"])
    assert set(p.vector) == {"image"}


def test_query_each_named_vector(client, named):
    hits = client.query_points(named, query=[1, 0, 0, 0], using="text", limit=2).points
    assert [h.id for h in hits] == [1, 2]
    assert hits[0].score == pytest.approx(1.0, abs=1e-6)
    hits = client.query_points(named, query=[1, 2, 3], using="image", limit=10).points
    # Euclid: distances, smallest first; point 4 has no image vector.
    assert [h.id for h in hits] == [3, 1, 2]
    assert hits[0].score == pytest.approx(0.0, abs=1e-6)
    assert hits[1].score == pytest.approx(math.dist([1, 2, 3], [0, 0, 1]), rel=1e-5)


def test_legacy_search_with_named_vector(helio_url, named):
    # The client no longer has search(); older clients and REST code call it.
    r = httpx.post(
        f"{helio_url}/collections/{named}/points/search",
        json={"vector": {"name": "text", "vector": [0, 1, 0, 0]}, "limit": 1},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["id"] == 3


def test_has_vector_filter(client, named):
    flt = models.Filter(must=[models.HasVectorCondition(has_vector="image")])
    ids = sorted(p.id for p in client.scroll(named, scroll_filter=flt)[0])
    assert ids == [1, 2, 3]
    flt = models.Filter(must_not=[models.HasVectorCondition(has_vector="image")])
    assert [p.id for p in client.scroll(named, scroll_filter=flt)[0]] == [4]


def test_unknown_vector_name_and_wrong_size_are_400(client, named):
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(named, query=[1, 0, 0], using="audio")
    assert e.value.status_code == 400 and b"audio" in e.value.content
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(named, [models.PointStruct(id=9, vector={"image": [1, 2]})], wait=True)
    assert e.value.status_code == 400
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(named, query=[1, 0, 0, 0])  # no unnamed vector here
    assert e.value.status_code == 400
    assert client.count(named).count == 4


def test_update_and_delete_named_vectors(client, named):
    client.update_vectors(
        named, [models.PointVectors(id=4, vector={"image": [9, 9, 9]})], wait=True
    )
    [p] = client.retrieve(named, [4], with_vectors=True)
    assert p.vector["image"] == [9, 9, 9]
    np.testing.assert_allclose(p.vector["text"], unit(TEXT[4]), rtol=1e-6)
    assert p.payload == {"n": 4}
    client.delete_vectors(named, vectors=["text"], points=[1, 4], wait=True)
    [p] = client.retrieve(named, [1], with_vectors=True)
    assert set(p.vector) == {"image"}
    hits = client.query_points(named, query=[1, 0, 0, 0], using="text", limit=10).points
    assert 1 not in [h.id for h in hits] and 4 not in [h.id for h in hits]
    assert client.count(named).count == 4


def test_batch_columns_with_named_vectors(helio_url, client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={"a": models.VectorParams(size=2, distance=models.Distance.DOT)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
    )
    r = httpx.put(
        f"{helio_url}/collections/{collection_name}/points?wait=true",
        json={"batch": {
            "ids": [1, 2],
            "vectors": {"a": [[1, 0], [0, 1]], "s": [{"indices": [3], "values": [1.0]},
                                                      {"indices": [4, 3], "values": [1.0, 0.5]}]},
        }},
    )
    assert r.status_code == 200, r.text
    [p] = client.retrieve(collection_name, [2], with_vectors=True)
    assert p.vector["a"] == [0, 1]
    # Sparse vectors come back sorted by index.
    assert p.vector["s"].indices == [3, 4] and p.vector["s"].values == [0.5, 1.0]


# ------------------------------------------------------------------ sparse

DOCS = {
    1: {10: 1.0, 20: 2.0},
    2: {20: 1.0, 30: 1.0},
    3: {30: 3.0},
    4: {40: 1.0},
}


def sparse(d):
    return models.SparseVector(indices=list(d), values=list(d.values()))


def make_sparse(client, name, modifier=None):
    client.create_collection(
        name,
        vectors_config={},
        sparse_vectors_config={"kw": models.SparseVectorParams(modifier=modifier)},
    )
    client.upsert(
        name,
        [models.PointStruct(id=i, vector={"kw": sparse(d)}) for i, d in DOCS.items()],
        wait=True,
    )


def dot(q, d):
    return sum(w * d.get(i, 0.0) for i, w in q.items())


def test_sparse_search_scores_dot_products(helio_url, client, collection_name):
    make_sparse(client, collection_name)
    q = {20: 1.0, 30: 0.4}
    hits = client.query_points(collection_name, query=sparse(q), using="kw").points
    expected = sorted(((dot(q, d), i) for i, d in DOCS.items() if dot(q, d) > 0), reverse=True)
    assert [h.id for h in hits] == [i for _, i in expected]
    for h, (score, _) in zip(hits, expected):
        assert h.score == pytest.approx(score, rel=1e-6)
    # Legacy search with a NamedSparseVector.
    r = httpx.post(
        f"{helio_url}/collections/{collection_name}/points/search",
        json={"vector": {"name": "kw", "vector": {"indices": [40], "values": [2.0]}}, "limit": 5},
    )
    assert r.status_code == 200, r.text
    assert [(h["id"], h["score"]) for h in r.json()["result"]] == [(4, 2.0)]
    info = client.get_collection(collection_name)
    assert "kw" in info.config.params.sparse_vectors


def test_sparse_idf_modifier(client, collection_name):
    make_sparse(client, collection_name, modifier=models.Modifier.IDF)
    n = len(DOCS)

    def idf(i):
        df = sum(1 for d in DOCS.values() if i in d)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    q = {20: 1.0, 40: 1.0}
    hits = client.query_points(collection_name, query=sparse(q), using="kw").points
    expected = {i: sum(w * idf(t) * d.get(t, 0.0) for t, w in q.items()) for i, d in DOCS.items()}
    expected = {i: s for i, s in expected.items() if s > 0}
    assert {h.id: pytest.approx(h.score, rel=1e-5) for h in hits} == expected
    assert [h.id for h in hits] == sorted(expected, key=lambda i: -expected[i])
    # Without IDF point 2 (20: 1.0) would tie point 4 (40: 1.0); the rare
    # index 40 puts 4 ahead.
    assert [h.id for h in hits].index(4) < [h.id for h in hits].index(2)


def test_sparse_vectors_update_and_delete(client, collection_name):
    make_sparse(client, collection_name)
    client.update_vectors(
        collection_name, [models.PointVectors(id=4, vector={"kw": sparse({10: 9.0})})], wait=True
    )
    hits = client.query_points(collection_name, query=sparse({10: 1.0}), using="kw").points
    assert [h.id for h in hits] == [4, 1]
    client.delete(collection_name, points_selector=[4], wait=True)
    hits = client.query_points(collection_name, query=sparse({10: 1.0}), using="kw").points
    assert [h.id for h in hits] == [1]
    client.delete_vectors(collection_name, vectors=["kw"], points=[1], wait=True)
    assert client.query_points(collection_name, query=sparse({10: 1.0}), using="kw").points == []


def test_sparse_bad_input(client, collection_name):
    make_sparse(client, collection_name)
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(
            collection_name,
            [models.PointStruct(id=9, vector={"kw": models.SparseVector(indices=[1, 1], values=[1, 2])})],
            wait=True,
        )
    assert e.value.status_code == 400 and b"unique" in e.value.content
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(collection_name, [models.PointStruct(id=9, vector={"kw": [1.0, 2.0]})], wait=True)
    assert e.value.status_code == 400 and b"sparse" in e.value.content
    assert client.count(collection_name).count == len(DOCS)


# ---------------------------------------------------------------- prefetch

@pytest.fixture
def hybrid(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={"d": models.VectorParams(size=2, distance=models.Distance.COSINE)},
        sparse_vectors_config={"s": models.SparseVectorParams()},
    )
    dense = {1: [1, 0], 2: [0.8, 0.6], 3: [0.6, 0.8], 4: [0, 1], 5: [-1, 0]}
    sp = {1: {7: 0.1}, 2: {7: 0.5}, 3: {7: 2.0, 8: 1.0}, 4: {8: 3.0}, 5: {9: 1.0}}
    client.upsert(
        collection_name,
        [
            models.PointStruct(id=i, vector={"d": dense[i], "s": sparse(sp[i])},
                               payload={"even": i % 2 == 0})
            for i in dense
        ],
        wait=True,
    )
    return collection_name


def ranks(hits):
    return [h.id for h in hits]


def test_rrf_fuses_dense_and_sparse(client, hybrid):
    prefetch = [
        models.Prefetch(query=[1, 0], using="d", limit=3),          # 1, 2, 3
        models.Prefetch(query=sparse({7: 1.0}), using="s", limit=3),  # 3, 2, 1
    ]
    hits = client.query_points(
        hybrid, prefetch=prefetch, query=models.FusionQuery(fusion=models.Fusion.RRF)
    ).points
    # Qdrant's RRF with k=2: 1/(rank+2) summed. 1: 1/2+1/4, 2: 1/3+1/3, 3: 1/4+1/2.
    scores = {h.id: h.score for h in hits}
    assert scores[1] == pytest.approx(0.75) and scores[3] == pytest.approx(0.75)
    assert scores[2] == pytest.approx(2 / 3)
    assert set(scores) == {1, 2, 3}


def test_rrf_with_k_and_weights_over_rest(helio_url, hybrid):
    body = {
        "prefetch": [
            {"query": [1, 0], "using": "d", "limit": 1},                              # 1
            {"query": {"indices": [7], "values": [1.0]}, "using": "s", "limit": 1},   # 3
        ],
        "query": {"rrf": {"k": 60}},
    }
    url = f"{helio_url}/collections/{hybrid}/points/query"
    r = httpx.post(url, json=body)
    assert r.status_code == 200, r.text
    points = r.json()["result"]["points"]
    assert [p["score"] for p in points] == [pytest.approx(1 / 60)] * 2
    # Weighted 3x, the sparse list's first place wins the tie.
    body["query"] = {"rrf": {"k": 60, "weights": [1.0, 3.0]}}
    r = httpx.post(url, json=body)
    assert r.status_code == 200, r.text
    points = r.json()["result"]["points"]
    assert points[0]["id"] == 3 and points[0]["score"] == pytest.approx(1 / (1 / 3 + 59))
    body["query"] = {"rrf": {"weights": [1.0]}}
    r = httpx.post(url, json=body)
    assert r.status_code == 400 and "weights" in r.json()["status"]["error"]


def test_dbsf_and_filters_reach_prefetches(client, hybrid):
    prefetch = [
        models.Prefetch(query=[1, 0], using="d", limit=5),
        models.Prefetch(query=sparse({7: 1.0, 8: 1.0}), using="s", limit=5),
    ]
    even = models.Filter(must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))])
    hits = client.query_points(
        hybrid, prefetch=prefetch, query=models.FusionQuery(fusion=models.Fusion.DBSF),
        query_filter=even,
    ).points
    assert set(ranks(hits)) == {2, 4}
    assert all(0 < h.score <= 2 for h in hits)


def test_nearest_rescores_prefetch_results(client, hybrid):
    # First pass: sparse finds 2, 3, 4 (index 7 or 8); second pass: dense
    # rescoring of only those, so 1 (the best dense match) is absent.
    hits = client.query_points(
        hybrid,
        prefetch=models.Prefetch(query=sparse({7: 1.0, 8: 1.0}), using="s", limit=3),
        query=[1, 0],
        using="d",
    ).points
    assert ranks(hits) == [2, 3, 4]
    assert hits[0].score == pytest.approx(0.8, rel=1e-6)
    # Nested prefetch and a score threshold at the inner stage.
    hits = client.query_points(
        hybrid,
        prefetch=models.Prefetch(
            prefetch=models.Prefetch(query=sparse({7: 1.0}), using="s", limit=10, score_threshold=0.4),
            query=[0, 1], using="d", limit=10,
        ),
        query=[1, 0], using="d", limit=1,
    ).points
    assert ranks(hits) == [2]


def test_fusion_without_prefetch_is_400(client, hybrid):
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(hybrid, query=models.FusionQuery(fusion=models.Fusion.RRF))
    assert e.value.status_code == 400


def test_hybrid_from_text_alone(inference_client, collection_name):
    """Dense Document prefetch + BM25 Document prefetch, fused: the
    distributor's hybrid search with nothing embedded by the client."""
    c = inference_client
    c.create_collection(
        collection_name,
        vectors_config={"dense": models.VectorParams(size=384, distance=models.Distance.COSINE)},
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    products = [
        "Painel solar 550W monocristalino half-cell Jinko Tiger Neo",
        "Inversor trifásico 50kW Growatt com 4 MPPT",
        "Microinversor Hoymiles HMS-2000 para quatro módulos",
        "Bateria de lítio LiFePO4 5kWh Pylontech",
        "Estrutura de alumínio para telhado cerâmico Romagnole",
        "Cabo solar 6mm² vermelho 1kV",
    ]
    dense_model = "sentence-transformers/all-minilm-l6-v2"
    c.upsert(
        collection_name,
        [
            models.PointStruct(
                id=i,
                vector={
                    "dense": models.Document(text=t, model=dense_model),
                    "bm25": models.Document(text=t, model="qdrant/bm25"),
                },
                payload={"text": t},
            )
            for i, t in enumerate(products)
        ],
        wait=True,
    )
    question = "microinversor Hoymiles"
    hits = c.query_points(
        collection_name,
        prefetch=[
            models.Prefetch(query=models.Document(text=question, model=dense_model), using="dense", limit=5),
            models.Prefetch(query=models.Document(text=question, model="qdrant/bm25"), using="bm25", limit=5),
        ],
        query=models.FusionQuery(fusion=models.Fusion.RRF),
        limit=3,
    ).points
    assert hits[0].id == 2, [(h.id, h.score) for h in hits]
    # BM25 alone finds only texts sharing a token.
    sparse_hits = c.query_points(
        collection_name,
        query=models.Document(text="bateria pylontech", model="qdrant/bm25"),
        using="bm25",
    ).points
    assert ranks(sparse_hits) == [3]
    # A BM25 Document into the dense vector is refused with a clear 400.
    with pytest.raises(UnexpectedResponse) as e:
        c.query_points(collection_name, query=models.Document(text="x", model="qdrant/bm25"), using="dense")
    assert e.value.status_code == 400 and b"sparse" in e.value.content


# --------------------------------------------------------------- recommend

@pytest.fixture
def catalog(client, collection_name):
    # Two clusters on a circle: panels near angle 0, batteries near 90°.
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE),
    )
    angles = {1: 0, 2: 10, 3: 20, 4: 80, 5: 90, 6: 100}
    client.upsert(
        collection_name,
        [
            models.PointStruct(
                id=i, vector=[math.cos(math.radians(a)), math.sin(math.radians(a))],
                payload={"kind": "panel" if a < 45 else "battery"},
            )
            for i, a in angles.items()
        ],
        wait=True,
    )
    return collection_name


def test_recommend_average_vector_excludes_examples(client, catalog):
    hits = client.query_points(
        catalog, query=models.RecommendQuery(recommend=models.RecommendInput(positive=[1])), limit=3
    ).points
    assert ranks(hits) == [2, 3, 4]
    # 2·avg(positive) − avg(negative): away from the batteries.
    hits = client.query_points(
        catalog,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[2], negative=[5])),
        limit=2,
    ).points
    assert ranks(hits) == [1, 3]


@pytest.mark.parametrize("strategy", [models.RecommendStrategy.BEST_SCORE, models.RecommendStrategy.SUM_SCORES])
def test_recommend_custom_strategies(client, catalog, strategy):
    hits = client.query_points(
        catalog,
        query=models.RecommendQuery(recommend=models.RecommendInput(
            positive=[1, [0.0, 1.0]], negative=[6], strategy=strategy)),
        limit=10,
    ).points
    assert 1 not in ranks(hits) and 6 not in ranks(hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    if strategy == models.RecommendStrategy.BEST_SCORE:
        # Point 2 (10°) is closest to positive 1 (0°): score cos(10°).
        top = {h.id: h.score for h in hits}
        assert top[2] == pytest.approx(math.cos(math.radians(10)), rel=1e-5)
    # With a filter the objective only sees matching points.
    flt = models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="panel"))])
    hits = client.query_points(
        catalog,
        query=models.RecommendQuery(recommend=models.RecommendInput(positive=[5], strategy=strategy)),
        query_filter=flt,
    ).points
    assert ranks(hits) == [3, 2, 1]


def test_legacy_recommend_route(helio_url, catalog):
    r = httpx.post(
        f"{helio_url}/collections/{catalog}/points/recommend",
        json={"positive": [4], "limit": 2, "with_payload": True},
    )
    assert r.status_code == 200, r.text
    assert [p["id"] for p in r.json()["result"]] == [5, 6]
    r = httpx.post(
        f"{helio_url}/collections/{catalog}/points/recommend/batch",
        json={"searches": [{"positive": [1], "limit": 1}, {"positive": [6], "limit": 1}]},
    )
    assert [[p["id"] for p in res] for res in r.json()["result"]] == [[2], [5]]
    r = httpx.post(
        f"{helio_url}/collections/{catalog}/points/recommend",
        json={"positive": [999], "limit": 2},
    )
    assert r.status_code == 404


def test_recommend_with_documents(inference_client, collection_name):
    c = inference_client
    model = "sentence-transformers/all-minilm-l6-v2"
    c.create_collection(collection_name, vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE))
    texts = ["Painel solar 550W monocristalino", "Painel solar 600W bifacial",
             "Bateria de lítio 5kWh", "Bateria estacionária 10kWh"]
    c.upsert(collection_name, [models.PointStruct(id=i, vector=models.Document(text=t, model=model))
                               for i, t in enumerate(texts)], wait=True)
    hits = c.query_points(
        collection_name,
        query=models.RecommendQuery(recommend=models.RecommendInput(
            positive=[models.Document(text="módulo fotovoltaico", model=model)],
            negative=[models.Document(text="armazenamento de energia", model=model)])),
        limit=2,
    ).points
    assert set(ranks(hits)) == {0, 1}
