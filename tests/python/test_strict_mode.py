"""Strict mode: a collection's `strict_mode_config` is stored, merged on
update and enforced. Each limit is checked on both sides of its bound, the
refusal names what was refused, and a refused write changes nothing."""

import json

import httpx
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 4


@pytest.fixture
def strict(client, collection_name):
    client.create_collection(
        collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT)
    )
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=i, vector=[1.0, 0.5, 0.25, float(i)], payload={"city": "Recife" if i % 2 else "Natal", "n": i})
            for i in range(1, 9)
        ],
        wait=True,
    )

    def set_strict(**fields):
        client.update_collection(collection_name, strict_mode_config=models.StrictModeConfig(**fields))

    return set_strict


def refused(call, *words, status=400):
    with pytest.raises(UnexpectedResponse) as e:
        call()
    assert e.value.status_code == status, e.value.content
    text = json.loads(e.value.content)["status"]["error"]
    for w in words:
        assert w in text, text
    return text


def search(client, name, **kw):
    return client.query_points(name, query=[0.1, 0.2, 0.3, 0.4], **kw).points


def test_config_is_stored_merged_and_echoed(client, collection_name, strict):
    assert client.get_collection(collection_name).config.strict_mode_config is None
    strict(enabled=True, max_query_limit=10, search_max_oversampling=1.5)
    strict(max_timeout=2)
    got = client.get_collection(collection_name).config.strict_mode_config
    assert got.enabled is True
    assert got.max_query_limit == 10
    assert got.max_timeout == 2
    assert got.search_max_oversampling == 1.5


def test_query_limit_and_disabling(helio_url, client, collection_name, strict):
    assert len(search(client, collection_name, limit=5)) == 5
    strict(enabled=True, max_query_limit=4)
    assert len(search(client, collection_name, limit=4)) == 4
    text = refused(lambda: search(client, collection_name, limit=5), "Limit exceeded 5 > 4", '"limit"')
    assert "Help:" in text
    # Every route with a result count: legacy search, prefetch, scroll, groups.
    r = httpx.post(f"{helio_url}/collections/{collection_name}/points/search", json={"vector": [0.1] * DIM, "limit": 5})
    assert r.status_code == 400 and "5 > 4" in r.json()["status"]["error"]
    refused(
        lambda: client.query_points(
            collection_name, prefetch=models.Prefetch(query=[0.1] * DIM, limit=20), query=[0.1] * DIM, limit=2
        ),
        "20 > 4",
    )
    refused(lambda: client.scroll(collection_name, limit=5), "limit")
    refused(
        lambda: client.query_points_groups(collection_name, query=[0.1] * DIM, group_by="city", limit=2, group_size=3),
        "6 > 4",
    )
    # Switched off, the limit no longer applies but stays stored.
    strict(enabled=False)
    assert len(search(client, collection_name, limit=5)) == 5
    assert client.get_collection(collection_name).config.strict_mode_config.max_query_limit == 4


def test_search_params_timeout_and_batch(helio_url, client, collection_name, strict):
    strict(enabled=True, search_max_hnsw_ef=5, search_allow_exact=False, max_timeout=2, search_max_batchsize=2)
    assert search(client, collection_name, search_params=models.SearchParams(hnsw_ef=5))
    refused(lambda: search(client, collection_name, search_params=models.SearchParams(hnsw_ef=6)), "hnsw_ef")
    refused(lambda: search(client, collection_name, search_params=models.SearchParams(exact=True)), "Exact search disabled")
    refused(lambda: client.count(collection_name, exact=True), "Exact search disabled")
    assert client.count(collection_name, exact=False).count == 8
    url = f"{helio_url}/collections/{collection_name}/points/query"
    assert httpx.post(url, params={"timeout": 2}, json={"query": [0.1] * DIM}).status_code == 200
    r = httpx.post(url, params={"timeout": 3}, json={"query": [0.1] * DIM})
    assert r.status_code == 400 and '"timeout"' in r.json()["status"]["error"]
    one = models.QueryRequest(query=[0.1] * DIM, limit=1)
    assert len(client.query_batch_points(collection_name, [one, one])) == 2
    refused(lambda: client.query_batch_points(collection_name, [one, one, one]), "3 > 2")


def test_unindexed_filters_need_an_index(client, collection_name, strict):
    by_city = models.Filter(must=[models.FieldCondition(key="city", match=models.MatchValue(value="Recife"))])
    strict(enabled=True, unindexed_filtering_retrieve=False, unindexed_filtering_update=False)
    text = refused(lambda: search(client, collection_name, query_filter=by_city), 'Index required but not found for "city"')
    assert "[keyword, uuid]" in text
    refused(lambda: client.count(collection_name, count_filter=by_city, exact=False), '"city"')
    refused(
        lambda: client.delete(collection_name, points_selector=models.FilterSelector(filter=by_city), wait=True),
        '"city"',
    )
    assert client.count(collection_name).count == 8  # the refused delete removed nothing
    # Conditions that need no index pass; an integer index does not serve a keyword match.
    assert search(client, collection_name, query_filter=models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="x"))]))
    client.create_payload_index(collection_name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    assert len(search(client, collection_name, query_filter=by_city)) == 4
    by_n = models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=3))])
    refused(lambda: search(client, collection_name, query_filter=by_n), '"n"', "[integer, float]")
    client.delete(collection_name, points_selector=models.FilterSelector(filter=by_city), wait=True)
    assert client.count(collection_name).count == 4


def test_formula_variables_need_an_index(client, collection_name, strict):
    boosted = models.FormulaQuery(formula=models.SumExpression(sum=["$score", "n"]), defaults={"n": 0})
    prefetch = models.Prefetch(query=[0.1] * DIM, limit=5)
    assert client.query_points(collection_name, prefetch=prefetch, query=boosted).points
    strict(enabled=True, unindexed_filtering_retrieve=False)
    refused(lambda: client.query_points(collection_name, prefetch=prefetch, query=boosted), '"n"', "formula expression")
    client.create_payload_index(collection_name, "n", models.PayloadSchemaType.INTEGER, wait=True)
    assert client.query_points(collection_name, prefetch=prefetch, query=boosted).points


def test_filter_shape_limits(client, collection_name, strict):
    strict(enabled=True, filter_max_conditions=2, condition_max_size=3)
    two = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchAny(any=[1, 2, 3]))], should=[models.HasIdCondition(has_id=[1])])
    assert search(client, collection_name, query_filter=two)
    three = models.Filter(must=[*two.must, models.FieldCondition(key="city", match=models.MatchValue(value="Natal"))], should=two.should)
    refused(lambda: search(client, collection_name, query_filter=three), "Filter condition limit exceeded: 3 > 2")
    big = models.Filter(must=[models.FieldCondition(key="n", match=models.MatchAny(any=[1, 2, 3, 4]))])
    refused(lambda: search(client, collection_name, query_filter=big), "Condition size limit exceeded: 4 > 3")


def test_write_limits_change_nothing(client, collection_name, strict):
    strict(enabled=True, upsert_max_batchsize=3, max_points_count=10)
    pts = lambda ids: [models.PointStruct(id=i, vector=[0.1] * DIM) for i in ids]
    client.upsert(collection_name, points=pts([20, 21]), wait=True)
    refused(lambda: client.upsert(collection_name, points=pts([30, 31, 32, 33]), wait=True), "4 > 3", "upsert limit")
    refused(
        lambda: client.batch_update_points(
            collection_name, [models.UpsertOperation(upsert=models.PointsList(points=pts([30, 31, 32, 33])))], wait=True
        ),
        "upsert limit",
    )
    assert client.count(collection_name).count == 10
    refused(lambda: client.upsert(collection_name, points=pts([40]), wait=True), "Max points count limit of 10 reached!")
    # Overwriting existing points adds none and passes.
    client.upsert(collection_name, points=pts([1, 2]), wait=True)
    assert client.count(collection_name).count == 10
    strict(max_points_count=100, max_collection_vector_size_bytes=11 * DIM * 4)
    client.upsert(collection_name, points=pts([40]), wait=True)
    refused(lambda: client.upsert(collection_name, points=pts([41]), wait=True), "Max vector storage size")
    assert client.count(collection_name).count == 11


def test_payload_index_count(client, collection_name, strict):
    strict(enabled=True, max_payload_index_count=1)
    client.create_payload_index(collection_name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    # Re-creating the same index is no new index.
    client.create_payload_index(collection_name, "city", models.PayloadSchemaType.KEYWORD, wait=True)
    refused(lambda: client.create_payload_index(collection_name, "n", models.PayloadSchemaType.INTEGER, wait=True), "payload index count")
    assert list(client.get_collection(collection_name).payload_schema) == ["city"]


def test_sparse_length(client, collection_name):
    client.create_collection(
        collection_name, vectors_config={}, sparse_vectors_config={"bm25": models.SparseVectorParams()}
    )
    client.update_collection(
        collection_name,
        strict_mode_config=models.StrictModeConfig(enabled=True, sparse_config={"bm25": models.StrictModeSparse(max_length=3)}),
    )
    ok = models.SparseVector(indices=[1, 2, 3], values=[0.1, 0.2, 0.3])
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector={"bm25": ok})], wait=True)
    long = models.SparseVector(indices=[1, 2, 3, 4], values=[0.1, 0.2, 0.3, 0.4])
    refused(
        lambda: client.upsert(collection_name, points=[models.PointStruct(id=2, vector={"bm25": long})], wait=True),
        "Sparse vector 'bm25' has a limit of 3 indices, but 4 were provided!",
    )
    assert client.count(collection_name).count == 1


def test_rate_limits_answer_429_with_retry_after(helio_url, client, collection_name, strict):
    strict(enabled=True, read_rate_limit=3, write_rate_limit=4)
    url = f"{helio_url}/collections/{collection_name}"
    body = {"query": [0.1] * DIM, "limit": 1}
    codes = [httpx.post(f"{url}/points/query", json=body).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
    r = httpx.post(f"{url}/points/query", json=body)
    assert r.status_code == 429
    assert r.json()["status"]["error"].startswith("Rate limiting exceeded: Read rate limit exceeded: Operation requires 1 tokens")
    assert 1 <= int(r.headers["retry-after"]) <= 60
    # Writes cost a token per point; a request larger than the bucket can never pass.
    pts = lambda ids: {"points": [{"id": i, "vector": [0.1] * DIM} for i in ids]}
    r = httpx.put(f"{url}/points", params={"wait": "true"}, json=pts(range(100, 105)))
    assert r.status_code == 429 and "larger than rate limiter capacity" in r.text
    assert httpx.put(f"{url}/points", params={"wait": "true"}, json=pts(range(100, 104))).status_code == 200
    r = httpx.put(f"{url}/points", params={"wait": "true"}, json=pts([200]))
    assert r.status_code == 429 and "Write rate limit exceeded" in r.text
    # Turned off, both pass again; the collection info route was never limited.
    strict(enabled=False)
    assert httpx.post(f"{url}/points/query", json=body).status_code == 200
    assert httpx.put(f"{url}/points", params={"wait": "true"}, json=pts([200])).status_code == 200
    assert httpx.get(url).status_code == 200


def test_bad_config_is_a_422(helio_url, collection_name, client):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT))
    r = httpx.patch(f"{helio_url}/collections/{collection_name}", json={"strict_mode_config": {"max_query_limit": "ten"}})
    assert r.status_code == 422, r.text
    assert "strict_mode_config" in r.json()["status"]["error"]


def test_multivector_rows(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={"colbert": models.VectorParams(size=2, distance=models.Distance.DOT, multivector_config=models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM))},
    )
    client.update_collection(
        collection_name,
        strict_mode_config=models.StrictModeConfig(enabled=True, multivector_config={"colbert": models.StrictModeMultivector(max_vectors=2)}),
    )
    client.upsert(collection_name, points=[models.PointStruct(id=1, vector={"colbert": [[1.0, 0.0], [0.0, 1.0]]})], wait=True)
    refused(
        lambda: client.upsert(collection_name, points=[models.PointStruct(id=2, vector={"colbert": [[1.0, 0.0]] * 3})], wait=True),
        "Multivector 'colbert' has a limit of 2 vectors, but 3 were provided!",
    )
    assert client.count(collection_name).count == 1
