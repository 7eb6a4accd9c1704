"""Snapshots through qdrant-client: create, list, download, recover from an
upload and from a local file, delete; a restored collection answers every
query as before."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse


def build(client, name):
    client.create_collection(
        name,
        vectors_config={"d": models.VectorParams(size=3, distance=models.Distance.COSINE)},
        sparse_vectors_config={"s": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    client.upsert(name, [
        models.PointStruct(id=i, vector={"d": [1, i, i * i % 7], "s": models.SparseVector(indices=[i % 5, 10], values=[1.0, 0.5])},
                           payload={"n": i, "kind": "panel" if i % 2 else "inverter"})
        for i in range(1, 60)], wait=True)
    client.create_payload_index(name, "kind", models.PayloadSchemaType.KEYWORD, wait=True)


def answers(client, name):
    dense = client.query_points(name, query=[1, 2, 3], using="d", limit=5, with_vectors=True).points
    sparse = client.query_points(name, query=models.SparseVector(indices=[3], values=[1.0]), using="s", limit=5).points
    flt = models.Filter(must=[models.FieldCondition(key="kind", match=models.MatchValue(value="panel"))])
    return (
        [(p.id, round(p.score, 5), p.payload) for p in dense],
        [(p.id, round(p.score, 5)) for p in sparse],
        client.count(name, count_filter=flt).count,
        client.get_collection(name).payload_schema.keys(),
    )


def test_snapshot_round_trip(helio_url, helio_server, client, collection_name):
    build(client, collection_name)
    before = answers(client, collection_name)
    snap = client.create_snapshot(collection_name, wait=True)
    assert snap.name.endswith(".snapshot") and snap.size > 0
    assert [s.name for s in client.list_snapshots(collection_name)] == [snap.name]

    r = httpx.get(f"{helio_url}/collections/{collection_name}/snapshots/{snap.name}")
    assert r.status_code == 200
    blob = r.content
    assert hashlib.sha256(blob).hexdigest() == snap.checksum

    # Change the collection, then recover it from the uploaded file.
    client.delete(collection_name, points_selector=[1, 2, 3], wait=True)
    client.set_payload(collection_name, payload={"n": -1}, points=[4], wait=True)
    assert answers(client, collection_name) != before
    r = httpx.post(
        f"{helio_url}/collections/{collection_name}/snapshots/upload?wait=true&checksum={snap.checksum}",
        files={"snapshot": (snap.name, blob, "application/octet-stream")},
    )
    assert r.status_code == 200, r.text
    assert answers(client, collection_name) == before

    # Into a new collection, from the file in the storage's snapshots/.
    copy = collection_name + "_copy"
    try:
        # The snapshot file is still there after the upload.
        path = helio_server.storage / "snapshots" / collection_name / snap.name
        assert path.is_file()
        r = httpx.put(f"{helio_url}/collections/{copy}/snapshots/recover",
                      json={"location": f"file://{path}"})
        assert r.status_code == 200, r.text
        assert answers(client, copy) == before
    finally:
        try:
            client.delete_collection(copy)
        except Exception:
            pass

    assert client.delete_snapshot(collection_name, snap.name, wait=True)
    assert client.list_snapshots(collection_name) == []


def test_snapshot_bad_input(helio_url, client, collection_name):
    build(client, collection_name)
    r = httpx.post(f"{helio_url}/collections/{collection_name}/snapshots/upload",
                   files={"snapshot": ("x.snapshot", b"not a tar at all", "application/octet-stream")})
    assert r.status_code == 400 and "snapshot" in r.json()["status"]["error"]
    assert client.count(collection_name).count == 59  # untouched
    r = httpx.put(f"{helio_url}/collections/{collection_name}/snapshots/recover",
                  json={"location": "https://example.com/x.snapshot"})
    assert r.status_code == 400 and "disabled" in r.json()["status"]["error"]
    r = httpx.put(f"{helio_url}/collections/{collection_name}/snapshots/recover",
                  json={"location": "file:///etc/passwd"})
    assert r.status_code == 400
    r = httpx.get(f"{helio_url}/collections/{collection_name}/snapshots/..%2F..%2Faliases.json")
    assert r.status_code == 404
    snap = client.create_snapshot(collection_name, wait=True)
    r = httpx.post(
        f"{helio_url}/collections/{collection_name}/snapshots/upload?checksum={'0' * 64}",
        files={"snapshot": (snap.name, httpx.get(f"{helio_url}/collections/{collection_name}/snapshots/{snap.name}").content)},
    )
    assert r.status_code == 400 and "checksum" in r.json()["status"]["error"]
    with pytest.raises(UnexpectedResponse) as e:
        client.list_snapshots("no_such_collection")
    assert e.value.status_code == 404
