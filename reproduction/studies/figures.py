"""Figures: headless, fixed resolution, written atomically, closed after saving."""

import matplotlib
import numpy as np

matplotlib.use("Agg")  # no display on servers and CI; must precede pyplot

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from reproduction.plumbing.atomic import atomic_path
from reproduction.plumbing.text import counted

DPI = 100  # small PNGs that still read well on a README page
CAPTION_FONTSIZE = 7
IMAGE_SIDE = 1.0  # inches per image of a predictions figure
TITLE_BAND = 0.35  # inches above a predictions figure's grid for its title


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


def image_predictions_figure(
    images, predicted, actual, class_names, title, *, columns=10, cmap=None
):
    """A row (or grid) of images, each captioned with its predicted and actual class; wrong
    predictions in red. `images`: uint8 (n, H, W[, C]). Each column is as wide as the widest
    caption and each row leaves room for its captions, so long class names ('not Ankle boot')
    never run into the next panel."""
    rows = -(-len(images) // columns)
    fig, axes = new_figure(columns, rows)
    captions = []
    for index, ax in enumerate(getattr(axes, "flat", [axes])):
        ax.axis("off")
        if index >= len(images):
            continue
        ax.imshow(images[index], cmap=cmap, interpolation="nearest")
        right = predicted[index] == actual[index]
        captions.append(
            ax.set_title(
                f"pred = {class_names[predicted[index]]}\nact = {class_names[actual[index]]}",
                fontsize=CAPTION_FONTSIZE,
                color="black" if right else "red",
            )
        )
    fig.suptitle(title, fontsize=9)
    # Text sizes in inches do not depend on the figure's: measure the captions, then lay the
    # grid out around them (image side, column pitch, caption band, all in inches).
    renderer = fig.canvas.get_renderer()
    extents = [caption.get_window_extent(renderer) for caption in captions]
    caption_width = max((e.width for e in extents), default=0) / fig.dpi
    caption_band = max((e.height for e in extents), default=0) / fig.dpi + 0.15
    pitch = max(IMAGE_SIDE + 0.1, caption_width + 0.15)
    width = columns * pitch
    height = rows * (IMAGE_SIDE + caption_band) + TITLE_BAND + 0.05
    fig.set_size_inches(width, height)
    fig.subplots_adjust(
        left=(pitch - IMAGE_SIDE) / 2 / width,
        right=1 - (pitch - IMAGE_SIDE) / 2 / width,
        bottom=0.05 / height,
        top=1 - (TITLE_BAND + caption_band) / height,
        wspace=(pitch - IMAGE_SIDE) / IMAGE_SIDE,
        hspace=caption_band / IMAGE_SIDE,
    )
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
        ax.text(
            col,
            row,
            str(count),
            ha="center",
            va="center",
            fontsize=6.5,
            color="white" if shares[row, col] > 0.5 else "black",
        )
    ax.set_title(title, fontsize=9)
    return fig


def epoch_curves_figure(series, title, *, references=(), points=(), min_span=None):
    """Per-epoch curves: `series` maps a panel name ('loss', 'accuracy') to {label: values};
    `references` are (panel, value, label) dashed lines for published figures, always inside
    the axes; `points` (panel, epoch, value, label) are published values taken part-way through
    training, marked where they were taken; `min_span` ({panel: span}): the least a panel's
    y-axis spans, so that a flat curve does not fill the panel with rounding noise."""
    fig, axes = new_figure(len(series), size=(5.2 * len(series), 3.8))
    axes = np.atleast_1d(axes)
    for ax, (panel, curves) in zip(axes, series.items(), strict=True):
        for label, values in curves.items():
            ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=label)
        panel_references = [
            (value, label) for ref_panel, value, label in references if ref_panel == panel
        ]
        for (value, label), style in zip(panel_references, ("--", ":", "-."), strict=False):
            ax.axhline(value, color="grey", linestyle=style, linewidth=1.2, label=label)
        panel_points = [(x, value, label) for p, x, value, label in points if p == panel]
        for x, value, label in panel_points:
            ax.plot([x], [value], "k*", markersize=10, linestyle="none", label=label)
        shown = [v for values in curves.values() for v in np.asarray(values, float).ravel()]
        shown += [value for value, _ in panel_references]
        shown += [value for _, value, _ in panel_points]
        y_range(ax, shown, (min_span or {}).get(panel, 0.0))
        ax.set_xlabel("epoch")
        epochs = max((len(values) for values in curves.values()), default=0)
        if 0 < epochs <= 20:  # every epoch a tick, one epoch too (not 0.945 ... 1.050)
            ax.set_xticks(range(1, epochs + 1))
            ax.set_xlim(0.5, epochs + 0.5)
        else:
            integer_ticks(ax.xaxis)
        ax.set_ylabel(panel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def y_range(ax, values, min_span=0.0):
    """The y-axis from the lowest to the highest finite value (every curve and reference line
    inside), padded, spanning at least `min_span` around their middle."""
    finite = np.asarray([v for v in values if np.isfinite(v)], float)
    if not finite.size:
        return
    low, high = float(finite.min()), float(finite.max())
    if high - low < min_span:
        middle = (low + high) / 2
        low, high = middle - min_span / 2, middle + min_span / 2
    pad = 0.06 * (high - low) or 0.01 * max(abs(high), 1.0)
    ax.set_ylim(low - pad, high + pad)


def integer_ticks(axis):
    """Ticks only at whole numbers on `axis` (an Axis: ax.xaxis), for epochs and counts of runs:
    a 3-epoch run shows 1, 2, 3, not 1.25, 1.5, ...; a histogram of 2 runs 0, 1, 2."""
    axis.set_major_locator(MaxNLocator(integer=True))


def epochs_text(count):
    """'1 epoch', '10 epochs': for titles and lines that count epochs."""
    return counted(count, "epoch")


def distribution_figure(
    groups,
    title,
    xlabel,
    *,
    published=(),
    bins=40,
    scale=100,
    value_range=None,
    note=None,
    colours=("tab:blue", "tab:red", "tab:green", "tab:purple"),
):
    """A histogram of per-run values, one colour per group ({'live runs': values, 'dead
    neuron': values}: the groups stay visibly apart), with vertical lines at `published`
    ((value, label) pairs) and the groups' medians; `note`, if given, under the axes;
    `colours`, the groups' in order."""
    fig, ax = new_figure(size=(7.0, 4.2))
    finite = [np.asarray(v, np.float64)[np.isfinite(v)] * scale for v in groups.values()]
    every = np.concatenate(finite) if finite else np.zeros(0)
    references = [scale * value for value, _ in published]
    if value_range is None and every.size:
        low, high = min([every.min(), *references]), max([every.max(), *references])
        pad = 0.02 * (high - low) or 0.5
        value_range = (low - pad, high + pad)
    edges = np.linspace(*(value_range or (0, 1)), bins + 1)
    for (label, values), colour in zip(zip(groups, finite, strict=True), colours, strict=False):
        if values.size:
            ax.hist(
                np.clip(values, edges[0], edges[-1]),
                bins=edges,
                color=colour,
                alpha=0.75,
                edgecolor="black",
                linewidth=0.5,
                label=f"{label} (n = {values.size:,})",
            )
    for (value, label), style in zip(published, ("--", ":", "-.", "--"), strict=False):
        ax.axvline(scale * value, color="k", ls=style, lw=1.3, label=label)
    ax.set(xlabel=xlabel, ylabel="runs", title=title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
    integer_ticks(ax.yaxis)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    if note:
        fig.text(0.5, -0.02, note, ha="center", va="top", fontsize=8, wrap=True)
    return fig
