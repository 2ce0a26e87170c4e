#!/usr/bin/env bash
# Model-checks the validator's own lock-free structures with loom: every interleaving of the
# chain cache's inserts, probes and clears (lockdep/src/engine/tests/). A separate, short step:
# `--cfg loom` changes every crate's build, so it gets its own target directory and leaves the
# normal build's cache alone. A debug build: the models run in about a second either way, and
# it compiles in half the time of a release one.
set -euo pipefail
cd "$(dirname "$0")"

echo "== loom model checks (lockdep, --cfg loom)"
RUSTFLAGS="--cfg loom ${RUSTFLAGS:-}" CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/loom" \
    cargo test -p lockdep --features check --lib -- loom_chain
