#!/usr/bin/env bash
# HTTP/2 cost benchmark: what serving a request over h2 costs compared with HTTP/1.1 over
# TLS, in sluice and in nginx, on the same configuration.
#
# Builds `cargo build --release`, makes a self-signed certificate (openssl), starts an
# origin nginx (`return 200`), then nginx and sluice (worker_processes 1, both pinned to
# CPU 0) with `listen ... ssl http2`: `/r` is `return 200 "ok\n"` (the phases alone),
# `/p` proxies to the origin. h2load (Debian's nghttp2-client), pinned to CPU 1, sends N
# requests over C connections, M streams each, as h2 and as HTTP/1.1 (`--h1`), interleaved
# for ROUNDS rounds. Prints the median requests/s per (path, server, protocol).
#
# Usage: bench/h2-bench.sh [--no-build]
# Environment: N=20000 C=10 M=10 ROUNDS=5 PORT_BASE=29440 KEEP=0
# Only 127.0.0.1 is used; every process started here is stopped by its PID on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
N=${N:-20000}; C=${C:-10}; M=${M:-10}; ROUNDS=${ROUNDS:-5}; PORT_BASE=${PORT_BASE:-29440}
[ "${1:-}" = "--no-build" ] || (cd "$ROOT" && cargo build --release -q)
command -v h2load >/dev/null || { echo "h2load missing: apt-get install nghttp2-client" >&2; exit 1; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$WORK/key.pem" -out "$WORK/cert.pem" \
    -days 2 -subj /CN=localhost 2>/dev/null
UP=$((PORT_BASE)); NP=$((PORT_BASE + 1)); SP=$((PORT_BASE + 2))
cat > "$WORK/origin.conf" <<CONF
daemon off; master_process off; worker_processes 1; error_log $WORK/origin.err; pid $WORK/origin.pid;
events {}
http { access_log off; server { listen 127.0.0.1:$UP; location / { return 200 "origin\n"; } } }
CONF
proxy_conf() {
    cat <<CONF
daemon off; master_process off; worker_processes 1; error_log $WORK/$1.err; pid $WORK/$1.pid;
events {}
http {
    access_log off; keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$2 ssl http2;
        ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location /r { return 200 "ok\n"; }
        location /p { proxy_pass http://127.0.0.1:$UP; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
CONF
}
proxy_conf nginx "$NP" > "$WORK/nginx.conf"
proxy_conf sluice "$SP" > "$WORK/sluice.conf"
taskset -c 1 "$NGINX" -p "$WORK/" -c "$WORK/origin.conf" & PIDS+=($!)
taskset -c 0 "$NGINX" -p "$WORK/" -c "$WORK/nginx.conf" & PIDS+=($!)
taskset -c 0 "$ROOT/target/release/sluice" -p "$WORK/" -c "$WORK/sluice.conf" & PIDS+=($!)
for port in $UP $NP $SP; do
    for _ in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
done
for _ in $(seq "$ROUNDS"); do
    for path in r p; do
        for server in nginx:$NP sluice:$SP; do
            for proto in h2 h1; do
                flag=(); [ "$proto" = h1 ] && flag=(--h1)
                rps=$(taskset -c 1 h2load "${flag[@]}" -n "$N" -c "$C" -m "$M" \
                    "https://127.0.0.1:${server#*:}/$path" | awk '/^finished in/ {print $4}')
                echo "$path ${server%%:*} $proto $rps" >> "$WORK/results.txt"
            done
        done
    done
done
python3 - "$WORK/results.txt" <<'PY'
import collections, statistics, sys
d = collections.defaultdict(list)
for line in open(sys.argv[1]):
    path, server, proto, rps = line.split()
    d[(path, server, proto)].append(float(rps))
print("| path | server | protocol | median req/s | runs |")
print("|---|---|---|---|---|")
for (path, server, proto), v in sorted(d.items()):
    print(f"| /{path} | {server} | {proto} | {statistics.median(v):.0f} | {' '.join(f'{x:.0f}' for x in v)} |")
PY
