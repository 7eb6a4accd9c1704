"""Less common request shapes the client produces: the explicit
`{"": ...}` unnamed-vector map, typed index params for every index type,
per-vector hnsw updates, upload helpers, datetime order_by."""

import uuid
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from qdrant_client import models


def test_unnamed_vector_map_forms(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={"": models.VectorParams(size=3, distance=models.Distance.EUCLID)},
    )
    info = client.get_collection(collection_name)
    vectors = info.config.params.vectors
    params = vectors if isinstance(vectors, models.VectorParams) else vectors[""]
    assert params.size == 3 and params.distance == models.Distance.EUCLID

    client.upsert(
        collection_name,
        points=[models.PointStruct(id=1, vector={"": [1.0, 2.0, 3.0]}, payload={"a": 1})],
        wait=True,
    )
    rec = client.retrieve(collection_name, ids=[1], with_vectors=[""])[0]
    got = rec.vector if isinstance(rec.vector, list) else rec.vector[""]
    assert got == pytest.approx([1.0, 2.0, 3.0])
    res = client.query_points(collection_name, query=[1.0, 2.0, 4.0], using="", limit=1)
    assert res.points[0].id == 1
    assert res.points[0].score == pytest.approx(1.0)


def test_per_vector_hnsw_update(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    client.update_collection(
        collection_name,
        vectors_config={"": models.VectorParamsDiff(hnsw_config=models.HnswConfigDiff(m=32, ef_construct=123))},
    )
    vectors = client.get_collection(collection_name).config.params.vectors
    params = vectors if isinstance(vectors, models.VectorParams) else vectors[""]
    assert params.hnsw_config.m == 32
    assert params.hnsw_config.ef_construct == 123


def test_typed_index_params_for_every_type(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=i,
                vector=[1, 0],
                payload={
                    "kw": f"k{i % 2}", "f": i / 2, "b": i % 2 == 0,
                    "dt": (t0 + timedelta(days=i)).isoformat(), "u": str(uuid.UUID(int=i + 1)),
                    "g": {"lon": i, "lat": i}, "t": f"word{i} common",
                },
            )
            for i in range(10)
        ],
        wait=True,
    )
    specs = {
        "kw": models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True, on_disk=False),
        "f": models.FloatIndexParams(type=models.FloatIndexType.FLOAT, is_principal=True),
        "b": models.BoolIndexParams(type=models.BoolIndexType.BOOL),
        "dt": models.DatetimeIndexParams(type=models.DatetimeIndexType.DATETIME),
        "u": models.UuidIndexParams(type=models.UuidIndexType.UUID),
        "g": models.GeoIndexParams(type=models.GeoIndexType.GEO),
        "t": models.TextIndexParams(type=models.TextIndexType.TEXT, tokenizer=models.TokenizerType.WHITESPACE),
    }
    for field, spec in specs.items():
        res = client.create_payload_index(collection_name, field, field_schema=spec, wait=True)
        assert res.status == models.UpdateStatus.COMPLETED, field
    schema = client.get_collection(collection_name).payload_schema
    assert {f: s.data_type.value for f, s in schema.items()} == {
        "kw": "keyword", "f": "float", "b": "bool", "dt": "datetime", "u": "uuid", "g": "geo", "t": "text",
    }
    assert all(s.points == 10 for s in schema.values())
    assert schema["kw"].params.is_tenant is True
    assert schema["t"].params.tokenizer == models.TokenizerType.WHITESPACE

    def count(cond):
        return client.count(collection_name, count_filter=models.Filter(must=[cond])).count

    fc = models.FieldCondition
    assert count(fc(key="kw", match=models.MatchValue(value="k1"))) == 5
    assert count(fc(key="f", range=models.Range(gte=2.0))) == 6
    assert count(fc(key="b", match=models.MatchValue(value=False))) == 5
    assert count(fc(key="dt", range=models.DatetimeRange(lt=t0 + timedelta(days=3)))) == 3
    assert count(fc(key="u", match=models.MatchValue(value=str(uuid.UUID(int=4))))) == 1
    assert count(fc(key="g", geo_bounding_box=models.GeoBoundingBox(
        top_left=models.GeoPoint(lon=1.5, lat=5.5), bottom_right=models.GeoPoint(lon=5.5, lat=1.5)))) == 4
    assert count(fc(key="t", match=models.MatchText(text="common word3"))) == 1


def test_upload_points_and_collection(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT))
    client.upload_points(
        collection_name,
        points=[models.PointStruct(id=i, vector=[i, 0, 0, 1], payload={"i": i}) for i in range(50)],
        batch_size=16,
        wait=True,
    )
    vectors = np.eye(4, dtype=np.float32).repeat(5, axis=0)
    client.upload_collection(
        collection_name,
        vectors=vectors,
        payload=[{"j": j} for j in range(20)],
        ids=list(range(100, 120)),
        batch_size=7,
        wait=True,
    )
    assert client.count(collection_name).count == 70
    rec = client.retrieve(collection_name, ids=[119], with_vectors=True)[0]
    assert rec.payload == {"j": 19}
    assert rec.vector == pytest.approx([0, 0, 0, 1])


def test_order_by_datetime_start_from(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=i, vector=[1, 1], payload={"at": (t0 + timedelta(hours=(i * 7) % 24)).isoformat()})
            for i in range(24)
        ],
        wait=True,
    )
    client.create_payload_index(collection_name, "at", field_schema=models.PayloadSchemaType.DATETIME, wait=True)
    start = t0 + timedelta(hours=12)
    points, _ = client.scroll(
        collection_name, limit=100,
        order_by=models.OrderBy(key="at", direction=models.Direction.DESC, start_from=start),
    )
    hours = [int((datetime.fromisoformat(p.payload["at"]) - t0).total_seconds() // 3600) for p in points]
    assert hours == list(range(12, -1, -1))
    # Qdrant reports a datetime's order value as microseconds since the epoch.
    for p in points:
        assert p.order_value == int(datetime.fromisoformat(p.payload["at"]).timestamp() * 1_000_000)

    # start_from also takes Qdrant's other datetime spellings.
    points, _ = client.scroll(
        collection_name, limit=100, order_by=models.OrderBy(key="at", start_from="2024-01-01 20:00:00")
    )
    hours = [int((datetime.fromisoformat(p.payload["at"]) - t0).total_seconds() // 3600) for p in points]
    assert hours == [20, 21, 22, 23]
