#!/usr/bin/env bash
# CPU per request in instructions, which a noisy host does not move: the gateway binary under
# `valgrind --tool=callgrind`, one thread, nginx on loopback as LiveAgent answering a small
# JSON body; counters zeroed after a warm-up, then `wrk -c8` for a few seconds; the gateway
# process's instructions divided by the requests answered.
#
#   benches/load/instructions.sh BINARY [plain|logged|production|calendar|usage|list|list.xml] [SECONDS]
#
# plain: a key with the default rate limit, no access log (log.level warn); logged: the same
# with the access log on (JSON lines to stderr, a file here); production: logged, and LiveAgent's
# key substituted for the client's (compare.sh's production phase); calendar: a key with daily and
# monthly quotas in Asia/Tokyo; usage: as calendar, while a loop reads GET /keys/{id} twice a
# second (the usage endpoint's cost shows in the same total); list: as plain, the answer the
# 256 KB customer list of compare.sh (JSON passed through); list.xml: the same list as `.xml`.
# Compare two binaries in one sitting.
#
#   benches/load/instructions.sh nginx [SECONDS]
#
# The same count for nginx as compare.sh's production phase runs it (one worker, a JSON access
# line per request with buffer=64k flush=1s, the key rewritten into the query, upstream
# keep-alive), in one process (`master_process off`) so callgrind sees the worker.
set -euo pipefail
if [ "$1" = nginx ]; then bin=nginx; secs=${2:-8}; mode=nginx; else bin=$(realpath "$1"); fi
[ "$bin" = nginx ] || { mode=${2:-plain}; secs=${3:-8}; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; nginx -s stop -c "$work/nginx.conf" 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(port); gw=$(port); admin=$(port)
cat > "$work/nginx.conf" <<EOF
worker_processes 1; daemon on; pid $work/nginx.pid; error_log $work/nginx.err;
events { worker_connections 1024; }
http { access_log off;
  server { listen 127.0.0.1:$up; location / { default_type application/json;
    return 200 '{"response":{"status":"OK","statuscode":200,"tags":[{"id":"t1","name":"VIP"}]}}'; }
    location /api/customers { default_type application/json; alias $work/www/256k; } } }
EOF
mkdir -p "$work/www"
python3 "$(dirname "$0")/bodies.py" "$work/www"
chmod -R a+rX "$work"
nginx -c "$work/nginx.conf"
level=warn
[ "$mode" = logged ] || [ "$mode" = production ] && level=info
limits=""
case $mode in logged | production | list | list.xml) mode_limits=plain ;; *) mode_limits=$mode ;; esac
upstream_key=""
[ "$mode" = production ] && upstream_key=', apikey: "liveagent-secret-key"'
if [ "$mode_limits" != plain ]; then limits=", limits: {per_second: 1000000, burst: 1000000, per_day: 1000000000, per_month: 1000000000}, quota_timezone: Asia/Tokyo"; else limits=", limits: {per_second: 1000000, burst: 1000000}"; fi
cat > "$work/gateway.yaml" <<EOF
listen: "127.0.0.1:$gw"
admin_listen: "127.0.0.1:$admin"
threads: 1
log: {level: $level, format: json}
upstream: {url: "http://127.0.0.1:$up"$upstream_key}
keys: [{id: bench, key: bench-key$limits}]
EOF
if [ "$mode" = nginx ]; then
  cat > "$work/proxy.conf" <<EOF
worker_processes 1; daemon off; master_process off; pid $work/proxy.pid; error_log $work/proxy.err;
events { worker_connections 8192; }
http {
  log_format json escape=json '{"time":"\$time_iso8601","request_id":"\$request_id","method":"\$request_method","uri":"\$uri","status":\$status,"duration_ms":\$request_time,"upstream_ms":"\$upstream_response_time"}';
  access_log $work/proxy-access.log json buffer=64k flush=1s;
  tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 120s;
  upstream liveagent { server 127.0.0.1:$up; keepalive 128; }
  server { listen 127.0.0.1:$gw backlog=8192;
    location / { proxy_pass http://liveagent\$uri?apikey=liveagent-secret-key; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; } } }
EOF
  valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$work/cg.out" nginx -c "$work/proxy.conf" 2>"$work/vg.err" &
  vg=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$gw/" >/dev/null 2>&1 && break; sleep 0.2; done
else
  valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$work/cg.out" "$bin" run --config "$work/gateway.yaml" 2>"$work/vg.err" &
  vg=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
fi
case $mode in
  list) url="http://127.0.0.1:$gw/api/customers?apikey=bench-key" ;;
  list.xml) url="http://127.0.0.1:$gw/api/customers.xml?apikey=bench-key" ;;
  *) url="http://127.0.0.1:$gw/api/tags?apikey=bench-key" ;;
esac
curl -sf "$url" >/dev/null
wrk -t1 -c8 -d2s "$url" >/dev/null
callgrind_control -z "$vg" >/dev/null
if [ "$mode" = usage ]; then
  (while true; do curl -sf "http://127.0.0.1:$admin/keys/bench" >/dev/null; sleep 0.5; done) &
fi
requests=$(wrk -t1 -c8 -d"${secs}s" "$url" | awk '/requests in/ {print $1}')
callgrind_control -d "$vg" >/dev/null
sleep 1
total=$(cat "$work"/cg.out* | awk '/^summary:/ {s += $2} END {print s + 0}')
echo "$mode $(basename "$bin"): $requests requests, $((total / requests)) instructions per request"
# KEEP=FILE keeps the profile for callgrind_annotate.
if [ -n "${KEEP:-}" ]; then cat "$work"/cg.out.* > "$KEEP" 2>/dev/null || cp "$work"/cg.out* "$KEEP"; fi
