"""XOR (xor_mlp.py): the figures of a run or a study, drawn from its record and arrays.

The first seed's decision boundary over the unit square and its loss and accuracy per epoch;
a study's histogram and cumulative share of the first epoch at 100% accuracy.
"""

from types import SimpleNamespace

import numpy as np

from reproduction.settings.xor import XOR, architecture
from reproduction.studies.figures import epochs_text, integer_ticks, new_figure, save_figure
from reproduction.studies.xor import SEGMENTS, mlp_forward


# ## Figures
def plot_boundary(params, x, y, title, path):
    fig, ax = new_figure(size=(5.2, 4.5))
    grid = np.linspace(-0.25, 1.25, 151, dtype="float32")
    gx, gy = np.meshgrid(grid, grid)
    out = mlp_forward(params, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
    image = ax.contourf(gx, gy, out, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    ax.contour(gx, gy, out, levels=[0.5], colors="k", linewidths=1.5)
    fig.colorbar(image, ax=ax, label="network output (P(loyal))")
    for name, (a, b), target in zip(SEGMENTS, x, y, strict=True):
        ax.scatter(
            [a],
            [b],
            s=120,
            c="tab:red" if target else "tab:blue",
            edgecolors="white",
            linewidths=2,
            zorder=3,
        )
        ax.annotate(
            f"{name}\ntarget {int(target)}",
            (a, b),
            textcoords="offset points",
            xytext=(0, -26 if b == 0 else 12),
            ha="center",
            fontsize=7.5,
        )
    ax.set(xlabel="age (0 = old, 1 = young)", ylabel="income (0 = middle, 1 = high)", title=title)
    ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], ls=":", color="gray", lw=1)  # the unit square
    return save_figure(fig, path)


def plot_history(loss, accuracy, first, tutorial_epoch, title, path):
    fig, ax = new_figure()
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, color="tab:blue", label="loss")
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    integer_ticks(ax.xaxis)
    ax2 = ax.twinx()
    ax2.step(epochs, 100 * accuracy, where="post", color="tab:orange", label="accuracy")
    ax2.set(ylabel="binary accuracy (%)", ylim=(-5, 105))
    if np.isfinite(first):
        ax.axvline(first, color="tab:green", ls="--", label=f"100% at epoch {int(first)}")
    if tutorial_epoch is not None:
        ax.axvline(tutorial_epoch, color="gray", ls=":", label=f"tutorial: {tutorial_epoch}")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right", fontsize=8)
    return save_figure(fig, path)


def plot_study(epochs_to_100, summary, epochs, title, path):
    fig, (hist_ax, cdf_ax) = new_figure(ncols=2, size=(10, 4))
    solved = epochs_to_100[~np.isnan(epochs_to_100)]
    hist_ax.hist(
        solved, bins=np.linspace(0, epochs, 51), color="tab:blue", edgecolor="black", linewidth=0.5
    )
    integer_ticks(hist_ax.yaxis)  # counts of seeds
    cdf_x = np.arange(1, epochs + 1)
    cdf_ax.plot(
        cdf_x,
        100 * (np.nan_to_num(epochs_to_100, nan=np.inf)[:, None] <= cdf_x).mean(axis=0),
        color="tab:blue",
    )
    for ax in (hist_ax, cdf_ax):
        integer_ticks(ax.xaxis)
        if np.isfinite(summary["median"]):
            ax.axvline(
                summary["median"],
                color="tab:green",
                ls="--",
                label=f"median {int(summary['median'])}",
            )
        if summary["tutorial_epoch"] is not None:
            ax.axvline(
                summary["tutorial_epoch"],
                color="k",
                ls=":",
                label=f"tutorial {summary['tutorial_epoch']}",
            )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    hist_ax.set(
        xlabel="first epoch at 100% accuracy",
        ylabel="seeds",
        title=f"{title}: {summary['solved']:,}/{summary['seeds']:,} seeds reached 100%",
    )
    cdf_ax.set(
        xlabel="epoch",
        ylabel="seeds at 100% by then (%)",
        ylim=(0, 100),
        title="share of seeds solved",
    )
    return save_figure(fig, path)


def figure_tag(config):
    """'xor_2-16-1', '_bce' for binary cross-entropy, then the settings that differ."""
    return (
        f"xor_{architecture(config['hidden'])}"
        + ("" if config["loss"] == "mean_squared_error" else "_bce")
        + XOR.file_suffix(config)
    )


def save_figures(config, runs, x, y, results, folder):
    """The first seed's decision boundary and history and, for a study, its distribution of
    the first epoch at 100%; the saved paths."""
    settings, tag = SimpleNamespace(**config), figure_tag(config)
    arch = architecture(settings.hidden)
    loss_name = "" if settings.loss == "mean_squared_error" else ", binary cross-entropy"
    epochs_to_100, claim = results["epochs_to_100"], results["claim"]
    figures = [
        plot_boundary(
            runs.run(0),
            x,
            y,
            f"{arch} MLP{loss_name} after {epochs_text(settings.epochs)} (seed {settings.seed})",
            folder / f"{tag}_boundary.png",
        ),
        plot_history(
            runs.loss[0],
            runs.accuracy[0],
            epochs_to_100[0],
            claim.value if claim else None,
            f"{arch} MLP{loss_name}, seed {settings.seed}",
            folder / f"{tag}_history.png",
        ),
    ]
    if results["study"] is not None:
        figures.append(
            plot_study(
                epochs_to_100,
                results["study"],
                settings.epochs,
                f"{arch} MLP{loss_name}",
                folder / f"{tag}_study.png",
            )
        )
    return figures
