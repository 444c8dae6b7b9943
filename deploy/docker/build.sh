#!/usr/bin/env bash
# The build steps of deploy/docker/Dockerfile, one function per step, so CI runs exactly what
# the image build runs (a broken step fails CI, not only the image build).
#   build.sh deps   DIR   build the locked dependencies from manifests only (cached layer)
#   build.sh app    DIR   build the release binaries and stage them in DIR/dist
set -euo pipefail
step=${1:?step: deps or app}
dir=${2:-.}
cd "$dir"

case "$step" in
  deps)
    # Only Cargo.toml files and Cargo.lock are present: stub every target so cargo can build
    # (and the image layer can cache) all dependencies before the sources change.
    mkdir -p src crates/liveagent-sim/src benches
    for f in src/main.rs crates/liveagent-sim/src/main.rs benches/core.rs; do [ -e "$f" ] || echo 'fn main() {}' > "$f"; done
    for f in src/lib.rs crates/liveagent-sim/src/lib.rs; do [ -e "$f" ] || : > "$f"; done
    cargo build --release --locked --workspace --bins --lib
    # Drop the stubs' own artefacts (cargo would take them for the real crates: the artefact
    # names of workspace members do not depend on where the workspace is).
    cargo clean --release -p liveagent-gateway -p liveagent-sim
    ;;
  app)
    cargo build --release --locked --workspace --bins
    mkdir -p dist
    cp target/release/liveagent-gateway target/release/liveagent-sim dist/
    ./dist/liveagent-gateway --version
    ;;
  *)
    echo "unknown step $step" >&2
    exit 2
    ;;
esac
