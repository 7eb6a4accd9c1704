"""Fixtures for the conformance suite: one Helio server per test session,
driven by the official `qdrant-client` over REST.

The binary comes from $HELIO_BIN (scripts/test.sh points it at the cargo
target directory); it is started with `--port 0` on a fresh storage folder
and the suite reads the port from the line it prints on stdout.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

READY_PREFIX = "helio listening on "
REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = REPO_ROOT / "tests" / "fixtures"
START_TIMEOUT_S = 30.0


class HelioServer:
    """A running `helio serve`, its URL and what it has printed."""

    def __init__(self, binary: str, storage: Path, extra: list[str] | None = None):
        self.storage = storage
        self.stderr_path = storage.parent / "helio.stderr"
        self._stderr = open(self.stderr_path, "wb")
        env = dict(os.environ, HELIO_LOG="warn")
        # The model scripts/test.sh installs, whatever the working directory.
        env.setdefault("HELIO_MODEL_DIR", str(REPO_ROOT / "models" / "all-MiniLM-L6-v2"))
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--storage", str(storage),
             "--data-dir", str(storage.parent / "data"), *(extra or [])],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
        )
        # Logs go to stdout too; keep the last lines for failure reports.
        self.stdout_tail: collections.deque[str] = collections.deque(maxlen=200)
        self.url = self._wait_ready()
        self._drainer = threading.Thread(target=self._drain, daemon=True)
        self._drainer.start()

    def _wait_ready(self) -> str:
        found: list[str] = []

        def read_until_ready() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self.stdout_tail.append(line)
                if line.startswith(READY_PREFIX):
                    found.append(line[len(READY_PREFIX):].strip())
                    return

        reader = threading.Thread(target=read_until_ready, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT_S)
        if not found:
            self.stop()
            raise RuntimeError(
                f"helio did not print {READY_PREFIX!r} within {START_TIMEOUT_S}s "
                f"(exit code {self.proc.poll()})\n{self.diagnostics()}"
            )
        return found[0]

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.stdout_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def diagnostics(self) -> str:
        self._stderr.flush()
        try:
            err = self.stderr_path.read_text("utf-8", "replace")
        except OSError:
            err = "<no stderr file>"
        out = "\n".join(self.stdout_tail)
        return f"--- helio stderr ---\n{err[-8000:]}\n--- helio stdout (tail) ---\n{out}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self._stderr.close()


@pytest.fixture(scope="session")
def helio_server():
    binary = os.environ.get("HELIO_BIN")
    if not binary:
        pytest.fail("HELIO_BIN is not set: point it at the helio binary (target/debug/helio)")
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        # The binary may be replaced by a concurrent cargo build; wait a little.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not os.access(binary, os.X_OK):
            time.sleep(1)
        if not os.access(binary, os.X_OK):
            pytest.fail(f"HELIO_BIN={binary} is not an executable file")
    root = Path(tempfile.mkdtemp(prefix="helio-pytest-"))
    storage = root / "storage"
    storage.mkdir()
    server = HelioServer(binary, storage)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def helio_url(helio_server: HelioServer) -> str:
    return helio_server.url


@pytest.fixture(autouse=True)
def _server_must_survive(request, helio_server: HelioServer):
    """Fails the test (with the server's output) if Helio died around it."""
    if not helio_server.alive():
        pytest.fail(f"helio is not running (exit code {helio_server.proc.poll()})\n"
                    f"{helio_server.diagnostics()}")
    yield
    if not helio_server.alive():
        pytest.fail(f"helio died during {request.node.nodeid} "
                    f"(exit code {helio_server.proc.poll()})\n{helio_server.diagnostics()}")


@pytest.fixture(scope="session")
def client(helio_url: str):
    c = QdrantClient(url=helio_url, timeout=30, prefer_grpc=False)
    yield c
    c.close()


@pytest.fixture
def collection_name(request, client: QdrantClient):
    """A unique collection name per test, deleted afterwards."""
    base = "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:40]
    name = f"{base}_{uuid.uuid4().hex[:8]}"
    yield name
    try:
        client.delete_collection(name)
    except Exception:
        pass


@pytest.fixture(scope="session")
def inference_client(helio_url: str):
    """A client that sends `Document`s to the server to embed, as it does
    with Qdrant Cloud Inference (without the flag it would embed them
    itself with fastembed)."""
    c = QdrantClient(url=helio_url, timeout=60, prefer_grpc=False, cloud_inference=True)
    yield c
    c.close()
