#!/usr/bin/env bash
# Runs the main job: installs the default embedding model when it is
# missing, builds Helio in release mode and serves on 127.0.0.1:6333 with
# storage in ./storage. Extra arguments go to `helio serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/fetch-model.sh models/all-MiniLM-L6-v2
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/helio/target}"
exec cargo run --release -- serve "$@"
