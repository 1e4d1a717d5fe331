"""CIFAR-10 (cifar10_dense.py): the figures of a run or a study, drawn from its record and arrays.

The tutorial's picture (10 test images with the predicted and the actual class), the training
curves beside the published test accuracies, the test set's confusion matrix, and a study's
distribution of test accuracies.
"""

import numpy as np

from reproduction.evidence.claims import (
    LATER_FIT_STOPPED,
    LATER_FIT_STOPPED_EPOCH,
    published_values,
)
from reproduction.settings.cifar10 import CIFAR10, FIRST_BLOCK_ORDER
from reproduction.studies.figures import (
    confusion_figure,
    distribution_figure,
    epoch_curves_figure,
    image_predictions_figure,
    save_figure,
)


def save_study_figure(settings, results, path, title):
    rows = results["rows"]
    published = [
        (value, f"published ({source}) {100 * value:.1f}%")
        for value, source in published_values(results["claims"], "test_accuracy")
    ]
    done = LATER_FIT_STOPPED[0]
    notes = [
        f"the published {100 * value:.2f}% ({source}) came after {epoch:.2f} epochs (its fit "
        f"was interrupted): it is judged against these runs after {done} and {done + 1} epochs "
        "(REPORT.md), not here"
        for _, epoch, value, source in interrupted_published(results["claims"])
    ]
    figure = distribution_figure(
        {"runs": [row["test_accuracy"] for row in rows]},
        f"{title}: test accuracy of {len(rows):,} runs ({settings.epochs} epoch"
        f"{'s' * (settings.epochs != 1)})",
        "test accuracy (%)",
        published=published,
        bins=max(10, min(40, len(rows))),
        note="\n".join(notes) or None,
    )
    return save_figure(figure, path)


def save_figures(settings, data, arrays, results, folder):
    tag, title = figure_tag(vars(settings)), model_title(vars(settings))
    history, probabilities = results["history"], results["probabilities"]
    predicted = probabilities.argmax(axis=1)
    labels = arrays["data.test_labels"]
    shown = arrays["data.picture_indices"][0]
    references = [
        ("accuracy", value, f"published test ({source}): {100 * value:.2f}%")
        for value, source in published_values(results["claims"], "test_accuracy")
    ]
    measured = float(np.mean(predicted == labels))
    references.append(("accuracy", measured, f"this run's test: {100 * measured:.2f}%"))
    points = [
        (
            panel,
            epoch,
            value,
            f"published test ({source}):\n{100 * value:.2f}%, its fit interrupted at epoch "
            f"{epoch:.2f}",
        )
        for panel, epoch, value, source in interrupted_published(results["claims"])
    ]
    curves = {"loss": {"train": history.loss}, "accuracy": {"train": history.accuracy}}
    if history.val_loss:
        curves["loss"]["validation"] = history.val_loss
        curves["accuracy"]["validation"] = history.val_accuracy
    figures = [
        save_figure(
            image_predictions_figure(
                arrays["data.picture_images"],
                predicted[shown],
                labels[shown],
                data["class_names"],
                f"{title}: test images chosen by seed {settings.seed}",
            ),
            folder / f"{tag}_predictions.png",
        ),
        save_figure(
            epoch_curves_figure(curves, title, references=references, points=points),
            folder / f"{tag}_curves.png",
        ),
        save_figure(
            confusion_figure(
                results["matrix"], data["class_names"], f"{title}: test set confusion matrix"
            ),
            folder / f"{tag}_confusion.png",
        ),
    ]
    if results["study"] is not None:
        figures.append(save_study_figure(settings, results, folder / f"{tag}_study.png", title))
    return figures


def interrupted_published(claims):
    """[(panel, epoch, value, source)] of the published test accuracies taken part-way through
    training (the later notebook's, whose fit was interrupted in its 4th epoch)."""
    return [
        ("accuracy", LATER_FIT_STOPPED_EPOCH, value, source)
        for value, source in published_values(claims, "test_accuracy_after_epoch_3")
    ]


def figure_tag(config):
    """The figures' file prefix: the model ('cifar10_dense', 'cifar10_cnn', 'cifar10_cnn_bn_first'),
    then the settings that differ from the tutorial's ('_epochs3_lr0.01')."""
    later = config["model"] == "cnn" and config["block_order"] != FIRST_BLOCK_ORDER
    model = "dense" if config["model"] == "dense" else "cnn_bn_first" if later else "cnn"
    return f"cifar10_{model}" + CIFAR10.file_suffix(config)


def model_title(config):
    """'CIFAR-10 Dense network', 'CIFAR-10 CNN (LeakyReLU -> BN)', ..."""
    if config["model"] == "dense":
        return "CIFAR-10 Dense network"
    later = config["block_order"] != FIRST_BLOCK_ORDER
    return f"CIFAR-10 CNN ({'BN -> LeakyReLU' if later else 'LeakyReLU -> BN'})"
