"""Adding and dropping a named vector of a collection that holds points
(`PUT`/`DELETE /collections/{c}/vectors/{name}`): existing points lack the
new vector until written with it, searches over it find only points that
have it, and a dropped vector is gone from the config, the points and the
searches, and does not come back if its name is added again."""

import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse


def has(name):
    return models.Filter(must=[models.HasVectorCondition(has_vector=name)])


def test_add_a_dense_and_a_sparse_vector_then_drop_them(client, collection_name):
    client.create_collection(collection_name, vectors_config={"text": models.VectorParams(size=3, distance=models.Distance.COSINE)})
    client.upsert(collection_name, points=[models.PointStruct(id=i, vector={"text": [1.0, i, 0.5]}) for i in range(1, 6)], wait=True)

    client.create_vector_name(collection_name, "image", models.DenseVectorNameConfig(dense=models.DenseVectorConfig(size=2, distance=models.Distance.EUCLID)))
    client.create_vector_name(collection_name, "bm25", models.SparseVectorNameConfig(sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)))
    info = client.get_collection(collection_name)
    assert info.config.params.vectors["image"].size == 2
    assert info.config.params.vectors["image"].distance == models.Distance.EUCLID
    assert info.config.params.sparse_vectors["bm25"].modifier == models.Modifier.IDF
    # Existing points lack the new vectors.
    assert client.count(collection_name, count_filter=has("image")).count == 0
    assert client.query_points(collection_name, query=[0.0, 0.0], using="image").points == []

    client.update_vectors(collection_name, points=[models.PointVectors(id=2, vector={"image": [3.0, 4.0]})], wait=True)
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=9, vector={"text": [0.0, 1.0, 0.0], "image": [0.0, 1.0], "bm25": models.SparseVector(indices=[7], values=[1.0])})],
        wait=True,
    )
    hits = client.query_points(collection_name, query=[0.0, 0.0], using="image").points
    assert [(h.id, round(h.score, 4)) for h in hits] == [(9, 1.0), (2, 5.0)]
    hits = client.query_points(collection_name, query=models.SparseVector(indices=[7], values=[1.0]), using="bm25").points
    assert [h.id for h in hits] == [9]
    # The other vector of point 2 is untouched.
    p2 = client.retrieve(collection_name, [2], with_vectors=True)[0]
    assert set(p2.vector) == {"text", "image"}

    client.delete_vector_name(collection_name, "image")
    client.delete_vector_name(collection_name, "bm25")
    info = client.get_collection(collection_name)
    assert set(info.config.params.vectors) == {"text"}
    assert not info.config.params.sparse_vectors
    assert set(client.retrieve(collection_name, [9], with_vectors=True)[0].vector) == {"text"}
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(collection_name, query=[0.0, 0.0], using="image")
    assert e.value.status_code == 400
    assert client.count(collection_name).count == 6

    # Added again under the same name, the vector starts empty.
    client.create_vector_name(collection_name, "image", models.DenseVectorNameConfig(dense=models.DenseVectorConfig(size=2, distance=models.Distance.EUCLID)))
    assert client.count(collection_name, count_filter=has("image")).count == 0
    assert client.query_points(collection_name, query=[0.0, 0.0], using="image").points == []


def test_refusals_change_nothing(client, collection_name):
    client.create_collection(collection_name, vectors_config={"text": models.VectorParams(size=3, distance=models.Distance.DOT)})
    dense = models.DenseVectorNameConfig(dense=models.DenseVectorConfig(size=2, distance=models.Distance.DOT))
    with pytest.raises(UnexpectedResponse) as e:
        client.create_vector_name(collection_name, "text", dense)
    assert e.value.status_code == 409 and b"already exists" in e.value.content
    with pytest.raises(UnexpectedResponse) as e:
        client.delete_vector_name(collection_name, "nope")
    assert e.value.status_code == 404
    with pytest.raises(UnexpectedResponse) as e:
        client.create_vector_name("no-such-collection", "x", dense)
    assert e.value.status_code == 404
    assert set(client.get_collection(collection_name).config.params.vectors) == {"text"}


def test_an_unnamed_vector_collection_takes_sparse_but_not_named_dense(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=[1.0, 2.0])], wait=True)
    with pytest.raises(UnexpectedResponse) as e:
        client.create_vector_name(collection_name, "x", models.DenseVectorNameConfig(dense=models.DenseVectorConfig(size=2, distance=models.Distance.DOT)))
    assert e.value.status_code == 400 and b"unnamed" in e.value.content
    with pytest.raises(UnexpectedResponse) as e:
        client.delete_vector_name(collection_name, "")
    client.create_vector_name(collection_name, "s", models.SparseVectorNameConfig(sparse=models.SparseVectorConfig()))
    client.upsert(collection_name, points=[models.PointStruct(id=2, vector={"": [0.5, 0.5], "s": models.SparseVector(indices=[1], values=[2.0])})], wait=True)
    assert [h.id for h in client.query_points(collection_name, query=models.SparseVector(indices=[1], values=[1.0]), using="s").points] == [2]
    assert [h.id for h in client.query_points(collection_name, query=[1.0, 1.0]).points] == [1, 2]


def test_add_a_multivector(client, collection_name):
    client.create_collection(collection_name, vectors_config={"text": models.VectorParams(size=2, distance=models.Distance.DOT)})
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector={"text": [1.0, 0.0]})], wait=True)
    client.create_vector_name(
        collection_name,
        "colbert",
        models.DenseVectorNameConfig(
            dense=models.DenseVectorConfig(
                size=2, distance=models.Distance.DOT,
                multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM),
            )
        ),
    )
    client.upsert(collection_name, points=[models.PointStruct(id=2, vector={"text": [0.0, 1.0], "colbert": [[1.0, 0.0], [0.0, 2.0]]})], wait=True)
    hits = client.query_points(collection_name, query=[[1.0, 1.0], [0.0, 1.0]], using="colbert").points
    # MaxSim: max(1, 2) + max(0, 2) = 4; point 1 lacks the vector.
    assert [(h.id, h.score) for h in hits] == [(2, 4.0)]
    client.delete_vector_name(collection_name, "colbert")
    assert set(client.retrieve(collection_name, [2], with_vectors=True)[0].vector) == {"text"}
