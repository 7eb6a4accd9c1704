"""Filters: every condition kind the client models, each compared with a
Python evaluation of the same predicate over the inserted payloads.

One collection (module scope) holds varied payloads; each case runs through
scroll, count and a filtered query_points.
"""

import math
import random
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from qdrant_client import models

N = 90
CITIES = ["Berlin", "London", "Moscow", "Paris"]
WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "red", "cat"]
RADIUS_CENTER = (15.0, 45.0)  # lon, lat
RADIUS_M = 300_000.0
BBOX = ((12.0, 48.0), (17.0, 43.0))  # top_left, bottom_right as (lon, lat)
POLY_OUT = [(11.0, 41.0), (19.0, 41.0), (19.0, 49.0), (11.0, 49.0)]
POLY_IN = [(13.0, 43.0), (17.0, 43.0), (17.0, 47.0), (13.0, 47.0)]
BASE_TS = datetime(2024, 1, 1, tzinfo=timezone.utc)


def haversine_m(lon1, lat1, lon2, lat2):
    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def in_ring(lon, lat, ring):
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > lat) != (y2 > lat):
            x = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if x > lon:
                inside = not inside
    return inside


def near_geo_boundary(lon, lat):
    """Keeps generated points clear of every shape's edge (0.05 deg / 2 km)."""
    if abs(haversine_m(lon, lat, *RADIUS_CENTER) - RADIUS_M) < 2000:
        return True
    edges_lon = [BBOX[0][0], BBOX[1][0]] + [x for x, _ in POLY_OUT + POLY_IN]
    edges_lat = [BBOX[0][1], BBOX[1][1]] + [y for _, y in POLY_OUT + POLY_IN]
    return any(abs(lon - x) < 0.05 for x in edges_lon) or any(abs(lat - y) < 0.05 for y in edges_lat)


def make_payloads():
    rng = random.Random(7)
    out = {}
    opt_choices = ["missing", None, [], [1], [None, 2], "x", 5]
    for i in range(1, N + 1):
        p = {}
        c = rng.randrange(6)
        if c < 4:
            p["city"] = CITIES[c]
        elif c == 4:
            p["city"] = ["Berlin", "Paris"] if i % 2 else ["London"]
        n = rng.randrange(20)
        if i % 7 == 0:
            p["n"] = [n, n + 10]
        elif i % 11 != 0:
            p["n"] = n
        if rng.random() < 0.8:
            p["price"] = round(rng.uniform(0, 100), 3)
        if i % 3:
            p["flag"] = bool(rng.getrandbits(1))
        p["desc"] = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        if i % 5:
            ts = BASE_TS + timedelta(days=rng.randrange(300), hours=rng.randrange(24))
            p["ts"] = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        opt = opt_choices[i % len(opt_choices)]
        if opt != "missing":
            p["opt"] = opt
        if i % 4:
            p["a"] = {"b": rng.randrange(6)}
        p["items"] = [{"b": rng.randrange(4), "c": rng.choice("xy")} for _ in range(rng.randrange(4))]
        while True:
            lon, lat = round(rng.uniform(9, 21), 4), round(rng.uniform(39, 51), 4)
            if not near_geo_boundary(lon, lat):
                break
        p["loc"] = {"lon": lon, "lat": lat}
        p["uid"] = str(uuid.UUID(int=rng.getrandbits(128)))
        out[i] = p
    return out


PAYLOADS = make_payloads()


# -- Python side of the predicates -------------------------------------------

MISSING = object()


def vals(p, key):
    """Values at `key` (`a.b`, `a[].b`), arrays at the end flattened."""
    current = [p]
    for part in key.split("."):
        nxt = []
        for obj in current:
            if part.endswith("[]"):
                arr = obj.get(part[:-2], MISSING) if isinstance(obj, dict) else MISSING
                if isinstance(arr, list):
                    nxt.extend(arr)
            elif isinstance(obj, dict) and part in obj:
                nxt.append(obj[part])
        current = nxt
    flat = []
    for v in current:
        flat.extend(v if isinstance(v, list) else [v])
    return flat


def raw(p, key):
    return p.get(key, MISSING)


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def in_range(v, gt=None, gte=None, lt=None, lte=None):
    return (
        (gt is None or v > gt) and (gte is None or v >= gte)
        and (lt is None or v < lt) and (lte is None or v <= lte)
    )


def parse_ts(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def is_empty(p, key):
    v = raw(p, key)
    return v is MISSING or v is None or v == []


def is_null(p, key):
    v = raw(p, key)
    return v is None or (isinstance(v, list) and any(x is None for x in v))


def count_values(p, key):
    v = raw(p, key)
    if v is MISSING:
        return 0
    return len(v) if isinstance(v, list) else 1


def fc(key, **kw):
    return models.FieldCondition(key=key, **kw)


def mv(key, value):
    return fc(key, match=models.MatchValue(value=value))


T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
T1 = datetime(2024, 6, 1, 12, 30, tzinfo=timezone.utc)
HAS_IDS = [3, 9, 27, 81, 500]

# (case id, condition or filter, python predicate over a payload and id)
CASES = [
    ("match_keyword", mv("city", "Berlin"), lambda p, i: "Berlin" in vals(p, "city")),
    ("match_int", mv("n", 7), lambda p, i: any(is_int(v) and v == 7 for v in vals(p, "n"))),
    ("match_bool_true", mv("flag", True), lambda p, i: True in [v for v in vals(p, "flag") if isinstance(v, bool)]),
    ("match_bool_false", mv("flag", False), lambda p, i: False in [v for v in vals(p, "flag") if isinstance(v, bool)]),
    ("match_any_keyword", fc("city", match=models.MatchAny(any=["London", "Paris"])),
     lambda p, i: any(v in ("London", "Paris") for v in vals(p, "city"))),
    ("match_any_int", fc("n", match=models.MatchAny(any=[1, 2, 3, 15])),
     lambda p, i: any(is_int(v) and v in (1, 2, 3, 15) for v in vals(p, "n"))),
    ("match_except_keyword", fc("city", match=models.MatchExcept(**{"except": ["Berlin", "London"]})),
     lambda p, i: any(v is not None and v not in ("Berlin", "London") for v in vals(p, "city"))),
    ("match_except_int", fc("n", match=models.MatchExcept(**{"except": list(range(10))})),
     lambda p, i: any(v is not None and v not in range(10) for v in vals(p, "n"))),
    ("match_text_substring", fc("desc", match=models.MatchText(text="brown fox")),
     lambda p, i: "brown fox" in p["desc"]),
    ("range_int", fc("n", range=models.Range(gte=5, lt=12)),
     lambda p, i: any(is_num(v) and in_range(v, gte=5, lt=12) for v in vals(p, "n"))),
    ("range_float", fc("price", range=models.Range(gt=20.5, lte=70)),
     lambda p, i: any(is_num(v) and in_range(v, gt=20.5, lte=70) for v in vals(p, "price"))),
    ("datetime_range", fc("ts", range=models.DatetimeRange(gte=T0, lt=T1)),
     lambda p, i: any(in_range(parse_ts(v), gte=T0, lt=T1) for v in vals(p, "ts"))),
    ("datetime_range_strings", fc("ts", range=models.DatetimeRange(gt="2024-02-10T00:00:00+02:00", lte="2024-09-01")),
     lambda p, i: any(
         in_range(parse_ts(v), gt=datetime(2024, 2, 9, 22, tzinfo=timezone.utc),
                  lte=datetime(2024, 9, 1, tzinfo=timezone.utc))
         for v in vals(p, "ts"))),
    ("is_empty", models.IsEmptyCondition(is_empty=models.PayloadField(key="opt")), lambda p, i: is_empty(p, "opt")),
    ("is_null", models.IsNullCondition(is_null=models.PayloadField(key="opt")), lambda p, i: is_null(p, "opt")),
    ("is_empty_missing_field", models.IsEmptyCondition(is_empty=models.PayloadField(key="price")),
     lambda p, i: is_empty(p, "price")),
    ("has_id", models.HasIdCondition(has_id=HAS_IDS), lambda p, i: i in HAS_IDS),
    ("has_vector", models.HasVectorCondition(has_vector=""), lambda p, i: True),
    ("values_count_n", fc("n", values_count=models.ValuesCount(gte=2)), lambda p, i: count_values(p, "n") >= 2),
    ("values_count_items", fc("items", values_count=models.ValuesCount(gt=0, lt=3)),
     lambda p, i: 0 < count_values(p, "items") < 3),
    ("nested_key_dot", fc("a.b", range=models.Range(gte=3)),
     lambda p, i: any(is_num(v) and v >= 3 for v in vals(p, "a.b"))),
    ("nested_key_array", mv("items[].c", "x"), lambda p, i: "x" in vals(p, "items[].c")),
    ("nested_condition",
     models.NestedCondition(nested=models.Nested(key="items", filter=models.Filter(must=[mv("b", 2), mv("c", "x")]))),
     lambda p, i: any(it["b"] == 2 and it["c"] == "x" for it in p["items"])),
    ("nested_condition_must_not",
     models.NestedCondition(nested=models.Nested(key="items", filter=models.Filter(
         must=[fc("b", range=models.Range(lte=1))], must_not=[mv("c", "y")]))),
     lambda p, i: any(it["b"] <= 1 and it["c"] != "y" for it in p["items"])),
    ("geo_radius",
     fc("loc", geo_radius=models.GeoRadius(
         center=models.GeoPoint(lon=RADIUS_CENTER[0], lat=RADIUS_CENTER[1]), radius=RADIUS_M)),
     lambda p, i: haversine_m(p["loc"]["lon"], p["loc"]["lat"], *RADIUS_CENTER) <= RADIUS_M),
    ("geo_bounding_box",
     fc("loc", geo_bounding_box=models.GeoBoundingBox(
         top_left=models.GeoPoint(lon=BBOX[0][0], lat=BBOX[0][1]),
         bottom_right=models.GeoPoint(lon=BBOX[1][0], lat=BBOX[1][1]))),
     lambda p, i: BBOX[0][0] <= p["loc"]["lon"] <= BBOX[1][0] and BBOX[1][1] <= p["loc"]["lat"] <= BBOX[0][1]),
    ("geo_polygon_with_hole",
     fc("loc", geo_polygon=models.GeoPolygon(
         exterior=models.GeoLineString(points=[models.GeoPoint(lon=x, lat=y) for x, y in POLY_OUT + POLY_OUT[:1]]),
         interiors=[models.GeoLineString(points=[models.GeoPoint(lon=x, lat=y) for x, y in POLY_IN + POLY_IN[:1]])])),
     lambda p, i: in_ring(p["loc"]["lon"], p["loc"]["lat"], POLY_OUT)
     and not in_ring(p["loc"]["lon"], p["loc"]["lat"], POLY_IN)),
]

if hasattr(models, "MatchPhrase"):
    CASES.append(
        ("match_phrase_unindexed", fc("desc", match=models.MatchPhrase(phrase="quick brown")),
         lambda p, i: "quick brown" in p["desc"])
    )
if hasattr(models, "MatchTextAny"):
    CASES.append(
        ("match_text_any_unindexed", fc("desc", match=models.MatchTextAny(text_any="lazy cat")),
         lambda p, i: "lazy" in p["desc"] or "cat" in p["desc"])
    )


def _compound():
    """must / should / must_not / min_should, with a nested Filter inside."""
    flt = models.Filter(
        must=[
            fc("price", range=models.Range(gte=10)),
            models.Filter(should=[mv("city", "Berlin"), mv("city", "Paris"), mv("flag", True)]),
        ],
        should=[fc("n", range=models.Range(lt=10)), models.IsEmptyCondition(is_empty=models.PayloadField(key="n"))],
        must_not=[models.HasIdCondition(has_id=[2, 4, 6, 8]), mv("items[].c", "y")],
        min_should=models.MinShould(
            conditions=[
                fc("a.b", range=models.Range(gte=2)),
                mv("flag", False),
                fc("desc", match=models.MatchText(text="the")),
            ],
            min_count=2,
        ),
    )

    def pred(p, i):
        must = any(is_num(v) and v >= 10 for v in vals(p, "price")) and (
            "Berlin" in vals(p, "city") or "Paris" in vals(p, "city") or p.get("flag") is True
        )
        should = any(is_num(v) and v < 10 for v in vals(p, "n")) or is_empty(p, "n")
        must_not = i in (2, 4, 6, 8) or "y" in vals(p, "items[].c")
        hits = [
            any(is_num(v) and v >= 2 for v in vals(p, "a.b")),
            p.get("flag") is False,
            "the" in p["desc"],
        ]
        return must and should and not must_not and sum(hits) >= 2

    return flt, pred


def _must_not_nested_should():
    flt = models.Filter(
        must_not=[models.Filter(should=[mv("city", "Moscow"), fc("n", match=models.MatchAny(any=[0, 1, 2]))])],
        min_should=models.MinShould(
            conditions=[mv("items[].b", 0), mv("items[].b", 1), mv("items[].b", 3)], min_count=1
        ),
    )

    def pred(p, i):
        excluded = "Moscow" in vals(p, "city") or any(is_int(v) and v in (0, 1, 2) for v in vals(p, "n"))
        bs = vals(p, "items[].b")
        return not excluded and sum([0 in bs, 1 in bs, 3 in bs]) >= 1

    return flt, pred


CASES.append(("compound",) + _compound())
CASES.append(("must_not_nested_should",) + _must_not_nested_should())


@pytest.fixture(scope="module")
def filter_coll(client):
    name = f"filters_{uuid.uuid4().hex[:8]}"
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    ids = sorted(PAYLOADS)
    client.upsert(
        name,
        points=models.Batch(ids=ids, vectors=[[1.0, float(i)] for i in ids], payloads=[PAYLOADS[i] for i in ids]),
        wait=True,
    )
    yield name
    client.delete_collection(name)


def as_filter(cond):
    return cond if isinstance(cond, models.Filter) else models.Filter(must=[cond])


@pytest.mark.parametrize("case_id,cond,pred", CASES, ids=[c[0] for c in CASES])
def test_filter_matches_python(client, filter_coll, case_id, cond, pred):
    want = sorted(i for i, p in PAYLOADS.items() if pred(p, i))
    flt = as_filter(cond)
    points, nxt = client.scroll(filter_coll, scroll_filter=flt, limit=1000, with_payload=False)
    assert nxt is None
    got = [p.id for p in points]
    assert got == want, f"only server: {sorted(set(got) - set(want))}, only python: {sorted(set(want) - set(got))}"
    assert client.count(filter_coll, count_filter=flt, exact=True).count == len(want)
    # Same filter in a vector search: vectors are [1, id], so Dot ranks by id.
    res = client.query_points(filter_coll, query=[0.0, 1.0], query_filter=flt, limit=1000, with_payload=False)
    assert [p.id for p in res.points] == sorted(want, reverse=True)


def test_cases_are_selective():
    """Guards the data: every case must select some points but not all
    (except has_vector), or it would prove nothing."""
    for case_id, _, pred in CASES:
        n = sum(1 for i, p in PAYLOADS.items() if pred(p, i))
        if case_id == "has_vector":
            assert n == N
        else:
            assert 0 < n < N, (case_id, n)


def test_must_not_has_vector_matches_nothing(client, filter_coll):
    flt = models.Filter(must_not=[models.HasVectorCondition(has_vector="")])
    assert client.count(filter_coll, count_filter=flt).count == 0
