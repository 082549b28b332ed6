#!/usr/bin/env python
"""Search the learning rate with KerasTuner; the same as `polykeras tune`.

    python scripts/tune_learning_rate.py poly
    python scripts/tune_learning_rate.py mnist --data sample --workers 2 --json best.json
"""

import sys

from polykeras_cli import main

if __name__ == "__main__":
    sys.exit(main(["tune", *sys.argv[1:]]))
