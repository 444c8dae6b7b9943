#!/usr/bin/env bash
# One command for the whole test suite: install what is missing, then formatting, lints,
# dependency policy, every test (unit, property, simulator, integration over real sockets),
# the validation of everything under deploy/ (with the release build), and a short run of
# the load comparison so it cannot rot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== dependency policy: cargo deny (deny.toml)"
# The advisories check needs the RustSec database from GitHub, out of reach here; deny.toml's
# bans carry the advisories that concern this tree.
cargo deny check bans licenses sources
echo "== tests"
log=$(mktemp)
cargo test --workspace 2>&1 | tee "$log"
passed=$(awk '/^test result:/ {n += $4} END {print n + 0}' "$log")
failed=$(awk '/^test result:/ {n += $6} END {print n + 0}' "$log")
rm -f "$log"
echo "== deploy/: image build steps, unit, manifests, compose, rules, every shipped config"
bash scripts/validate-deploy.sh
echo "== load comparison against nginx, short mode (BENCHMARKS.md has a full run)"
bash benches/load/compare.sh short
echo "== all tests"
echo "$passed passed, $failed failed"
