#!/usr/bin/env python
"""How fast a mistake is refused: each of the README's bad-input examples beside `polykeras --help`.

    .venv/bin/python benchmarks/bad_input_speed.py [--repeats 5]

The examples are the Quickstart's last block, read from the README. Each runs as a user runs it, in a fresh
process of this venv's `polykeras`, in an empty folder; printed: the median wall time of `--repeats` runs, its
ratio to `--help`'s, and the `error:` line it gave (every one is checked to exit 2 with one line).
"""

import argparse
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def examples():
    """The command lines of the README Quickstart's bad-input block."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    start = text.index("## Quickstart\n")
    section = text[start : text.index("\n## ", start + 1)]
    code = re.findall(r"^```sh\n(.*?)^```$", section, re.M | re.S)[-1]
    return [line.partition(" #")[0].strip() for line in code.splitlines() if line.strip()]


def timed(words, folder, repeats):
    """`(median seconds, last result)` of running `words` `repeats` times."""
    polykeras = os.path.join(os.path.dirname(sys.executable), "polykeras")
    seconds, done = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        done = subprocess.run([polykeras, *words[1:]], cwd=folder, capture_output=True, text=True)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), done


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    folder = tempfile.mkdtemp()
    reference, _ = timed(["polykeras", "--help"], folder, args.repeats)
    print(f"polykeras --help: {reference:.3f} s (median of {args.repeats})")
    for line in examples():
        seconds, done = timed(shlex.split(line), folder, args.repeats)
        assert done.returncode == 2 and done.stderr.count("\n") == 1, (line, done.stderr)
        print(f"{line}\n    {seconds:.3f} s, {seconds / reference:.2f}x --help: {done.stderr.strip()}")


if __name__ == "__main__":
    main()
