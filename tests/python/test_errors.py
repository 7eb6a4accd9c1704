"""Errors surface as the client's UnexpectedResponse with Qdrant's status
codes and messages, and the server keeps serving afterwards."""

import httpx
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse


@pytest.fixture
def coll(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE))
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector=[1, 2, 3, 4])], wait=True)
    return collection_name


def test_wrong_vector_size_on_upsert(client, coll):
    with pytest.raises(UnexpectedResponse) as exc:
        client.upsert(coll, points=[models.PointStruct(id=2, vector=[1, 2, 3])], wait=True)
    assert exc.value.status_code == 400
    assert b"Vector dimension error" in exc.value.content
    assert b"expected dim: 4, got 3" in exc.value.content

    # Batch form, and a batch where only one point is wrong: nothing is written.
    with pytest.raises(UnexpectedResponse) as exc:
        client.upsert(
            coll,
            points=models.Batch(ids=[3, 4], vectors=[[1, 1, 1, 1], [1, 1, 1, 1, 1]]),
            wait=True,
        )
    assert exc.value.status_code == 400
    assert b"Vector dimension error" in exc.value.content
    assert client.retrieve(coll, ids=[2, 3, 4]) == []
    assert client.count(coll).count == 1


def test_wrong_vector_size_on_query(client, coll):
    with pytest.raises(UnexpectedResponse) as exc:
        client.query_points(coll, query=[1.0, 2.0], limit=3)
    assert exc.value.status_code == 400
    assert b"Vector dimension error" in exc.value.content


def test_unknown_collection_is_404(client, collection_name):
    missing = collection_name + "_missing"
    calls = [
        lambda: client.get_collection(missing),
        lambda: client.upsert(missing, points=[models.PointStruct(id=1, vector=[1, 2, 3, 4])], wait=True),
        lambda: client.query_points(missing, query=[1, 2, 3, 4]),
        lambda: client.scroll(missing),
        lambda: client.count(missing),
        lambda: client.retrieve(missing, ids=[1]),
        lambda: client.set_payload(missing, payload={"a": 1}, points=[1]),
        lambda: client.create_payload_index(missing, "a", field_schema="keyword"),
        lambda: client.update_collection(missing, hnsw_config=models.HnswConfigDiff(m=8)),
    ]
    for call in calls:
        with pytest.raises(UnexpectedResponse) as exc:
            call()
        assert exc.value.status_code == 404
        assert missing.encode() in exc.value.content
        assert b"doesn't exist" in exc.value.content or b"not found" in exc.value.content.lower()


def test_error_body_shape(helio_url, coll):
    resp = httpx.put(
        f"{helio_url}/collections/{coll}/points?wait=true",
        json={"points": [{"id": 9, "vector": [1.0]}]},
        timeout=10,
    )
    assert resp.status_code == 400
    body = resp.json()
    assert isinstance(body["status"]["error"], str)
    assert "time" in body


def test_server_keeps_working_after_errors(client, coll):
    for _ in range(3):
        with pytest.raises(UnexpectedResponse):
            client.upsert(coll, points=[models.PointStruct(id=2, vector=[1])], wait=True)
        with pytest.raises(UnexpectedResponse):
            client.get_collection(coll + "_nope")
    res = client.upsert(coll, points=[models.PointStruct(id=2, vector=[0, 0, 1, 0])], wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    assert client.count(coll).count == 2
    top = client.query_points(coll, query=[0, 0, 1, 0], limit=1).points
    assert top[0].id == 2
    assert top[0].score == pytest.approx(1.0, abs=1e-5)
