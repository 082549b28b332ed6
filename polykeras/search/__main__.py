"""`python -m polykeras.search SPEC`: one chief or worker of a search (`polykeras.search.roles.main`)."""

import logging
import sys

from polykeras.search.roles import main

logging.basicConfig(level=logging.INFO, format="%(message)s")
sys.exit(main())
