# Shared pieces of the bench/*.sh scripts; sourced, not run.
#
# The sourcing script sets BENCH (its name in messages) and ROOT before sourcing; it may set
# HELP (the python helper whose `wait PORT SECONDS` start_server uses), KEEP, BUILD_TIMEOUT
# (default 1800) and SLUICE / NGINX (the binaries); BUILD=1 unless --no-build.

BUILD=1
KEEP=${KEEP:-0}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-1800}

# The *_temp_path directives every generated configuration carries, relative to its prefix.
TEMP_PATHS='client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fastcgi; uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;'

say() { printf '%s: %s\n' "$BENCH" "$*" >&2; }
die() { say "$*"; exit 1; }

# usage_error MESSAGE: a wrong flag or setting; exit status 2.
usage_error() { echo "$BENCH: $*" >&2; exit 2; }

# usage: the script's opening comment (from line 2 to `set -euo`), without the `# `.
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

# common_opt ARG: the flags every script takes (--no-build, --keep, -h/--help); anything
# else is an unknown argument. The caller shifts one.
common_opt() {
    case "$1" in
        --no-build) BUILD=0 ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
}

# require_ints MESSAGE VALUE...: every VALUE is made of digits only.
require_ints() {
    local msg=$1 IFS=
    shift
    case "$*" in *[!0-9]*) usage_error "$msg" ;; esac
}

# require_tools TOOL...: each is on PATH.
require_tools() {
    local t
    for t in "$@"; do command -v "$t" >/dev/null || die "$t is required"; done
}

# require_wrk: wrk on PATH, installed with apt-get when missing and running as root.
require_wrk() {
    if ! command -v wrk >/dev/null; then
        if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
            say "wrk missing; apt-get install -y wrk"
            timeout 300 apt-get install -y -qq wrk >/dev/null 2>&1 || true
        fi
        command -v wrk >/dev/null || die "wrk is required (Debian: apt-get install -y wrk)"
    fi
}

# pin_defaults SERVER_VAR LOAD_VAR: NCPU, and the two taskset CPU lists where the
# environment left them unset: with 2+ CPUs the server gets CPU 1 and the load CPU 0; with
# 1 CPU both share CPU 0.
pin_defaults() {
    NCPU=$(nproc)
    local server=0
    [ "$NCPU" -ge 2 ] && server=1
    [ -n "${!1:-}" ] || printf -v "$1" '%s' "$server"
    [ -n "${!2:-}" ] || printf -v "$2" '%s' 0
}

# find_sluice: SLUICE, by default target/release/sluice, built first unless BUILD=0.
find_sluice() {
    if [ -z "${SLUICE:-}" ]; then
        SLUICE=$ROOT/target/release/sluice
        if [ "$BUILD" = 1 ]; then
            say "cargo build --release (timeout ${BUILD_TIMEOUT}s)"
            (cd "$ROOT" && timeout "$BUILD_TIMEOUT" cargo build --release --bin sluice -q) \
                || die "cargo build --release failed"
        fi
    fi
    [ -x "$SLUICE" ] || die "no sluice binary at $SLUICE"
}

# find_nginx: NGINX, by default nginx on PATH, then /usr/sbin/nginx; status 1 when there is
# no executable nginx.
find_nginx() {
    NGINX=${NGINX:-$(command -v nginx || true)}
    [ -n "$NGINX" ] || { [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx; }
    [ -n "$NGINX" ] && [ -x "$NGINX" ]
}

# work_dir: WORK, a fresh temporary directory, removed on exit unless KEEP=1; on exit every
# PID in PIDS gets SIGTERM, then SIGKILL after 5 s.
PIDS=()
work_dir() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/sluice-$BENCH.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}
cleanup() {
    local p i
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for i in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true
    done
    if [ "$KEEP" = 1 ]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}

# start_server NAME CPU BIN DIR PORT: BIN (nginx or sluice) with DIR/nginx.conf, pinned to
# CPU, output in DIR; its PID in PID[NAME] and PIDS; waits for 127.0.0.1:PORT.
declare -A PID
start_server() {
    local name=$1 cpu=$2 bin=$3 dir=$4 port=$5
    taskset -c "$cpu" "$bin" -p "$dir/" -c "$dir/nginx.conf" -e "$dir/error.log" \
        >"$dir/stdout.txt" 2>"$dir/stderr.txt" &
    PID[$name]=$!
    PIDS+=("$!")
    python3 "$HELP" wait "$port" 10 || { cat "$dir/stderr.txt" >&2; die "$name did not start on 127.0.0.1:$port"; }
}

# note_not_implemented: says how many not-implemented warnings sluice printed at start.
note_not_implemented() {
    local ni
    ni=$(grep -c 'not-implemented\|not implemented' "$WORK/sluice/stderr.txt" || true)
    [ "$ni" = 0 ] || say "note: sluice printed $ni not-implemented warning(s) (the *_temp_path lines): $(tr '\n' ' ' <"$WORK/sluice/stderr.txt" | cut -c1-300)"
}

# expect_sizes TOOL PORT: GET the path of each of SIZES on PORT (URLPATH) and stop unless
# the answer is 200 with WANT bytes: nothing is measured against a wrong response.
expect_sizes() {
    local tool=$1 port=$2 size got
    for size in $SIZES; do
        got=$(python3 "$HELP" get "$port" "${URLPATH[$size]}") || die "$tool: GET ${URLPATH[$size]} failed"
        [ "$got" = "200 ${WANT[$size]}" ] || die "$tool: GET ${URLPATH[$size]} gave '$got', want '200 ${WANT[$size]}'"
    done
}

# wrk_load TOOL SIZE SECONDS OUT: wrk (WRK_THREADS threads, CONNS connections, on WRK_CPU)
# against PORT[TOOL] and URLPATH[SIZE], its output in OUT; the scripts' `load`.
wrk_load() {
    timeout $(( $3 + 60 )) taskset -c "$WRK_CPU" wrk -t "$WRK_THREADS" -c "$CONNS" -d "${3}s" --latency \
        "http://127.0.0.1:${PORT[$1]}${URLPATH[$2]}" >"$4" 2>&1 || { cat "$4" >&2; die "wrk failed against $1"; }
}

# init_results: HZ (clock ticks a second) and RESULTS, an empty WORK/results.tsv.
init_results() {
    HZ=$(getconf CLK_TCK)
    RESULTS=$WORK/results.tsv
    : >"$RESULTS"
}

# measure_server ITEM TOOL ROUND: one `load TOOL ITEM DURATION` run and the server's CPU
# ticks over it (nginx: the master's own and its children's), appended to RESULTS in the
# columns proxy-bench.py's report reads (no upstream here: 0 upstream ticks, 1 accept).
measure_server() {
    local item=$1 tool=$2 round=$3 out=$WORK/wrk.$1.$2.$3.txt t0 t1
    t0=$(python3 "$HELP" ticks "${PID[$tool]}")
    load "$tool" "$item" "$DURATION" "$out"
    t1=$(python3 "$HELP" ticks "${PID[$tool]}")
    kill -0 "${PID[$tool]}" 2>/dev/null || die "$tool exited during the run"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$item" "$tool" "$round" "$(python3 "$HELP" wrk "$out" | tr ' ' '\t')" \
        "$((t1 - t0))" "$HZ" 0 1 >>"$RESULTS"
}

# run_rounds ITEMS: for each item (a size, a mode), a 2 s warm-up of nginx and sluice with
# `load TOOL ITEM 2 OUT`, then ROUNDS interleaved rounds of `measure ITEM TOOL ROUND`, each
# summed up from RESULTS (columns: item, tool, round, requests, ..., req/s, ..., p99).
run_rounds() {
    local item tool r
    for item in $1; do
        for tool in nginx sluice; do load "$tool" "$item" 2 "$WORK/warmup.$item.$tool.txt"; done
        for r in $(seq 1 "$ROUNDS"); do
            for tool in nginx sluice; do measure "$item" "$tool" "$r"; done
            say "$item round $r/$ROUNDS: $(awk -v s="$item" -v r="$r" '$1==s && $3==r {printf "%s %.0f req/s p99 %.2fms  ", $2, $6, $8}' "$RESULTS")"
        done
    done
}

# note_errors: says how many [error], [crit] and [alert] lines nginx and sluice logged.
note_errors() {
    local tool e
    for tool in nginx sluice; do
        e=$(grep -c '\[error\]\|\[crit\]\|\[alert\]' "$WORK/$tool/error.log" 2>/dev/null || true)
        [ "${e:-0}" = 0 ] || say "note: $tool logged $e error line(s): $(grep -m3 '\[error\]\|\[crit\]\|\[alert\]' "$WORK/$tool/error.log" | tr '\n' ' ' | cut -c1-400)"
    done
}
