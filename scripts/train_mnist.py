#!/usr/bin/env python
"""Train the MNIST MLP; the same as `polykeras train-mnist`.

    python scripts/train_mnist.py --data sample
    python scripts/train_mnist.py --data sample --init zeros --epochs 3
"""

import sys

from polykeras_cli import main

if __name__ == "__main__":
    sys.exit(main(["train-mnist", *sys.argv[1:]]))
