#!/usr/bin/env python
"""Learn polynomial coefficients from zeros; the same as `polykeras fit-poly`.

    python scripts/fit_polynomial.py --degree 2 --true-coefficients 1,2,3
    python scripts/fit_polynomial.py --basis monomial --learning-rate 0.01 --epochs 1000
"""

import sys

from polykeras_cli import main

if __name__ == "__main__":
    sys.exit(main(["fit-poly", *sys.argv[1:]]))
