#!/usr/bin/env python3
"""Checks the HTTP/1 parser's case tables against a real nginx.

Run:  python3 crates/runtime/tests/data/nginx-parse-probe.py [--nginx /usr/sbin/nginx] [--port 18931]

Reads the tables between the PROBE-*-BEGIN/END markers in crates/runtime/src/http1/parse.rs
and chunked.rs (plus the generated long requests, rebuilt here under the same names), starts
nginx with its own temporary prefix on 127.0.0.1:PORT (and a tiny echo origin on PORT+1 for the
chunked-body cases), sends each request on a fresh connection, compares nginx's answer with the
table, stops nginx (QUIT to its own pid) and exits non-zero on any mismatch. Only 127.0.0.1 is used.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "..", "src", "http1")

CONF = """
worker_processes 1;
daemon on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{ return 200 "m=$request_method u=$request_uri h=$host\\n"; }}
        location /p {{ proxy_pass http://127.0.0.1:{origin}; }}
    }}
}}
"""

LIT = r'b"((?:[^"\\]|\\.)*)"'
ROW = re.compile(r'\(\s*"([^"]*)",\s*' + LIT + r',\s*(\d+)(?:,\s*(true|false|' + LIT + r'))?\s*,?\s*\)', re.S)


def unescape(s):
    out = bytearray()
    i = 0
    simple = {"r": 13, "n": 10, "t": 9, "0": 0, "\\": 92, '"': 34, "'": 39}
    while i < len(s):
        c = s[i]
        if c == "\\":
            n = s[i + 1]
            if n == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out.append(simple[n])
            i += 2
            continue
        out.extend(c.encode("latin1"))
        i += 1
    return bytes(out)


def table(path, marker):
    text = open(path, encoding="utf-8").read()
    block = text.split("PROBE-%s-BEGIN" % marker, 1)[1].split("PROBE-%s-END" % marker, 1)[0]
    rows = []
    for m in ROW.finditer(block):
        name, raw, status, extra, extra_lit = m.group(1), unescape(m.group(2)), int(m.group(3)), m.group(4), m.group(5)
        if extra_lit is not None:
            extra = unescape(extra_lit)
        elif extra is not None:
            extra = extra == "true"
        rows.append((name, raw, status, extra))
    return rows


def generated():
    def line_of(total, eol):
        fixed = len(b"GET / HTTP/1.1") + len(eol)
        return b"GET /" + b"a" * (total - fixed) + b" HTTP/1.1" + eol

    def req(line, eol):
        return line + b"Host: a" + eol + eol

    def with_headers(lines):
        return b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(lines) + b"\r\n"

    def x_a(total):
        return b"X-A: " + b"b" * (total - 2 - 5) + b"\r\n"

    def big(i):
        return b"X-%d: " % i + b"b" * 8000 + b"\r\n"

    def small(i):
        return b"X%d:v\r\n" % i

    dup_host_last = with_headers(small(i) for i in range(999))[:-2] + b"Host: b\r\n\r\n"
    return [
        ("rl-1024", req(line_of(1024, b"\r\n"), b"\r\n"), 200),
        ("rl-8192", req(line_of(8192, b"\r\n"), b"\r\n"), 200),
        ("rl-8192-lf", req(line_of(8192, b"\n"), b"\n"), 200),
        ("rl-8193", req(line_of(8193, b"\r\n"), b"\r\n"), 414),
        ("rl-8193-lf", req(line_of(8193, b"\n"), b"\n"), 414),
        ("rl-unterminated", b"GET /" + b"a" * 9000, 414),
        ("rl-long-bad-early", b"GET /a\x01" + b"a" * 9000, 400),
        ("crlf-flood", b"\r\n" * 5000 + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 200),
        ("hl-8192", with_headers([x_a(8192)]), 200),
        ("hl-8193", with_headers([x_a(8193)]), 494),
        ("hdr-4x8k", with_headers(big(i) for i in range(4)), 200),
        ("hdr-5x8k", with_headers(big(i) for i in range(5)), 494),
        ("hdr-1000", with_headers(small(i) for i in range(999)), 200),
        ("hdr-1001", with_headers(small(i) for i in range(1000)), 494),
        ("hdr-1001-dup-host-last", dup_host_last, 494),
    ]


def origin(sock):
    def handle(c):
        try:
            data = b""
            while b"\r\n\r\n" not in data:
                b = c.recv(65536)
                if not b:
                    return
                data += b
            head, _, body = data.partition(b"\r\n\r\n")
            cl = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    cl = int(v)
            while len(body) < cl:
                b = c.recv(65536)
                if not b:
                    break
                body += b
            resp = b"BODY[" + body + b"]"
            c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n" % len(resp) + resp)
        finally:
            c.close()

    while True:
        try:
            c, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=handle, args=(c,), daemon=True).start()


def send(port, data, wait=1.0):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(wait)
    try:
        s.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
            done = out.split(b"HTTP/1.1 100 Continue\r\n\r\n")[-1]
            if b"\r\n\r\n" in done and (b"</html>" in out or b"BODY[" in out or b"\nm=" in out):
                break
    except (socket.timeout, ConnectionResetError):
        pass
    s.close()
    return out


def observe(out):
    """(status, http09, body) from nginx's answer; 494 for the Header-Too-Large page."""
    if out.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"):
        out = out[len(b"HTTP/1.1 100 Continue\r\n\r\n"):]
    m = re.match(rb"HTTP/1\.[01] (\d{3})", out)
    body = out.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in out else b""
    if m:
        status = int(m.group(1))
        if status == 400 and b"Request Header Or Cookie Too Large" in out:
            status = 494
        return status, False, body
    m = re.search(rb"<title>(\d{3})", out)
    if m:
        return int(m.group(1)), True, out
    if out.startswith(b"m="):
        return 200, True, out
    return None, False, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--port", type=int, default=18931)
    args = ap.parse_args()

    prefix = tempfile.mkdtemp(prefix="sluice-parse-probe-")
    osock = socket.socket()
    osock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    osock.bind(("127.0.0.1", args.port + 1))
    osock.listen(64)
    threading.Thread(target=origin, args=(osock,), daemon=True).start()
    with open(os.path.join(prefix, "nginx.conf"), "w") as f:
        f.write(CONF.format(prefix=prefix, port=args.port, origin=args.port + 1))
    subprocess.run([args.nginx, "-p", prefix, "-c", "nginx.conf"], check=True)
    pidfile = os.path.join(prefix, "nginx.pid")
    for _ in range(100):
        if os.path.exists(pidfile) and open(pidfile).read().strip():
            break
        time.sleep(0.05)
    pid = int(open(pidfile).read())
    time.sleep(0.2)

    failures = 0
    total = 0

    def check(kind, name, ok, want, got):
        nonlocal failures, total
        total += 1
        if not ok:
            failures += 1
        print("%-9s %-8s %-32s want %-14s got %s" % ("ok" if ok else "MISMATCH", kind, name, want, got))

    try:
        parse_rs = os.path.join(SRC, "parse.rs")
        for name, raw, status, _ in table(parse_rs, "VALID"):
            got = observe(send(args.port, raw))
            check("valid", name, got[0] == status, status, got[:2])
        for name, raw, status, http09 in table(parse_rs, "HOSTILE"):
            got = observe(send(args.port, raw))
            check("hostile", name, got[:2] == (status, http09), (status, http09), got[:2])
        for name, raw, status in generated():
            got = observe(send(args.port, raw))
            check("size", name, got[0] == status, status, got[:2])
        head = b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        for name, body, status, want in table(os.path.join(SRC, "chunked.rs"), "CHUNKED"):
            got = observe(send(args.port, head + body))
            ok = got[0] == status and (status != 200 or got[2].startswith(b"BODY[" + want + b"]"))
            check("chunked", name, ok, status, (got[0], got[2][:40]))
    finally:
        os.kill(pid, signal.SIGQUIT)
        osock.close()
        time.sleep(0.3)
        shutil.rmtree(prefix, ignore_errors=True)

    print("%d passed, %d failed" % (total - failures, failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
