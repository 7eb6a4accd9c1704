"""Point writes and retrieval through qdrant-client."""

import math
import uuid

import pytest
from qdrant_client import models

COMPLETED = models.UpdateStatus.COMPLETED
ACKNOWLEDGED = models.UpdateStatus.ACKNOWLEDGED


@pytest.fixture
def coll(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT)
    )
    return collection_name


def by_id(records):
    return {r.id: r for r in records}


def test_upsert_int_and_uuid_ids_then_retrieve(client, coll):
    u1, u2 = str(uuid.uuid4()), str(uuid.uuid4())
    res = client.upsert(
        coll,
        points=[
            models.PointStruct(id=1, vector=[1.0, 0.0, 0.0], payload={"n": 1, "tag": "a"}),
            models.PointStruct(id=u1, vector=[0.0, 1.0, 0.0], payload={"n": 2}),
            models.PointStruct(id=2**40, vector=[0.0, 0.0, 1.0]),
        ],
        wait=True,
    )
    assert res.status == COMPLETED
    assert isinstance(res.operation_id, int)

    res = client.upsert(
        coll,
        points=models.Batch(
            ids=[10, u2],
            vectors=[[1.0, 1.0, 0.0], [0.5, 0.5, 0.5]],
            payloads=[{"n": 10}, {"n": 11, "nested": {"x": [1, 2]}}],
        ),
        wait=True,
    )
    assert res.status == COMPLETED
    assert client.count(coll, exact=True).count == 5

    got = by_id(client.retrieve(coll, ids=[1, u1, 2**40, 10, u2, 999], with_vectors=True))
    assert set(got) == {1, u1, 2**40, 10, u2}  # unknown id 999 is simply absent
    assert got[1].payload == {"n": 1, "tag": "a"}
    assert got[1].vector == pytest.approx([1.0, 0.0, 0.0])
    assert got[u1].vector == pytest.approx([0.0, 1.0, 0.0])
    assert got[2**40].payload == {}
    assert got[10].payload == {"n": 10}
    assert got[u2].payload == {"n": 11, "nested": {"x": [1, 2]}}
    assert got[u2].vector == pytest.approx([0.5, 0.5, 0.5])

    # Upserting an existing id replaces vector and payload.
    client.upsert(coll, points=[models.PointStruct(id=1, vector=[2.0, 2.0, 2.0], payload={"z": True})], wait=True)
    rec = client.retrieve(coll, ids=[1], with_vectors=True)[0]
    assert rec.payload == {"z": True}
    assert rec.vector == pytest.approx([2.0, 2.0, 2.0])
    assert client.count(coll).count == 5


def test_retrieve_payload_and_vector_selectors(client, coll):
    client.upsert(
        coll,
        points=[models.PointStruct(id=7, vector=[1, 2, 3], payload={"a": 1, "b": "x", "c": [1, 2]})],
        wait=True,
    )
    rec = client.retrieve(coll, ids=[7])[0]  # client default: payload yes, vector no
    assert rec.payload == {"a": 1, "b": "x", "c": [1, 2]}
    assert rec.vector is None

    rec = client.retrieve(coll, ids=[7], with_payload=False, with_vectors=True)[0]
    assert not rec.payload
    assert rec.vector == pytest.approx([1, 2, 3])

    rec = client.retrieve(coll, ids=[7], with_payload=["a", "c"])[0]
    assert rec.payload == {"a": 1, "c": [1, 2]}

    rec = client.retrieve(coll, ids=[7], with_payload=models.PayloadSelectorExclude(exclude=["a"]))[0]
    assert rec.payload == {"b": "x", "c": [1, 2]}

    rec = client.retrieve(coll, ids=[7], with_payload=models.PayloadSelectorInclude(include=["b"]))[0]
    assert rec.payload == {"b": "x"}


def test_delete_by_ids_and_by_filter(client, coll):
    client.upsert(
        coll,
        points=[
            models.PointStruct(id=i, vector=[i, 1, 0], payload={"group": "odd" if i % 2 else "even"})
            for i in range(1, 11)
        ],
        wait=True,
    )
    res = client.delete(coll, points_selector=models.PointIdsList(points=[1, 2, 3]), wait=True)
    assert res.status == COMPLETED
    assert client.count(coll).count == 7
    assert client.retrieve(coll, ids=[1, 2, 3]) == []

    res = client.delete(
        coll,
        points_selector=models.FilterSelector(
            filter=models.Filter(
                must=[models.FieldCondition(key="group", match=models.MatchValue(value="even"))]
            )
        ),
        wait=True,
    )
    assert res.status == COMPLETED
    left = sorted(r.id for r in client.scroll(coll, limit=100)[0])
    assert left == [5, 7, 9]

    # A plain list of ids is accepted as a selector too.
    client.delete(coll, points_selector=[5], wait=True)
    assert sorted(r.id for r in client.scroll(coll, limit=100)[0]) == [7, 9]


def test_payload_operations(client, coll):
    client.upsert(
        coll,
        points=[
            models.PointStruct(id=1, vector=[1, 0, 0], payload={"a": 1, "b": 2, "obj": {"x": 1}}),
            models.PointStruct(id=2, vector=[0, 1, 0], payload={"a": 5, "keep": "me"}),
            models.PointStruct(id=3, vector=[0, 0, 1], payload={"a": 9}),
        ],
        wait=True,
    )
    # set_payload merges into the existing payload.
    res = client.set_payload(coll, payload={"b": 20, "c": "new"}, points=[1, 2], wait=True)
    assert res.status == COMPLETED
    got = by_id(client.retrieve(coll, ids=[1, 2, 3]))
    assert got[1].payload == {"a": 1, "b": 20, "c": "new", "obj": {"x": 1}}
    assert got[2].payload == {"a": 5, "keep": "me", "b": 20, "c": "new"}
    assert got[3].payload == {"a": 9}

    # set_payload with key= writes inside a nested object.
    client.set_payload(coll, payload={"y": 2}, points=[1], key="obj", wait=True)
    assert client.retrieve(coll, ids=[1])[0].payload["obj"] == {"x": 1, "y": 2}

    # set_payload by filter.
    client.set_payload(
        coll,
        payload={"big": True},
        points=models.Filter(must=[models.FieldCondition(key="a", range=models.Range(gte=5))]),
        wait=True,
    )
    got = by_id(client.retrieve(coll, ids=[1, 2, 3]))
    assert "big" not in got[1].payload
    assert got[2].payload["big"] is True and got[3].payload["big"] is True

    # overwrite_payload replaces everything.
    res = client.overwrite_payload(coll, payload={"only": "this"}, points=[2], wait=True)
    assert res.status == COMPLETED
    assert client.retrieve(coll, ids=[2])[0].payload == {"only": "this"}

    # delete_payload removes keys.
    res = client.delete_payload(coll, keys=["b", "obj"], points=[1], wait=True)
    assert res.status == COMPLETED
    assert client.retrieve(coll, ids=[1])[0].payload == {"a": 1, "c": "new"}

    # clear_payload empties it.
    res = client.clear_payload(coll, points_selector=models.PointIdsList(points=[3]), wait=True)
    assert res.status == COMPLETED
    assert client.retrieve(coll, ids=[3])[0].payload == {}
    # Vectors survive payload edits.
    assert client.retrieve(coll, ids=[3], with_vectors=True)[0].vector == pytest.approx([0, 0, 1])


def test_batch_update_points(client, coll):
    results = client.batch_update_points(
        coll,
        update_operations=[
            models.UpsertOperation(
                upsert=models.PointsList(
                    points=[
                        models.PointStruct(id=i, vector=[1, i, 0], payload={"i": i}) for i in range(6)
                    ]
                )
            ),
            models.UpsertOperation(
                upsert=models.PointsBatch(
                    batch=models.Batch(ids=[100, 101], vectors=[[0, 0, 1], [0, 1, 1]])
                )
            ),
            models.DeleteOperation(delete=models.PointIdsList(points=[0])),
            models.SetPayloadOperation(
                set_payload=models.SetPayload(payload={"flag": True}, points=[1, 2])
            ),
            models.OverwritePayloadOperation(
                overwrite_payload=models.SetPayload(payload={"fresh": 1}, points=[3])
            ),
            models.DeletePayloadOperation(delete_payload=models.DeletePayload(keys=["i"], points=[4])),
            models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[5])),
            models.UpdateVectorsOperation(
                update_vectors=models.UpdateVectors(
                    points=[models.PointVectors(id=100, vector=[9.0, 9.0, 9.0])]
                )
            ),
        ],
        wait=True,
    )
    assert len(results) == 8
    assert all(r.status == COMPLETED for r in results)

    got = by_id(client.retrieve(coll, ids=[0, 1, 2, 3, 4, 5, 100, 101], with_vectors=True))
    assert 0 not in got
    assert got[1].payload == {"i": 1, "flag": True}
    assert got[2].payload == {"i": 2, "flag": True}
    assert got[3].payload == {"fresh": 1}
    assert got[4].payload == {}
    assert got[5].payload == {}
    assert got[100].vector == pytest.approx([9, 9, 9])
    assert got[101].vector == pytest.approx([0, 1, 1])
    assert client.count(coll).count == 7


def test_wait_false_acknowledged_and_strong_ordering(client, coll):
    res = client.upsert(
        coll, points=[models.PointStruct(id=1, vector=[1, 1, 1])], wait=False
    )
    assert res.status == ACKNOWLEDGED
    res = client.upsert(
        coll,
        points=[models.PointStruct(id=2, vector=[1, 2, 1], payload={"k": "v"})],
        wait=True,
        ordering=models.WriteOrdering.STRONG,
    )
    assert res.status == COMPLETED
    res = client.set_payload(
        coll, payload={"s": 1}, points=[2], wait=True, ordering=models.WriteOrdering.MEDIUM
    )
    assert res.status == COMPLETED
    res = client.delete(
        coll, points_selector=[1], wait=False, ordering=models.WriteOrdering.WEAK
    )
    assert res.status == ACKNOWLEDGED
    # Operation ids grow.
    a = client.set_payload(coll, payload={"t": 1}, points=[2], wait=True).operation_id
    b = client.set_payload(coll, payload={"t": 2}, points=[2], wait=True).operation_id
    assert b > a
    # After a waited write, earlier unwaited writes are visible too.
    ids = sorted(r.id for r in client.scroll(coll, limit=10)[0])
    assert ids == [2]
    assert client.retrieve(coll, ids=[2])[0].payload == {"k": "v", "s": 1, "t": 2}


def test_cosine_vectors_are_stored_normalised(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.COSINE)
    )
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=[3.0, 4.0])], wait=True)
    vec = client.retrieve(collection_name, ids=[1], with_vectors=True)[0].vector
    assert vec == pytest.approx([0.6, 0.8], abs=1e-6)
    assert math.hypot(*vec) == pytest.approx(1.0, abs=1e-6)
