#!/usr/bin/env bash
# Installs the system packages that building and testing liveagent-gateway need, when they
# are missing, on Debian (as root). `deps.sh run` is enough for the demo; `deps.sh test` adds
# what the test suite drives: curl (demo lines), redis-server (shared quotas), prometheus and
# promtool (dashboard and alert tests), systemd-analyze (the unit), nginx and wrk (the load
# comparison), cargo-deny (the dependency policy, from crates.io), and from PyPI PyYAML (a
# YAML 1.1 reader), jsonschema (the compose file) and kubernetes-validate (the manifests).
set -euo pipefail
what=${1:-test}

apt_missing=()
command -v cmake >/dev/null 2>&1 || apt_missing+=(cmake)        # pingora's zlib-ng build
command -v cc >/dev/null 2>&1 || apt_missing+=(build-essential)
if [ "$what" = test ]; then
  command -v curl >/dev/null 2>&1 || apt_missing+=(curl)
  command -v redis-server >/dev/null 2>&1 || apt_missing+=(redis-server)   # shared quotas (redis-cli comes with it)
  command -v redis-sentinel >/dev/null 2>&1 || apt_missing+=(redis-sentinel) # shared quotas through a failover
  command -v promtool >/dev/null 2>&1 || apt_missing+=(prometheus)          # dashboard and alert tests
  command -v systemd-analyze >/dev/null 2>&1 || apt_missing+=(systemd)        # unit verification
  command -v nginx >/dev/null 2>&1 || apt_missing+=(nginx)                    # benchmark peer
  command -v openssl >/dev/null 2>&1 || apt_missing+=(openssl)                # test certificates
  command -v wrk >/dev/null 2>&1 || apt_missing+=(wrk)                        # load generator
  command -v python3 >/dev/null 2>&1 || apt_missing+=(python3 python3-pip)
fi

if [ ${#apt_missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "missing: ${apt_missing[*]}. Run as root: apt-get update && apt-get install -y ${apt_missing[*]}" >&2
    exit 1
  fi
  echo "installing ${apt_missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
fi

# cargo-deny, the dependency policy check (deny.toml), from crates.io.
if [ "$what" = test ] && ! command -v cargo-deny >/dev/null 2>&1; then
  echo "installing cargo-deny" >&2
  cargo install --locked --quiet cargo-deny@0.20.2
fi

pip_missing=()
if [ "$what" = test ]; then
  python3 -c 'import yaml' 2>/dev/null || pip_missing+=(pyyaml)                      # YAML 1.1 reader
  python3 -c 'import ruamel.yaml' 2>/dev/null || pip_missing+=(ruamel.yaml)         # YAML 1.2 reader
  python3 -c 'import jsonschema' 2>/dev/null || pip_missing+=(jsonschema)            # compose schema
  command -v kubernetes-validate >/dev/null 2>&1 || pip_missing+=(kubernetes-validate)
fi
if [ ${#pip_missing[@]} -gt 0 ]; then
  echo "installing ${pip_missing[*]}" >&2
  python3 -m pip install --quiet "${pip_missing[@]}" 2>/dev/null || python3 -m pip install --quiet --break-system-packages "${pip_missing[@]}"
fi
