"""The real TensorBoard, served from this process on 127.0.0.1.

Example:

>>> import json, tempfile, urllib.request
>>> board, url = serve(tempfile.mkdtemp(), port=0, reload_interval=0)  # one load: no reloader thread stays
>>> url.startswith("http://127.0.0.1:")
True
>>> json.load(urllib.request.urlopen(url + "data/runs", timeout=30))
[]

The server lives as long as this process (TensorBoard has no stop call):
`polykeras tensorboard` runs it in a process of its own. Its reloader thread,
a daemon, wakes every `reload_interval` seconds to read event files, through
TensorFlow's C++ reader when TensorFlow is installed. A test process that had
served it once ended with an abort after all its tests passed ("FATAL:
exception not rethrown", the mark of a thread unwound inside C++ at exit), and
the reloader was the one such thread still alive. So a process that goes on to
other work and exits, such as a test run, serves with `reload_interval=0`: one
load at start, and no reloader left.
"""

import os

from polykeras.checks import check_int
from polykeras.errors import InvalidArgumentError


def serve(logdir="logs", port=6006, reload_interval=5.0):
    """Starts TensorBoard on 127.0.0.1 in a background thread of this process.

    It loads the event files in this process too (`--load_fast false`), so
    there is no separate data server to look after.

    Args:
        logdir: The folder of runs.
        port: The port; 0 picks a free one.
        reload_interval: Seconds between rescans of `logdir`.

    Returns:
        `(board, url)`: the `tensorboard.program.TensorBoard` and its address.

    Raises:
        InvalidArgumentError: for a missing folder, a bad or busy port.
    """
    if not os.path.isdir(logdir):
        raise InvalidArgumentError(f"logdir is not a folder. Received: logdir={logdir!r}", "logdir")
    check_int(port, "port", at_least=0, at_most=65535)
    from tensorboard import program

    board = program.TensorBoard()
    board.configure(
        argv=[
            None,
            "--logdir",
            logdir,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--reload_interval",
            str(reload_interval),
            "--load_fast",
            "false",
        ]
    )
    try:
        url = board.launch()
    except program.TensorBoardPortInUseError:
        raise InvalidArgumentError(f"port is in use. Received: port={port!r}", "port") from None
    except program.TensorBoardServerException as e:
        raise InvalidArgumentError(f"TensorBoard cannot serve on 127.0.0.1:{port}: {e}") from None
    return board, url
