"""Figures: headless, fixed resolution, written atomically, closed after saving."""

import matplotlib

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
