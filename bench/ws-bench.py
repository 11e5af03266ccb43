#!/usr/bin/env python3
"""Helpers for bench/ws-bench.sh.

  wait PORT SECONDS            wait until 127.0.0.1:PORT accepts a TCP connection
  brief RESULTS TEST TOOL R    one-line summary of one run
  report RESULTS NOTE          Markdown tables: medians (min-max) and sluice/nginx ratios

RESULTS lines: TEST<TAB>TOOL<TAB>ROUND<TAB>key=value key=value ...
"""
import socket
import statistics
import sys
import time

CLEAN = 10.0   # % of a CPU: a round is "quiet" when the rest of the machine used less


def wait(port, secs):
    end = time.time() + float(secs)
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", int(port)), timeout=0.5).close()
            return 0
        except OSError:
            time.sleep(0.05)
    return 1


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 4:
                continue
            kv = {}
            for tok in parts[3].split(" "):
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    try:
                        kv[k] = float(v)
                    except ValueError:
                        kv[k] = v
            rows.append((parts[0], parts[1], parts[2], kv))
    return rows


def derived(test, kv):
    """Adds the derived figures of one run."""
    d = dict(kv)
    hz = kv.get("HZ", 100.0)
    secs = kv.get("secs", 0.0) or 1.0
    if "cpu_proxy" in kv:
        d["proxy_cpu_pct"] = 100.0 * kv["cpu_proxy"] / hz / secs
        if kv.get("count"):
            d["proxy_us_per"] = 1e6 * kv["cpu_proxy"] / hz / kv["count"]
    if "cpu_self" in kv:
        d["load_cpu_pct"] = 100.0 * (kv["cpu_self"] + kv.get("cpu_origin", 0.0)) / hz / secs
    if kv.get("count") and "inst_u" in kv:
        # perf counted over DURATION from WARMUP on; ws-load's window is the same span.
        n = kv["count"]
        d["inst_u_per"] = kv["inst_u"] / n
        d["inst_k_per"] = kv.get("inst_k", 0.0) / n
        d["inst_per"] = d["inst_u_per"] + d["inst_k_per"]
        if "cyc_u" in kv:
            d["cyc_per"] = (kv["cyc_u"] + kv.get("cyc_k", 0.0)) / n
    for side in ("pcore", "lcore"):
        t = kv.get(side + "_ticks")
        if t:
            d[side + "_busy_pct"] = 100.0 * kv[side + "_busy"] / t
            d[side + "_irq_pct"] = 100.0 * kv[side + "_irq"] / t
    if "others" in kv:
        # CPU used by every other process on the machine during the window (% of one CPU):
        # the background load the run competed with.
        d["others_pct"] = 100.0 * kv["others"] / hz / secs
    if test == "idle":
        n = kv.get("opened") or kv["conns"]   # the tunnels actually open
        d["bytes_per_tunnel"] = (kv["pss1_kb"] - kv["pss0_kb"]) * 1024.0 / n
        d["rss_bytes_per_tunnel"] = (kv["rss1_kb"] - kv["rss0_kb"]) * 1024.0 / n
    return d


def brief(path, test, tool, rnd):
    for t, tl, r, kv in load(path):
        if t == test and tl == tool and r == rnd:
            d = derived(t, kv)
            if test == "handshake":
                s = f"{d['rate']:.0f} handshakes/s, p99 {d['p99_us']:.0f} us"
            elif test == "latency":
                s = f"{d['rate']:.0f} msg/s, p50 {d['p50_us']:.0f} us, p99 {d['p99_us']:.0f} us"
            elif test == "flood":
                s = f"{d['rate']:.0f} msg/s"
            else:
                s = (f"PSS {d['pss0_kb']:.0f} -> {d['pss1_kb']:.0f} kB, {d['bytes_per_tunnel']:.0f} B/tunnel, "
                     f"fds {d['fds1']:.0f}, opened {d['opened']:.0f}")
            if "proxy_cpu_pct" in d and tool != "direct":
                s += f", proxy CPU {d['proxy_cpu_pct']:.0f}%"
            if "load_cpu_pct" in d:
                s += f", load CPU {d['load_cpu_pct']:.0f}%"
            if "pcore_busy_pct" in d and tool != "direct":
                s += f"; proxy core busy {d['pcore_busy_pct']:.0f}% (irq {d['pcore_irq_pct']:.0f}%)"
            if "others_pct" in d:
                s += f"; other processes {d['others_pct']:.0f}% of a CPU"
            if d.get("errors"):
                s += f", {d['errors']:.0f} errors"
            print(s)
            return 0
    print("(no result)")
    return 0


def med(vals):
    return statistics.median(vals) if vals else float("nan")


def fmt(v, digits):
    return f"{v:,.{digits}f}"


def report(path, note):
    rows = load(path)
    by = {}
    for t, tl, r, kv in rows:
        by.setdefault((t, tl), []).append(derived(t, kv))

    def col(t, tl, k):
        return [d[k] for d in by.get((t, tl), []) if k in d]

    out = []
    ratios = {}
    metrics = [
        ("handshake", "rate", "handshakes/s", 0, "ge"),
        ("handshake", "p50_us", "handshake p50 (us)", 0, None),
        ("handshake", "p99_us", "handshake p99 (us)", 0, None),
        ("handshake", "proxy_us_per", "proxy CPU per handshake (us)", 1, None),
        ("handshake", "inst_per", "proxy instructions per handshake", 0, None),
        ("handshake", "inst_u_per", "  of which user space", 0, None),
        ("handshake", "inst_k_per", "  of which kernel", 0, None),
        ("handshake", "cyc_per", "proxy cycles per handshake", 0, None),
        ("handshake", "proxy_cpu_pct", "proxy CPU (% of its core)", 0, None),
        ("handshake", "load_cpu_pct", "ws-load + origin CPU (% of their core)", 0, None),
        ("handshake", "pcore_busy_pct", "proxy's core busy, all causes (%)", 0, None),
        ("handshake", "pcore_irq_pct", "proxy's core in irq/softirq (%)", 0, None),
        ("handshake", "others_pct", "other processes on the machine (% of a CPU)", 0, None),
        ("handshake", "lcore_busy_pct", "load core busy, all causes (%)", 0, None),
        ("latency", "rate", "echo messages/s (fixed rate)", 0, None),
        ("latency", "p50_us", "echo RTT p50 (us)", 1, None),
        ("latency", "p99_us", "echo RTT p99 (us)", 1, None),
        ("latency", "p999_us", "echo RTT p99.9 (us)", 1, None),
        ("latency", "proxy_cpu_pct", "proxy CPU (% of its core)", 1, None),
        ("latency", "inst_per", "proxy instructions per message", 0, None),
        ("latency", "others_pct", "other processes on the machine (% of a CPU)", 0, None),
        ("flood", "rate", "echo messages/s (saturation)", 0, None),
        ("flood", "proxy_us_per", "proxy CPU per message (us)", 2, None),
        ("flood", "inst_per", "proxy instructions per message", 0, None),
        ("flood", "inst_u_per", "  of which user space", 0, None),
        ("flood", "inst_k_per", "  of which kernel", 0, None),
        ("flood", "cyc_per", "proxy cycles per message", 0, None),
        ("flood", "proxy_cpu_pct", "proxy CPU (% of its core)", 0, None),
        ("flood", "load_cpu_pct", "ws-load + origin CPU (% of their core)", 0, None),
        ("flood", "pcore_busy_pct", "proxy's core busy, all causes (%)", 0, None),
        ("flood", "pcore_irq_pct", "proxy's core in irq/softirq (%)", 0, None),
        ("flood", "others_pct", "other processes on the machine (% of a CPU)", 0, None),
        ("flood", "lcore_busy_pct", "load core busy, all causes (%)", 0, None),
        ("idle", "bytes_per_tunnel", "PSS per idle tunnel (bytes)", 0, "le"),
        ("idle", "rss_bytes_per_tunnel", "RSS per idle tunnel (bytes)", 0, None),
        ("idle", "pss0_kb", "PSS before (kB)", 0, None),
        ("idle", "pss1_kb", "PSS with the tunnels open (kB)", 0, None),
        ("idle", "pss_closed_kb", "PSS after they closed (kB)", 0, None),
        ("idle", "fds1", "proxy fds with the tunnels open", 0, None),
    ]
    out.append("| test | metric | nginx median (min-max) | sluice median (min-max) | direct | sluice/nginx |")
    out.append("|---|---|---:|---:|---:|---:|")
    for t, k, label, dg, _ in metrics:
        n, s, dr = col(t, "nginx", k), col(t, "sluice", k), col(t, "direct", k)
        if not n and not s:
            continue

        def cell(v):
            if not v:
                return "-"
            if len(v) == 1:
                return fmt(v[0], dg)
            return f"{fmt(med(v), dg)} ({fmt(min(v), dg)}-{fmt(max(v), dg)})"

        ratio = med(s) / med(n) if n and s and med(n) else float("nan")
        ratios[(t, k)] = ratio
        direct = fmt(med(dr), dg) if dr and not k.startswith(("proxy", "pcore", "inst", "cyc")) else "-"
        out.append(f"| {t} | {label} | {cell(n)} | {cell(s)} | {direct} | {ratio:.3f} |")
    # The same medians over the quiet rounds only (other processes below CLEAN % of a CPU).
    clean_rows = []
    for t, k, label, dg in (("handshake", "rate", "handshakes/s", 0), ("latency", "p50_us", "echo RTT p50 (us)", 1),
                            ("latency", "p99_us", "echo RTT p99 (us)", 1), ("flood", "rate", "echo messages/s (saturation)", 0)):
        n = [d[k] for d in by.get((t, "nginx"), []) if k in d and d.get("others_pct", 0) < CLEAN]
        s_ = [d[k] for d in by.get((t, "sluice"), []) if k in d and d.get("others_pct", 0) < CLEAN]
        if n and s_:
            clean_rows.append(f"| {t} | {label} | {fmt(med(n), dg)} ({len(n)}) | {fmt(med(s_), dg)} ({len(s_)}) | {med(s_) / med(n):.3f} |")
    if clean_rows:
        out.append("")
        out.append(f"Quiet rounds only (other processes below {CLEAN:.0f}% of a CPU; rounds counted in brackets):")
        out.append("")
        out.append("| test | metric | nginx median (n) | sluice median (n) | sluice/nginx |")
        out.append("|---|---|---:|---:|---:|")
        out.extend(clean_rows)
    out.append("")
    out.append(note)
    out.append("")
    verdict = []
    r = ratios.get(("idle", "bytes_per_tunnel"))
    if r is not None:
        verdict.append(f"bytes per idle tunnel sluice/nginx {r:.3f} (target <= 0.5: {'met' if r <= 0.5 else 'NOT met'})")
    r = ratios.get(("handshake", "rate"))
    if r is not None:
        verdict.append(f"handshakes/s sluice/nginx {r:.3f} (target >= 1.0: {'met' if r >= 1.0 else 'NOT met'})")
    for t, k, label in (("handshake", "inst_per", "instructions per handshake"), ("latency", "p50_us", "echo p50"),
                        ("latency", "p99_us", "echo p99"), ("flood", "rate", "saturation msg/s"),
                        ("flood", "inst_per", "instructions per message")):
        if (t, k) in ratios:
            verdict.append(f"{label} sluice/nginx {ratios[(t, k)]:.3f}")
    out.append("**Ratios: " + "; ".join(verdict) + ".**")
    errs = [(t, tl, d.get("errors")) for (t, tl), ds in by.items() for d in ds if d.get("errors")]
    if errs:
        out.append("")
        out.append("Runs with errors: " + ", ".join(f"{t}/{tl}: {e:.0f}" for t, tl, e in errs))
    print("\n".join(out))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "wait":
        return wait(argv[2], argv[3])
    if cmd == "brief":
        return brief(argv[2], argv[3], argv[4], argv[5])
    if cmd == "report":
        return report(argv[2], argv[3])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
