"""Multivectors (late interaction, ColBERT-style) through the official
qdrant-client: MaxSim scores checked against numpy, the dense-prefetch then
MaxSim-rescoring pattern, Qdrant's errors, and the uint8 datatype."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

RNG = np.random.default_rng(11)
N = 40


def unit_rows(m):
    m = np.asarray(m, dtype=np.float64)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def max_sim(query, doc, distance):
    q, d = np.asarray(query, dtype=np.float64), np.asarray(doc, dtype=np.float64)
    if distance == "Cosine":
        q, d = unit_rows(q), unit_rows(d)
    if distance in ("Cosine", "Dot"):
        return float((q @ d.T).max(axis=1).sum())
    if distance == "Manhattan":
        l1 = np.abs(q[:, None, :] - d[None, :, :]).sum(axis=2)
        return float(l1.min(axis=1).sum())
    # Euclid, as Qdrant's server scores it: the root of the summed
    # smallest squared distances.
    sq = ((q[:, None, :] - d[None, :, :]) ** 2).sum(axis=2)
    return float(np.sqrt(sq.min(axis=1).sum()))


def make_docs():
    return {
        pid: RNG.normal(size=(1 + pid % 5, 8)).astype(np.float32).tolist()
        for pid in range(N)
    }


@pytest.fixture
def colbert(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "dense": models.VectorParams(size=4, distance=models.Distance.COSINE),
            "colbert": models.VectorParams(
                size=8,
                distance=models.Distance.COSINE,
                multivector_config=models.MultiVectorConfig(
                    comparator=models.MultiVectorComparator.MAX_SIM
                ),
                hnsw_config=models.HnswConfigDiff(m=0),
            ),
        },
    )
    docs = make_docs()
    client.upsert(
        collection_name,
        [
            models.PointStruct(
                id=pid,
                vector={"dense": RNG.normal(size=4).tolist(), "colbert": rows},
                payload={"even": pid % 2 == 0},
            )
            for pid, rows in docs.items()
        ],
        wait=True,
    )
    return collection_name, docs


def ranked(docs, query, distance, limit, pool=None):
    scores = [
        (pid, max_sim(query, rows, distance))
        for pid, rows in docs.items()
        if pool is None or pid in pool
    ]
    higher = distance in ("Cosine", "Dot")
    scores.sort(key=lambda s: (-s[1] if higher else s[1], s[0]))
    return scores[:limit]


def check(points, want):
    assert [p.id for p in points] == [w[0] for w in want]
    for p, (_, score) in zip(points, want):
        assert p.score == pytest.approx(score, abs=1e-4)


def test_config_is_echoed(client, colbert):
    name, _ = colbert
    params = client.get_collection(name).config.params.vectors["colbert"]
    assert params.multivector_config.comparator == models.MultiVectorComparator.MAX_SIM
    assert params.hnsw_config.m == 0


def test_max_sim_matches_numpy_and_rows_come_back_normalised(client, colbert):
    name, docs = colbert
    query = RNG.normal(size=(3, 8)).tolist()
    found = client.query_points(
        name, query=query, using="colbert", limit=6, with_vectors=["colbert"]
    ).points
    check(found, ranked(docs, query, "Cosine", 6))
    top = found[0]
    np.testing.assert_allclose(
        np.asarray(top.vector["colbert"]), unit_rows(docs[top.id]), atol=1e-6
    )
    # A filter narrows the points scored.
    even = client.query_points(
        name,
        query=query,
        using="colbert",
        limit=4,
        query_filter=models.Filter(
            must=[models.FieldCondition(key="even", match=models.MatchValue(value=True))]
        ),
    ).points
    check(even, ranked({k: v for k, v in docs.items() if k % 2 == 0}, query, "Cosine", 4))


def test_dense_prefetch_rescored_by_max_sim(client, colbert):
    name, docs = colbert
    dense_q = RNG.normal(size=4).tolist()
    query = RNG.normal(size=(4, 8)).tolist()
    first = client.query_points(name, query=dense_q, using="dense", limit=12).points
    pool = {p.id for p in first}
    found = client.query_points(
        name,
        prefetch=models.Prefetch(query=dense_q, using="dense", limit=12),
        query=query,
        using="colbert",
        limit=5,
    ).points
    assert {p.id for p in found} <= pool
    check(found, ranked(docs, query, "Cosine", 5, pool))


def test_wrong_shapes_are_refused(client, colbert):
    name, docs = colbert
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(
            name,
            [models.PointStruct(id=1, vector={"colbert": [[1.0] * 7, [1.0] * 7]})],
            wait=True,
        )
    assert e.value.status_code == 400
    assert "expected dim: 8, got 7" in str(e.value)
    # Nothing was written.
    got = client.retrieve(name, [1], with_vectors=["colbert"])[0]
    np.testing.assert_allclose(np.asarray(got.vector["colbert"]), unit_rows(docs[1]), atol=1e-6)
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(name, query=[[1.0, 0.0, 0.0, 0.0]], using="dense")
    assert e.value.status_code == 400
    assert "Conversion between multi and regular vectors failed" in str(e.value)


@pytest.mark.parametrize("distance", ["Dot", "Euclid", "Manhattan"])
def test_each_distance_follows_qdrant(client, collection_name, distance):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(
            size=8,
            distance=models.Distance(distance),
            multivector_config=models.MultiVectorConfig(
                comparator=models.MultiVectorComparator.MAX_SIM
            ),
        ),
    )
    docs = make_docs()
    client.upsert(
        collection_name,
        models.Batch(ids=list(docs), vectors=list(docs.values())),
        wait=True,
    )
    query = RNG.normal(size=(3, 8)).tolist()
    found = client.query_points(collection_name, query=query, limit=5).points
    check(found, ranked(docs, query, distance, 5))


def test_uint8_vectors_are_truncated_bytes(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(
            size=4,
            distance=models.Distance.DOT,
            datatype=models.Datatype.UINT8,
            multivector_config=models.MultiVectorConfig(
                comparator=models.MultiVectorComparator.MAX_SIM
            ),
        ),
    )
    params = client.get_collection(collection_name).config.params.vectors
    assert params.datatype == models.Datatype.UINT8
    client.upsert(
        collection_name,
        [models.PointStruct(id=1, vector=[[1.9, 2.0, 300.0, -3.0], [0.0, 7.5, 1.0, 1.0]])],
        wait=True,
    )
    got = client.retrieve(collection_name, [1], with_vectors=True)[0]
    assert got.vector == [[1.0, 2.0, 255.0, 0.0], [0.0, 7.0, 1.0, 1.0]]
    found = client.query_points(collection_name, query=[[1, 1, 1, 1]], limit=1).points
    assert found[0].score == pytest.approx(258.0)


def test_examples_by_id_are_scored_by_max_sim(client, colbert):
    name, docs = colbert
    # Nearest to a stored multivector, which is left out.
    found = client.query_points(name, query=7, using="colbert", limit=4).points
    others = {k: v for k, v in docs.items() if k != 7}
    check(found, ranked(others, unit_rows(docs[7]).tolist(), "Cosine", 4))
    # best_score: each point scores its MaxSim to the one positive example.
    reco = client.query_points(
        name,
        query=models.RecommendQuery(
            recommend=models.RecommendInput(
                positive=[7], strategy=models.RecommendStrategy.BEST_SCORE
            )
        ),
        using="colbert",
        limit=4,
    ).points
    check(reco, ranked(others, unit_rows(docs[7]).tolist(), "Cosine", 4))
    # MMR picks its first result as the plain query does.
    mmr = client.query_points(
        name,
        query=models.NearestQuery(nearest=7, mmr=models.Mmr(diversity=0.5)),
        using="colbert",
        limit=3,
    ).points
    assert len(mmr) == 3 and mmr[0].id == found[0].id
    # average_vector and the distance matrix have no meaning here: 400.
    for call in (
        lambda: client.query_points(
            name,
            query=models.RecommendQuery(recommend=models.RecommendInput(positive=[7])),
            using="colbert",
        ),
        lambda: client.search_matrix_pairs(name, using="colbert"),
    ):
        with pytest.raises(UnexpectedResponse) as e:
            call()
        assert e.value.status_code == 400


def test_float16_values_are_rounded_to_half_precision(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(
            size=2, distance=models.Distance.DOT, datatype=models.Datatype.FLOAT16
        ),
    )
    assert client.get_collection(collection_name).config.params.vectors.datatype == (
        models.Datatype.FLOAT16
    )
    client.upsert(collection_name, [models.PointStruct(id=1, vector=[0.1, 3.0])], wait=True)
    got = client.retrieve(collection_name, [1], with_vectors=True)[0].vector
    assert got == [float(np.float16(0.1)), 3.0]
    with pytest.raises(UnexpectedResponse) as e:
        client.upsert(collection_name, [models.PointStruct(id=2, vector=[70000.0, 0.0])])
    assert e.value.status_code == 400
