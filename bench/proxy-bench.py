#!/usr/bin/env python3
"""Helpers for bench/proxy-bench.sh (no third-party modules).

  proxy-bench.py ticks PID...        utime+stime (clock ticks) of PID and its children
                                     (nginx's master and workers), summed over all threads
  proxy-bench.py wrk FILE            one line from a `wrk --latency` output:
                                     "requests seconds rps p50_ms p99_ms errors non2xx"
  proxy-bench.py wait PORT SECONDS   waits until 127.0.0.1:PORT accepts; exit 1 on timeout
  proxy-bench.py get PORT PATH       prints "STATUS BODY_BYTES" for one HTTP/1.1 GET
  proxy-bench.py accepts PORT        the "accepts" counter of stub_status at /upstream-status
  proxy-bench.py report TSV ...      the Markdown table, medians and sluice/nginx ratios
  proxy-bench.py report --static TSV ...   the same without the upstream columns
                                     (bench/static-bench.sh)
  proxy-bench.py report-tls TSV ...  the same for bench/tls-bench.sh (no upstream columns)
"""
import os
import re
import socket
import statistics
import sys
import time


def ticks(pids):
    seen, total, todo = set(), 0, list(pids)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            stat = open("/proc/%d/stat" % pid).read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        try:
            kids = open("/proc/%d/task/%d/children" % (pid, pid)).read().split()
        except OSError:
            kids = []
        todo.extend(int(k) for k in kids)
    return total


UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if not m:
        raise ValueError("bad latency %r" % text)
    return float(m.group(1)) * UNIT[m.group(2)]


def parse_wrk(path):
    out = open(path).read()
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", out)
    if not m:
        raise SystemExit("no request count in wrk output %s:\n%s" % (path, out))
    reqs = int(m.group(1))
    secs = ms(m.group(2) + m.group(3)) / 1000.0
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    nerr = sum(int(x) for x in errs.groups()) if errs else 0
    return "%d %.3f %.1f %.4f %.4f %d %d" % (
        reqs, secs, float(rps.group(1)), ms(p50.group(1)), ms(p99.group(1)), nerr,
        int(non2xx.group(1)) if non2xx else 0)


def wait(port, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return 0
        except OSError:
            time.sleep(0.05)
    return 1


def get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n" % path.encode())
    data = b""
    s.settimeout(10)
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        data += b
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b" ", 2)[1].decode() if head.startswith(b"HTTP/") else "none"
    if b"transfer-encoding: chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            n = int(size_line.split(b";")[0], 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        body = out
    return "%s %d" % (status, len(body))


def accepts(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(b"GET /upstream-status HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
    data = b""
    s.settimeout(10)
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        data += b
    s.close()
    # "server accepts handled requests\n N N N"
    m = re.search(rb"accepts handled requests\s+(\d+)", data)
    if not m:
        raise SystemExit("no stub_status answer: %r" % data[:200])
    return int(m.group(1))


def report(tsv, meta, static=False):
    # tsv rows: size tool round requests seconds rps p50 p99 errors non2xx ticks hz
    rows = {}
    for line in open(tsv):
        f = line.split()
        size, tool = f[0], f[1]
        reqs, secs, rps, p50, p99 = int(f[3]), float(f[4]), float(f[5]), float(f[6]), float(f[7])
        errors, non2xx, tk, hz, up_tk = int(f[8]), int(f[9]), int(f[10]), int(f[11]), int(f[12])
        up_conns = int(f[13]) - 1  # our own status request is one
        cpu_s = tk / hz
        rows.setdefault((size, tool), []).append({
            "rps": rps, "p50": p50, "p99": p99,
            "cpu_us": cpu_s / reqs * 1e6 if reqs else float("nan"),
            "util": cpu_s / secs, "up_util": up_tk / hz / secs,
            "bad": errors + non2xx, "up_conns": up_conns,
        })
    print(meta)
    print()
    if static:
        print("| file     | server | req/s median (min–max) | p99 ms median (min–max) | CPU µs/req median (min–max) | server CPU use | errors |")
        print("|----------|--------|-----------------------:|------------------------:|----------------------------:|---------------:|-------:|")
    else:
        print("| response | proxy  | req/s median (min–max) | p99 ms median (min–max) | CPU µs/req median (min–max) | proxy CPU use | upstream CPU use | upstream conns opened/run | errors |")
        print("|----------|--------|-----------------------:|------------------------:|----------------------------:|--------------:|-----------------:|--------------------------:|-------:|")
    sizes = []
    for (size, _tool) in rows:
        if size not in sizes:
            sizes.append(size)
    med = {}
    for size in sizes:
        for tool in ("nginx", "sluice"):
            r = rows.get((size, tool))
            if not r:
                continue
            m = {k: statistics.median(x[k] for x in r) for k in ("rps", "p99", "cpu_us", "util", "up_util", "up_conns")}
            rng = lambda k, fmt: (fmt % min(x[k] for x in r)) + "–" + (fmt % max(x[k] for x in r))
            med[(size, tool)] = m
            if static:
                print("| %-8s | %-6s | %7.0f (%s) | %6.2f (%s) | %6.1f (%s) | %13.0f%% | %6d |" % (
                    size, tool, m["rps"], rng("rps", "%.0f"), m["p99"], rng("p99", "%.2f"),
                    m["cpu_us"], rng("cpu_us", "%.1f"), m["util"] * 100,
                    sum(x["bad"] for x in r)))
                continue
            print("| %-8s | %-6s | %7.0f (%s) | %6.2f (%s) | %6.1f (%s) | %12.0f%% | %15.0f%% | %25.0f | %6d |" % (
                size, tool, m["rps"], rng("rps", "%.0f"), m["p99"], rng("p99", "%.2f"),
                m["cpu_us"], rng("cpu_us", "%.1f"), m["util"] * 100, m["up_util"] * 100,
                m["up_conns"], sum(x["bad"] for x in r)))
    print()
    for size in sizes:
        n, s = med.get((size, "nginx")), med.get((size, "sluice"))
        if not n or not s:
            continue
        cr = s["cpu_us"] / n["cpu_us"]
        pr = s["p99"] / n["p99"]
        rr = s["rps"] / n["rps"]
        if static:
            print("%s: sluice/nginx req/s %.2f, p99 %.2f, CPU per request %.2f" % (size, rr, pr, cr))
            continue
        print("%s: sluice/nginx CPU per request %.2f (target <= 1.0: %s), p99 %.2f (target <= 1.0: %s), req/s %.2f" % (
            size, cr, "met" if cr <= 1.0 else "MISSED", pr, "met" if pr <= 1.0 else "MISSED", rr))
        # Round by round (nginx then sluice, back to back): the host's speed changes
        # between runs, and a ratio within a round is less exposed to it.
        rn, rs = rows[(size, "nginx")], rows[(size, "sluice")]
        pairs = [(b["cpu_us"] / a["cpu_us"], b["p99"] / a["p99"]) for a, b in zip(rn, rs)]
        if len(pairs) > 1:
            print("%s: per round sluice/nginx CPU per request %s (median %.2f), p99 %s (median %.2f)" % (
                size, " ".join("%.2f" % c for c, _ in pairs), statistics.median(c for c, _ in pairs),
                " ".join("%.2f" % p for _, p in pairs), statistics.median(p for _, p in pairs)))


def report_tls(tsv, meta):
    # tsv rows as for report(); the first column is the mode (hs13, hs12, ka13)
    rows = {}
    for line in open(tsv):
        f = line.split()
        reqs, secs, rps, p99 = int(f[3]), float(f[4]), float(f[5]), float(f[7])
        bad, tk, hz = int(f[8]) + int(f[9]), int(f[10]), int(f[11])
        cpu_s = tk / hz
        rows.setdefault((f[0], f[1]), []).append({
            "rps": rps, "p99": p99, "bad": bad,
            "cpu_us": cpu_s / reqs * 1e6 if reqs else float("nan"), "util": cpu_s / secs,
        })
    names = {"hs13": "new conn/request, TLSv1.3", "hs12": "new conn/request, TLSv1.2",
             "ka13": "keep-alive, TLSv1.3"}
    print(meta)
    print()
    print("| mode | server | req/s median (min–max) | p99 ms median (min–max) | server CPU µs/req median (min–max) | server CPU use | errors |")
    print("|------|--------|-----------------------:|------------------------:|-----------------------------------:|---------------:|-------:|")
    modes = []
    for (mode, _tool) in rows:
        if mode not in modes:
            modes.append(mode)
    med = {}
    for mode in modes:
        for tool in ("nginx", "sluice"):
            r = rows.get((mode, tool))
            if not r:
                continue
            m = {k: statistics.median(x[k] for x in r) for k in ("rps", "p99", "cpu_us", "util")}
            rng = lambda k, fmt: (fmt % min(x[k] for x in r)) + "–" + (fmt % max(x[k] for x in r))
            med[(mode, tool)] = m
            print("| %s | %s | %.0f (%s) | %.2f (%s) | %.1f (%s) | %.0f%% | %d |" % (
                names.get(mode, mode), tool, m["rps"], rng("rps", "%.0f"), m["p99"], rng("p99", "%.2f"),
                m["cpu_us"], rng("cpu_us", "%.1f"), m["util"] * 100, sum(x["bad"] for x in r)))
    print()
    for mode in modes:
        n, s = med.get((mode, "nginx")), med.get((mode, "sluice"))
        if n and s:
            print("%s: sluice/nginx req/s %.2f, CPU per request %.2f, p99 %.2f" % (
                names.get(mode, mode), s["rps"] / n["rps"], s["cpu_us"] / n["cpu_us"], s["p99"] / n["p99"]))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "ticks":
        print(ticks([int(a) for a in args]))
    elif cmd == "wrk":
        print(parse_wrk(args[0]))
    elif cmd == "wait":
        sys.exit(wait(int(args[0]), float(args[1])))
    elif cmd == "get":
        print(get(int(args[0]), args[1]))
    elif cmd == "accepts":
        print(accepts(int(args[0])))
    elif cmd == "report" and args[:1] == ["--static"]:
        report(args[1], " ".join(args[2:]), static=True)
    elif cmd == "report":
        report(args[0], " ".join(args[1:]))
    elif cmd == "report-tls":
        report_tls(args[0], " ".join(args[1:]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
