"""Server-side inference: qdrant-client `Document`s (with cloud_inference=True)
and raw REST, the default local model, qdrant/bm25 and /v1/embeddings through
the official `openai` client."""

from __future__ import annotations

import json
import math

import httpx
import numpy as np
import pytest
from openai import OpenAI, BadRequestError, NotFoundError
from qdrant_client import models
from qdrant_client.http.exceptions import UnexpectedResponse

from conftest import FIXTURES

MODEL = "sentence-transformers/all-minilm-l6-v2"  # as Qdrant Cloud spells it
DIM = 384


def reference() -> dict[str, list[float]]:
    out = {}
    with open(FIXTURES / "minilm-reference.jsonl", encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            out[row["text"]] = row["embedding"]
    return out


def cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


PRODUCTS = [
    "Painel solar 550W monocristalino half-cell, eficiência 21,3%",
    "Inversor trifásico 50kW com 4 MPPT para projetos comerciais",
    "Bateria de lítio LiFePO4 5kWh para armazenamento residencial",
    "Estrutura de fixação em alumínio para telhado cerâmico",
    "Cabo solar 6mm² vermelho, rolo de 100 metros",
]


def make(client, name: str) -> None:
    client.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))


def test_documents_upserted_and_queried(inference_client, collection_name):
    make(inference_client, collection_name)
    inference_client.upsert(
        collection_name,
        points=[
            models.PointStruct(id=i, vector=models.Document(text=t, model=MODEL), payload={"text": t})
            for i, t in enumerate(PRODUCTS)
        ],
        wait=True,
    )
    hits = inference_client.query_points(
        collection_name,
        query=models.Document(text="inversor para usina comercial de 50 kWp", model=MODEL),
        limit=3,
    ).points
    assert hits[0].id == 1, [(h.id, h.score) for h in hits]
    hits = inference_client.query_points(
        collection_name,
        query=models.Document(text="bateria de lítio LiFePO4 para armazenamento", model="Sentence-Transformers/All-MiniLM-L6-v2"),
        limit=1,
    ).points
    assert hits[0].id == 2


def test_server_vectors_match_sentence_transformers(inference_client, collection_name):
    ref = reference()
    texts = [t for t in ref if t.strip()][:12]
    make(inference_client, collection_name)
    inference_client.upsert(
        collection_name,
        points=models.Batch(ids=list(range(len(texts))), vectors=[models.Document(text=t, model=MODEL) for t in texts]),
        wait=True,
    )
    got = inference_client.retrieve(collection_name, ids=list(range(len(texts))), with_vectors=True)
    by_id = {p.id: p.vector for p in got}
    for i, t in enumerate(texts):
        assert cosine(by_id[i], ref[t]) >= 0.999, t


def test_unknown_model_lists_available(inference_client, collection_name):
    make(inference_client, collection_name)
    with pytest.raises(UnexpectedResponse) as e:
        inference_client.upsert(
            collection_name,
            points=[models.PointStruct(id=1, vector=models.Document(text="x", model="acme/nope"))],
            wait=True,
        )
    assert e.value.status_code == 400
    body = e.value.content.decode()
    assert "acme/nope" in body and "all-MiniLM-L6-v2" in body and "qdrant/bm25" in body
    assert inference_client.count(collection_name).count == 0


def test_document_dimension_must_match(inference_client, collection_name):
    inference_client.create_collection(collection_name, vectors_config=models.VectorParams(size=8, distance=models.Distance.DOT))
    with pytest.raises(UnexpectedResponse) as e:
        inference_client.upsert(collection_name, points=[models.PointStruct(id=1, vector=models.Document(text="x", model=MODEL))])
    assert e.value.status_code == 400
    assert "expected dim: 8, got 384" in e.value.content.decode()


def test_sparse_model_into_dense_vector_is_refused(inference_client, collection_name):
    make(inference_client, collection_name)
    with pytest.raises(UnexpectedResponse) as e:
        inference_client.query_points(collection_name, query=models.Document(text="x", model="qdrant/bm25"))
    assert e.value.status_code == 400
    assert "sparse" in e.value.content.decode()


def test_documents_in_recommend_discover_and_context(inference_client, helio_url, collection_name):
    """Documents as recommend examples, discover target and context pairs
    rank exactly as the same queries with the vectors the server computes
    for those texts."""
    make(inference_client, collection_name)
    inference_client.upsert(
        collection_name,
        points=[models.PointStruct(id=i, vector=models.Document(text=t, model=MODEL)) for i, t in enumerate(PRODUCTS)],
        wait=True,
    )
    texts = {
        "pos": "inversor solar para empresa",
        "neg": "bateria residencial",
        "target": "cabo para painel fotovoltaico",
        "ctx_pos": "estrutura de alumínio",
        "ctx_neg": "módulo monocristalino",
    }
    r = httpx.post(f"{helio_url}/v1/embeddings", json={"model": MODEL, "input": list(texts.values())}, timeout=60)
    assert r.status_code == 200, r.text
    vec = dict(zip(texts, (d["embedding"] for d in r.json()["data"])))
    doc = {k: models.Document(text=t, model=MODEL) for k, t in texts.items()}

    def same(with_docs, with_vectors):
        a = inference_client.query_points(collection_name, query=with_docs, limit=5).points
        b = inference_client.query_points(collection_name, query=with_vectors, limit=5).points
        assert [p.id for p in a] == [p.id for p in b]
        assert [p.score for p in a] == pytest.approx([p.score for p in b], abs=1e-5)
        assert len(a) == len(PRODUCTS)

    same(
        models.RecommendQuery(recommend=models.RecommendInput(positive=[doc["pos"]], negative=[doc["neg"]])),
        models.RecommendQuery(recommend=models.RecommendInput(positive=[vec["pos"]], negative=[vec["neg"]])),
    )
    same(
        models.DiscoverQuery(
            discover=models.DiscoverInput(
                target=doc["target"], context=[models.ContextPair(positive=doc["ctx_pos"], negative=doc["ctx_neg"])]
            )
        ),
        models.DiscoverQuery(
            discover=models.DiscoverInput(
                target=vec["target"], context=[models.ContextPair(positive=vec["ctx_pos"], negative=vec["ctx_neg"])]
            )
        ),
    )
    same(
        models.ContextQuery(context=[models.ContextPair(positive=doc["ctx_pos"], negative=doc["ctx_neg"])]),
        models.ContextQuery(context=[models.ContextPair(positive=vec["ctx_pos"], negative=vec["ctx_neg"])]),
    )


def test_raw_rest_documents(helio_url, collection_name, client):
    make(client, collection_name)
    with httpx.Client(base_url=helio_url, timeout=60) as http:
        r = http.put(
            f"/collections/{collection_name}/points?wait=true",
            json={"points": [{"id": i, "vector": {"text": t, "model": MODEL}} for i, t in enumerate(PRODUCTS)]},
        )
        assert r.status_code == 200, r.text
        r = http.post(
            f"/collections/{collection_name}/points/query",
            json={"query": {"nearest": {"text": "cabo vermelho para sistema fotovoltaico", "model": MODEL}}, "limit": 1},
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"]["points"][0]["id"] == 4
        r = http.post(
            f"/collections/{collection_name}/points/query",
            json={"query": {"text": "x", "model": MODEL, "options": {"color": "blue"}}},
        )
        assert r.status_code == 400 and "takes no options" in r.text


# ---------------------------------------------------------------- /v1/embeddings


@pytest.fixture(scope="module")
def openai_client(helio_url):
    c = OpenAI(base_url=f"{helio_url}/v1", api_key="not-needed", max_retries=0)
    yield c
    c.close()


def test_openai_client_float_and_base64(openai_client):
    ref = reference()
    texts = [t for t in ref if t.strip()][:5]
    # openai-python asks for base64 by default and decodes it itself.
    r = openai_client.embeddings.create(input=texts, model=MODEL)
    assert [d.index for d in r.data] == list(range(len(texts)))
    for d, t in zip(r.data, texts):
        assert len(d.embedding) == DIM
        assert cosine(d.embedding, ref[t]) >= 0.999
    f = openai_client.embeddings.create(input=texts[0], model=MODEL, encoding_format="float")
    assert np.allclose(f.data[0].embedding, r.data[0].embedding, atol=1e-6)
    assert f.usage.prompt_tokens > 0 and f.usage.total_tokens == f.usage.prompt_tokens
    assert f.model.lower() == MODEL


def test_openai_client_errors(openai_client):
    with pytest.raises(NotFoundError) as e:
        openai_client.embeddings.create(input="x", model="text-embedding-3-large")
    assert "text-embedding-3-large" in str(e.value)
    with pytest.raises(BadRequestError):
        openai_client.embeddings.create(input=[], model=MODEL)
    with pytest.raises(BadRequestError) as e:
        openai_client.embeddings.create(input=[[1, 2, 3]], model=MODEL)
    assert "token arrays" in str(e.value)
    with pytest.raises(BadRequestError):
        openai_client.embeddings.create(input="x", model=MODEL, dimensions=64)


def test_openai_models_listing(openai_client):
    ids = {m.id.lower() for m in openai_client.models.list()}
    assert MODEL in ids and "qdrant/bm25" in ids


def test_embedding_cache_counts_hits(helio_url, openai_client):
    def hits() -> float:
        text = httpx.get(f"{helio_url}/metrics").text
        line = next(l for l in text.splitlines() if l.startswith("helio_embedding_cache_hits"))
        return float(line.split()[-1])

    before = hits()
    text = "texto único para o teste do cache de embeddings 7f3a"
    openai_client.embeddings.create(input=text, model=MODEL)
    openai_client.embeddings.create(input=text, model=MODEL)
    assert hits() >= before + 1
    assert not math.isnan(before)
