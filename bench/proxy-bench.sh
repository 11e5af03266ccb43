#!/usr/bin/env bash
# Proxy benchmark: nginx vs sluice proxying 100 B and 1 MiB responses.
#
# Builds `cargo build --release`, starts an upstream nginx on 127.0.0.1 (one worker,
# `return 200` of a 100-byte body at /small, a 1 MiB file at /large, keep-alive), then
# the SAME proxy configuration under nginx (worker_processes 1, master + 1 worker) and
# under sluice (worker_processes 1): `upstream { keepalive 32; }`, `proxy_http_version
# 1.1`, `proxy_set_header Connection ""`. Each process is pinned with taskset. wrk loads
# one proxy at a time with CONNS keep-alive connections for DURATION seconds, interleaved
# (nginx, sluice, nginx, sluice, ...) for ROUNDS rounds per response size.
#
# Per run: requests/s and p99 latency (wrk --latency), CPU per request (utime+stime of
# the proxy process -- nginx: master and worker -- from /proc/PID/stat, before and after,
# divided by the requests wrk completed), the proxy's and the upstream's CPU use, and how
# many upstream connections the proxy opened (the upstream's stub_status). Prints
# a Markdown table of medians (with min-max) and the sluice/nginx ratios.
#
# Usage: bench/proxy-bench.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [--no-build] [--keep]
#                             [--profile]
# Environment (flags win):
#   DURATION=10       seconds per wrk run
#   ROUNDS=3          measured runs per proxy and size (after a 2 s warm-up each)
#   CONNS=50          wrk connections (keep-alive)
#   WRK_THREADS=1     wrk threads
#   SIZES="small large"
#   PROXY_CPU, UPSTREAM_CPU, WRK_CPU   taskset CPU lists. Defaults: with 4+ CPUs 1, 2, 3
#                     (each its own core); with 3 CPUs 0, 1, 2; with 2 CPUs the proxy gets
#                     CPU 1 alone and the upstream and wrk share CPU 0.
#   UPSTREAM_KEEPALIVE=32  the proxies' `keepalive` (idle upstream connections kept)
#   PORT_BASE=18480   upstream PORT_BASE, nginx proxy +1, sluice proxy +2 (127.0.0.1)
#   NGINX=nginx       nginx binary (PATH, then /usr/sbin/nginx)
#   SLUICE=...        sluice binary (default: target/release/sluice, built here)
#   KEEP=0            1 keeps the work dir (configs, wrk outputs, results.tsv, logs)
#   PROFILE=0         1: after the rounds, `perf record -g` each proxy during one extra
#                     run per size; top symbols go to WORK/perf-*.txt and are printed
#
# Exit status: 0 when the measurements were taken, whether or not the targets (sluice/nginx
# CPU per request <= 1.0 and p99 <= 1.0) are met -- the verdict is printed. Non-zero when the
# benchmark could not run: build failure, a process that did not start, a wrong response.
# Only 127.0.0.1 is used; every process started here is stopped by its PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELP=$ROOT/bench/proxy-bench.py
BENCH=proxy-bench
. "$ROOT/bench/lib.sh"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
SIZES=${SIZES:-small large}
PORT_BASE=${PORT_BASE:-18480}
UPSTREAM_KEEPALIVE=${UPSTREAM_KEEPALIVE:-32}
PROFILE=${PROFILE:-0}

while [ $# -gt 0 ]; do
    case "$1" in
        -d) DURATION=$2; shift 2 ;;
        -r) ROUNDS=$2; shift 2 ;;
        -c) CONNS=$2; shift 2 ;;
        --profile) PROFILE=1; shift ;;
        *) common_opt "$1"; shift ;;
    esac
done
require_ints "-d, -r, -c, PORT_BASE must be integers" "$DURATION" "$ROUNDS" "$CONNS" "$PORT_BASE" "$UPSTREAM_KEEPALIVE"
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] || usage_error "ROUNDS and DURATION must be >= 1"

require_tools python3 timeout taskset
require_wrk

NCPU=$(nproc)
if [ "$NCPU" -ge 4 ]; then d_proxy=1 d_up=2 d_wrk=3
elif [ "$NCPU" -eq 3 ]; then d_proxy=0 d_up=1 d_wrk=2
elif [ "$NCPU" -eq 2 ]; then d_proxy=1 d_up=0 d_wrk=0
else d_proxy=0 d_up=0 d_wrk=0
fi
PROXY_CPU=${PROXY_CPU:-$d_proxy}
UPSTREAM_CPU=${UPSTREAM_CPU:-$d_up}
WRK_CPU=${WRK_CPU:-$d_wrk}

# --- binaries ------------------------------------------------------------------------
find_sluice
find_nginx || die "nginx is required (the upstream, and the baseline)"

# --- work dir, processes, cleanup ----------------------------------------------------------
work_dir

UPORT=$PORT_BASE
declare -A PORT=([nginx]=$((PORT_BASE + 1)) [sluice]=$((PORT_BASE + 2)))
declare -A URLPATH=([small]=/small [large]=/large)
declare -A WANT=([small]=100 [large]=1048576)

# The upstream origin: nginx, one worker, its own core (when there are enough).
mkdir -p "$WORK/upstream/www" "$WORK/upstream/tmp"
head -c 1048576 /dev/zero | tr '\0' 'x' >"$WORK/upstream/www/large"
SMALL_BODY=$(printf 'x%.0s' $(seq 1 99))   # 99 bytes + the newline below = 100
cat >"$WORK/upstream/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid upstream.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    $TEMP_PATHS
    sendfile on;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:$UPORT backlog=4096;
        root www;
        location = /small { default_type text/plain; return 200 "$SMALL_BODY\n"; }
        location = /large { default_type application/octet-stream; }
        location = /upstream-status { stub_status; }
    }
}
EOF

# The proxy configuration, the same text for both (only the listen port differs).
for tool in nginx sluice; do
    mkdir -p "$WORK/$tool/tmp"
    cat >"$WORK/$tool/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid proxy.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    $TEMP_PATHS
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    upstream origin {
        server 127.0.0.1:$UPORT;
        keepalive $UPSTREAM_KEEPALIVE;
    }
    server {
        listen 127.0.0.1:${PORT[$tool]} backlog=4096;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
done

# nginx's workers run as `nobody` when started by root: let them read www/ and use tmp/.
chmod -R a+rX "$WORK"

start_server upstream "$UPSTREAM_CPU" "$NGINX" "$WORK/upstream" "$UPORT"
start_server nginx "$PROXY_CPU" "$NGINX" "$WORK/nginx" "${PORT[nginx]}"
start_server sluice "$PROXY_CPU" "$SLUICE" "$WORK/sluice" "${PORT[sluice]}"
note_not_implemented

# Every proxy must answer 200 with the right body length before anything is measured.
expect_sizes upstream "$UPORT"
for tool in nginx sluice; do expect_sizes "$tool" "${PORT[$tool]}"; done

init_results

load() { wrk_load "$@"; }   # load TOOL SIZE SECONDS OUT

measure() {   # measure SIZE TOOL ROUND
    local size=$1 tool=$2 round=$3 out=$WORK/wrk.$1.$2.$3.txt t0 t1 u0 u1 a0 a1
    a0=$(python3 "$HELP" accepts "$UPORT")
    t0=$(python3 "$HELP" ticks "${PID[$tool]}"); u0=$(python3 "$HELP" ticks "${PID[upstream]}")
    load "$tool" "$size" "$DURATION" "$out"
    t1=$(python3 "$HELP" ticks "${PID[$tool]}"); u1=$(python3 "$HELP" ticks "${PID[upstream]}")
    a1=$(python3 "$HELP" accepts "$UPORT")
    kill -0 "${PID[$tool]}" 2>/dev/null || die "$tool exited during the run"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$size" "$tool" "$round" "$(python3 "$HELP" wrk "$out" | tr ' ' '\t')" \
        "$((t1 - t0))" "$HZ" "$((u1 - u0))" "$((a1 - a0))" >>"$RESULTS"
}

say "nginx: $NGINX; sluice: $SLUICE"
say "CPUs: $NCPU; proxy on $PROXY_CPU, upstream on $UPSTREAM_CPU, wrk on $WRK_CPU; $CONNS connections, ${DURATION}s x $ROUNDS rounds; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_rounds "$SIZES"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

for tool in nginx sluice; do
    n=$(grep -c 'temporary file' "$WORK/$tool/error.log" 2>/dev/null || true)
    [ "${n:-0}" = 0 ] || say "note: $tool buffered $n response(s) to a temporary file"
done
note_errors

python3 "$HELP" report "$RESULTS" "Proxying, $CONNS keep-alive connections, upstream keepalive $UPSTREAM_KEEPALIVE, ${DURATION}s per run, $ROUNDS interleaved rounds;" \
    "CPUs $NCPU (proxy $PROXY_CPU, upstream $UPSTREAM_CPU, wrk $WRK_CPU); load after: $LOAD_AFTER"

# --- optional profile ------------------------------------------------------------------
if [ "$PROFILE" = 1 ]; then
    if ! perf stat -e instructions true >/dev/null 2>&1; then
        say "perf cannot count instructions here: no profile (try valgrind --tool=callgrind)"
    else
        for size in $SIZES; do
            for tool in nginx sluice; do
                data=$WORK/perf.$size.$tool.data
                target=${PID[$tool]}
                # nginx's worker (and sluice's serving process when started as root) does the
                # work: profile the process's children, or the process when it has none.
                pids=$(cat "/proc/$target/task/$target/children" 2>/dev/null | tr -s ' ' ',' | sed 's/,$//')
                [ -n "$pids" ] || pids=$target
                timeout $(( DURATION + 60 )) perf record -q -g -o "$data" -p "$pids" -- sleep "$DURATION" >/dev/null 2>&1 &
                perf_pid=$!
                sleep 0.5
                load "$tool" "$size" "$DURATION" "$WORK/wrk.profile.$size.$tool.txt"
                wait "$perf_pid" || true
                perf report -i "$data" --no-children --percent-limit 1.5 --stdio -g none \
                    >"$WORK/perf-$size-$tool.txt" 2>/dev/null || true
                perf report -i "$data" --no-children --stdio -g none --sort dso \
                    >"$WORK/perf-dso-$size-$tool.txt" 2>/dev/null || true
                say "perf, $tool, $size: share by binary: $(grep -E '^ +[0-9.]+%' "$WORK/perf-dso-$size-$tool.txt" | head -4 | awk '{printf "%s %s  ", $2, $1}')"
                say "perf top symbols, $tool, $size (self time):"
                grep -E '^ +[0-9.]+%' "$WORK/perf-$size-$tool.txt" | head -25 >&2 || true
                # System calls and context switches per request.
                stat=$WORK/perf-stat.$size.$tool.txt
                timeout $(( DURATION + 60 )) perf stat -x, -e raw_syscalls:sys_enter,context-switches -p "$pids" \
                    -o "$stat" -- sleep "$DURATION" >/dev/null 2>&1 &
                perf_pid=$!
                sleep 0.5
                load "$tool" "$size" "$DURATION" "$WORK/wrk.stat.$size.$tool.txt"
                wait "$perf_pid" || true
                reqs=$(python3 "$HELP" wrk "$WORK/wrk.stat.$size.$tool.txt" | cut -d' ' -f1)
                sc=$(awk -F, '/raw_syscalls:sys_enter/ {print $1}' "$stat")
                cs=$(awk -F, '/context-switches/ {print $1}' "$stat")
                say "$tool, $size: $(python3 -c "import sys; r=int(sys.argv[1]); print('%.2f syscalls/request, %.3f context switches/request over %d requests' % (int(sys.argv[2] or 0)/r, int(sys.argv[3] or 0)/r, r))" "$reqs" "${sc:-0}" "${cs:-0}") (perf stat window ${DURATION}s within the wrk run)"
            done
        done
        KEEP=1
    fi
fi
exit 0
