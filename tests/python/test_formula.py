"""Score boosting (`FormulaQuery`) through the official client: every
expression kind, checked against scores computed here from the prefetch
scores Helio reports and the payloads; plus `order_by` and `sample` over
prefetches, and the errors Qdrant gives for formulas it cannot evaluate."""

import math
from datetime import datetime, timezone

import httpx
import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse
from test_filters import haversine_m

DIM = 4
N = 40
EPOCH_2025 = datetime(2025, 1, 1, tzinfo=timezone.utc).timestamp()


def f32(x):
    """A constant as Qdrant reads it: an f32, widened."""
    return float(np.float32(x))


def payload(i):
    p = {
        "price": 1.0 + (i * 7) % 13,
        "popular": i % 3 == 0,
        "kind": i % 3,
        "loc": {"lon": 13.0 + i * 0.01, "lat": 52.0 + i * 0.02},
        "published": datetime.fromtimestamp(EPOCH_2025 + i * 3600 * 6, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "stats": {"views": [i * 10]},
        "tags": ["a", "b"] if i % 2 else ["c"],
    }
    if i % 4 == 0:
        p["bonus"] = i / 10
    return p


@pytest.fixture
def data(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    client.upsert(
        collection_name,
        points=models.Batch(ids=list(range(N)), vectors=vectors.tolist(), payloads=[payload(i) for i in range(N)]),
        wait=True,
    )
    return vectors


Q1 = [0.3, -0.2, 0.9, 0.1]
Q2 = [-0.5, 0.4, 0.1, 0.7]


def scores_of(client, name, q, limit, flt=None):
    """The prefetch's own results: id -> score."""
    got = client.query_points(name, query=q, limit=limit, query_filter=flt).points
    return {p.id: p.score for p in got}


def run(client, name, formula, limit=N, defaults=None, prefetch=None, **kw):
    prefetch = prefetch if prefetch is not None else [models.Prefetch(query=Q1, limit=N)]
    return client.query_points(
        name,
        prefetch=prefetch,
        query=models.FormulaQuery(formula=formula, defaults=defaults or {}),
        limit=limit,
        with_payload=True,
        **kw,
    ).points


def check(points, expected, limit=None):
    """`points` are the best of `expected` (id -> score), best first."""
    want = sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[: limit or len(expected)]
    got_scores = [p.score for p in points]
    assert got_scores == sorted(got_scores, reverse=True)
    assert len(points) == len(want)
    for p in points:
        assert p.score == pytest.approx(expected[p.id], rel=1e-5, abs=1e-5), p.id
    # The same points in the same order (up to ties).
    for (_, score), p in zip(want, points):
        assert expected[p.id] == pytest.approx(score, rel=1e-5, abs=1e-5)


def test_score_payload_and_condition_boosts(client, collection_name, data):
    base = scores_of(client, collection_name, Q1, N)
    formula = models.SumExpression(sum=[
        "$score",
        models.MultExpression(mult=[0.1, "price"]),
        models.MultExpression(mult=[0.5, models.FieldCondition(key="popular", match=models.MatchValue(value=True))]),
    ])
    got = run(client, collection_name, formula, limit=10)
    expected = {i: base[i] + f32(0.1) * payload(i)["price"] + (0.5 if payload(i)["popular"] else 0.0) for i in base}
    check(got, expected, 10)


def test_score_index_and_defaults_across_prefetches(client, collection_name, data):
    a = scores_of(client, collection_name, Q1, 8)
    b = scores_of(client, collection_name, Q2, 8)
    formula = models.SumExpression(sum=["$score[0]", models.MultExpression(mult=[2, "$score[1]"]), "bonus"])
    got = run(
        client, collection_name, formula,
        prefetch=[models.Prefetch(query=Q1, limit=8), models.Prefetch(query=Q2, limit=8)],
        defaults={"$score[1]": -1, "bonus": 0.25},
    )
    expected = {}
    for i in set(a) | set(b):
        bonus = payload(i).get("bonus", 0.25)
        expected[i] = a.get(i, 0.0) + 2 * b.get(i, -1.0) + bonus
    check(got, expected)


def test_math_functions(client, collection_name, data):
    formula = models.SumExpression(sum=[
        models.SqrtExpression(sqrt="price"),
        models.PowExpression(pow=models.PowParams(base="price", exponent=1.5)),
        models.LnExpression(ln="price"),
        models.Log10Expression(log10="price"),
        models.ExpExpression(exp=models.NegExpression(neg="price")),
        models.AbsExpression(abs=models.NegExpression(neg="stats.views")),
        models.DivExpression(div=models.DivParams(left=1, right="price")),
        models.DivExpression(div=models.DivParams(left=1, right=models.MultExpression(mult=[0, "price"]), by_zero_default=3)),
    ])
    got = run(client, collection_name, formula)
    expected = {}
    for i in range(N):
        x = payload(i)["price"]
        expected[i] = (math.sqrt(x) + x ** 1.5 + math.log(x) + math.log10(x) + math.exp(-x)
                       + i * 10 + 1 / x + 3)
    check(got, expected)


def test_decays_geo_and_datetime(client, collection_name, data):
    origin = models.GeoPoint(lon=13.1, lat=52.3)
    age_days = models.DivExpression(div=models.DivParams(
        left=models.SumExpression(sum=[
            models.DatetimeKeyExpression(datetime_key="published"),
            models.NegExpression(neg=models.DatetimeExpression(datetime="2025-01-01T00:00:00Z")),
        ]),
        right=86400,
    ))
    formula = models.SumExpression(sum=[
        models.LinDecayExpression(lin_decay=models.DecayParamsExpression(x="price", target=5, scale=4, midpoint=0.3)),
        models.ExpDecayExpression(exp_decay=models.DecayParamsExpression(
            x=models.GeoDistance(geo_distance=models.GeoDistanceParams(origin=origin, to="loc")), scale=20000)),
        models.GaussDecayExpression(gauss_decay=models.DecayParamsExpression(x=age_days, target=3, scale=2, midpoint=0.6)),
    ])
    got = run(client, collection_name, formula)
    expected = {}
    for i in range(N):
        p = payload(i)
        lin = max(0.0, 1 - (1 - f32(0.3)) / 4 * abs(p["price"] - 5))
        dist = haversine_m(13.1, 52.3, p["loc"]["lon"], p["loc"]["lat"])
        exp = math.exp(math.log(0.5) / 20000 * dist)
        age = i * 6 / 24
        gauss = math.exp(math.log(f32(0.6)) / 4 * (age - 3) ** 2)
        expected[i] = lin + exp + gauss
    check(got, expected)


def test_threshold_offset_filter_batch_and_groups(client, collection_name, data):
    formula = models.SumExpression(sum=["price", models.MultExpression(mult=[0.01, "$score"])])
    base = scores_of(client, collection_name, Q1, N)
    expected = {i: payload(i)["price"] + 0.01 * base[i] for i in range(N)}
    ranked = sorted(expected, key=lambda i: -expected[i])
    page = run(client, collection_name, formula, limit=5, offset=3)
    assert [p.id for p in page] == ranked[3:8]
    above = run(client, collection_name, formula, score_threshold=10.0)
    assert sorted(p.id for p in above) == sorted(i for i in range(N) if expected[i] >= 10.0)
    # The root filter applies to the prefetch the formula rescores.
    popular = models.Filter(must=[models.FieldCondition(key="popular", match=models.MatchValue(value=True))])
    filtered = run(client, collection_name, formula, query_filter=popular)
    assert sorted(p.id for p in filtered) == [i for i in range(N) if payload(i)["popular"]]

    request = models.QueryRequest(
        prefetch=[models.Prefetch(query=Q1, limit=N)],
        query=models.FormulaQuery(formula=formula),
        limit=4,
    )
    batch = client.query_batch_points(collection_name, requests=[request, request])
    assert [[p.id for p in r.points] for r in batch] == [ranked[:4], ranked[:4]]

    groups = client.query_points_groups(
        collection_name,
        group_by="kind",
        prefetch=[models.Prefetch(query=Q1, limit=N)],
        query=models.FormulaQuery(formula=formula),
        limit=3,
        group_size=2,
    ).groups
    best = {g.id: [h.id for h in g.hits] for g in groups}
    for key in (0, 1, 2):
        assert best[key] == [i for i in ranked if payload(i)["kind"] == key][:2]


def post(url, body):
    return httpx.post(url, json=body)


def test_formula_errors(helio_url, client, collection_name, data):
    url = f"{helio_url}/collections/{collection_name}/points/query"
    prefetch = {"query": Q1, "limit": 5}
    cases = [
        ({"sum": ["$score", "nothing"]}, {},
         "Bad request: Expected number value for nothing in the payload and/or in the formula defaults. Error: No value found in a payload nor defaults"),
        ("tags", {},
         "Bad request: Expected number value for tags in the payload and/or in the formula defaults. Error: Value is not a number"),
        ({"div": {"left": 1, "right": {"mult": [0, "price"]}}}, {},
         "Bad request: The expression 1/0 = inf produced a non-finite number"),
        ({"sqrt": {"neg": "price"}}, {}, "produced a non-finite number"),
        ({"ln": 0}, {}, "Bad request: The expression ln(0) = -inf produced a non-finite number"),
        ({"geo_distance": {"origin": {"lon": 1, "lat": 1}, "to": "price"}}, {},
         "Bad request: Expected geo point value for price in the payload and/or in the formula defaults."),
        ("$price", {}, "Bad request: Invalid reserved word: $price"),
        ({"lin_decay": {"x": "price", "midpoint": 1.5}}, {}, "Linear decay midpoint should be in the range [0.0, 1.0], got 1.5."),
    ]
    for formula, defaults, message in cases:
        r = post(url, {"prefetch": prefetch, "query": {"formula": formula, "defaults": defaults}})
        assert r.status_code == 400, (formula, r.text)
        assert message in r.json()["status"]["error"], (formula, r.text)
    # A default makes the missing variable fine.
    r = post(url, {"prefetch": prefetch, "query": {"formula": {"sum": ["$score", "nothing"]}, "defaults": {"nothing": 1}}})
    assert r.status_code == 200, r.text
    # Nothing to rescore without a prefetch.
    r = post(url, {"query": {"formula": "$score"}})
    assert r.status_code == 400
    assert "cannot apply Formula without prefetches" in r.json()["status"]["error"]
    # Shapes outside the schema are validation errors.
    for formula in [{"div": {"left": 1}}, {"sum": 3}, True, {"pow": {"base": 1, "exponent": 2, "x": 3}}]:
        r = post(url, {"prefetch": prefetch, "query": {"formula": formula}})
        assert r.status_code == 422, (formula, r.text)
    with pytest.raises(UnexpectedResponse):
        client.query_points(collection_name, prefetch=[models.Prefetch(query=Q1)],
                            query=models.FormulaQuery(formula="$nope"))


def test_order_by_over_prefetch(client, collection_name, data):
    client.create_payload_index(collection_name, "price", models.PayloadSchemaType.FLOAT, wait=True)
    near = scores_of(client, collection_name, Q1, 12)
    got = client.query_points(
        collection_name,
        prefetch=[models.Prefetch(query=Q1, limit=12)],
        query=models.OrderByQuery(order_by=models.OrderBy(key="price", direction=models.Direction.DESC)),
        limit=5,
        offset=1,
    ).points
    ranked = sorted(near, key=lambda i: (-payload(i)["price"], i))
    assert [p.id for p in got] == ranked[1:6]
    assert [p.order_value for p in got] == [payload(i)["price"] for i in ranked[1:6]]
    assert all(p.score == 0.0 for p in got)
    # Nested: order_by as a prefetch over a prefetch, then a formula on top.
    nested = client.query_points(
        collection_name,
        prefetch=[models.Prefetch(
            prefetch=[models.Prefetch(query=Q1, limit=12)],
            query=models.OrderByQuery(order_by="price"),
            limit=4,
        )],
        query=models.FormulaQuery(formula="price"),
        limit=10,
    ).points
    cheapest = sorted(near, key=lambda i: (payload(i)["price"], i))[:4]
    assert sorted(p.id for p in nested) == sorted(cheapest)
    # Without a range index on the key, Qdrant's error.
    with pytest.raises(UnexpectedResponse) as e:
        client.query_points(collection_name, prefetch=[models.Prefetch(query=Q1, limit=5)],
                            query=models.OrderByQuery(order_by="bonus"))
    assert e.value.status_code == 400
    assert "No range index for `order_by` key: `bonus`" in str(e.value)


def test_sample_over_prefetch(client, collection_name, data):
    near = set(scores_of(client, collection_name, Q1, 15))
    draws = set()
    for _ in range(8):
        got = client.query_points(
            collection_name,
            prefetch=[models.Prefetch(query=Q1, limit=15)],
            query=models.SampleQuery(sample=models.Sample.RANDOM),
            limit=10,
        ).points
        ids = [p.id for p in got]
        assert len(ids) == 10 and len(set(ids)) == 10
        assert set(ids) <= near
        draws.add(tuple(ids))
    # Eight draws of 10 among 15 are not all the same.
    assert len(draws) > 1
    # As a leaf prefetch: a random pool the formula then ranks.
    got = client.query_points(
        collection_name,
        prefetch=[models.Prefetch(query=models.SampleQuery(sample=models.Sample.RANDOM), limit=6,
                                  filter=models.Filter(must=[models.FieldCondition(key="popular", match=models.MatchValue(value=True))]))],
        query=models.FormulaQuery(formula="price"),
        limit=10,
    ).points
    assert len(got) == 6 and all(payload(p.id)["popular"] for p in got)
    assert [p.score for p in got] == sorted((payload(p.id)["price"] for p in got), reverse=True)
