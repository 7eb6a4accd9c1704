"""Service-level behaviour: version reporting and the client's handshake."""

import importlib.metadata
import threading
import time
import warnings

import httpx
from qdrant_client import QdrantClient
from qdrant_client.common.version_check import is_compatible


def test_root_reports_qdrant_1x_version(helio_url):
    resp = httpx.get(helio_url + "/", timeout=10)
    assert resp.status_code == 200
    body = resp.json()
    assert isinstance(body["version"], str)
    assert body["version"].startswith("1."), body
    assert "qdrant" in body["title"]


def test_client_info_when_available(client, helio_url):
    root = httpx.get(helio_url + "/", timeout=10).json()
    if hasattr(client, "info"):
        info = client.info()
        assert info.version == root["version"]
        assert info.version.startswith("1.")
        assert info.title
    # Whatever the client version, it must agree that the server is compatible.
    client_version = importlib.metadata.version("qdrant-client")
    assert is_compatible(client_version, root["version"]), (client_version, root["version"])


def test_constructing_client_emits_no_version_warning(helio_url):
    before = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        c = QdrantClient(url=helio_url, timeout=30, prefer_grpc=False)
        # The compatibility check runs on a background thread; wait for it.
        deadline = time.monotonic() + 15
        for t in set(threading.enumerate()) - before:
            t.join(max(0.0, deadline - time.monotonic()))
        assert c.collection_exists("surely_not_here_12345") is False
    c.close()
    messages = [str(w.message) for w in caught]
    bad = [m for m in messages if "incompatible" in m or "server version" in m.lower()]
    assert not bad, messages


def test_health_probes(helio_url):
    for path in ("/healthz", "/livez", "/readyz"):
        resp = httpx.get(helio_url + path, timeout=10)
        assert resp.status_code == 200, path
