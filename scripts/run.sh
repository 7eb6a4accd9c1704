#!/usr/bin/env bash
# Runs the main job: installs the default embedding model when it is
# missing, builds Helio in release mode and serves on 127.0.0.1:6333 with
# storage in ./storage and the catalog drop folder in ./data/inbox.
# On the first run (no catalog yet) the sample distributor catalogs in
# data/samples/ are dropped into the inbox, so the server starts with
# products to search. Extra arguments go to `helio serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh models/all-MiniLM-L6-v2
# The small chat model, for `--llm gguf` and `--chat-model` (the default
# assistant backend, extractive, needs no model).
./scripts/fetch-llm.sh models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -e storage/catalog.sqlite ]; then
  mkdir -p data/inbox
  for f in data/samples/*.csv; do
    cp "$f" "data/inbox/.$(basename "$f").part"
    mv "data/inbox/.$(basename "$f").part" "data/inbox/$(basename "$f")"
  done
  echo "first run: sample catalogs queued in data/inbox/"
fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/helio/target}"
exec cargo run --release -- serve "$@"
