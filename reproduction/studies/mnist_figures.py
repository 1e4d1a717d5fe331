"""MNIST "five or not": the figures of a run or a study, drawn from its record and arrays.

The first run's predictions on a grid of test images (half of them the target class, so the
rare class shows), its validation accuracy per epoch beside the never-five baseline, what the
neuron looks at (its weight per pixel), and a study's distribution of final accuracies with
live and dead neurons apart.
"""

import numpy as np

from reproduction.data.registry import DATASETS
from reproduction.settings.mnist import ACTIVATIONS, MNIST
from reproduction.studies.figures import (
    distribution_figure,
    epoch_curves_figure,
    image_predictions_figure,
    new_figure,
    plt,
    save_figure,
)

PICTURE_COLUMNS = 8  # of the predictions figure (the run chose its images when it trained)
# The weight image's colour limit: the 99th percentile of |w| over the pixels lit in at least
# 1% of the training images (a few outliers, and barely trained weights, do not wash it out).
WEIGHT_PERCENTILE, MIN_LIT_SHARE = 99, 0.01
NEVER_TRAINED_GREY = "0.6"


def weight_colour_scale(
    kernel, lit, shape, percentile=WEIGHT_PERCENTILE, min_lit_share=MIN_LIT_SHARE
):
    """(never_lit, limit) of a weight image of `shape`; `lit`: per pixel (flat), the share of
    the training images in which it is not 0 (kept in a run's arrays as data.lit_share).
    never_lit (the images' shape) marks the pixels that are 0 in every training image: their
    input is always 0, so their weight never gets a gradient (nor an Adam step) and keeps its
    random initial value. limit: a symmetric colour limit at the `percentile` of |w| over the
    pixels lit (not 0) in at least `min_lit_share` of the training images; the others are
    clipped. Adam moves every lit weight by about the same amount, so a pixel lit in a handful
    of images keeps most of its random start and would set the scale as an unlit one does
    (MNIST's linear neuron: 0.07 over every lit pixel, 0.003 over those lit in 1% of the
    images). Falls back to every lit pixel, then to 1.0."""
    lit = np.asarray(lit, np.float64)
    never_lit = lit == 0
    magnitudes = np.abs(np.asarray(kernel, np.float64).reshape(-1))
    limit = 0.0
    for pixels in (lit.reshape(-1) >= min_lit_share, ~never_lit.reshape(-1)):
        if pixels.any():
            limit = float(np.percentile(magnitudes[pixels], percentile))
            break
    return never_lit.reshape(shape), limit or 1.0


def weights_figure(weights_by_name, lit, shape, title):
    """Each neuron's weight per pixel, coloured on the scale of the weights training moves;
    pixels lit in fewer than MIN_LIT_SHARE of the training images in grey: their weights never
    train (never lit) or keep most of their random start, and would otherwise show as the
    strongest colours."""
    fig, axes = new_figure(len(weights_by_name), size=(4.0 * len(weights_by_name), 3.6))
    grey = plt.get_cmap("RdBu_r").with_extremes(bad=NEVER_TRAINED_GREY)
    rarely_lit = np.asarray(lit, np.float64).reshape(shape) < MIN_LIT_SHARE
    for ax, (name, kernel) in zip(np.atleast_1d(axes), weights_by_name.items(), strict=True):
        never_lit, limit = weight_colour_scale(kernel, lit, shape)
        image = np.ma.masked_array(np.asarray(kernel).reshape(shape), mask=rarely_lit)
        shown = ax.imshow(image, cmap=grey, vmin=-limit, vmax=limit)
        ax.set_title(f"{name}: weight per trained pixel", fontsize=9)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046, extend="both")  # arrows: clipped
    fig.suptitle(title, fontsize=10)
    notes = [
        f"grey: the {int(rarely_lit.sum())} pixels lit in fewer than {MIN_LIT_SHARE:.0%} of the "
        f"training images ({int(never_lit.sum())} of them in none): their weights barely train "
        "or never do, and keep their random start",
        f"colour limit: the {WEIGHT_PERCENTILE}th percentile of |weight| over the other pixels; "
        "beyond it: clipped (the colour bar's arrows)",
    ]
    fig.text(0.5, 0.07, "\n".join(notes), ha="center", va="top", fontsize=7.5)
    return fig


def task_title(settings, target_name):
    """'Fashion-MNIST, 'Ankle boot' vs the rest': the dataset and the task of a figure."""
    return f"{DATASETS[settings.dataset].title}, '{target_name}' vs the rest"


def figure_tag(config):
    """'mnist_class5', then the settings that differ from the tutorial's ('_normalized')."""
    return f"{config['dataset']}_class{config['target_class']}" + MNIST.file_suffix(config)


def save_figures(settings, record, arrays, results, summary, folder):
    """The first run's pictures and, for a study, its distribution figure; the saved paths.
    results: {activation: Runs}."""
    target_name, tag = summary["target_name"], figure_tag(record["config"])
    truth = arrays["data.test_labels"] == settings.target_class
    names = ("not " + target_name, target_name)
    title, saved = task_title(settings, target_name), []
    shown = arrays["data.picture_indices"]
    for activation, runs in results.items():
        predicted = (runs.test_outputs[0][shown] > 0.5).astype(int)
        saved.append(
            save_figure(
                image_predictions_figure(
                    arrays["data.picture_images"],
                    predicted,
                    truth[shown].astype(int),
                    names,
                    f"{title}: the {activation} neuron read at 0.5 (Keras's accuracy); red: "
                    f"mistakes; seed {settings.seed}",
                    columns=PICTURE_COLUMNS,
                    cmap="gray",
                ),
                folder / f"{tag}_{activation}_predictions.png",
            )
        )
    baseline = summary["validation_baseline"]

    def curve_label(activation):  # a flat line at the baseline: said to be a stopped neuron
        dead = summary["first_run"][activation]["dead"]
        return f"{activation} neuron" + (": dead (one class, weights stopped)" if dead else "")

    curves = {
        "validation accuracy": {curve_label(a): runs.val_accuracy[0] for a, runs in results.items()}
    }
    which = "compare" if len(results) > 1 else next(iter(results))
    baseline_line = (
        "validation accuracy",
        baseline,
        f"never '{target_name}' ({100 * baseline:.2f}%)",
    )
    figure = epoch_curves_figure(
        curves,
        f"{title}: validation accuracy per epoch",
        references=[baseline_line],
        min_span={"validation accuracy": 0.05},  # 5 points: a flat curve stays flat
    )
    saved.append(save_figure(figure, folder / f"{tag}_{which}_accuracy.png"))
    kernels = {f"{a} neuron": runs.params[0][0] for a, runs in results.items()}
    saved.append(
        save_figure(
            weights_figure(
                kernels,
                arrays["data.lit_share"],
                arrays["data.picture_images"].shape[1:],
                f"What the neuron looks at ({title})",
            ),
            folder / f"{tag}_{which}_weights.png",
        )
    )
    if settings.seeds > 1:
        saved.append(save_study_figure(settings, summary, folder / f"{tag}_{which}_study.png"))
    return saved


# the same colour for a neuron in every study, one per activation the settings allow
ACTIVATION_COLOURS = dict(zip(ACTIVATIONS, ("tab:blue", "tab:green"), strict=True))
DEAD_COLOUR = "tab:purple"


def save_study_figure(settings, summary, path):
    """Final validation accuracy over the runs: live and dead neurons apart, per activation."""
    metrics, target_name = summary["metrics"], summary["target_name"]
    baseline = summary["validation_baseline"]
    groups, colours = {}, []
    for activation, values in metrics.items():
        dead, colour = values["dead"], ACTIVATION_COLOURS[activation]
        if not dead.any():  # "live" would suggest some died (a linear neuron cannot)
            groups[activation] = values["final_val_accuracy"]
            colours.append(colour)
            continue
        groups[f"{activation}, live"] = values["final_val_accuracy"][~dead]
        groups[f"{activation}, dead"] = values["final_val_accuracy"][dead]
        colours += [colour, DEAD_COLOUR]
    n = len(next(iter(metrics.values()))["dead"])
    pixels = "pixels / 255" if settings.normalize else "raw pixels"
    figure = distribution_figure(
        groups,
        f"{task_title(settings, target_name)}, {pixels}: final validation accuracy of {n:,} runs",
        "final validation accuracy (%)",
        published=[(baseline, f"never '{target_name}' ({100 * baseline:.2f}%)")],
        colours=colours,
    )
    return save_figure(figure, path)
