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


def test_a_value_published_part_way_through_training_is_marked_where_it_was_taken():
    """The later CNN notebook's 65.48% came after 3.07 epochs: a labelled point there, inside
    the axes; its study's histogram (10-epoch runs) says so under the axes instead of a line."""
    from reproduction.evidence.claims import CLAIMS, LATER_FIT_STOPPED_EPOCH
    from reproduction.studies.cifar10_figures import interrupted_published

    points = interrupted_published(CLAIMS)
    assert [(panel, epoch, round(value, 4)) for panel, epoch, value, _ in points] == [
        ("accuracy", LATER_FIT_STOPPED_EPOCH, 0.6548)
    ]
    assert 3 < LATER_FIT_STOPPED_EPOCH < 4
    curves = {"accuracy": {"train": [0.45, 0.58, 0.62, 0.66, 0.7], "validation": [0.5] * 5}}
    fig = epoch_curves_figure(curves, "t", points=[("accuracy", 3.07, 0.30, "published: 30%")])
    (ax,) = fig.axes
    assert ax.get_ylim()[0] < 0.30 and "published: 30%" in ax.get_legend_handles_labels()[1]
    marked = [line for line in ax.get_lines() if line.get_label() == "published: 30%"]
    assert list(marked[0].get_xdata()) == [3.07]
    plt.close(fig)
    fig = distribution_figure({"runs": [0.70, 0.71]}, "t", "x", note="after 3.07 epochs")
    assert [text.get_text() for text in fig.texts] == ["after 3.07 epochs"]
    plt.close(fig)
