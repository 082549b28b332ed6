"""Pictures for people who would rather look than read (matplotlib, no display needed).

Example:

>>> from polykeras import tasks
>>> plot_lr_find(tasks.get("poly").lr_find(steps=20)).shape[2]
3
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np


def plot_polynomial_fit(path, history, x, y, result, true_coefficients=None):
    """Saves a PNG: each coefficient's walk from 0, and the final fit over the data.

    Args:
        path: The PNG file to write.
        history: A `polykeras.CoefficientHistory` from the training.
        x: The training inputs.
        y: The training targets.
        result: The `PolynomialFit`.
        true_coefficients: The generating coefficients, when known.

    Returns:
        `path`.
    """
    steps = np.asarray(history.steps)
    trajectory = np.stack(history.coefficients)
    figure, (walk, fit) = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k in range(trajectory.shape[1]):
        color = colors[k % len(colors)]
        walk.plot(
            steps, trajectory[:, k], color=color, marker="o" if len(steps) <= 30 else None, markersize=3, label=f"c{k}"
        )
        walk.axhline(result.least_squares_coefficients[k], color=color, linestyle=":", linewidth=1)
    walk.set(
        title="coefficients from 0 (dotted: least squares)",
        xlabel="passes over the data (epochs)",
        ylabel="power-basis coefficient",
    )
    walk.legend(ncol=2, fontsize="small")
    grid = np.linspace(x.min(), x.max(), 400)
    fit.scatter(x, y, s=8, color="0.55", label="data")
    fit.plot(grid, np.polynomial.Polynomial(result.coefficients)(grid), color="C3", linewidth=2.5, label="learned")
    if true_coefficients is not None:
        fit.plot(
            grid,
            np.polynomial.Polynomial(true_coefficients)(grid),
            color="k",
            linestyle="--",
            linewidth=1,
            label="true",
        )
    fit.set(
        title=f"fit after {result.epochs} epochs (gap to least squares {result.relative_coefficient_gap:.2g})",
        xlabel="x",
        ylabel="y",
    )
    fit.legend()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_lr_find(result, path=None):
    """Draws the learning-rate range test: loss against rate (log scale), smoothed, every pick and the check.

    The suggestion is a solid line, every rule's pick a dotted one; the
    check's candidates are marked on the smoothed curve with their validation
    loss after training; a curve flagged as untrustworthy says why in the title.

    Args:
        result: An `LrFindResult` from `polykeras.lr_find`.
        path: A PNG file to write, if any.

    Returns:
        The picture as a `(height, width, 3)` uint8 array (for TensorBoard).
    """
    figure, axes = plt.subplots(figsize=(7.5, 4.4), constrained_layout=True)
    axes.plot(result.rates, result.losses, color="0.7", linewidth=1, label="loss per step")
    axes.plot(result.rates, result.smoothed, color="C0", linewidth=2, label="smoothed")
    for k, (name, rate) in enumerate(result.suggestions.items()):
        axes.axvline(rate, color=f"C{k + 2}", linestyle=":", linewidth=1.5, label=f"{name} {rate:.2g}")
    chosen = "checked" if result.candidates else result.rule
    axes.axvline(result.suggestion, color="C3", linewidth=2, label=f"{chosen} {result.suggestion:.2g} (suggested)")
    for candidate in result.candidates:
        on_curve = float(np.interp(np.log(candidate.rate), np.log(result.rates), result.smoothed))
        axes.plot(candidate.rate, on_curve, "o", color="C3" if candidate.rate == result.suggestion else "0.3")
        shown = "diverged" if not np.isfinite(candidate.score) else f"{candidate.score:.3g}"
        axes.annotate(
            shown,
            (candidate.rate, on_curve),
            textcoords="offset points",
            xytext=(0, 7),
            ha="center",
            fontsize="x-small",
        )
    finite = result.smoothed[np.isfinite(result.smoothed)]
    # A loss that falls over decades (the polynomial's) reads on a log scale.
    decades = len(finite) > 1 and finite.min() > 0 and finite.max() / finite.min() > 100
    axes.set(xscale="log", yscale="log" if decades else "linear", xlabel="learning rate", ylabel="loss")
    title = "learning-rate range test"
    axes.set_title(title + (f"\nnot to be trusted: {result.warning}" if result.warning else ""), fontsize="medium")
    if len(finite) > 1:
        axes.set_ylim(top=float(np.max(finite[: max(1, len(finite) - 1)])) * 1.5)
    axes.legend(fontsize="small")
    if path:
        figure.savefig(path, dpi=110)
    figure.canvas.draw()
    pixels = np.asarray(figure.canvas.buffer_rgba())[..., :3].copy()
    plt.close(figure)
    return pixels
