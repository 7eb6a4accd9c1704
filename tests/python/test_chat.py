"""`/v1/chat/completions` served from the in-process GGUF model, driven by
the official `openai` client: plain and streamed answers, usage, stop
strings, `max_tokens`, the model list, and the errors the client raises."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from openai import BadRequestError, NotFoundError, OpenAI

from conftest import REPO_ROOT, HelioServer

QUESTION = "What is the capital of France? Answer in one sentence."


@pytest.fixture(scope="module")
def chat_server():
    model = Path(os.environ.get("HELIO_CHAT_MODEL",
                                REPO_ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    if not model.is_file():
        pytest.fail(f"{model} is missing: run scripts/fetch-llm.sh")
    root = Path(tempfile.mkdtemp(prefix="helio-chat-"))
    storage = root / "storage"
    storage.mkdir()
    server = HelioServer(os.environ["HELIO_BIN"], storage, ["--chat-model", str(model)])
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def client(chat_server) -> OpenAI:
    return OpenAI(base_url=f"{chat_server.url}/v1", api_key="unused", timeout=300)


@pytest.fixture(scope="module")
def model(client) -> str:
    chat = [m for m in client.models.list().data if getattr(m, "kind", None) == "chat"]
    assert len(chat) == 1
    return chat[0].id


def test_answers_like_an_openai_server(client, model):
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=24)
    assert "Paris" in r.choices[0].message.content
    assert r.choices[0].finish_reason == "stop"
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens


def test_streams_deltas_and_usage(client, model):
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=24,
        stream=True, stream_options={"include_usage": True})
    text, finish, usage = "", None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for c in chunk.choices:
            text += c.delta.content or ""
            finish = c.finish_reason or finish
    assert "Paris" in text
    assert finish == "stop"
    assert usage is not None and usage.completion_tokens > 0


def test_max_tokens_and_stop(client, model):
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Count from one to twenty in words."}],
        max_tokens=5)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 5
    r = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], max_tokens=24, stop=["Paris"])
    assert "Paris" not in r.choices[0].message.content


def test_errors_are_openai_errors(client, model):
    with pytest.raises(NotFoundError):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(BadRequestError):
        client.chat.completions.create(model=model, messages=[], max_tokens=5)
    with pytest.raises(BadRequestError):
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], max_tokens=100000)
