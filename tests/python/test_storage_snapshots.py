"""Full-storage snapshots through qdrant-client (create, list, delete) and
plain HTTP (download); the beta issues routes; a collection's optimizations
report, parsed by the client's own models."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time

import httpx
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse


def build(client, name, n=40):
    client.create_collection(
        name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    client.upsert(name, [
        models.PointStruct(id=i, vector=[1, i, i % 5], payload={"n": i})
        for i in range(n)], wait=True)


@pytest.fixture
def two_collections(client, collection_name):
    other = collection_name + "_b"
    build(client, collection_name)
    build(client, other, n=7)
    client.update_collection_aliases(change_aliases_operations=[
        models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name=collection_name, alias_name=collection_name + "_live"))])
    yield collection_name, other
    client.delete_collection(other)


def test_full_snapshot_round_trip(helio_url, client, two_collections):
    a, b = two_collections
    snap = client.create_full_snapshot(wait=True)
    assert snap.name.startswith("full-snapshot-") and snap.name.endswith(".snapshot")
    assert snap.size > 0 and len(snap.checksum) == 64 and snap.creation_time
    assert snap.name in [s.name for s in client.list_full_snapshots()]
    # A full snapshot is not one of the collections' snapshots.
    assert client.list_snapshots(a) == []

    r = httpx.get(f"{helio_url}/snapshots/{snap.name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert len(r.content) == snap.size
    assert hashlib.sha256(r.content).hexdigest() == snap.checksum

    # Every collection and the alias are in it.
    with tarfile.open(fileobj=io.BytesIO(r.content)) as tar:
        manifest = json.load(tar.extractfile("storage.json"))
    names = {c["name"] for c in manifest["collections"]}
    assert {a, b} <= names
    assert manifest["aliases"][a + "_live"] == a

    assert client.delete_full_snapshot(snap.name, wait=True) is True
    assert snap.name not in [s.name for s in client.list_full_snapshots()]
    r = httpx.get(f"{helio_url}/snapshots/{snap.name}")
    assert r.status_code == 404 and "not found" in r.json()["status"]["error"]
    with pytest.raises(UnexpectedResponse) as e:
        client.delete_full_snapshot(snap.name)
    assert e.value.status_code == 404


def test_full_snapshot_in_the_background(client, two_collections):
    before = {s.name for s in client.list_full_snapshots()}
    # `wait=false`: 202 accepted, no description.
    assert client.create_full_snapshot(wait=False) is None
    deadline = time.monotonic() + 30
    new = set()
    while not new and time.monotonic() < deadline:
        time.sleep(0.1)
        new = {s.name for s in client.list_full_snapshots()} - before
    assert len(new) == 1, new
    for name in new:
        assert client.delete_full_snapshot(name)


def test_full_snapshot_names_are_not_paths(helio_url):
    for name in ["..%2F..%2Faliases.json", "..%2Fstorage%2F.lock", "nope.snapshot", "%2E%2E"]:
        r = httpx.get(f"{helio_url}/snapshots/{name}")
        assert r.status_code == 404, name
        r = httpx.delete(f"{helio_url}/snapshots/{name}")
        assert r.status_code == 404, name


def test_issues_are_empty_and_clear(client):
    # The client types this route as a plain object: the whole envelope.
    body = client.http.beta_api.get_issues()
    assert body["result"] == {"issues": []} and body["status"] == "ok"
    assert isinstance(body["time"], float)
    assert client.http.beta_api.clear_issues().result is True


def test_optimizations_report(helio_url, client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
        # 1 KB: the graph is built after 64 points.
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
    )
    client.upsert(collection_name, [
        models.PointStruct(id=i, vector=[1, i, i % 3, 0.5]) for i in range(300)], wait=True)
    deadline = time.monotonic() + 60
    while client.get_collection(collection_name).status != models.CollectionStatus.GREEN:
        assert time.monotonic() < deadline, "collection never became green"
        time.sleep(0.1)

    plain = client.http.collections_api.get_optimizations(collection_name).result
    assert plain.running == [] and plain.queued is None and plain.completed is None
    assert plain.summary.queued_optimizations == 0 and plain.summary.queued_points == 0

    full = client.http.collections_api.get_optimizations(
        collection_name, _with="queued,completed,idle_segments").result
    assert full.queued == []
    assert full.completed and all(o.optimizer == "indexing" for o in full.completed)
    raw = httpx.get(f"{helio_url}/collections/{collection_name}/optimizations?with=completed").json()
    assert {o["status"] for o in raw["result"]["completed"]} == {"done"}
    assert sum(o.progress.total for o in full.completed) >= 300
    assert all(o.progress.finished_at and o.progress.duration_sec is not None for o in full.completed)
    assert full.summary.idle_segments == len(full.idle_segments)
    assert sum(s.points_count for s in full.idle_segments) == 300
    # The newest optimisation made a segment that is now idle.
    assert full.completed[0].uuid in {s.uuid for s in full.idle_segments}

    limited = client.http.collections_api.get_optimizations(
        collection_name, _with="completed", completed_limit=0).result
    assert limited.completed == []
    r = httpx.get(f"{helio_url}/collections/{collection_name}/optimizations?with=everything")
    assert r.status_code == 400
    r = httpx.get(f"{helio_url}/collections/no_such_collection/optimizations")
    assert r.status_code == 404
