"""The figures' axes do not mislead: reference lines inside them, a flat curve not blown up
into a cliff, whole epochs on the epoch axis, histogram bars with edges."""

import numpy as np

from reproduction.studies.figures import distribution_figure, epoch_curves_figure, plt


def test_reference_lines_lie_inside_the_axes_and_flat_curves_stay_flat():
    flat = [0.9108, 0.9109, 0.9108, 0.9113]  # a 0.05-point wobble
    fig = epoch_curves_figure(
        {"accuracy": {"neuron": flat}, "loss": {"train": [0.5, 0.4, 0.3, 0.2]}},
        "t",
        references=[("accuracy", 0.80, "a published 80%"), ("loss", 1.5, "far above")],
        min_span={"accuracy": 0.05},
    )
    accuracy, loss = fig.axes
    low, high = accuracy.get_ylim()
    assert low < 0.80 < high and high - low >= 0.05
    assert loss.get_ylim()[0] < 0.2 and loss.get_ylim()[1] > 1.5
    plt.close(fig)
    fig = epoch_curves_figure({"accuracy": {"neuron": flat}}, "t", min_span={"accuracy": 0.05})
    low, high = fig.axes[0].get_ylim()
    assert high - low >= 0.05  # not 0.9108-0.9113 filling the panel
    plt.close(fig)


def test_epoch_ticks_are_whole_epochs_even_for_one_epoch():
    for epochs in (1, 3, 10):
        fig = epoch_curves_figure({"loss": {"train": np.linspace(1, 0.5, epochs)}}, "t")
        ticks = fig.axes[0].get_xticks()
        assert list(ticks) == list(range(1, epochs + 1)), epochs
        plt.close(fig)


def test_histogram_bars_have_edges_and_counts_are_whole_runs():
    fig = distribution_figure({"runs": [0.48, 0.49]}, "t", "accuracy (%)")
    ax = fig.axes[0]
    bars = [patch for patch in ax.patches if patch.get_height() > 0]
    assert len(bars) == 2 and all(bar.get_linewidth() > 0 for bar in bars)
    assert all(float(tick).is_integer() for tick in ax.get_yticks())
    plt.close(fig)
