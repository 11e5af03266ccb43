#!/usr/bin/env bash
# `-t` benchmark: sluice vs nginx on a generated config with N server blocks
# (each with 4 locations, a map and an upstream; see bench/gen-servers.py).
#
# Builds `cargo build --release`, generates DIR/nginx.conf in a temp dir, then
# runs `nginx -t` and `sluice -t` on the same file INTERLEAVED
# (nginx, sluice, nginx, sluice, ...), ROUNDS times each, recording wall time
# and peak RSS of every run, and prints medians and the sluice/nginx ratios.
#
# Usage: bench/t-bench.sh [-n N] [-r ROUNDS] [--no-build] [--keep]
# Environment (flags win):
#   N=10000           server blocks
#   ROUNDS=5          measured runs per tool (after one untimed warm-up each)
#   RUN_TIMEOUT=300   seconds allowed for one `-t` run
#   BUILD_TIMEOUT=1800 seconds allowed for `cargo build --release`
#   NGINX=nginx       nginx binary (PATH, then /usr/sbin/nginx)
#   SLUICE=...        sluice binary (default: target/release/sluice, built here)
#   KEEP=0            1 keeps the work dir (config, raw results, logs)
#   TIMER=gnu         gnu: /usr/bin/time -f '%e %M' (10 ms wall resolution);
#                     py: python wait4() wrapper (ms resolution; use for small N).
#                     Its peak RSS has a floor: the forked python's RSS is
#                     charged to the child at exec (printed as "RSS floor").
#
# Exit status: 0 when the measurements were taken, whether or not the targets
# (time ratio <= 0.5, peak-RSS ratio <= 1.0) are met -- the verdict is printed.
# Non-zero only when the benchmark itself could not run: build failure, a
# config rejected by either tool, a timeout.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=t-bench
. "$ROOT/bench/lib.sh"
N=${N:-10000}
ROUNDS=${ROUNDS:-5}
RUN_TIMEOUT=${RUN_TIMEOUT:-300}

while [ $# -gt 0 ]; do
    case "$1" in
        -n) N=$2; shift 2 ;;
        -r) ROUNDS=$2; shift 2 ;;
        *) common_opt "$1"; shift ;;
    esac
done
require_ints "N and ROUNDS must be integers" "$N" "$ROUNDS"
[ "$ROUNDS" -ge 1 ] || usage_error "ROUNDS must be >= 1"

command -v python3 >/dev/null || die "python3 is required (config generator, statistics)"
command -v timeout >/dev/null || die "timeout(1) (coreutils) is required"

# --- the measuring wrapper -------------------------------------------------
# /usr/bin/time -f '%e %M' (wall seconds, 10 ms resolution; peak RSS in KiB).
# If GNU time is missing, try to install Debian's `time`; failing that, use a
# python wrapper that reads the same wait4() rusage (ru_maxrss, KiB on Linux).
TIMER=${TIMER:-gnu}
TIMECMD=/usr/bin/time
[ "$TIMER" = py ] && TIMECMD=""
if [ "$TIMER" != py ] && [ ! -x "$TIMECMD" ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    say "GNU time missing; apt-get install -y time"
    timeout 300 apt-get install -y -qq time >/dev/null 2>&1 || true
fi
if [ "$TIMER" != py ] && [ ! -x "$TIMECMD" ]; then
    TIMECMD=""; say "GNU time unavailable; using the python wait4() wrapper"
fi

# --- build -----------------------------------------------------------------
find_sluice

if ! find_nginx; then
    say "nginx not found: measuring sluice only (no ratios)"
    NGINX=""
fi

# --- config ----------------------------------------------------------------
work_dir
CONF=$WORK/nginx.conf

# nginx -t mkdir()s its compiled-in temp dirs (/var/lib/nginx/* on Debian).
# When they all exist that is a no-op; otherwise point them into $WORK (sluice
# warns "not implemented" for the *_temp_path directives, once each).
GEN_FLAGS=()
if [ -n "$NGINX" ]; then
    for p in $("$NGINX" -V 2>&1 | tr ' ' '\n' | sed -n 's/^--http-[a-z_]*-temp-path=//p'); do
        if [ ! -d "$p" ]; then
            say "nginx temp dir $p missing: adding *_temp_path directives inside $WORK"
            GEN_FLAGS=(--temp-paths)
            break
        fi
    done
fi
timeout 300 python3 "$ROOT/bench/gen-servers.py" -n "$N" "${GEN_FLAGS[@]}" -o "$CONF" \
    || die "config generation failed"
CONF_BYTES=$(wc -c <"$CONF")
CONF_LINES=$(wc -l <"$CONF")

# --- one measured run --------------------------------------------------------
# measure TOOL ROUND: runs the tool's `-t`, appends "tool round wall_s rss_kib"
# to $WORK/results.tsv; aborts the benchmark if the run fails or times out.
measure() {
    local tool=$1 round=$2
    local -a cmd
    case "$tool" in
        nginx)  cmd=("$NGINX" -t -p "$WORK/" -c "$CONF" -e "$WORK/err.log") ;;
        sluice) cmd=("$SLUICE" -t -p "$WORK/" -c "$CONF") ;;
        floor)  cmd=(true) ;;
    esac
    local out=$WORK/$tool.$round.out m=$WORK/$tool.$round.m rc=0 wall rss
    if [ -n "$TIMECMD" ]; then
        "$TIMECMD" -o "$m" -f '%e %M' timeout "$RUN_TIMEOUT" "${cmd[@]}" >"$out" 2>&1 || rc=$?
    else
        python3 - "$m" timeout "$RUN_TIMEOUT" "${cmd[@]}" >"$out" 2>&1 <<'PY' || rc=$?
import os, sys, time
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, ru = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write("%.3f %d\n" % (time.monotonic() - t0, ru.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status) & 0xff)
PY
    fi
    if [ "$rc" != 0 ]; then
        [ "$rc" = 124 ] && say "$tool -t timed out after ${RUN_TIMEOUT}s"
        say "$tool -t failed (exit $rc): ${cmd[*]}"
        tail -n 20 "$out" >&2
        exit 1
    fi
    # The measured process is `timeout`, whose child is the tool: GNU time and
    # wait4() report the largest RSS among them, i.e. the tool's.
    read -r wall rss <"$m"
    printf '%s\t%s\t%s\t%s\n' "$tool" "$round" "$wall" "$rss" >>"$WORK/results.tsv"
}

if [ -z "$TIMECMD" ]; then
    measure floor 0
    say "python wrapper RSS floor: $(cut -f4 "$WORK/results.tsv") KiB (peak RSS at or near it is the wrapper's, not the tool's)"
fi

TOOLS=(sluice)
[ -n "$NGINX" ] && TOOLS=(nginx sluice)

say "config: $CONF ($N server blocks, $CONF_LINES lines, $CONF_BYTES bytes)"
say "nginx: ${NGINX:-none}; sluice: $SLUICE; rounds: $ROUNDS; load before: $(cut -d' ' -f1-3 /proc/loadavg)"

# Warm-up (untimed): checks that both accept the file, warms the page cache.
: >"$WORK/results.tsv"
for t in "${TOOLS[@]}"; do measure "$t" 0; done
: >"$WORK/results.tsv"
NI=$(grep -c 'not-implemented' "$WORK/sluice.0.out" || true)
[ "$NI" = 0 ] || say "warning: sluice printed $NI not-implemented warning(s) for this config"

for r in $(seq 1 "$ROUNDS"); do
    for t in "${TOOLS[@]}"; do measure "$t" "$r"; done
    say "round $r/$ROUNDS: $(awk -v r="$r" '$2==r {printf "%s %ss %sKiB  ", $1, $3, $4}' "$WORK/results.tsv")"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report --------------------------------------------------------------------
python3 - "$WORK/results.tsv" "$N" "$ROUNDS" "$CONF_LINES" "$CONF_BYTES" "$LOAD_AFTER" <<'PY'
import statistics, sys
path, n, rounds, lines, size, load = sys.argv[1:7]
runs = {}
for line in open(path):
    tool, _, wall, rss = line.split()
    runs.setdefault(tool, []).append((float(wall), int(rss)))

def med(tool, k):
    return statistics.median(r[k] for r in runs[tool])

print()
print("`-t` on %s server blocks (%s lines, %.1f MB), %s interleaved rounds; load after: %s"
      % (n, lines, int(size) / 1e6, rounds, load))
print()
print("| tool   | median wall (s) | min–max wall (s) | median peak RSS (MiB) | min–max RSS (MiB) |")
print("|--------|-----------------|------------------|-----------------------|-------------------|")
for tool in ("nginx", "sluice"):
    if tool not in runs:
        continue
    w = [r[0] for r in runs[tool]]
    m = [r[1] / 1024 for r in runs[tool]]
    print("| %-6s | %15.3f | %7.3f–%-8.3f | %21.1f | %8.1f–%-8.1f |"
          % (tool, med(tool, 0), min(w), max(w), med(tool, 1) / 1024, min(m), max(m)))
if "nginx" in runs and (med("nginx", 0) == 0 or med("nginx", 1) == 0):
    print()
    print("nginx median is 0 (below timer resolution): no ratios; try TIMER=py or a larger N")
elif "nginx" in runs:
    tr = med("sluice", 0) / med("nginx", 0)
    mr = med("sluice", 1) / med("nginx", 1)
    print()
    if med("sluice", 0) == 0:
        print("note: sluice's median wall time is below the timer's resolution, so the "
              "time ratio means nothing here; use TIMER=py or a larger N")
    print("ratio sluice/nginx: time %.3f (target <= 0.5: %s), peak RSS %.3f (target <= 1.0: %s)"
          % (tr, "met" if tr <= 0.5 else "MISSED", mr, "met" if mr <= 1.0 else "MISSED"))
else:
    print()
    print("nginx not available: no ratios")
PY
exit 0
