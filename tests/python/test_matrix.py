"""The distance matrix (search_matrix_pairs / search_matrix_offsets): a
random sample of points, each with its nearest neighbours among the sample,
checked against a brute force computed here in plain Python."""

import math
import random
import uuid

import httpx
import pytest
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

DIM = 6
N = 40

DISTANCES = [
    models.Distance.COSINE,
    models.Distance.DOT,
    models.Distance.EUCLID,
    models.Distance.MANHATTAN,
]


def higher_is_better(distance):
    return distance in (models.Distance.COSINE, models.Distance.DOT)


def score(distance, a, b):
    """Qdrant's score of `a` against `b`."""
    if distance == models.Distance.COSINE:
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(x * x for x in b))
        return sum(x * y for x, y in zip(a, b)) / (na * nb)
    if distance == models.Distance.DOT:
        return sum(x * y for x, y in zip(a, b))
    if distance == models.Distance.EUCLID:
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
    return sum(abs(x - y) for x, y in zip(a, b))


def sort_key(a_id):
    """Qdrant orders integer ids before UUIDs."""
    return (1, str(a_id)) if isinstance(a_id, str) else (0, a_id)


def neighbours(ids, vectors, distance, limit):
    """For each id (in order), its best `limit` others: [(id, score)]."""
    sign = -1 if higher_is_better(distance) else 1
    out = {}
    for a in ids:
        row = [(b, score(distance, vectors[a], vectors[b])) for b in ids if b != a]
        row.sort(key=lambda p: (sign * p[1], sort_key(p[0])))
        out[a] = row[:limit]
    return out


def random_vectors(n, dim, seed):
    rng = random.Random(seed)
    return [[rng.uniform(-1, 1) for _ in range(dim)] for _ in range(n)]


def make_collection(client, name, distance, n=N, seed=5):
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=distance))
    vectors = dict(enumerate(random_vectors(n, DIM, seed)))
    client.upsert(
        name,
        points=models.Batch(
            ids=list(vectors),
            vectors=[vectors[i] for i in vectors],
            payloads=[{"bucket": i % 3} for i in vectors],
        ),
        wait=True,
    )
    return vectors


def pairs_by_row(result):
    """Pairs grouped by `a`, keeping the order they came in."""
    rows = {}
    for p in result.pairs:
        rows.setdefault(p.a, []).append((p.b, p.score))
    return rows


def assert_rows_match(got, want, tol=1e-4):
    assert list(got) == [a for a in want if want[a]], "rows in id order, one per sampled point"
    for a, row in want.items():
        g = got.get(a, [])
        assert [b for b, _ in g] == [b for b, _ in row], f"neighbours of {a}"
        for (_, gs), (_, ws) in zip(g, row):
            assert gs == pytest.approx(ws, abs=tol), f"score of a pair of {a}"


def offsets_rows(result):
    """The offsets form turned into the pairs form: {a: [(b, score)]}."""
    assert len(result.offsets_row) == len(result.offsets_col) == len(result.scores)
    rows = {}
    for r, c, s in zip(result.offsets_row, result.offsets_col, result.scores):
        rows.setdefault(result.ids[r], []).append((result.ids[c], s))
    return rows


@pytest.mark.parametrize("distance", DISTANCES, ids=lambda d: d.value)
def test_pairs_score_every_sampled_point_like_brute_force(client, collection_name, distance):
    vectors = make_collection(client, collection_name, distance)
    # A sample as large as the collection takes every point.
    res = client.search_matrix_pairs(collection_name, sample=N, limit=4)
    assert len(res.pairs) == N * 4
    want = neighbours(list(range(N)), vectors, distance, 4)
    assert_rows_match(pairs_by_row(res), want)
    if not higher_is_better(distance):
        assert all(p.score >= 0 for p in res.pairs)

    # The same scores as /points/query by point id, among the sample.
    among = models.Filter(must=[models.HasIdCondition(has_id=list(range(N)))])
    for a in (0, 17, 39):
        hits = client.query_points(collection_name, query=a, query_filter=among, limit=4).points
        row = [(p.b, p.score) for p in res.pairs if p.a == a]
        assert [b for b, _ in row] == [h.id for h in hits]
        for (_, s), h in zip(row, hits):
            assert s == pytest.approx(h.score, abs=1e-5)


@pytest.mark.parametrize("distance", [models.Distance.COSINE, models.Distance.EUCLID], ids=lambda d: d.value)
def test_offsets_of_a_random_sample(client, collection_name, distance):
    vectors = make_collection(client, collection_name, distance)
    seen = set()
    for _ in range(3):
        res = client.search_matrix_offsets(collection_name, sample=10, limit=3)
        assert len(res.ids) == 10
        assert res.ids == sorted(set(res.ids)), "distinct ids, in id order"
        assert len(res.scores) == 10 * 3
        assert res.offsets_row == sorted(res.offsets_row)
        assert all(r != c for r, c in zip(res.offsets_row, res.offsets_col))
        assert all(0 <= c < 10 for c in res.offsets_col)
        # Neighbours are searched within the sample only.
        assert_rows_match(offsets_rows(res), neighbours(res.ids, vectors, distance, 3))
        seen.add(tuple(res.ids))
    # Three draws of 10 among 40 points agree with odds below 1e-16.
    assert len(seen) > 1, "the sample is random"


def test_defaults_are_ten_points_three_neighbours(helio_url, client, collection_name):
    make_collection(client, collection_name, models.Distance.DOT)
    # Over raw HTTP: the client always sends its own defaults.
    res = httpx.post(
        f"{helio_url}/collections/{collection_name}/points/search/matrix/offsets",
        json={},
        timeout=10,
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["status"] == "ok"
    result = body["result"]
    assert set(result) == {"offsets_row", "offsets_col", "scores", "ids"}
    assert len(result["ids"]) == 10
    assert len(result["scores"]) == 30


def test_filter_restricts_the_sample(client, collection_name):
    vectors = make_collection(client, collection_name, models.Distance.MANHATTAN)
    flt = models.Filter(must=[models.FieldCondition(key="bucket", match=models.MatchValue(value=1))])
    res = client.search_matrix_pairs(collection_name, query_filter=flt, sample=100, limit=2)
    members = [i for i in range(N) if i % 3 == 1]
    assert sorted({p.a for p in res.pairs}) == members
    assert {p.b for p in res.pairs} <= set(members)
    assert_rows_match(pairs_by_row(res), neighbours(members, vectors, models.Distance.MANHATTAN, 2))

    offsets = client.search_matrix_offsets(collection_name, query_filter=flt, sample=100, limit=2)
    assert offsets.ids == members
    assert_rows_match(offsets_rows(offsets), neighbours(members, vectors, models.Distance.MANHATTAN, 2))


def test_named_vectors_sample_the_points_that_have_them(client, collection_name):
    client.create_collection(
        collection_name,
        vectors_config={
            "img": models.VectorParams(size=4, distance=models.Distance.EUCLID),
            "txt": models.VectorParams(size=3, distance=models.Distance.COSINE),
        },
    )
    img = dict(enumerate(random_vectors(20, 4, 8)))
    txt = dict(enumerate(random_vectors(20, 3, 9)))
    # Every fourth point has no `txt` vector.
    with_txt = [i for i in range(20) if i % 4 != 0]
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=i,
                vector={"img": img[i], **({"txt": txt[i]} if i in with_txt else {})},
            )
            for i in range(20)
        ],
        wait=True,
    )
    res = client.search_matrix_pairs(collection_name, sample=50, limit=3, using="txt")
    assert sorted({p.a for p in res.pairs}) == with_txt
    assert_rows_match(pairs_by_row(res), neighbours(with_txt, txt, models.Distance.COSINE, 3))

    res = client.search_matrix_offsets(collection_name, sample=50, limit=3, using="img")
    assert res.ids == list(range(20))
    assert_rows_match(offsets_rows(res), neighbours(list(range(20)), img, models.Distance.EUCLID, 3))


DOCS = {
    1: {10: 1.0, 20: 0.5},
    2: {10: 0.3, 50: 2.0},
    3: {20: 1.5, 50: 0.2, 90: 1.0},
    4: {90: 0.7},
    5: {400: 1.0},  # shares no term with anyone
    6: {10: 0.1, 20: 0.1, 50: 0.1, 90: 0.1},
}


def sparse_neighbours(docs, idf, limit):
    """Row `a` is a sparse query by `a`: weights times IDF (with the
    modifier), dot product with each other point sharing a term."""
    n = len(docs)
    df = {}
    for d in docs.values():
        for t in d:
            df[t] = df.get(t, 0) + 1

    def weight(t):
        return math.log1p((n - df[t] + 0.5) / (df[t] + 0.5)) if idf else 1.0

    out = {}
    for a, qa in docs.items():
        row = []
        for b, db in docs.items():
            shared = set(qa) & set(db)
            if b != a and shared:
                row.append((b, sum(qa[t] * weight(t) * db[t] for t in shared)))
        row.sort(key=lambda p: (-p[1], p[0]))
        out[a] = row[:limit]
    return out


@pytest.mark.parametrize("modifier", [None, models.Modifier.IDF], ids=["plain", "idf"])
def test_sparse_vectors(client, collection_name, modifier):
    client.create_collection(
        collection_name,
        vectors_config={},
        sparse_vectors_config={"kw": models.SparseVectorParams(modifier=modifier)},
    )
    client.upsert(
        collection_name,
        points=[
            models.PointStruct(
                id=i, vector={"kw": models.SparseVector(indices=list(d), values=list(d.values()))}
            )
            for i, d in DOCS.items()
        ],
        wait=True,
    )
    want = sparse_neighbours(DOCS, modifier == models.Modifier.IDF, 3)
    res = client.search_matrix_pairs(collection_name, sample=10, limit=3, using="kw")
    assert_rows_match(pairs_by_row(res), want, tol=1e-5)
    assert all(5 not in (p.a, p.b) for p in res.pairs)
    res = client.search_matrix_offsets(collection_name, sample=10, limit=3, using="kw")
    assert res.ids == sorted(DOCS)
    assert_rows_match(offsets_rows(res), want, tol=1e-5)


def test_uuid_ids_come_after_integers(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=3, distance=models.Distance.DOT))
    ids = [7, str(uuid.UUID(int=2)), 3, str(uuid.UUID(int=1))]
    vectors = dict(zip(ids, random_vectors(4, 3, 2)))
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=v) for i, v in vectors.items()],
        wait=True,
    )
    res = client.search_matrix_offsets(collection_name, sample=4, limit=1)
    assert res.ids == [3, 7, str(uuid.UUID(int=1)), str(uuid.UUID(int=2))]
    want = neighbours(res.ids, vectors, models.Distance.DOT, 1)
    assert_rows_match(offsets_rows(res), want)
    pairs = client.search_matrix_pairs(collection_name, sample=4, limit=1)
    assert_rows_match(pairs_by_row(pairs), want)


def test_small_collections(client, collection_name):
    client.create_collection(collection_name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    empty = client.search_matrix_offsets(collection_name)
    assert (empty.ids, empty.offsets_row, empty.offsets_col, empty.scores) == ([], [], [], [])
    vectors = dict(zip([4, 8, 9], random_vectors(3, DIM, 1)))
    client.upsert(collection_name, points=[models.PointStruct(id=4, vector=vectors[4])], wait=True)
    # One point has no neighbour: an empty matrix, as Qdrant answers.
    assert client.search_matrix_pairs(collection_name).pairs == []
    assert client.search_matrix_offsets(collection_name).ids == []
    client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=vectors[i]) for i in (8, 9)],
        wait=True,
    )
    # Three points, five neighbours asked: each has the other two.
    res = client.search_matrix_pairs(collection_name, sample=10, limit=5, timeout=10)
    assert len(res.pairs) == 6
    assert_rows_match(pairs_by_row(res), neighbours([4, 8, 9], vectors, models.Distance.COSINE, 5))


def test_errors(client, collection_name):
    make_collection(client, collection_name, models.Distance.COSINE)
    # The schema's minimums (sample >= 2, limit >= 1): Qdrant's validator
    # answers 422.
    for kwargs, field in [({"sample": 1}, b"sample"), ({"sample": 0}, b"sample"), ({"limit": 0}, b"limit")]:
        for call in (client.search_matrix_pairs, client.search_matrix_offsets):
            with pytest.raises(UnexpectedResponse) as exc:
                call(collection_name, **kwargs)
            assert exc.value.status_code == 422, exc.value.content
            assert field in exc.value.content
    # Helio's cap on the sample.
    with pytest.raises(UnexpectedResponse) as exc:
        client.search_matrix_pairs(collection_name, sample=10_001)
    assert exc.value.status_code == 400
    assert b"sample must be at most 10000" in exc.value.content
    # An unknown vector name, as on the other search routes.
    with pytest.raises(UnexpectedResponse) as exc:
        client.search_matrix_offsets(collection_name, using="nope")
    assert exc.value.status_code == 400
    assert b"Not existing vector name" in exc.value.content
    # An unknown collection.
    missing = collection_name + "_missing"
    with pytest.raises(UnexpectedResponse) as exc:
        client.search_matrix_pairs(missing)
    assert exc.value.status_code == 404
    assert missing.encode() in exc.value.content
    # A malformed filter.
    with pytest.raises(UnexpectedResponse) as exc:
        client.search_matrix_offsets(
            collection_name, query_filter=models.Filter(must=[models.FieldCondition(key="bucket")])
        )
    assert exc.value.status_code in (400, 422)
    # The server keeps answering.
    assert len(client.search_matrix_offsets(collection_name).ids) == 10
