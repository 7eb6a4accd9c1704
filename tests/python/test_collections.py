"""Collection lifecycle through qdrant-client: create, info, list, exists,
update, delete."""

import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse


def test_create_get_and_echo_config(client, collection_name):
    ok = client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=8, distance=models.Distance.DOT, on_disk=True),
        hnsw_config=models.HnswConfigDiff(m=12, ef_construct=64, full_scan_threshold=5000),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=2000, deleted_threshold=0.3),
    )
    assert ok is True

    info = client.get_collection(collection_name)
    assert info.status == models.CollectionStatus.GREEN
    assert info.points_count == 0
    assert info.indexed_vectors_count == 0
    assert info.segments_count >= 1

    params = info.config.params
    assert isinstance(params.vectors, models.VectorParams)
    assert params.vectors.size == 8
    assert params.vectors.distance == models.Distance.DOT
    assert params.vectors.on_disk is True
    assert params.shard_number == 1
    assert params.replication_factor == 1

    assert info.config.hnsw_config.m == 12
    assert info.config.hnsw_config.ef_construct == 64
    assert info.config.hnsw_config.full_scan_threshold == 5000
    assert info.config.optimizer_config.indexing_threshold == 2000
    assert info.config.optimizer_config.deleted_threshold == pytest.approx(0.3)
    # Values not set keep Qdrant's defaults.
    assert info.config.optimizer_config.vacuum_min_vector_number == 1000
    assert info.payload_schema == {}


def test_defaults_when_only_vectors_given(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=3, distance=models.Distance.COSINE)
    )
    info = client.get_collection(collection_name)
    assert info.config.hnsw_config.m == 16
    assert info.config.hnsw_config.ef_construct == 100
    assert info.config.hnsw_config.full_scan_threshold == 10000
    assert info.config.optimizer_config.indexing_threshold == 10000
    assert info.config.params.vectors.distance == models.Distance.COSINE
    assert info.config.params.on_disk_payload is True


def test_list_exists_delete(client, collection_name):
    other = collection_name + "_b"
    for name in (collection_name, other):
        client.create_collection(
            name, vectors_config=models.VectorParams(size=4, distance=models.Distance.EUCLID)
        )
    try:
        names = {c.name for c in client.get_collections().collections}
        assert {collection_name, other} <= names
        assert client.collection_exists(collection_name) is True
        assert client.collection_exists(other) is True

        assert client.delete_collection(other) is True
        assert client.collection_exists(other) is False
        names = {c.name for c in client.get_collections().collections}
        assert other not in names
        assert collection_name in names
    finally:
        if client.collection_exists(other):
            client.delete_collection(other)
    assert client.collection_exists(collection_name + "_never_created") is False
    # Deleting what does not exist answers false, as Qdrant does.
    assert client.delete_collection(collection_name + "_never_created") is False


def test_create_existing_conflicts(client, collection_name):
    cfg = models.VectorParams(size=4, distance=models.Distance.COSINE)
    client.create_collection(collection_name, vectors_config=cfg)
    with pytest.raises(UnexpectedResponse) as exc:
        client.create_collection(collection_name, vectors_config=cfg)
    assert exc.value.status_code in (400, 409)
    assert b"already exists" in exc.value.content
    # The original collection is untouched.
    assert client.get_collection(collection_name).config.params.vectors.size == 4


def test_update_collection_hnsw_and_optimizers(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE)
    )
    assert client.update_collection(
        collection_name,
        hnsw_config=models.HnswConfigDiff(m=24, ef_construct=200),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=500, flush_interval_sec=7),
    ) is True
    info = client.get_collection(collection_name)
    assert info.config.hnsw_config.m == 24
    assert info.config.hnsw_config.ef_construct == 200
    assert info.config.hnsw_config.full_scan_threshold == 10000  # untouched
    assert info.config.optimizer_config.indexing_threshold == 500
    assert info.config.optimizer_config.flush_interval_sec == 7
    assert info.config.optimizer_config.deleted_threshold == pytest.approx(0.2)

    # A second partial update only changes what it names.
    client.update_collection(collection_name, hnsw_config=models.HnswConfigDiff(m=8))
    info = client.get_collection(collection_name)
    assert info.config.hnsw_config.m == 8
    assert info.config.hnsw_config.ef_construct == 200
    assert info.config.optimizer_config.indexing_threshold == 500


def test_points_count_and_payload_schema_counts(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=i, vector=[float(i), 1.0], payload={"color": c} if c else {})
            for i, c in enumerate(["red", "blue", None, "red", None])
        ],
        wait=True,
    )
    client.create_payload_index(
        collection_name, "color", field_schema=models.PayloadSchemaType.KEYWORD, wait=True
    )
    info = client.get_collection(collection_name)
    assert info.points_count == 5
    schema = info.payload_schema["color"]
    assert schema.data_type == models.PayloadSchemaType.KEYWORD
    assert schema.points == 3
