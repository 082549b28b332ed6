"""A process that dies with the one that started it: run as a file, it asks Linux to kill it when its parent
dies (`PR_SET_PDEATHSIG`), then becomes the command it was given (`exec`), which keeps the request.

    python -I .../polykeras/search/die_with_parent.py PARENT_PID PROGRAM [ARGUMENT ...]

`polykeras.search.supervisor` starts the chief and the workers this way, so
that a launcher killed even by SIGKILL leaves no process behind. Python's
`preexec_fn` would do the same from the launcher, but it forks a process whose
threads (JAX's, TensorFlow's) are then missing from the child, which Python
warns is unsafe; this runs in a fresh interpreter and imports nothing but the
standard library. If the parent died before the request was made, it exits
at once. Elsewhere than on Linux it only runs the command.
"""

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv):
    parent, program, *arguments = argv
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != int(parent):  # the parent died before the request: nobody would kill this one
            return 1
    os.execv(program, [program, *arguments])
    return 1  # never reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
