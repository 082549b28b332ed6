"""Deprecated: the distributed search is `polykeras.search(..., workers=N)`, its processes in
`polykeras.search.supervisor` and `polykeras.search.roles`. The names this module offered still work for one
release, each with a `DeprecationWarning` that says where it went.
"""

from polykeras._moved import moved

__getattr__ = moved(__name__, {
    "search": "polykeras.search.run",
    "free_port": "polykeras.search.supervisor", "check_port_free": "polykeras.search.supervisor",
    "MAX_WORKER_RESTARTS": "polykeras.search.supervisor", "MAX_CHIEF_RESTARTS": "polykeras.search.supervisor",
    "CHIEF_TIMEOUT_SECONDS": "polykeras.search.run",
    "ReconnectingOracle": "polykeras.search.roles", "keep_ongoing_trials": "polykeras.search.roles",
    "DATA_FILE": "polykeras.search.shared", "MODEL_FILE": "polykeras.search.shared",
    "HYPERMODEL_FILE": "polykeras.search.shared",
})
