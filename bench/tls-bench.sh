#!/usr/bin/env bash
# TLS benchmark: nginx vs sluice terminating TLS.
#
# Builds `cargo build --release`, makes a throw-away ECDSA P-256 certificate (openssl), and
# starts the SAME configuration under nginx (worker_processes 1, master + 1 worker) and
# under sluice (worker_processes 1), each pinned to one core with taskset: two TLS
# listeners, one with `ssl_protocols TLSv1.2`, one with `ssl_protocols TLSv1.3`, each
# answering `return 200` with a 100-byte body, with `ssl_session_tickets off` (and the
# default `ssl_session_cache none`): wrk resumes sessions when the server lets it, so this
# is what makes every new connection a full handshake (checked with openssl s_client
# before measuring). wrk loads one server at a time, interleaved (nginx, sluice, nginx,
# ...), for ROUNDS rounds per mode:
#
#   hs13, hs12   a new connection per request (`Connection: close`): full TLSv1.3 /
#                TLSv1.2 handshakes per second (one request each)
#   ka13         HTTPS requests per second on CONNS keep-alive TLSv1.3 connections
#
# Per run: requests/s, p99 (wrk --latency), the server's CPU per request
# (utime+stime from /proc/PID/stat -- nginx: master and worker -- before and after,
# divided by the requests wrk completed) and CPU use. Prints a Markdown table of medians
# (min-max) and the sluice/nginx ratios, with `uptime`'s load before and after (the
# machine may be shared: compare the CPU per request more than the rates).
#
# Usage: bench/tls-bench.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [--no-build] [--keep]
# Environment (flags win):
#   DURATION=10  ROUNDS=3  CONNS=50 (keep-alive mode; the handshake modes use HS_CONNS=16)
#   MODES="hs13 hs12 ka13"
#   SERVER_CPU, WRK_CPU   taskset CPU lists (defaults: 1 and 0 with 2+ CPUs)
#   PORT_BASE=18660       nginx PORT_BASE (TLSv1.2), +1 (TLSv1.3); sluice +2, +3
#   NGINX, SLUICE, KEEP=0 as in bench/proxy-bench.sh
# Only 127.0.0.1 is used; every process started here is stopped by its PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELP=$ROOT/bench/proxy-bench.py
BENCH=tls-bench
. "$ROOT/bench/lib.sh"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
HS_CONNS=${HS_CONNS:-16}
MODES=${MODES:-hs13 hs12 ka13}
PORT_BASE=${PORT_BASE:-18660}

while [ $# -gt 0 ]; do
    case "$1" in
        -d) DURATION=$2; shift 2 ;;
        -r) ROUNDS=$2; shift 2 ;;
        -c) CONNS=$2; shift 2 ;;
        *) common_opt "$1"; shift ;;
    esac
done
require_ints "-d, -r, -c, PORT_BASE must be integers" "$DURATION" "$ROUNDS" "$CONNS" "$HS_CONNS" "$PORT_BASE"

require_tools python3 timeout taskset openssl wrk

pin_defaults SERVER_CPU WRK_CPU

find_sluice
find_nginx || die "nginx is required (the baseline)"

work_dir

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=bench.test" -addext "subjectAltName=DNS:bench.test" \
    -keyout "$WORK/bench.key" -out "$WORK/bench.crt" >/dev/null 2>&1 || die "openssl failed"

declare -A BASE=([nginx]=$PORT_BASE [sluice]=$((PORT_BASE + 2)))
SMALL_BODY=$(printf 'x%.0s' $(seq 1 99))
for tool in nginx sluice; do
    mkdir -p "$WORK/$tool/tmp"
    p12=${BASE[$tool]} p13=$((BASE[$tool] + 1))
    cat >"$WORK/$tool/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid server.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    $TEMP_PATHS
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    ssl_certificate $WORK/bench.crt;
    ssl_certificate_key $WORK/bench.key;
    ssl_session_tickets off;
    server {
        listen 127.0.0.1:$p12 ssl backlog=4096;
        ssl_protocols TLSv1.2;
        location = /small { default_type text/plain; return 200 "$SMALL_BODY\n"; }
    }
    server {
        listen 127.0.0.1:$p13 ssl backlog=4096;
        ssl_protocols TLSv1.3;
        location = /small { default_type text/plain; return 200 "$SMALL_BODY\n"; }
    }
}
EOF
done
chmod -R a+rX "$WORK"

start() {   # start NAME BIN: both listeners up
    start_server "$1" "$SERVER_CPU" "$2" "$WORK/$1" "${BASE[$1]}"
    python3 "$HELP" wait "$((BASE[$1] + 1))" 10 || die "$1 did not start"
}
start nginx "$NGINX"
start sluice "$SLUICE"

# Every server must answer over TLS with the negotiated version asked for.
for tool in nginx sluice; do
    for v in 2 3; do
        port=$((BASE[$tool] + v - 2))
        out=$(printf 'GET /small HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n' |
            timeout 10 openssl s_client -quiet -ign_eof -connect "127.0.0.1:$port" -tls1_$v 2>/dev/null | head -c 400 || true)
        case "$out" in "HTTP/1.1 200 OK"*) ;; *) die "$tool: TLSv1.$v GET /small gave: $(echo "$out" | head -1)" ;; esac
        # No resumption: a second connection with the first one's session is a new one.
        rm -f "$WORK/sess"
        for i in 1 2; do
            sess_in=(); [ -s "$WORK/sess" ] && sess_in=(-sess_in "$WORK/sess")
            got=$(printf 'GET /small HTTP/1.1\r\nHost: bench.test\r\nConnection: close\r\n\r\n' |
                timeout 10 openssl s_client -ign_eof -connect "127.0.0.1:$port" -tls1_$v \
                    -sess_out "$WORK/sess" "${sess_in[@]}" 2>/dev/null | grep -E '^(New|Reused),' || true)
            case "$got" in New,*) ;; *) die "$tool: TLSv1.$v connection $i was not a full handshake: $got" ;; esac
        done
    done
done

init_results

load() {   # load TOOL MODE SECONDS OUT
    local port c hdr=()
    case "$2" in
        hs12) port=${BASE[$1]}; c=$HS_CONNS; hdr=(-H "Connection: close") ;;
        hs13) port=$((BASE[$1] + 1)); c=$HS_CONNS; hdr=(-H "Connection: close") ;;
        ka13) port=$((BASE[$1] + 1)); c=$CONNS ;;
        *) die "unknown mode $2" ;;
    esac
    timeout $(( $3 + 60 )) taskset -c "$WRK_CPU" wrk -t 1 -c "$c" -d "${3}s" --latency "${hdr[@]}" \
        "https://127.0.0.1:$port/small" >"$4" 2>&1 || { cat "$4" >&2; die "wrk failed against $1"; }
}

measure() { measure_server "$@"; }

LOAD_BEFORE=$(uptime | sed 's/.*load average: //')
say "nginx: $NGINX; sluice: $SLUICE"
say "CPUs: $NCPU; servers on $SERVER_CPU, wrk on $WRK_CPU; ${DURATION}s x $ROUNDS rounds; load before: $LOAD_BEFORE"
run_rounds "$MODES"
LOAD_AFTER=$(uptime | sed 's/.*load average: //')

note_errors

python3 "$HELP" report-tls "$RESULTS" "TLS, ECDSA P-256 certificate, 100-byte \`return 200\`, no session resumption; hs = new connection (full handshake) per request ($HS_CONNS connections), ka = $CONNS keep-alive connections;" \
    "${DURATION}s per run, $ROUNDS interleaved rounds; CPUs $NCPU (server $SERVER_CPU, wrk $WRK_CPU); load before: $LOAD_BEFORE; after: $LOAD_AFTER"
