#!/usr/bin/env bash
# One command for the demo: install what is missing, then run the gateway in front of the
# built-in LiveAgent simulator with demo keys. Extra arguments go to `demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh run
exec cargo run --release -- demo "$@"
