#!/usr/bin/env python
"""Retakes the dashboard screenshots in docs/ from a real TensorBoard.

    apt-get install chromium          # Debian's package, once
    .venv/bin/python docs/take_screenshots.py

Trains a polynomial and the MNIST MLP (both with the commands' defaults) into
a temporary folder, serves it with `polykeras tensorboard` on 127.0.0.1, photographs the
dashboards with headless Chromium, and stops the server by its PID.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DOCS = os.path.dirname(os.path.abspath(__file__))
VIEWS = {
    "tensorboard-coefficients.png": "#custom_scalars",
    "tensorboard-scalars.png": "#timeseries&tagFilter=coefficients%2Fc",
    "tensorboard-fitted-curve.png": "#images&tagFilter=fit",
    "tensorboard-histograms.png": "#histograms&tagFilter=hidden_1%2Fkernel%7Cdigits%2Fkernel",
    "tensorboard-kernels.png": "#images&tagFilter=hidden_1_kernels",
    "tensorboard-learned.png": "#images&tagFilter=hidden_1_learned",
}
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--hide-scrollbars",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1400,900", "--virtual-time-budget=15000",
]


def polykeras(*args, cwd):
    subprocess.run([sys.executable, "-m", "polykeras_cli", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL)


def main():
    chromium = shutil.which("chromium") or sys.exit("error: chromium not found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as work:
        polykeras("fit-poly", "--log-dir", "logs/polynomial", cwd=work)
        polykeras("train-mnist", "--data", "sample", "--log-dir", "logs/mnist", cwd=work)  # the default recipe
        server = subprocess.Popen(
            [sys.executable, "-m", "polykeras_cli", "tensorboard", "--logdir", "logs", "--port", "0"],
            cwd=work, stdout=subprocess.PIPE, text=True,
        )
        try:
            url = None
            while url is None and server.poll() is None:
                match = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline())
                url = match and match.group(0)
            time.sleep(3)  # the first scan of the logs
            for name, view in VIEWS.items():
                profile = os.path.join(work, "chromium-profile")
                subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                f"--screenshot={os.path.join(DOCS, name)}", url + view],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
                print(os.path.join("docs", name))
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
