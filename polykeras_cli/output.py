"""What the commands print and write alike: progress bars, tables, JSON, and where the logs are."""

import json
import os
import sys


def progress():
    """Keras's verbosity: a live progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def write_json(path, payload):
    """Writes `payload`, with the Keras backend, to `path` (atomically) and says so; nothing without a path."""
    if path:
        import keras

        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"backend": keras.backend.backend(), **payload}, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
        print(f"json: {path}")


def format_table(headers, rows):
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(c).rjust(w) for c, w in zip(row, widths, strict=True)) for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_logs(run_dir):
    """The run's log folder and the command that shows it."""
    if run_dir:
        print(f"logs: {run_dir}  (view with: polykeras tensorboard --logdir {os.path.dirname(run_dir)})")


def runs_dir(log_dir, task, no_log):
    """The folder of a command's runs: `--log-dir`, else `logs/<task>`; None with --no-log."""
    return None if no_log else (log_dir or os.path.join("logs", task))
