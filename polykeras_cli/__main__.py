"""`python -m polykeras_cli ...` runs the `polykeras` command."""

import sys

from polykeras_cli import main

sys.exit(main())
