#!/usr/bin/env bash
# Side-by-side load comparison on one machine: LiveAgent bodies served directly by nginx
# (the physical limit here), through an nginx reverse proxy (one worker, upstream keep-alive,
# HTTP/1.1, no response buffering), and through liveagent-gateway (one thread; auth, quota and metrics on). wrk runs
# on CPU 0; the servers share CPU 1. TLS phases: each terminating TLS 1.3 with one ECDSA P-256
# certificate. The production phase: both write a JSON access line per request to a file
# (nginx with buffer=64k flush=1s, the gateway with its batching writer), the gateway also
# substitutes LiveAgent's key and counts metrics, nginx rewrites the key into the query. The
# two-worker phase: `threads: 2` against `worker_processes 2`, on both CPUs (wrk too).
# Prints one Markdown table.
#
#   bash benches/load/compare.sh          full run (10 s per round, 3 rounds, median; 5 latency rounds)
#   bash benches/load/compare.sh short    a few seconds per phase (CI: it cannot rot)
set -euo pipefail
mode=${1:-full}
case "$mode" in
  full) dur=10; rounds=3; lat_rounds=5; slow=2000; slow_secs=30; idle_n=5000 ;;
  short) dur=2; rounds=1; lat_rounds=1; slow=200; slow_secs=12; idle_n=1000 ;;
  *) echo "usage: compare.sh [full|short]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/../.."
here=benches/load

missing=()
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { echo "missing: ${missing[*]} (apt-get install -y ${missing[*]})" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/deps.sh run
cargo build --release -q --bins --example loadgen
gw_bin=target/release/liveagent-gateway
loadgen=target/release/examples/loadgen
ulimit -n 65536 2>/dev/null || true

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
up=$(port); ngx=$(port); gw=$(port); admin=$(port); ngxs=$(port); gws=$(port)

# One ECDSA P-256 certificate for both TLS terminators (TLS 1.3 on both).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
  -keyout "$work/tls.key" -out "$work/tls.crt" 2>/dev/null

# LiveAgent bodies in LiveAgent's layout: a customer (the documented example), and customer
# lists of about 4 KB and 256 KB.
mkdir -p "$work/www/api"
python3 "$here/bodies.py" "$work/www/api"

# nginx's workers run unprivileged: the bodies must be readable by them.
chmod -R a+rX "$work"

cat > "$work/up.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/up.pid;
error_log $work/up.err;
events { worker_connections 8192; }
http {
  access_log off;
  sendfile on; tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 120s;
  server { listen 127.0.0.1:$up backlog=8192; root $work/www; default_type application/json; location / { } }
}
CONF
# proxy_conf NAME LISTEN: an nginx reverse proxy to the bodies, one worker, upstream keep-alive.
proxy_conf() {
  cat > "$work/$1.conf" <<CONF
worker_processes 1;
daemon off;
pid $work/$1.pid;
error_log $work/$1.err;
events { worker_connections 8192; }
http {
  access_log off;
  tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 120s;
  upstream liveagent { server 127.0.0.1:$up; keepalive 128; }
  server {
    $2
    # Streaming like the gateway: nginx's default buffers spill large bodies to temp files.
    location / { proxy_pass http://liveagent; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
CONF
}
proxy_conf ngx "listen 127.0.0.1:$ngx backlog=8192;"
# The same proxy terminating TLS itself.
proxy_conf ngxtls "listen 127.0.0.1:$ngxs ssl backlog=8192; ssl_certificate $work/tls.crt; ssl_certificate_key $work/tls.key; ssl_protocols TLSv1.3;"
cat > "$work/gw.yaml" <<CONF
listen: "127.0.0.1:$gw"
listen_tls: "127.0.0.1:$gws"
tls: {cert_file: "$work/tls.crt", key_file: "$work/tls.key"}
admin_listen: "127.0.0.1:$admin"
threads: 1
upstream: {url: "http://127.0.0.1:$up"}
log: {level: "warn"}
keys: [{id: bench, key: bench-key, limits: {per_second: 100000000, burst: 100000000}}]
CONF
"$gw_bin" check --config "$work/gw.yaml" >/dev/null
# Production: access log on (a file), key substitution, metrics; one thread, then two.
gwp=$(port); gwp_admin=$(port); gw2=$(port); gw2_admin=$(port)
prod_gw() {
  cat <<CONF
listen: "127.0.0.1:$1"
admin_listen: "127.0.0.1:$2"
threads: $3
upstream: {url: "http://127.0.0.1:$up", apikey: "liveagent-secret-key"}
log: {level: "info", format: "json", access: "$work/gw-access-$1.log", buffer: 65536, flush: "1s"}
keys: [{id: bench, key: bench-key, limits: {per_second: 100000000, burst: 100000000}}]
CONF
}
prod_gw "$gwp" "$gwp_admin" 1 >"$work/gwp.yaml"
prod_gw "$gw2" "$gw2_admin" 2 >"$work/gw2.yaml"
# nginx in production: a JSON access line per request (buffered like the gateway's), the
# client key replaced by LiveAgent's in the query; one worker, then two.
ngxp=$(port); ngx2=$(port)
prod_ngx() {
  cat <<CONF
worker_processes $3;
daemon off;
pid $work/$1.pid;
error_log $work/$1.err;
events { worker_connections 8192; }
http {
  log_format json escape=json '{"time":"\$time_iso8601","request_id":"\$request_id","method":"\$request_method","uri":"\$uri","status":\$status,"duration_ms":\$request_time,"upstream_ms":"\$upstream_response_time"}';
  access_log $work/$1-access.log json buffer=64k flush=1s;
  tcp_nodelay on; keepalive_requests 1000000; keepalive_timeout 120s;
  upstream liveagent { server 127.0.0.1:$up; keepalive 128; }
  server {
    listen 127.0.0.1:$2 backlog=8192;
    location / { proxy_pass http://liveagent\$uri?apikey=liveagent-secret-key; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_buffering off; }
  }
}
CONF
}
prod_ngx ngxp "$ngxp" 1 >"$work/ngxp.conf"
prod_ngx ngx2 "$ngx2" 2 >"$work/ngx2.conf"

taskset -c 1 nginx -c "$work/up.conf" -p "$work" & pids+=($!)
taskset -c 1 nginx -c "$work/ngx.conf" -p "$work" & pids+=($!)
taskset -c 1 nginx -c "$work/ngxtls.conf" -p "$work" & pids+=($!)
taskset -c 1 "$gw_bin" run --config "$work/gw.yaml" --pid-file "$work/gw.pid" --upgrade-sock "$work/gw.sock" 2>"$work/gw.err" & gw_pid=$!; pids+=($gw_pid)
taskset -c 1 nginx -c "$work/ngxp.conf" -p "$work" & pids+=($!)
taskset -c 0,1 nginx -c "$work/ngx2.conf" -p "$work" & pids+=($!)
taskset -c 1 "$gw_bin" run --config "$work/gwp.yaml" --pid-file "$work/gwp.pid" --upgrade-sock "$work/gwp.sock" 2>"$work/gwp.err" & gwp_pid=$!; pids+=($gwp_pid)
taskset -c 0,1 "$gw_bin" run --config "$work/gw2.yaml" --pid-file "$work/gw2.pid" --upgrade-sock "$work/gw2.sock" 2>"$work/gw2.err" & gw2_pid=$!; pids+=($gw2_pid)
for p in $up $ngx $gw $ngxs $gws $ngxp $ngx2 $gwp $gw2; do
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
done
worker() { pgrep -P "$(cat "$1")" | head -1; }
workers() { pgrep -P "$(cat "$1")" | tr '\n' ' '; }
up_worker=$(worker "$work/up.pid"); ngx_worker=$(worker "$work/ngx.pid"); ngxtls_worker=$(worker "$work/ngxtls.pid")
declare -A url pid
url[direct]="http://127.0.0.1:$up"; pid[direct]=$up_worker
url[nginx]="http://127.0.0.1:$ngx"; pid[nginx]=$ngx_worker
url[gateway]="http://127.0.0.1:$gw"; pid[gateway]=$gw_pid
# CPU ticks of one or more processes (every thread of each): user and system together, then
# system alone (the kernel's share: sockets, epoll, the loopback's packet processing).
ticks() { local t=0 k=0 p; for p in "$@"; do read -r u s < <(awk '{print $14, $15}' "/proc/$p/stat"); t=$((t + u + s)); k=$((k + s)); done; echo "$t $k"; }
# Peak RSS: of the largest process (an nginx with two workers: its largest worker).
hwm_mb() { local p; for p in "$@"; do awk '/VmHWM/ {print $2}' "/proc/$p/status"; done | sort -n | tail -1 | awk '{printf "%.1f", $1 / 1024}'; }
hz=$(getconf CLK_TCK)

rows=()
declare -A rps_of cpu_of p99_run
wrk_cpus=0; wrk_threads=1
# run PHASE TARGET PATH CONNECTIONS [WRK ARGS...]: the median round, as a table row.
run() {
  local phase=$1 target=$2 path=$3 conns=$4 results=()
  shift 4
  for _ in $(seq "$rounds"); do
    # shellcheck disable=SC2086 # a target may be several processes
    local t0 k0; read -r t0 k0 < <(ticks ${pid[$target]})
    local line
    line=$(taskset -c "$wrk_cpus" wrk -t"$wrk_threads" -c"$conns" -d"${dur}s" "$@" -s "$here/report.lua" "${url[$target]}$path" | grep '^RESULT')
    # shellcheck disable=SC2086
    local t1 k1; read -r t1 k1 < <(ticks ${pid[$target]})
    results+=("$line $((t1 - t0)) $((k1 - k0))")
  done
  # RESULT requests seconds p50 p99 p999 errors cputicks systicks: keep the median by requests/s.
  local med; med=$(printf '%s\n' "${results[@]}" | awk '{print $2 / $3, $0}' | sort -n | awk -v n="$rounds" 'NR == int((n + 1) / 2) {$1 = ""; print}')
  read -r _ req secs p50 p99 p999 errs cpu sys <<<"$med"
  local rps; rps=$(awk -v r="$req" -v s="$secs" 'BEGIN {printf "%.0f", r / s}')
  local cpu10k; cpu10k=$(awk -v c="$cpu" -v r="$req" -v hz="$hz" 'BEGIN {printf "%.3f", c / hz / r * 10000}')
  rps_of["$phase/$target"]=$rps
  local vs_nginx="" vs_direct=""
  [ "$target" = gateway ] && [ -n "${rps_of[$phase/nginx]:-}" ] && vs_nginx=$(awk -v a="$rps" -v b="${rps_of[$phase/nginx]}" 'BEGIN {printf "%.2f", a / b}')
  [ "$target" != direct ] && [ -n "${rps_of[$phase/direct]:-}" ] && vs_direct=$(awk -v a="$rps" -v b="${rps_of[$phase/direct]}" 'BEGIN {printf "%.2f", a / b}')
  cpu_of["$phase/$target"]=$cpu10k
  p99_run["$phase/$target"]=$p99
  # shellcheck disable=SC2086
  rows+=("| $phase | $target | $rps | $(awk -v v="$p50" 'BEGIN {printf "%.2f", v / 1000}') | $(awk -v v="$p99" 'BEGIN {printf "%.2f", v / 1000}') | $(awk -v v="$p999" 'BEGIN {printf "%.2f", v / 1000}') | $cpu10k | $(awk -v c="$cpu" -v k="$sys" 'BEGIN {printf "%.0f%%", c ? 100 * k / c : 0}') | $(hwm_mb ${pid[$target]}) | ${vs_nginx:--} | ${vs_direct:--} | $errs |")
  [ "$errs" = 0 ] || echo "warning: $errs errors in $phase / $target" >&2
}

k="?apikey=bench-key"
for target in direct nginx gateway; do run "small JSON (465 B)" $target "/api/small$k" 64; done
for target in direct nginx gateway; do run "4 KB JSON" $target "/api/4k$k" 64; done
for target in direct nginx gateway; do run "256 KB JSON" $target "/api/256k$k" 16; done
for f in xml yaml; do
  run "4 KB .$f" gateway "/api/4k.$f$k" 64
  run "256 KB .$f" gateway "/api/256k.$f$k" 16
done
for target in direct nginx gateway; do run "1,000 keep-alive connections" $target "/api/small$k" 1000; done

# Production: access logs on both, key substitution, metrics; one thread against one worker.
url[nginx]="http://127.0.0.1:$ngxp"; pid[nginx]=$(worker "$work/ngxp.pid")
url[gateway]="http://127.0.0.1:$gwp"; pid[gateway]=$gwp_pid
for target in nginx gateway; do run "production, 1 worker" $target "/api/small$k" 64; done
# All cores: two threads against two workers, servers and wrk on both CPUs.
url[nginx]="http://127.0.0.1:$ngx2"; pid[nginx]=$(workers "$work/ngx2.pid")
url[gateway]="http://127.0.0.1:$gw2"; pid[gateway]=$gw2_pid
wrk_cpus=0,1; wrk_threads=2
for target in nginx gateway; do run "production, 2 workers" $target "/api/small$k" 64; done
wrk_cpus=0; wrk_threads=1
url[nginx]="http://127.0.0.1:$ngx"; pid[nginx]=$ngx_worker
url[gateway]="http://127.0.0.1:$gw"; pid[gateway]=$gw_pid

# TLS 1.3 terminated by each, the same certificate and upstream: keep-alive, then a new
# connection (a full handshake, no resumption) per request.
url[nginx]="https://127.0.0.1:$ngxs"; pid[nginx]=$ngxtls_worker
url[gateway]="https://127.0.0.1:$gws"
for target in nginx gateway; do run "TLS small JSON" $target "/api/small$k" 64; done
for target in nginx gateway; do run "TLS handshake per request" $target "/api/small$k" 16 -H "Connection: close"; done
url[nginx]="http://127.0.0.1:$ngx"; pid[nginx]=$ngx_worker
url[gateway]="http://127.0.0.1:$gw"

# Latency at half of nginx's saturation rate, open loop (latency from the scheduled time).
# Rounds alternate between the targets like the phases above; each target's median round by
# p99 is shown, since one stall of the shared host can move a single round's p99 by ms; five
# rounds in a full run, as one round's p99 swings more than the throughput figures do.
half=$(( ${rps_of["small JSON (465 B)/nginx"]} / 2 ))
lat_rows=()
declare -A p99_of lat_runs
for _ in $(seq "$lat_rounds"); do
  for target in direct nginx gateway; do
    lat_runs[$target]+="$(taskset -c 0 "$loadgen" "${url[$target]}/api/small$k" "$half" "$dur" 32)"$'\n'
  done
done
ms() { awk -v v="$1" 'BEGIN {printf "%.3f", v / 1000}'; }
for target in direct nginx gateway; do
  read -r p50 p99 p999 achieved errs late worst <<<"$(printf '%s' "${lat_runs[$target]}" | sort -n -k2 | awk -v n="$lat_rounds" 'NR == int((n + 1) / 2)')"
  p99_of[$target]=$p99
  lat_rows+=("| $target | $half | $achieved | $(ms "$p50") | $(ms "$p99") | $(ms "$p999") | $late | $(ms "$worst") | $errs |")
done

# Memory with 1,000 idle keep-alive connections, and the gateway's with $idle_n.
idle_ngx=$(python3 "$here/idle.py" 127.0.0.1 "$ngx" 1000 "/api/small$k" "$ngx_worker")
idle_gw=$(python3 "$here/idle.py" 127.0.0.1 "$gw" 1000 "/api/small$k" "$gw_pid")
idle_many=$(python3 "$here/idle.py" 127.0.0.1 "$gw" "$idle_n" "/api/small$k" "$gw_pid" one-by-one)

# Slowloris: $slow connections that never finish their heads (a header line every 5 s, each
# connection replaced when the gateway closes it), and a well-behaved client at a fixed rate
# of 1,000 requests/s meanwhile: its latency, and how long the gateway held a slow one.
taskset -c 0 python3 "$here/slowloris.py" 127.0.0.1 "$gw" "$slow" "$slow_secs" 5 >"$work/slow.out" & slow_pid=$!
sleep 3
slow_lat=$(taskset -c 0 "$loadgen" "${url[gateway]}/api/small$k" 1000 "$((slow_secs - 6))" 16)
wait "$slow_pid"
read -r slow_opened slow_closed slow_median slow_max <"$work/slow.out"

echo
echo "liveagent-gateway load comparison ($mode: ${dur} s per round, $rounds round(s), median), $(nproc) CPUs, $(uname -r)"
echo
echo "| phase | target | req/s | p50 ms | p99 ms | p99.9 ms | CPU s / 10k req | of it in the kernel | peak RSS MB | gateway/nginx | vs direct | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "Open-loop latency at half of nginx's small-JSON saturation rate (32 connections; median of $lat_rounds round(s) by p99):"
echo
echo "| target | target req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | late events | worst ms | errors |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${lat_rows[@]}"
echo
echo "A late event: requests answered >= 1 ms after their scheduled time, less than 5 ms apart (a stall and its backlog; direct's show the host's own)."
echo
echo "gateway p99 minus direct p99 at that rate: $(awk -v g="${p99_of[gateway]}" -v d="${p99_of[direct]}" 'BEGIN {printf "%.3f", (g - d) / 1000}') ms"
read -r s50 s99 s999 s_achieved s_errs _ <<<"$slow_lat"
echo "Under $slow slowloris connections (opened $slow_opened, closed by the gateway $slow_closed, held median $slow_median s, longest $slow_max s): a client at 1,000 req/s got p50 $(ms "$s50") ms, p99 $(ms "$s99") ms, p99.9 $(ms "$s999") ms, $s_achieved req/s, $s_errs errors"
echo "RSS with $idle_n idle keep-alive connections (opened one after another): gateway $(awk -v v="$idle_many" 'BEGIN {printf "%.1f", v / 1024}') MB"
echo "RSS with 1,000 idle keep-alive connections: nginx worker $(awk -v v="$idle_ngx" 'BEGIN {printf "%.1f", v / 1024}') MB, gateway $(awk -v v="$idle_gw" 'BEGIN {printf "%.1f", v / 1024}') MB"
echo "small-JSON throughput gateway/nginx: $(awk -v a="${rps_of["small JSON (465 B)/gateway"]}" -v b="${rps_of["small JSON (465 B)/nginx"]}" 'BEGIN {printf "%.2f", a / b}')"
echo "TLS small-JSON throughput gateway/nginx: $(awk -v a="${rps_of["TLS small JSON/gateway"]}" -v b="${rps_of["TLS small JSON/nginx"]}" 'BEGIN {printf "%.2f", a / b}'), handshakes gateway/nginx: $(awk -v a="${rps_of["TLS handshake per request/gateway"]}" -v b="${rps_of["TLS handshake per request/nginx"]}" 'BEGIN {printf "%.2f", a / b}')"
echo "256 KB .xml vs its JSON passthrough: $(awk -v a="${rps_of["256 KB .xml/gateway"]}" -v b="${rps_of["256 KB JSON/gateway"]}" 'BEGIN {printf "%.2f", a / b}')"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
for phase in "production, 1 worker" "production, 2 workers"; do
  echo "$phase: requests/s gateway/nginx $(ratio "${rps_of[$phase/gateway]}" "${rps_of[$phase/nginx]}"), CPU per request gateway/nginx $(ratio "${cpu_of[$phase/gateway]}" "${cpu_of[$phase/nginx]}")"
done
echo "1,000 keep-alive connections: p99 gateway/nginx $(ratio "${p99_run["1,000 keep-alive connections/gateway"]}" "${p99_run["1,000 keep-alive connections/nginx"]}")"
lines=$(cat "$work"/gw-access-*.log 2>/dev/null | wc -l)
[ "$lines" -gt 0 ] || { echo "the production gateways wrote no access lines" >&2; exit 1; }
echo "access lines written by the production gateways: $lines"
