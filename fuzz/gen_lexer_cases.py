#!/usr/bin/env python3
"""Writes random tokenizer-shaped inputs for nginx_diff.py: short runs of nginx's special
bytes, plus runs long enough to cross the 4096-byte "too long parameter" limit.

usage: fuzz/gen_lexer_cases.py OUT_DIR [COUNT] [SEED]
"""
import os
import random
import sys

PIECES = [b"a", b"bc", b" ", b"\t", b"\n", b"\r\n", b"\r", b";", b"{", b"}", b'"', b"'",
          b"\\", b"$", b"${", b"#", b")", b"(", b"\xff", b"\xc3\xa9", b"x;\n", b"y {\n",
          b"}\n", b'"q w"', b"'q'", b"# c\n", b"\\n", b"\\\"", b"\0"]
LONG = [b"a", b" ", b"\n", b"c", b"\t"]


def case(rng):
    out = []
    for _ in range(rng.randint(1, 12)):
        if rng.random() < 0.08:
            out.append(rng.choice(LONG) * rng.choice([4090, 4093, 4094, 4095, 4096, 4097, 5000]))
        else:
            out.append(rng.choice(PIECES))
    return b"".join(out)


def main():
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        with open(os.path.join(out, f"{i:06}"), "wb") as f:
            f.write(case(rng))


if __name__ == "__main__":
    main()
