#!/usr/bin/env bash
# Validates everything under deploy/ without a container engine: the Dockerfile's build steps
# (the same script the image build runs), the systemd unit, the Kubernetes manifests against
# their schemas, the compose file against the Compose Specification, the Prometheus rules,
# and `check` on every shipped gateway configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/liveagent-gateway
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== Dockerfile build steps (deploy/docker/build.sh)"
# The dependency layer: manifests only, in a scratch copy, as the image builds it.
mkdir -p "$work/deps/crates/liveagent-sim" "$work/deps/deploy/docker"
cp Cargo.toml Cargo.lock rust-toolchain.toml "$work/deps/"
cp crates/liveagent-sim/Cargo.toml "$work/deps/crates/liveagent-sim/"
cp deploy/docker/build.sh "$work/deps/deploy/docker/"
# Its own target directory: the stub binaries must never replace the real ones.
CARGO_TARGET_DIR="$work/deps/target" bash "$work/deps/deploy/docker/build.sh" deps "$work/deps"
bash deploy/docker/build.sh app . | tee "$work/version"
grep -q '^liveagent-gateway ' "$work/version"
grep -q 'deploy/docker/build.sh deps' deploy/docker/Dockerfile
grep -q 'deploy/docker/build.sh app' deploy/docker/Dockerfile

echo "== systemd-analyze verify"
sed "s#/usr/local/bin/liveagent-gateway#$PWD/$bin#g" deploy/systemd/liveagent-gateway.service > "$work/liveagent-gateway.service"
systemd-analyze verify "$work/liveagent-gateway.service"

echo "== kubernetes-validate"
kubernetes-validate --strict --quiet deploy/kubernetes/*.yaml

echo "== compose file against the Compose Specification"
python3 - <<'PY'
import json, yaml, jsonschema
schema = json.load(open("deploy/schemas/compose-spec.json"))
jsonschema.validate(yaml.safe_load(open("deploy/compose.yaml")), schema)
print("deploy/compose.yaml: valid")
PY

echo "== promtool"
promtool check config deploy/prometheus/prometheus.yml >/dev/null
(cd deploy/prometheus && promtool check rules alerts.yml && promtool test rules alerts.test.yml)

echo "== check on every shipped configuration"
# `check` prints "FILE: ok (N keys)"; anything else is a failure, even with exit code 0.
check() { "$bin" check --config "$1" | tee "$work/check.out"; grep -q ': ok (' "$work/check.out"; }
for c in config/gateway.yaml config/gateway.example.yaml; do check "$c"; done
# The admin token, as compose.yaml sets it.
compose_token=$(python3 -c 'import yaml; print(yaml.safe_load(open("deploy/compose.yaml"))["services"]["gateway"]["environment"]["LIVEAGENT_GATEWAY_ADMIN_TOKEN"])')
grep -q "credentials: $compose_token" deploy/compose/prometheus.yml
LIVEAGENT_GATEWAY_KEYS_FILE="$PWD/deploy/compose/keys.yaml" LIVEAGENT_GATEWAY_UPSTREAM_APIKEY=x LIVEAGENT_GATEWAY_ADMIN_TOKEN="$compose_token" \
  check deploy/compose/gateway.yaml
# The TLS Secret is a template: a throwaway certificate stands in for it where it is mounted.
mkdir -p "$work/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj /CN=localhost \
  -keyout "$work/tls/tls.key" -out "$work/tls/tls.crt" 2>/dev/null
python3 - "$work" <<'PY'
import sys, yaml
work = sys.argv[1]
cm = yaml.safe_load(open("deploy/kubernetes/configmap.yaml"))
secret = yaml.safe_load(open("deploy/kubernetes/secret.yaml"))
tls = yaml.safe_load(open("deploy/kubernetes/tls-secret.yaml"))
assert tls["type"] == "kubernetes.io/tls" and set(tls["stringData"]) == {"tls.crt", "tls.key"}
config = cm["data"]["gateway.yaml"]
assert "/etc/liveagent-gateway/tls/tls.crt" in config
open(f"{work}/gateway.yaml", "w").write(config.replace("/etc/liveagent-gateway/tls/", f"{work}/tls/"))
open(f"{work}/keys.yaml", "w").write(secret["stringData"]["keys.yaml"])
open(f"{work}/upstream-apikey", "w").write(secret["stringData"]["upstream-apikey"])
open(f"{work}/admin-token", "w").write(secret["stringData"]["admin-token"])
PY
LIVEAGENT_GATEWAY_KEYS_FILE="$work/keys.yaml" LIVEAGENT_GATEWAY_UPSTREAM_APIKEY_FILE="$work/upstream-apikey" \
  LIVEAGENT_GATEWAY_ADMIN_TOKEN_FILE="$work/admin-token" check "$work/gateway.yaml"
# Without the token, a configuration whose admin listener is not on loopback is refused.
if LIVEAGENT_GATEWAY_KEYS_FILE="$work/keys.yaml" LIVEAGENT_GATEWAY_UPSTREAM_APIKEY_FILE="$work/upstream-apikey" \
  "$bin" check --config "$work/gateway.yaml" 2>"$work/no-token.err"; then
  echo "a non-loopback admin listener without a token was accepted"; exit 1
fi
grep -q '^error: admin.token: is required' "$work/no-token.err"
echo "deploy: all valid"
