"""Arguments several commands take alike: the seed, and where outputs go."""

import argparse


def seed(text):
    """argparse type: a seed is an integer >= 0 (Keras refuses negative ones)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0. Received: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0. Received: {value}")
    return value


def add_seed(parser, what="seed"):
    parser.add_argument("--seed", type=seed, default=0, help=f"{what} (default: 0)")


def add_outputs(parser, task, save=True, log=True):
    """`--save`/`--overwrite`, `--log-dir`/`--no-log` and `--json`, as the training commands take them."""
    if save:
        parser.add_argument("--save", metavar="PATH.keras", help="save the trained model")
        parser.add_argument("--overwrite", action="store_true", help="allow --save to replace an existing file")
    if log:
        parser.add_argument("--log-dir", metavar="DIR", help=f"TensorBoard runs go to DIR/<run> (default: logs/{task})")
        parser.add_argument("--no-log", action="store_true", help="write no TensorBoard logs")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
