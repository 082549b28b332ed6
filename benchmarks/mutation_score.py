#!/usr/bin/env python
"""Mutation testing: how many small breakages of each module its own tests catch (mutmut), module by module.

    make mutate                                  # every module below
    make mutate MUTATE_ARGS="--modules polykeras/atomic.py --show-survivors"

For each module whose logic needs no training, mutmut breaks one thing at a time (`<` for `<=`, a constant
changed, a call dropped, ...) and runs that module's own tests against each such mutant: a mutant they fail
is killed, one they pass survived (a breakage no test notices, or an equivalent change). Each module is run
in a copy of the tree of its own (`mutants/<module>/`), so that one module's tests judge only that module.
Printed: killed, survived, the share killed (target: 90 %), and with `--show-survivors` each survivor's diff.
It takes minutes a module on 2 cores, longer where a module's tests start processes (runs, search/shared) or
train small models (`lr_finder/sweep.py`); it is not part of `make test`.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Each module, with the tests that are its own.
MODULES = {
    "polykeras/lr_finder/rules.py": ["tests/test_lr_finder_rules.py"],
    "polykeras/lr_finder/sweep.py": ["tests/test_lr_finder.py", "tests/test_lr_finder_check.py"],
    "polykeras/atomic.py": ["tests/test_atomic.py"],
    "polykeras/bounds.py": ["tests/test_bounds.py"],
    "polykeras/checks.py": ["tests/test_checks.py"],
    "polykeras/errors.py": ["tests/test_errors.py"],
    "polykeras/runs.py": ["tests/test_runs.py"],
    "polykeras/search/shared.py": ["tests/test_search_shared.py"],
    "polykeras/tensorboard/events.py": ["tests/test_tensorboard_events.py"],
}
TARGET = 0.9


def config(module, tests):
    """The `[tool.mutmut]` section that mutates `module` alone, against `tests` alone."""
    quoted = ", ".join(f'"{t}"' for t in tests)
    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["polykeras"]\n'
        f'only_mutate = ["{module}"]\n'
        f"pytest_add_cli_args_test_selection = [{quoted}]\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "--timeout", "300"]\n'
        'also_copy = ["tests", "polykeras_cli", "README.md"]\n'
    )


def mutate(module, tests, show):
    """Runs mutmut on `module` in a copy of the tree of its own; returns `{status: count}`."""
    folder = os.path.join(REPO, "mutants", module.replace("/", "_").removesuffix(".py"))
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    for name in ("polykeras", "tests", "polykeras_cli"):
        shutil.copytree(
            os.path.join(REPO, name), os.path.join(folder, name), ignore=shutil.ignore_patterns("__pycache__")
        )
    with open(os.path.join(REPO, "pyproject.toml"), encoding="utf-8") as f:
        pyproject = re.sub(r"\n\[tool\.mutmut\].*?(?=\n\[|\Z)", "", f.read(), flags=re.S)
    with open(os.path.join(folder, "pyproject.toml"), "w", encoding="utf-8") as f:
        f.write(pyproject + config(module, tests))
    shutil.copy(os.path.join(REPO, "README.md"), folder)
    mutmut = os.path.join(os.path.dirname(sys.executable), "mutmut")
    subprocess.run([mutmut, "run"], cwd=folder, check=False, stdout=subprocess.DEVNULL)
    listed = subprocess.run([mutmut, "results", "--all", "true"], cwd=folder, capture_output=True, text=True).stdout
    counts = {}
    for name, status in re.findall(r"^\s*(\S+): (.+)$", listed, re.M):
        counts[status] = counts.get(status, 0) + 1
        if show and status != "killed":
            shown = subprocess.run([mutmut, "show", name], cwd=folder, capture_output=True, text=True).stdout
            print(shown)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", nargs="+", choices=list(MODULES), default=list(MODULES))
    parser.add_argument("--show-survivors", action="store_true", help="print each mutant that survived")
    args = parser.parse_args()
    print(f"{'module':<34} {'killed':>7} {'survived':>9} {'other':>6} {'killed %':>9}")
    for module in args.modules:
        counts = mutate(module, MODULES[module], args.show_survivors)
        killed, survived = counts.get("killed", 0), counts.get("survived", 0)
        other = sum(counts.values()) - killed - survived
        share = killed / max(1, killed + survived + other)
        print(
            f"{module:<34} {killed:>7} {survived:>9} {other:>6} {100 * share:>8.1f}%  "
            f"{'meets' if share >= TARGET else 'below'} {100 * TARGET:.0f} %; {counts}",
            flush=True,
        )


if __name__ == "__main__":
    main()
