#!/usr/bin/env bash
# Static-file benchmark: nginx vs sluice serving 1 KiB and 1 MiB files from disk.
#
# Builds `cargo build --release`, writes two files (1 KiB and 1 MiB) into a private
# document root, then runs the SAME configuration under nginx (worker_processes 1, master
# + 1 worker) and under sluice (worker_processes 1): `root www; location / { }`,
# `sendfile on` (Debian's default nginx.conf has it; sluice accepts it and streams in
# chunks), `access_log off`, keep-alive kept open. Each server is pinned with taskset to
# SERVER_CPU, wrk to WRK_CPU. wrk loads one server at a time with CONNS keep-alive
# connections for DURATION seconds, interleaved (nginx, sluice, nginx, sluice, ...) for
# ROUNDS rounds per file size.
#
# Per run: requests/s and p99 latency (wrk --latency), CPU per request (utime+stime of
# the server process -- nginx: master and worker -- from /proc/PID/stat, before and after,
# divided by the requests wrk completed) and the server's CPU use. Prints a Markdown table
# of medians (with min-max) and the sluice/nginx ratios.
#
# Usage: bench/static-bench.sh [-d SECONDS] [-r ROUNDS] [-c CONNS] [--no-build] [--keep]
# Environment (flags win):
#   DURATION=10       seconds per wrk run
#   ROUNDS=3          measured runs per server and size (after a 2 s warm-up each)
#   CONNS=50          wrk connections (keep-alive)
#   WRK_THREADS=1     wrk threads
#   SIZES="1k 1m"
#   SENDFILE=on       the `sendfile` directive in the shared configuration
#   SERVER_CPU, WRK_CPU   taskset CPU lists. Defaults: with 2+ CPUs the server gets CPU 1
#                     and wrk CPU 0; with 1 CPU both share CPU 0.
#   PORT_BASE=18580   nginx PORT_BASE+1, sluice PORT_BASE+2 (127.0.0.1)
#   NGINX=nginx       nginx binary (PATH, then /usr/sbin/nginx)
#   SLUICE=...        sluice binary (default: target/release/sluice, built here)
#   KEEP=0            1 keeps the work dir (configs, wrk outputs, results.tsv, logs)
#
# Exit status: 0 when the measurements were taken, whatever the ratios. Non-zero when the
# benchmark could not run: build failure, a server that did not start, a wrong response.
# Only 127.0.0.1 is used; every process started here is stopped by its PID on exit.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELP=$ROOT/bench/proxy-bench.py
BENCH=static-bench
. "$ROOT/bench/lib.sh"
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-50}
WRK_THREADS=${WRK_THREADS:-1}
SIZES=${SIZES:-1k 1m}
SENDFILE=${SENDFILE:-on}
PORT_BASE=${PORT_BASE:-18580}

while [ $# -gt 0 ]; do
    case "$1" in
        -d) DURATION=$2; shift 2 ;;
        -r) ROUNDS=$2; shift 2 ;;
        -c) CONNS=$2; shift 2 ;;
        *) common_opt "$1"; shift ;;
    esac
done
require_ints "-d, -r, -c, PORT_BASE must be integers" "$DURATION" "$ROUNDS" "$CONNS" "$PORT_BASE"
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] || usage_error "ROUNDS and DURATION must be >= 1"
case "$SENDFILE" in on|off) ;; *) usage_error "SENDFILE must be on or off" ;; esac

require_tools python3 timeout taskset
require_wrk

pin_defaults SERVER_CPU WRK_CPU

# --- binaries ------------------------------------------------------------------------
find_sluice
find_nginx || die "nginx is required (the baseline)"

# --- work dir, processes, cleanup ----------------------------------------------------------
work_dir

declare -A PORT=([nginx]=$((PORT_BASE + 1)) [sluice]=$((PORT_BASE + 2)))
declare -A URLPATH=([1k]=/f1k [1m]=/f1m)
declare -A WANT=([1k]=1024 [1m]=1048576)

# One document root for both, so both read the same inodes from the page cache.
mkdir -p "$WORK/www"
head -c 1024 /dev/zero | tr '\0' 'x' >"$WORK/www/f1k"
head -c 1048576 /dev/zero | tr '\0' 'x' >"$WORK/www/f1m"

# The configuration, the same text for both (only the listen port differs).
for tool in nginx sluice; do
    mkdir -p "$WORK/$tool/tmp"
    cat >"$WORK/$tool/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid server.pid;
error_log error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    $TEMP_PATHS
    sendfile $SENDFILE;
    default_type application/octet-stream;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {
        listen 127.0.0.1:${PORT[$tool]} backlog=4096;
        root $WORK/www;
        location / { }
    }
}
EOF
done

# nginx's workers run as `nobody` when started by root: let them read www/ and use tmp/.
chmod -R a+rX "$WORK"

start_server nginx "$SERVER_CPU" "$NGINX" "$WORK/nginx" "${PORT[nginx]}"
start_server sluice "$SERVER_CPU" "$SLUICE" "$WORK/sluice" "${PORT[sluice]}"
note_not_implemented

# Every server must answer 200 with the right body length before anything is measured.
for tool in nginx sluice; do expect_sizes "$tool" "${PORT[$tool]}"; done

init_results

load() { wrk_load "$@"; }   # load TOOL SIZE SECONDS OUT

measure() { measure_server "$@"; }

say "nginx: $NGINX; sluice: $SLUICE"
say "CPUs: $NCPU; servers on $SERVER_CPU, wrk on $WRK_CPU; $CONNS connections, ${DURATION}s x $ROUNDS rounds, sendfile $SENDFILE; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
run_rounds "$SIZES"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

note_errors

python3 "$HELP" report --static "$RESULTS" "Static files, $CONNS keep-alive connections, sendfile $SENDFILE, ${DURATION}s per run, $ROUNDS interleaved rounds;" \
    "CPUs $NCPU (server $SERVER_CPU, wrk $WRK_CPU); load after: $LOAD_AFTER"
exit 0
