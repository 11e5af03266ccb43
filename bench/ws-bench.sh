#!/usr/bin/env bash
# WebSocket benchmark: nginx vs sluice proxying WebSocket tunnels, the same config.
#
# Builds `cargo build --release` (sluice) and bench/ws-load (the load generator and echo
# origin, its own cargo project), then starts the echo origin (`ws-load serve`) and the
# SAME proxy configuration under nginx (worker_processes 1: master + 1 worker) and under
# sluice (worker_processes 1): `map $http_upgrade $connection_upgrade`, the WebSocket
# recipe (proxy_http_version 1.1, Upgrade/Connection headers), an upstream without
# `keepalive`, access_log off. The proxies are pinned to PROXY_CPU, the load generator
# (and the origin) to LOAD_CPU, with taskset; all of them run at `nice NICE`.
#
# Tests, nginx and sluice interleaved (nginx, sluice, nginx, sluice, ...), ROUNDS rounds:
#   handshake  HS_CONNS concurrent loops of: connect, upgrade, 101, close frame, EOF;
#              handshakes/s (the 101 counted once the closing handshake ended cleanly)
#   latency    LAT_CONNS connections, LAT_RATE messages/s in total (open loop, SIZE-byte
#              binary messages); echo round trip p50/p99
#   flood      FLOOD_CONNS connections, FLOOD_WINDOW messages in flight on each (closed
#              loop); echo messages/s at saturation
# Each run: WARMUP seconds unmeasured, then DURATION seconds measured; the proxy's CPU
# ticks over the measured window (nginx: the worker) come from /proc/PID/stat, and, where
# `perf stat` works, the instructions and cycles it retired (user and kernel) over the
# window: a cost per operation that other load on the machine hardly changes. The CPU
# time of every other process on the machine is reported too ("other processes"). Before the
# rounds every test also runs once straight against the origin ("direct"): the load
# side's own ceiling, for context.
#   idle       IDLE_ROUNDS rounds; each starts a fresh proxy, warms it up (1 s of
#              handshakes, 1 s of echo on 20 connections), waits 2 s, reads its PSS (sum
#              of Pss in /proc/PID/smaps_rollup, nginx: master + worker), opens
#              IDLE_CONNS tunnels from HOLD_PROCS ws-load processes (one echo each, then
#              silence), waits IDLE_SECS, reads the PSS again:
#              bytes per idle tunnel = (PSS after - PSS before) / tunnels open.
#
# Usage: bench/ws-bench.sh [-d SECONDS] [-r ROUNDS] [-n IDLE_CONNS] [--idle-rounds N]
#                          [--tests "handshake latency flood idle"] [--no-build] [--keep]
#                          [--profile]
# Environment (flags win):
#   DURATION=10 WARMUP=2 ROUNDS=3     seconds measured / unmeasured per run; rounds
#   HS_CONNS=50                       concurrent handshake loops
#   LAT_CONNS=100 LAT_RATE=10000      latency test connections and total messages/s
#   FLOOD_CONNS=100 FLOOD_WINDOW=1    saturation test connections, messages in flight each
#   SIZE=64                           message payload bytes
#   IDLE_CONNS=9000 IDLE_ROUNDS=2 IDLE_SECS=5 HOLD_PROCS=3 HOLD_PARALLEL=50 (handshakes in
#                                     flight per hold process)
#   TESTS="handshake latency flood idle"
#   PROXY_CPU=1 LOAD_CPU=0            taskset CPUs (one CPU each gives whole-CPU accounting)
#   NICE=-10                          nice value of every process started here
#   PORT_BASE=19480                   origin; nginx +1, sluice +2; idle proxies +3, +4
#   NGINX=nginx SLUICE=target/release/sluice WS_LOAD=bench/ws-load/target/release/ws-load
#   KEEP=0                            1 keeps the work dir (configs, outputs, results.tsv)
#   PROFILE=0                         1: perf record sluice during one extra handshake and
#                                     flood run each; top symbols printed, kept in WORK
#
# Exit status: 0 when the measurements were taken, whether or not the targets (sluice/nginx
# bytes per idle tunnel <= 0.5, handshakes/s >= 1.0) are met -- the verdict is printed.
# Non-zero when the benchmark could not run. Only 127.0.0.1 is used; every process
# started here is stopped by its PID on exit; every load run is bounded by time.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELP=$ROOT/bench/ws-bench.py
BENCH=ws-bench
. "$ROOT/bench/lib.sh"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-3}
HS_CONNS=${HS_CONNS:-50}
LAT_CONNS=${LAT_CONNS:-100}
LAT_RATE=${LAT_RATE:-10000}
FLOOD_CONNS=${FLOOD_CONNS:-100}
FLOOD_WINDOW=${FLOOD_WINDOW:-1}
SIZE=${SIZE:-64}
IDLE_CONNS=${IDLE_CONNS:-9000}
IDLE_ROUNDS=${IDLE_ROUNDS:-2}
IDLE_SECS=${IDLE_SECS:-5}
HOLD_PROCS=${HOLD_PROCS:-3}
TESTS=${TESTS:-handshake latency flood idle}
NICE=${NICE:--10}
PORT_BASE=${PORT_BASE:-19480}
PROFILE=${PROFILE:-0}

while [ $# -gt 0 ]; do
    case "$1" in
        -d) DURATION=$2; shift 2 ;;
        -r) ROUNDS=$2; shift 2 ;;
        -n) IDLE_CONNS=$2; shift 2 ;;
        --idle-rounds) IDLE_ROUNDS=$2; shift 2 ;;
        --tests) TESTS=$2; shift 2 ;;
        --profile) PROFILE=1; shift ;;
        *) common_opt "$1"; shift ;;
    esac
done
require_ints "numeric settings must be integers" "$DURATION" "$WARMUP" "$ROUNDS" "$HS_CONNS" "$LAT_CONNS" "$LAT_RATE" \
    "$FLOOD_CONNS" "$FLOOD_WINDOW" "$SIZE" "$IDLE_CONNS" "$IDLE_ROUNDS" "$IDLE_SECS" "$HOLD_PROCS" "$PORT_BASE"
[ "$ROUNDS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$HOLD_PROCS" -ge 1 ] || usage_error "ROUNDS, DURATION, HOLD_PROCS must be >= 1"

require_tools python3 timeout taskset nice

# Open files: as many as allowed (each tunnel is two descriptors in the proxy).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
[ "$NOFILE" = unlimited ] && NOFILE=1048576
PER_HOLD=$(( (IDLE_CONNS + HOLD_PROCS - 1) / HOLD_PROCS ))
case " $TESTS " in *" idle "*)
    [ $(( 2 * IDLE_CONNS + 64 )) -le "$NOFILE" ] || die "ulimit -n is $NOFILE: too low for $IDLE_CONNS tunnels (the proxy needs 2 per tunnel)"
    [ $(( PER_HOLD + 64 )) -le "$NOFILE" ] || die "ulimit -n is $NOFILE: raise HOLD_PROCS" ;;
esac
# nginx starts closing connections ("worker_connections are not enough, reusing
# connections") once fewer than worker_connections/16 are free (ngx_get_connection), so
# it needs 2 * IDLE_CONNS * 16/15 plus the handshakes in flight: use all it may have.
NGX_CONNS=$NOFILE
[ "$NGX_CONNS" -gt 65536 ] && NGX_CONNS=65536
HOLD_PARALLEL=${HOLD_PARALLEL:-50}
case " $TESTS " in *" idle "*)
    [ $(( (2 * IDLE_CONNS + 2 * HOLD_PROCS * HOLD_PARALLEL + 16) * 16 / 15 )) -le "$NGX_CONNS" ] \
        || say "WARNING: worker_connections $NGX_CONNS may be too few for $IDLE_CONNS tunnels (nginx keeps 1/16 free)" ;;
esac

pin_defaults PROXY_CPU LOAD_CPU
# Whole-CPU accounting (busy, interrupts: other users of the machine show up there) when
# each side has one CPU of its own.
CORES=""
case "$PROXY_CPU$LOAD_CPU" in *[!0-9]*) ;; *) [ "$PROXY_CPU" != "$LOAD_CPU" ] && CORES="--cores $PROXY_CPU,$LOAD_CPU" ;; esac

# --- binaries ------------------------------------------------------------------------
find_sluice
if [ -z "${WS_LOAD:-}" ]; then
    WS_LOAD=$ROOT/bench/ws-load/target/release/ws-load
    if [ "$BUILD" = 1 ] || [ ! -x "$WS_LOAD" ]; then
        say "cargo build --release (bench/ws-load)"
        (cd "$ROOT/bench/ws-load" && timeout "$BUILD_TIMEOUT" cargo build --release -q) || die "building bench/ws-load failed"
    fi
fi
[ -x "$WS_LOAD" ] || die "no ws-load binary at $WS_LOAD"
find_nginx || die "nginx is required (the baseline)"

# --- work dir, processes, cleanup ----------------------------------------------------
work_dir

OPORT=$PORT_BASE

conf() {   # conf DIR PORT: the proxy configuration, the same text for both tools
    mkdir -p "$1/tmp"
    cat >"$1/nginx.conf" <<EOF
worker_processes 1;
worker_rlimit_nofile $NOFILE;
daemon off;
pid proxy.pid;
error_log error.log warn;
events { worker_connections $NGX_CONNS; }
http {
    access_log off;
    $TEMP_PATHS
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }
    upstream echo {
        server 127.0.0.1:$OPORT;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location /ws {
            proxy_pass http://echo;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_read_timeout 600s;
        }
    }
}
EOF
    chmod -R a+rwX "$1"   # nginx's worker runs as nobody when started by root
}

wait_port() {   # wait_port PORT SECONDS
    python3 "$HELP" wait "$1" "$2"
}

declare -A PID PORT WPID
start_proxy() {   # start_proxy NAME TOOL PORT: NAME's dir is WORK/NAME
    local name=$1 tool=$2 port=$3 dir=$WORK/$1 bin
    conf "$dir" "$port"
    bin=$NGINX; [ "$tool" = sluice ] && bin=$SLUICE
    nice -n "$NICE" taskset -c "$PROXY_CPU" "$bin" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout.txt" 2>"$dir/stderr.txt" &
    PID[$name]=$!
    PIDS+=("$!")
    PORT[$name]=$port
    wait_port "$port" 10 || { cat "$dir/stderr.txt" >&2; die "$name did not start on 127.0.0.1:$port"; }
    # The process that serves: nginx's worker; sluice's serving process (the child of
    # its master when started as root, else sluice itself).
    WPID[$name]=${PID[$name]}
    local i kids=""
    for i in $(seq 1 50); do
        kids=$(cat "/proc/${PID[$name]}/task/${PID[$name]}/children" 2>/dev/null | tr -s ' ' | sed 's/ $//')
        [ -n "$kids" ] && break
        [ "$tool" = sluice ] && [ "$(id -u)" != 0 ] && break
        sleep 0.1
    done
    [ -n "$kids" ] || [ "$tool" = sluice ] || die "$name: no nginx worker process"
    [ -n "$kids" ] && WPID[$name]=${kids%% *}
    "$WS_LOAD" check --addr "127.0.0.1:$port" >"$dir/check.txt" || { cat "$dir/check.txt" >&2; die "$name: WebSocket echo through the proxy failed"; }
}

# alive NAME: the proxy still runs; if not, say how it ended and start it again (another
# user of the machine may stop it; the rounds go on with a fresh process).
RESTARTS=0
alive() {
    local name=$1 tool=$1 rc=0
    kill -0 "${PID[$name]}" 2>/dev/null && return 0
    wait "${PID[$name]}" 2>/dev/null || rc=$?
    say "WARNING: $name (pid ${PID[$name]}) is gone (exit status $rc$([ "$rc" -gt 128 ] && echo ", signal $((rc - 128))")); starting it again"
    case $name in *nginx*) tool=nginx ;; *) tool=sluice ;; esac
    RESTARTS=$((RESTARTS + 1))
    start_proxy "$name" "$tool" "${PORT[$name]}"
}

stop_proxy() {   # stop_proxy NAME
    local p=${PID[$1]} i
    kill -TERM "$p" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
}

pss_kb() {   # pss_kb PID...: sum of Pss (kB) over the processes
    local t=0 p v
    for p in "$@"; do
        v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup") || die "cannot read /proc/$p/smaps_rollup"
        t=$((t + v))
    done
    echo "$t"
}
rss_kb() { local t=0 p; for p in "$@"; do t=$((t + $(awk '/^VmRSS:/ {print $2}' "/proc/$p/status"))); done; echo "$t"; }
nfds() { ls "/proc/$1/fd" | wc -l; }
procs_of() {   # procs_of NAME: every process of the proxy (nginx: master and workers)
    local m=${PID[$1]}
    echo "$m $(cat "/proc/$m/task/$m/children" 2>/dev/null)"
}

PERF_OK=0
command -v perf >/dev/null && perf stat -e instructions true >/dev/null 2>&1 && PERF_OK=1
RESULTS=$WORK/results.tsv
: >"$RESULTS"
HZ=$(getconf CLK_TCK)

# run_load TEST TOOL ROUND PORT WATCHPID: one measured ws-load run; appends to RESULTS.
run_load() {
    local test=$1 tool=$2 round=$3 port=$4 watch=$5 out=$WORK/$1.$2.$3.txt args
    case $test in
        handshake) args=(handshake --conns "$HS_CONNS") ;;
        latency) args=(latency --conns "$LAT_CONNS" --rate "$LAT_RATE" --size "$SIZE") ;;
        flood) args=(flood --conns "$FLOOD_CONNS" --window "$FLOOD_WINDOW" --size "$SIZE") ;;
    esac
    # Instructions retired by the proxy over the measured window (perf stat, counting
    # mode): a cost per operation that does not depend on what else the machine runs.
    local perfpid="" counts=""
    if [ "$PERF_OK" = 1 ] && [ "$tool" != direct ]; then
        ( sleep "$WARMUP"; exec perf stat -x, -e instructions:u,instructions:k,cycles:u,cycles:k -p "$watch" \
            -o "$out.perf" -- sleep "$DURATION" ) >/dev/null 2>&1 &
        perfpid=$!
    fi
    timeout $(( WARMUP + DURATION + 60 )) nice -n "$NICE" taskset -c "$LOAD_CPU" "$WS_LOAD" "${args[@]}" \
        --addr "127.0.0.1:$port" --secs "$DURATION" --warmup "$WARMUP" --watch "$watch,$OPID" $CORES >"$out" 2>&1 \
        || { cat "$out" >&2; die "ws-load $test failed against $tool"; }
    grep -q "^mode=$test " "$out" || { cat "$out" >&2; die "ws-load $test gave no result against $tool"; }
    if [ "$tool" != direct ] && ! kill -0 "$watch" 2>/dev/null; then
        cat "$out" >&2; die "$tool exited during the $test run"
    fi
    if [ -n "$perfpid" ]; then
        wait "$perfpid" 2>/dev/null || true
        counts=$(awk -F, '$3 ~ /^(instructions|cycles):[uk]$/ && $1 ~ /^[0-9]+$/ {k=$3; sub(/instructions/, "inst", k); sub(/cycles/, "cyc", k); sub(/:/, "_", k); printf " %s=%s", k, $1}' "$out.perf" 2>/dev/null || true)
    fi
    printf '%s\t%s\t%s\t%s HZ=%s%s\n' "$test" "$tool" "$round" \
        "$(sed -n "s/cpu_$watch=/cpu_proxy=/; s/cpu_$OPID=/cpu_origin=/; s/core${PROXY_CPU}_/pcore_/g; s/core${LOAD_CPU}_/lcore_/g; /^mode=/p" "$out")" "$HZ" "$counts" >>"$RESULTS"
}

# --- the origin --------------------------------------------------------------------
mkdir -p "$WORK/origin"
nice -n "$NICE" taskset -c "$LOAD_CPU" "$WS_LOAD" serve --listen "127.0.0.1:$OPORT" --max-secs 86400 \
    >"$WORK/origin/stdout.txt" 2>&1 &
OPID=$!
PIDS+=("$OPID")
wait_port "$OPORT" 10 || die "the origin did not start on 127.0.0.1:$OPORT"
"$WS_LOAD" check --addr "127.0.0.1:$OPORT" >/dev/null || die "the origin does not echo"

say "nginx: $NGINX ($("$NGINX" -v 2>&1 | sed 's/.*: //')); sluice: $SLUICE"
say "CPUs: $NCPU; proxies on $PROXY_CPU, ws-load and the origin on $LOAD_CPU; nice $NICE; ulimit -n $NOFILE; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

THRU=""
for t in $TESTS; do [ "$t" = idle ] || THRU="$THRU $t"; done
if [ -n "$THRU" ]; then
    start_proxy nginx nginx $((PORT_BASE + 1))
    start_proxy sluice sluice $((PORT_BASE + 2))
    for test in $THRU; do
        run_load "$test" direct 1 "$OPORT" "$OPID"
        say "$test direct: $(python3 "$HELP" brief "$RESULTS" "$test" direct 1)"
        for r in $(seq 1 "$ROUNDS"); do
            for tool in nginx sluice; do
                alive "$tool"
                run_load "$test" "$tool" "$r" "${PORT[$tool]}" "${WPID[$tool]}"
            done
            say "$test round $r/$ROUNDS: nginx $(python3 "$HELP" brief "$RESULTS" "$test" nginx "$r"); sluice $(python3 "$HELP" brief "$RESULTS" "$test" sluice "$r")"
        done
    done
    if [ "$PROFILE" = 1 ]; then
        if ! perf stat -e instructions true >/dev/null 2>&1; then
            say "perf cannot count instructions here: no profile"
        else
            for test in $THRU; do
                [ "$test" = latency ] && continue
                data=$WORK/perf.$test.data
                timeout $(( WARMUP + DURATION + 60 )) perf record -q -g -o "$data" -p "${PID[sluice]}" -- sleep $(( WARMUP + DURATION )) >/dev/null 2>&1 &
                perf_pid=$!
                run_load "$test" sluice-profiled 1 "${PORT[sluice]}" "${WPID[sluice]}"
                wait "$perf_pid" || true
                perf report -i "$data" --no-children --percent-limit 1 --stdio -g none >"$WORK/perf-$test.txt" 2>/dev/null || true
                say "perf top symbols, sluice, $test (self time):"
                grep -E '^ +[0-9.]+%' "$WORK/perf-$test.txt" | head -30 >&2 || true
            done
            KEEP=1
        fi
    fi
    stop_proxy nginx
    stop_proxy sluice
fi

# --- idle tunnels ----------------------------------------------------------------------
idle_round() {   # idle_round TOOL ROUND
    local tool=$1 r=$2 name=idle-$1-$2 port i n=0 p0 p1 p2 r0 r1 f0 f1 f2 opened=0 errs=0 echoerrs=0 hp=() left per
    port=$((PORT_BASE + 3)); [ "$tool" = sluice ] && port=$((PORT_BASE + 4))
    start_proxy "$name" "$tool" "$port"
    local dir=$WORK/$name
    timeout 30 nice -n "$NICE" taskset -c "$LOAD_CPU" "$WS_LOAD" handshake --conns 20 --secs 1 --warmup 0 --addr "127.0.0.1:$port" >"$dir/warm1.txt" 2>&1 || die "$name: warm-up failed"
    timeout 30 nice -n "$NICE" taskset -c "$LOAD_CPU" "$WS_LOAD" flood --conns 20 --secs 1 --warmup 0 --addr "127.0.0.1:$port" >"$dir/warm2.txt" 2>&1 || die "$name: warm-up failed"
    sleep 2
    local procs; procs=$(procs_of "$name")
    p0=$(pss_kb $procs); r0=$(rss_kb $procs); f0=$(nfds "${WPID[$name]}")
    left=$IDLE_CONNS
    for i in $(seq 1 "$HOLD_PROCS"); do
        per=$PER_HOLD; [ "$per" -gt "$left" ] && per=$left
        [ "$per" -gt 0 ] || break
        left=$((left - per))
        nice -n "$NICE" taskset -c "$LOAD_CPU" timeout 600 "$WS_LOAD" hold --conns "$per" --parallel "$HOLD_PARALLEL" --echo --max-secs 300 \
            --addr "127.0.0.1:$port" >"$dir/hold.$i.txt" 2>&1 &
        hp+=("$!"); PIDS+=("$!")
    done
    for i in $(seq 1 1200); do   # up to 120 s for every tunnel to open
        n=$(cat "$dir"/hold.*.txt 2>/dev/null | grep -c '^ready' || true)
        [ "$n" -ge "${#hp[@]}" ] && break
        for p in "${hp[@]}"; do kill -0 "$p" 2>/dev/null || { cat "$dir"/hold.*.txt >&2; die "$name: a ws-load hold process exited early"; }; done
        sleep 0.1
    done
    [ "$n" -ge "${#hp[@]}" ] || die "$name: the tunnels did not open within 120 s"
    for i in $(seq 1 "${#hp[@]}"); do
        eval "$(sed -n 's/^ready opened=\([0-9]*\) errors=\([0-9]*\) echo_errors=\([0-9]*\).*/o=\1 e=\2 ee=\3/p' "$dir/hold.$i.txt")"
        opened=$((opened + o)); errs=$((errs + e)); echoerrs=$((echoerrs + ee))
    done
    sleep "$IDLE_SECS"
    p1=$(pss_kb $procs); r1=$(rss_kb $procs); f1=$(nfds "${WPID[$name]}")
    for p in "${hp[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${hp[@]}"; do wait "$p" 2>/dev/null || true; done
    for i in $(seq 1 300); do   # up to 30 s for the proxy to close the tunnels
        f2=$(nfds "${WPID[$name]}")
        [ "$f2" -le $((f0 + 4)) ] && break
        sleep 0.1
    done
    sleep 1
    p2=$(pss_kb $procs)
    printf 'idle\t%s\t%s\tmode=idle conns=%s opened=%s errors=%s echo_errors=%s pss0_kb=%s pss1_kb=%s pss_closed_kb=%s rss0_kb=%s rss1_kb=%s fds0=%s fds1=%s fds_closed=%s\n' \
        "$tool" "$r" "$IDLE_CONNS" "$opened" "$errs" "$echoerrs" "$p0" "$p1" "$p2" "$r0" "$r1" "$f0" "$f1" "$f2" >>"$RESULTS"
    [ "$opened" = "$IDLE_CONNS" ] || say "WARNING: $name opened $opened of $IDLE_CONNS tunnels ($(grep -h -o 'last_error=.*' "$dir"/hold.*.txt | sort -u | tr '\n' ' '))"
    stop_proxy "$name"
    say "idle $tool round $r: $(python3 "$HELP" brief "$RESULTS" idle "$tool" "$r")"
}
case " $TESTS " in *" idle "*)
    for r in $(seq 1 "$IDLE_ROUNDS"); do
        for tool in nginx sluice; do idle_round "$tool" "$r"; done
    done ;;
esac
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

for d in "$WORK"/*/; do
    [ -f "$d/error.log" ] || continue
    e=$(grep -c '\[error\]\|\[crit\]\|\[alert\]\|\[emerg\]' "$d/error.log" 2>/dev/null || true)
    [ "${e:-0}" = 0 ] || say "note: $(basename "$d") logged $e error line(s): $(grep -m3 '\[error\]\|\[crit\]\|\[alert\]\|\[emerg\]' "$d/error.log" | tr '\n' ' ' | cut -c1-400)"
done

python3 "$HELP" report "$RESULTS" \
    "CPUs $NCPU (proxy $PROXY_CPU; ws-load and origin $LOAD_CPU), nice $NICE; ${DURATION}s measured after ${WARMUP}s warm-up, $ROUNDS interleaved rounds; message payload $SIZE B; handshake loops $HS_CONNS; latency $LAT_CONNS conns at $LAT_RATE msg/s; flood $FLOOD_CONNS conns x $FLOOD_WINDOW in flight; idle $IDLE_CONNS tunnels over $HOLD_PROCS ws-load processes, $IDLE_ROUNDS rounds; load average before $LOAD_BEFORE, after $LOAD_AFTER; proxies restarted: $RESTARTS"
[ "$KEEP" = 1 ] && cp "$RESULTS" "$WORK/results.tsv" 2>/dev/null || true
exit 0
