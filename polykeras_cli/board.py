"""`polykeras tensorboard`: the real TensorBoard on 127.0.0.1, serving a folder of runs until interrupted."""

import os
import signal
import time

from polykeras_cli.checks import UsageError, check_int, check_output_file
from polykeras_cli.output import write_json


def add_arguments(parser):
    parser.add_argument(
        "folder", nargs="?", default=None, metavar="LOGDIR", help="folder of runs, as `tensorboard --logdir` takes it"
    )
    parser.add_argument("--logdir", default=None, help="the same, as a flag (default: logs)")
    parser.add_argument("--port", type=int, default=6006, help="port, 0 for any free one (default: 6006)")
    parser.add_argument("--reload-interval", type=float, default=5.0, help="seconds between rescans (default: 5)")
    parser.add_argument("--json", metavar="PATH", help="write the address and the folder as JSON once serving")


def check(args):
    if args.folder and args.logdir and args.folder != args.logdir:
        raise UsageError(
            f"give the folder once, as LOGDIR or --logdir. Received: {args.folder} and --logdir {args.logdir}"
        )
    args.logdir = args.folder or args.logdir or "logs"
    if not os.path.isdir(args.logdir):
        raise UsageError(f"--logdir is not a folder. Received: {args.logdir}")
    check_int(args, "port", at_least=0, at_most=65535)
    check_output_file(args.json)


def run(args):
    from polykeras.dashboard import serve

    # Ctrl-C is how the server stops, even in a process started with SIGINT ignored (a background job).
    if not callable(signal.getsignal(signal.SIGINT)):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        _, url = serve(args.logdir, args.port, args.reload_interval)
        print(f"TensorBoard {url}  (logs: {os.path.abspath(args.logdir)}; Ctrl-C to stop)", flush=True)
        write_json(args.json, {"url": url, "logdir": os.path.abspath(args.logdir)})
        # Awake each second: Python runs a signal's handler in this thread, and a SIGINT the kernel hands to
        # one of the server's threads does not end a sleep here (one of an hour outlived a test's Ctrl-C).
        while True:
            time.sleep(1)
    except KeyboardInterrupt:  # Ctrl-C, even right after the address is printed, is how it is meant to stop
        return 0
