"""Figures: headless, fixed resolution, written atomically, closed after saving."""

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display on servers and CI; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402

from common.atomic import atomic_path  # noqa: E402

DPI = 100  # small PNGs that still read well on a README page


def new_figure(ncols=1, nrows=1, size=(6.0, 4.5)):
    return plt.subplots(nrows, ncols, figsize=size, dpi=DPI)


def save_figure(fig, path):
    """Save `fig` as PNG at `path` (atomically) and close it; return the path as a string."""
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return str(path)


def image_predictions_figure(images, predicted, actual, class_names, title, *, columns=10,
                             cmap=None):
    """A row (or grid) of images, each captioned with its predicted and actual class; wrong
    predictions in red. `images`: uint8 (n, H, W[, C])."""
    rows = -(-len(images) // columns)
    fig, axes = new_figure(columns, rows, size=(1.25 * columns, 1.55 * rows + 0.4))
    for index, ax in enumerate(getattr(axes, "flat", [axes])):
        ax.axis("off")
        if index >= len(images):
            continue
        ax.imshow(images[index], cmap=cmap, interpolation="nearest")
        right = predicted[index] == actual[index]
        ax.set_title(f"pred = {class_names[predicted[index]]}\nact = "
                     f"{class_names[actual[index]]}", fontsize=7,
                     color="black" if right else "red")
    fig.suptitle(title, fontsize=9)
    return fig


def confusion_figure(matrix, class_names, title):
    """A confusion matrix (rows: actual, columns: predicted) with counts in the cells; colour is
    the share of the row, so rare and common classes read alike."""
    matrix = np.asarray(matrix)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = new_figure(size=(6.4, 5.6))
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    ticks = range(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", fontsize=6.5,
                color="white" if shares[row, col] > 0.5 else "black")
    ax.set_title(title, fontsize=9)
    return fig


def epoch_curves_figure(series, title, *, references=()):
    """Per-epoch curves: `series` maps a panel name ('loss', 'accuracy') to {label: values};
    `references` are (panel, value, label) dashed lines for published figures."""
    fig, axes = new_figure(len(series), size=(5.2 * len(series), 3.8))
    axes = np.atleast_1d(axes)
    for ax, (panel, curves) in zip(axes, series.items(), strict=True):
        for label, values in curves.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        panel_references = [(value, label) for ref_panel, value, label in references
                            if ref_panel == panel]
        for (value, label), style in zip(panel_references, ("--", ":", "-."), strict=False):
            ax.axhline(value, color="grey", linestyle=style, linewidth=1.2, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig
