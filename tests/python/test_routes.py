"""Every route of Qdrant's REST contract answers: either it is served, or,
for cluster-only routes, it is a clear 400 in Qdrant's envelope. A route
that falls through to the router's "no route" (or "method not allowed")
answer fails the test, and so does a route listed as missing that has
since been built (update the list)."""

from pathlib import Path

import httpx
import pytest

ROUTES = Path(__file__).resolve().parents[1] / "fixtures" / "qdrant-routes-v1.18.txt"

# Routes of the contract Helio does not serve yet.
MISSING: set[str] = set()


def routes():
    for line in ROUTES.read_text().splitlines():
        if line and not line.startswith("#"):
            yield line


def fill(path):
    # A collection that does not exist: collection routes answer 404 from
    # their handler, and nothing is changed.
    return (
        path.replace("{collection_name}", "no_such_collection_for_routes")
        .replace("{id}", "1")
        .replace("{shard_id}", "0")
        .replace("{peer_id}", "1")
        .replace("{snapshot_name}", "nothing.snapshot")
        .replace("{vector_name}", "v")
        .replace("{field_name}", "f")
    )


def test_route_list_is_the_whole_contract():
    assert len(list(routes())) == 75


@pytest.mark.parametrize("route", list(routes()))
def test_every_route_answers(helio_url, route):
    method, path = route.split(" ", 1)
    body = {} if method in ("POST", "PUT", "PATCH") else None
    r = httpx.request(method, helio_url + fill(path), json=body, timeout=30)
    unrouted = r.status_code == 405 or (r.status_code == 404 and "no route for" in r.text)
    if route in MISSING:
        assert unrouted, f"{route} is served now: take it off MISSING"
        return
    assert not unrouted, f"{route}: {r.status_code} {r.text}"
    if r.status_code >= 400:
        # Errors come in Qdrant's envelope with a message.
        assert r.json()["status"]["error"], r.text
