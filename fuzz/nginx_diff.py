#!/usr/bin/env python3
"""Differential check of sluice-parser's syntax errors against real nginx.

Each input (e.g. the fuzz corpus) is placed inside `http { types {` — a key/value
block that accepts any words — and checked with `nginx -t`; sluice-parser reads the
same input with `kv_top` (via `cargo run -p sluice-parser --example lex_dump`). The
first `[emerg]` nginx prints must be sluice's error, three lines further down. Inputs
that nginx cannot judge this way are skipped: a top-level `}` (it closes nginx's
`types` block) and the word `include` (types' handler opens files).

usage: fuzz/nginx_diff.py DIR_OR_FILE...   (run from the workspace root)
"""
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

PREFIX = b"events {}\nhttp {\ntypes {\n"
SHIFT = PREFIX.count(b"\n")
NGINX = os.environ.get("NGINX", "/usr/sbin/nginx")
LEX_DUMP = (
    [os.environ["LEX_DUMP"]] if "LEX_DUMP" in os.environ
    else ["cargo", "run", "-q", "-p", "sluice-parser", "--example", "lex_dump", "--"]
)
EMERG = re.compile(rb"nginx: \[emerg\] (.*?) in (/\S+):(\d+)\n", re.S)


def inputs(args):
    for a in args:
        if os.path.isdir(a):
            for n in sorted(os.listdir(a)):
                yield os.path.join(a, n)
        else:
            yield a


def sluice(paths, datas):
    """Runs lex_dump on a snapshot of the inputs (the fuzzer may delete files meanwhile)."""
    out = {}
    with tempfile.TemporaryDirectory() as d:
        copies = {}
        for i, p in enumerate(paths):
            c = os.path.join(d, str(i))
            with open(c, "wb") as f:
                f.write(datas[p])
            copies[c] = p
        names = list(copies)
        for i in range(0, len(names), 500):
            r = subprocess.run(
                LEX_DUMP + ["--kv-top"] + names[i : i + 500],
                capture_output=True,
            )
            if r.returncode != 0:
                sys.exit("lex_dump failed:\n" + r.stderr.decode(errors="replace")[-2000:])
            for line in r.stdout.decode().split("\n")[:-1]:
                c, ln, msg = line.split("\t", 2)
                out[copies[c]] = (int(ln), msg)
    return out


def nginx(path, data):
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "wb") as f:
            f.write(PREFIX + data)
        r = subprocess.run(
            [NGINX, "-t", "-p", d + "/", "-c", conf, "-e", os.path.join(d, "err.log")],
            capture_output=True,
        )
    m = EMERG.search(r.stderr)
    if not m:
        return None
    msg = m.group(1).decode("utf-8", "replace").replace("\n", " ").replace("\t", " ")
    return int(m.group(3)) - SHIFT, msg


def main():
    paths = [p for p in inputs(sys.argv[1:]) if os.path.isfile(p)]
    datas = {}
    for p in paths:
        try:
            with open(p, "rb") as f:
                datas[p] = f.read()
        except FileNotFoundError:
            pass
    paths = list(datas)
    total = len(paths)
    paths = [p for p in paths if b"include" not in datas[p]]
    ours = sluice(paths, datas)
    todo = [p for p in paths if ours[p][1] != 'unexpected "}"' or ours[p][0] == 0]
    lines_of = {p: datas[p].count(b"\n") + 1 for p in todo}
    bad = 0
    checked = 0
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 4) as ex:
        for p, theirs in zip(todo, ex.map(lambda p: nginx(p, datas[p]), todo)):
            mine = ours[p]
            if mine[1] == "ok":
                mine = (lines_of[p], 'unexpected end of file, expecting "}"')
            if mine[1] == 'unexpected "}"':
                # nginx closes `types` here and reads on at http level: not comparable.
                continue
            checked += 1
            if theirs != mine:
                bad += 1
                print(f"MISMATCH {p}: nginx {theirs} sluice {mine}")
    print(f"{checked} compared, {bad} mismatches ({total - checked} skipped)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
