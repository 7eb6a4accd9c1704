"""Payload indexes of every type: creation (before and after data), the
payload_schema they show, filters answered through them, deletion."""

import random
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from qdrant_client import models

N = 70
TEXT_WORDS = ["Quick", "quick", "FOX", "foxes", "brown", "Lazy", "dog", "a", "the", "jumps", "over"]


def make_payloads():
    rng = random.Random(31)
    out = {}
    for i in range(1, N + 1):
        p = {
            "city": rng.choice(["Oslo", "Rome", "Lima", ["Oslo", "Lima"]]),
            "n": rng.randrange(50) if i % 6 else [rng.randrange(50), rng.randrange(50)],
            "desc": " ".join(rng.choice(TEXT_WORDS) for _ in range(rng.randint(1, 5))),
            "loc": {"lon": rng.uniform(-20, 20), "lat": rng.uniform(-20, 20)},
            "uid": str(uuid.UUID(int=rng.getrandbits(128))),
        }
        if i % 3:
            p["price"] = rng.uniform(-5, 5)
        if i % 4:
            p["flag"] = i % 2 == 0
        if i % 5:
            ts = datetime(2023, 1, 1, tzinfo=timezone.utc) + timedelta(minutes=rng.randrange(500_000))
            p["ts"] = ts.isoformat()
        out[i] = p
    return out


PAYLOADS = make_payloads()


def tokens(text, lowercase=True, min_len=2, max_len=10):
    out = []
    for t in re.findall(r"\w+", text):
        if lowercase:
            t = t.lower()
        if min_len <= len(t) <= max_len:
            out.append(t)
    return out


def listify(v):
    return v if isinstance(v, list) else [v]


def haversine_m(lon1, lat1, lon2, lat2):
    import math

    r = 6371008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


INDEXES = {
    "city": models.PayloadSchemaType.KEYWORD,
    "n": models.IntegerIndexParams(type=models.IntegerIndexType.INTEGER, lookup=True, range=True),
    "price": models.PayloadSchemaType.FLOAT,
    "flag": models.PayloadSchemaType.BOOL,
    "ts": models.PayloadSchemaType.DATETIME,
    "uid": models.PayloadSchemaType.UUID,
    "loc": models.PayloadSchemaType.GEO,
    "desc": models.TextIndexParams(
        type=models.TextIndexType.TEXT,
        tokenizer=models.TokenizerType.WORD,
        lowercase=True,
        min_token_len=2,
        max_token_len=10,
        **({"phrase_matching": True} if "phrase_matching" in models.TextIndexParams.model_fields else {}),
    ),
}

EXPECTED_TYPE = {
    "city": "keyword", "n": "integer", "price": "float", "flag": "bool",
    "ts": "datetime", "uid": "uuid", "loc": "geo", "desc": "text",
}


def expected_points(field):
    if field == "desc":
        # A text whose every token is filtered out (too short) indexes nothing.
        return sum(1 for p in PAYLOADS.values() if tokens(p["desc"]))
    return sum(1 for p in PAYLOADS.values() if field in p)


@pytest.fixture(scope="module")
def indexed(client):
    name = f"pindex_{uuid.uuid4().hex[:8]}"
    client.create_collection(name, vectors_config=models.VectorParams(size=2, distance=models.Distance.EUCLID))
    fields = list(INDEXES)
    before, after = fields[::2], fields[1::2]
    # Half the indexes exist before the data arrives, half are built over it.
    for f in before:
        res = client.create_payload_index(name, f, field_schema=INDEXES[f], wait=True)
        assert res.status == models.UpdateStatus.COMPLETED
    ids = sorted(PAYLOADS)
    client.upsert(
        name,
        points=models.Batch(ids=ids, vectors=[[float(i), 0.0] for i in ids], payloads=[PAYLOADS[i] for i in ids]),
        wait=True,
    )
    for f in after:
        res = client.create_payload_index(name, f, field_schema=INDEXES[f], wait=True)
        assert res.status == models.UpdateStatus.COMPLETED
    yield name
    client.delete_collection(name)


def test_payload_schema_lists_every_index(client, indexed):
    schema = client.get_collection(indexed).payload_schema
    assert set(schema) == set(INDEXES)
    for field, info in schema.items():
        assert info.data_type.value == EXPECTED_TYPE[field], field
        assert info.points == expected_points(field), field
    n_params = schema["n"].params
    assert n_params.lookup is True and n_params.range is True
    text = schema["desc"].params
    assert text.tokenizer == models.TokenizerType.WORD
    assert text.lowercase is True
    assert text.min_token_len == 2
    assert text.max_token_len == 10


def ids_for(client, coll, flt):
    points, _ = client.scroll(coll, scroll_filter=flt, limit=1000, with_payload=False)
    got = [p.id for p in points]
    assert client.count(coll, count_filter=flt, exact=True).count == len(got)
    return got


def want(pred):
    return sorted(i for i, p in PAYLOADS.items() if pred(p))


T0 = datetime(2023, 4, 1, tzinfo=timezone.utc)
T1 = datetime(2023, 9, 1, tzinfo=timezone.utc)
UID = PAYLOADS[17]["uid"]
UIDS = [PAYLOADS[3]["uid"], PAYLOADS[40]["uid"], str(uuid.UUID(int=12345))]


def fc(key, **kw):
    return models.FieldCondition(key=key, **kw)


INDEXED_CASES = [
    ("keyword", fc("city", match=models.MatchValue(value="Lima")), lambda p: "Lima" in listify(p["city"])),
    ("keyword_any", fc("city", match=models.MatchAny(any=["Rome", "Oslo"])),
     lambda p: any(c in ("Rome", "Oslo") for c in listify(p["city"]))),
    ("keyword_except", fc("city", match=models.MatchExcept(**{"except": ["Oslo"]})),
     lambda p: any(c != "Oslo" for c in listify(p["city"]))),
    ("integer_value", fc("n", match=models.MatchValue(value=7)), lambda p: 7 in listify(p["n"])),
    ("integer_range", fc("n", range=models.Range(gt=10, lte=30)),
     lambda p: any(10 < v <= 30 for v in listify(p["n"]))),
    ("float_range", fc("price", range=models.Range(gte=-1.5, lt=2.25)),
     lambda p: "price" in p and -1.5 <= p["price"] < 2.25),
    ("bool", fc("flag", match=models.MatchValue(value=True)), lambda p: p.get("flag") is True),
    ("datetime", fc("ts", range=models.DatetimeRange(gte=T0, lt=T1)),
     lambda p: "ts" in p and T0 <= datetime.fromisoformat(p["ts"]) < T1),
    ("uuid_value", fc("uid", match=models.MatchValue(value=UID)), lambda p: p["uid"] == UID),
    ("uuid_any", fc("uid", match=models.MatchAny(any=UIDS)), lambda p: p["uid"] in UIDS),
    ("geo_radius", fc("loc", geo_radius=models.GeoRadius(center=models.GeoPoint(lon=0, lat=0), radius=1_200_000)),
     lambda p: haversine_m(p["loc"]["lon"], p["loc"]["lat"], 0, 0) <= 1_200_000),
    # Word tokens, lowercased: "fox" matches "FOX" but not "foxes".
    ("text_tokens", fc("desc", match=models.MatchText(text="fox")), lambda p: "fox" in tokens(p["desc"])),
    ("text_all_tokens", fc("desc", match=models.MatchText(text="QUICK dog")),
     lambda p: {"quick", "dog"} <= set(tokens(p["desc"]))),
]
if hasattr(models, "MatchPhrase") and "phrase_matching" in models.TextIndexParams.model_fields:
    def _has_phrase(p, phrase=("quick", "fox")):
        t = tokens(p["desc"])
        return any(tuple(t[k:k + 2]) == phrase for k in range(len(t) - 1))

    INDEXED_CASES.append(("text_phrase", fc("desc", match=models.MatchPhrase(phrase="Quick fox")), _has_phrase))


@pytest.mark.parametrize("case_id,cond,pred", INDEXED_CASES, ids=[c[0] for c in INDEXED_CASES])
def test_indexed_filter_matches_python(client, indexed, case_id, cond, pred):
    expected = want(pred)
    assert 0 < len(expected) < N, f"case {case_id} selects {len(expected)} of {N}: data proves nothing"
    flt = models.Filter(must=[cond])
    assert ids_for(client, indexed, flt) == expected
    res = client.query_points(indexed, query=[0.0, 0.0], query_filter=flt, limit=N, with_payload=False)
    assert [p.id for p in res.points] == expected  # Euclid from origin ranks by id


def test_text_index_is_not_substring_match(client, indexed):
    # "foxes" contains "fox" as a substring, but only whole tokens match.
    with_foxes_only = [i for i, p in PAYLOADS.items() if "foxes" in tokens(p["desc"]) and "fox" not in tokens(p["desc"])]
    assert with_foxes_only, "data must contain a point with 'foxes' but no 'fox'"
    got = ids_for(client, indexed, models.Filter(must=[fc("desc", match=models.MatchText(text="fox"))]))
    assert not set(with_foxes_only) & set(got)


def test_index_follows_updates(client, indexed):
    # A write after indexing is visible through the index, and is undone.
    flt = models.Filter(must=[fc("city", match=models.MatchValue(value="Quito"))])
    assert ids_for(client, indexed, flt) == []
    client.set_payload(indexed, payload={"city": "Quito"}, points=[5, 6], wait=True)
    try:
        assert ids_for(client, indexed, flt) == [5, 6]
        info = client.get_collection(indexed).payload_schema["city"]
        assert info.points == expected_points("city")
    finally:
        client.set_payload(indexed, payload={"city": PAYLOADS[5]["city"]}, points=[5], wait=True)
        client.set_payload(indexed, payload={"city": PAYLOADS[6]["city"]}, points=[6], wait=True)
    assert ids_for(client, indexed, flt) == []


def test_delete_payload_index(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=[1, 0], payload={"k": f"v{i % 3}", "m": i}) for i in range(12)],
        wait=True,
    )
    client.create_payload_index(collection_name, "k", field_schema="keyword", wait=True)
    client.create_payload_index(collection_name, "m", field_schema=models.PayloadSchemaType.INTEGER, wait=True)
    schema = client.get_collection(collection_name).payload_schema
    assert set(schema) == {"k", "m"}
    assert schema["k"].points == 12

    res = client.delete_payload_index(collection_name, "k", wait=True)
    assert res.status == models.UpdateStatus.COMPLETED
    assert set(client.get_collection(collection_name).payload_schema) == {"m"}
    # Filtering on the field still works without the index.
    flt = models.Filter(must=[fc("k", match=models.MatchValue(value="v1"))])
    assert ids_for(client, collection_name, flt) == [1, 4, 7, 10]


def test_text_index_with_portuguese_stop_words_and_stemmer(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    names = ["Inversores híbridos para telhado", "Inversor string trifásico", "Painel solar de telhado"]
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=[1, 0], payload={"name": n}) for i, n in enumerate(names)],
        wait=True,
    )
    client.create_payload_index(
        collection_name,
        "name",
        field_schema=models.TextIndexParams(
            type=models.TextIndexType.TEXT,
            stopwords=models.Language.PORTUGUESE,
            stemmer=models.SnowballParams(type=models.Snowball.SNOWBALL, language=models.SnowballLanguage.PORTUGUESE),
        ),
        wait=True,
    )

    def matching(text):
        return ids_for(client, collection_name, models.Filter(must=[fc("name", match=models.MatchText(text=text))]))

    # Singular and plural share a stem; "de" and "para" are stop words.
    assert matching("inversor") == [0, 1]
    assert matching("inversores de telhados") == [0]
    assert matching("telhado") == [0, 2]
    # An unknown stemmer language is refused when the index is created.
    with pytest.raises(Exception, match="klingon"):
        client.create_payload_index(
            collection_name, "other", field_schema={"type": "text", "stemmer": {"type": "snowball", "language": "klingon"}}
        )


def test_facet_counts_indexed_values(client, collection_name):
    from qdrant_client import models as m
    from qdrant_client.http.exceptions import UnexpectedResponse
    client.create_collection(collection_name, vectors_config=m.VectorParams(size=2, distance=m.Distance.DOT))
    kinds = ["panel"] * 5 + ["inverter"] * 3 + ["battery"] * 3
    client.upsert(collection_name, [
        m.PointStruct(id=i, vector=[1, 0], payload={"kind": k, "tags": ["a", "b", "a"] if i < 2 else ["b"],
                                                     "phases": 3 if i % 2 else 1})
        for i, k in enumerate(kinds)], wait=True)
    with __import__("pytest").raises(UnexpectedResponse) as e:
        client.facet(collection_name, key="kind")
    assert e.value.status_code == 400 and b"Index required" in e.value.content
    for field, schema in [("kind", m.PayloadSchemaType.KEYWORD), ("tags", m.PayloadSchemaType.KEYWORD),
                          ("phases", m.PayloadSchemaType.INTEGER)]:
        client.create_payload_index(collection_name, field, schema, wait=True)
    hits = client.facet(collection_name, key="kind").hits
    # Most frequent first; ties by value.
    assert [(h.value, h.count) for h in hits] == [("panel", 5), ("battery", 3), ("inverter", 3)]
    hits = client.facet(collection_name, key="kind", limit=2,
                        facet_filter=m.Filter(must=[m.FieldCondition(key="phases", match=m.MatchValue(value=3))])).hits
    # Odd ids: panels 1 and 3, inverters 5 and 7, battery 9.
    assert [(h.value, h.count) for h in hits] == [("inverter", 2), ("panel", 2)]
    # A value repeated in one point's array counts once for that point.
    assert [(h.value, h.count) for h in client.facet(collection_name, key="tags").hits] == [("b", 11), ("a", 2)]
    assert [(h.value, h.count) for h in client.facet(collection_name, key="phases").hits] == [(1, 6), (3, 5)]
