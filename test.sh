#!/usr/bin/env bash
# Runs the whole test suite: formatting and lints, every test with the validator on, and the
# lockdep crate alone with the validator off (the zero-cost build).
set -euo pipefail
cd "$(dirname "$0")"

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy (all targets, all features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

echo "== tests, validator on (lockdep/check)"
cargo test --workspace --all-targets
cargo test --workspace --doc

echo "== tests, validator off (lockdep alone, default features)"
cargo clippy -p lockdep --all-targets -- -D warnings
cargo test -p lockdep --all-targets
cargo test -p lockdep --doc
# parking_lot's optional surface (arc guards, serde, owning_ref, deadlock detection) both ways
cargo test -p lockdep --features arc_lock,serde,owning_ref,deadlock_detection --test parking_lot_surface --test api_surface

echo "== loom: the validator's lock-free chain table, model-checked (own target dir)"
./loom.sh
