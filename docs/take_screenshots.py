#!/usr/bin/env python
"""Retakes the dashboard screenshots in docs/ from a real TensorBoard.

    apt-get install chromium          # Debian's package, once
    .venv/bin/python docs/take_screenshots.py [--convnet]    # --convnet: only the convnet's

Trains a polynomial and the MNIST MLP (both with the commands' defaults) into
a temporary folder, and the convnet of scripts/watch_a_convnet.py twice (a
healthy learning rate and one too large); serves each set with `polykeras
tensorboard` on 127.0.0.1, photographs the dashboards with headless Chromium,
and stops each server by its PID.
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
POLYNOMIAL_VIEWS = {
    "tensorboard-coefficients.png": "#custom_scalars",
    "tensorboard-scalars.png": "#timeseries&tagFilter=coefficients%2Fc",
    "tensorboard-fitted-curve.png": "#images&tagFilter=fit",
}
MNIST_VIEWS = {
    "tensorboard-histograms.png": "#histograms&tagFilter=hidden_1%2Fkernel%7Cdigits%2Fkernel",
    "tensorboard-kernels.png": "#images&tagFilter=hidden_1_kernels",
    "tensorboard-learned.png": "#images&tagFilter=hidden_1_learned",
}
CONVNET_VIEWS = {
    "tensorboard-convnet-kernels.png": ("#images&tagFilter=conv2d_kernels%7Cconv2d_learned", "1400,1500"),
    "tensorboard-convnet-charts.png": ("#custom_scalars", "1400,1300"),
}
CONVNET_EPOCHS = 10
CONVNET_RATES = {"lr-0.001-healthy": 1e-3, "lr-0.03-too-large": 3e-2}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--hide-scrollbars",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",
]


def polykeras(*args, cwd):
    subprocess.run([sys.executable, "-m", "polykeras_cli", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def serve_and_photograph(chromium, logdir, views, work):
    """Serves `logdir` with `polykeras tensorboard`, photographs each view, and stops the server by its PID."""
    server = subprocess.Popen(
        [sys.executable, "-m", "polykeras_cli", "tensorboard", "--logdir", logdir, "--port", "0"],
        cwd=work,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        while url is None and server.poll() is None:
            match = re.search(r"http://127\.0\.0\.1:\d+/", server.stdout.readline())
            url = match and match.group(0)
        time.sleep(3)  # the first scan of the logs
        for name, (view, size) in views.items():
            profile = os.path.join(work, "chromium-profile")
            subprocess.run(
                [
                    chromium,
                    *CHROMIUM_FLAGS,
                    f"--window-size={size}",
                    f"--user-data-dir={profile}",
                    f"--screenshot={os.path.join(DOCS, name)}",
                    url + view,
                ],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=120,
            )
            print(os.path.join("docs", name))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def main():
    chromium = shutil.which("chromium") or sys.exit("error: chromium not found (apt-get install chromium)")
    only_convnet = "--convnet" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as work:
        if not only_convnet:
            polykeras("fit-poly", "--log-dir", "logs/polynomial", cwd=work)
            polykeras("train-mnist", "--data", "sample", "--log-dir", "logs/mnist", cwd=work)  # the default recipe
            for logdir, views in (("logs/polynomial", POLYNOMIAL_VIEWS), ("logs/mnist", MNIST_VIEWS)):
                serve_and_photograph(chromium, logdir, {name: (view, "1400,900") for name, view in views.items()}, work)
        script = os.path.join(os.path.dirname(DOCS), "scripts", "watch_a_convnet.py")
        for run, rate in CONVNET_RATES.items():
            env = {
                **os.environ,
                "EPOCHS": str(CONVNET_EPOCHS),
                "LEARNING_RATE": str(rate),
                "LOG_DIR": os.path.join("convnet", run),
            }
            subprocess.run([sys.executable, script], cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        serve_and_photograph(chromium, "convnet", CONVNET_VIEWS, work)


if __name__ == "__main__":
    main()
