"""CIFAR-10 (cifar10_dense.py): what a run or a seed study shows, drawn from its record.

`render(record, arrays)` is the one view of a run (studies/render.py): the first run beside every
published figure of the registry, per-class accuracy, the tutorial's picture (10 test images
with predicted and actual classes), the training curves and the confusion matrix; for a study,
the distributions over the runs, the test set's own sampling spread, the per-run table with a
command that replays each run, and the registry's verdicts.
"""

import math
from types import SimpleNamespace

import numpy as np

from reproduction.engines.runs import Runs
from reproduction.evidence.claims import claims_for
from reproduction.evidence.statistics import distribution, sampling_sd
from reproduction.evidence.verdicts import judge_all
from reproduction.settings.cifar10 import CIFAR10
from reproduction.settings.options import COMPILED
from reproduction.studies.placement import placement_line
from reproduction.studies.render import View, write_csv


def epochs_trained(runs, run):
    """Epochs run `run` trained (it stops after an epoch whose loss is not finite)."""
    return int(np.isfinite(runs.extra["epoch_seconds"][run]).sum())


def picture_correct(probabilities, labels, shown):
    """How many of the tutorial's picture's test images (`shown`: chosen by the run's seed, as
    a single run of that seed shows them) the run gets right."""
    return int((probabilities[shown].argmax(axis=1) == labels[shown]).sum())


def csv_rows(runs, config, untrained, test_labels, pictures):
    """One dict per run: seeds, figures, time and the command that replays it."""
    rows = []
    for run in range(len(runs)):
        weight_seed, data_seed = int(runs.weight_seeds[run]), int(runs.data_seeds[run])
        last = max(0, epochs_trained(runs, run) - 1)
        rows.append(
            {
                "run": run,
                "weight_seed": weight_seed,
                "data_seed": data_seed,
                "test_accuracy": float(runs.extra["test_accuracy"][run]),
                "test_loss": float(runs.extra["test_loss"][run]),
                "train_accuracy": float(runs.accuracy[run, last]),
                "train_loss": float(runs.loss[run, last]),
                "untrained_test_accuracy": float(untrained[run]),
                "picture_correct": picture_correct(
                    runs.test_outputs[run], test_labels, pictures[run]
                ),
                "train_seconds": float(runs.extra["train_seconds"][run]),
                "command": replay_command(config, weight_seed, data_seed),
            }
        )
    return rows


CSV_COLUMNS = (
    "run",
    "weight_seed",
    "data_seed",
    "test_accuracy",
    "test_loss",
    "train_accuracy",
    "train_loss",
    "untrained_test_accuracy",
    "picture_correct",
    "train_seconds",
    "command",
)


def claim_values(rows, runs, test_labels, validation_split=0.0):
    """{quantity: per-run values}: what the registry's claims are judged on (the class shares:
    the test set's, one per class)."""
    values = {
        key: [row[key] for row in rows]
        for key in ("test_accuracy", "test_loss", "train_accuracy", "untrained_test_accuracy")
    }
    values["train_test_gap"] = [row["train_accuracy"] - row["test_accuracy"] for row in rows]
    values["picture_around_half"] = [4 <= row["picture_correct"] <= 6 for row in rows]
    values["picture_4_to_6_chance"] = [binomial_between(10, row["test_accuracy"]) for row in rows]
    values["class_shares"] = (np.bincount(test_labels, minlength=10) / len(test_labels)).tolist()
    # The CNN validates on the test set, as the book does: its test accuracy after each epoch
    # (with --validation-split its validation set is not the test set: nothing to say)
    validated = np.asarray(runs.val_accuracy if not validation_split else None, np.float64)
    for epoch in range(validated.shape[1] if validated.ndim == 2 else 0):
        if np.isfinite(validated[:, epoch]).any():
            values[f"test_accuracy_after_epoch_{epoch + 1}"] = validated[:, epoch].tolist()
    return values


def binomial_between(shown, p, low=4, high=6):
    """The chance that a picture of `shown` test images shows `low` to `high` correct when each
    is correct with chance `p` (the run's test accuracy)."""
    return sum(math.comb(shown, k) * p**k * (1 - p) ** (shown - k) for k in range(low, high + 1))


def study_summary(rows, test_count):
    summary = {"n": len(rows)} | {
        key: distribution([row[key] for row in rows])
        for key in (
            "test_accuracy",
            "test_loss",
            "train_accuracy",
            "untrained_test_accuracy",
            "picture_correct",
        )
    }
    summary["sampling_sd"] = sampling_sd(summary["test_accuracy"]["mean"], test_count)
    return summary


def summarize(config, runs, test_labels, untrained, pictures):
    """Everything the run shows, computed once: per-run rows, the study, the first run's
    confusion matrix and history, and the registry's verdicts."""
    rows = csv_rows(runs, config, untrained, test_labels, pictures)
    claims = claims_for("cifar10", config)
    probabilities = runs.test_outputs[0]
    matrix = confusion_matrix(test_labels, probabilities.argmax(axis=1))
    count = len(test_labels)
    values = claim_values(rows, runs, test_labels, config.get("validation_split", 0.0))
    return {
        "rows": rows,
        "claims": claims,
        "study": study_summary(rows, count) if len(rows) > 1 else None,
        "claim_values": values,
        "verdicts": judge_all(claims, values, config, sampling_n=count),
        "matrix": matrix,
        "probabilities": probabilities,
        "per_class": matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1),
        "history": runs.history(0),
    }


def confusion_matrix(actual, predicted, classes=10):
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def record_metrics(data, results):
    """The record's metrics: the first run as a single run reports it, the verdicts, and a
    study's distributions, rows and per-run claim values."""
    history, first = results["history"], results["rows"][0]
    metrics = {
        "train_loss": history.loss,
        "train_accuracy": history.accuracy,
        "val_loss": history.val_loss,
        "val_accuracy": history.val_accuracy,
        "test_loss": first["test_loss"],
        "test_accuracy": first["test_accuracy"],
        "per_class_test_accuracy": dict(
            zip(data["class_names"], results["per_class"], strict=True)
        ),
        "confusion_matrix": results["matrix"],
        "verdicts": results["verdicts"],
        "data_source": data["source"],
        "data_note": data["note"],
    }
    metrics |= {"runs": results["rows"], "claim_values": results["claim_values"]}
    if results["study"] is not None:
        metrics["study"] = results["study"]
    return metrics


def replay_command(config, weight_seed, data_seed):
    """The single-run command that replays one run of a study exactly (same machine): the
    compiled Dense engine's column blocks are part of its arithmetic."""
    dense_compiled = config["engine"] == COMPILED and config["model"] == "dense"
    return CIFAR10.replay(
        config
        | {
            "seed": weight_seed,
            "data_seed": data_seed,
            "column_blocks": config["column_blocks"] if dense_compiled else None,
        }
    )


def render(record, arrays, figures_dir=None, csv_path=None):
    """The view of a CIFAR-10 run from its record and arrays: figures into `figures_dir` and a
    study's per-run CSV at `csv_path`, where given."""
    config, data = record["config"], record["data"]
    runs = Runs.from_arrays(arrays, "runs.")
    untrained = arrays["data.untrained_test_accuracy"]
    pictures = arrays["data.picture_indices"]
    results = summarize(config, runs, arrays["data.test_labels"], untrained, pictures)
    settings = SimpleNamespace(**config)
    from reproduction.studies import cifar10_figures, cifar10_text  # (matplotlib if drawing)

    figures = []
    if figures_dir is not None:
        figures = cifar10_figures.save_figures(settings, data, arrays, results, figures_dir)
    metrics = record_metrics(data, results)
    if results["study"] is not None:
        metrics |= write_csv(csv_path, results["rows"], CSV_COLUMNS)
    text = cifar10_text.report_text(settings, data, results)
    if results["study"] is None:  # a single run: where it falls among the committed study's
        placed = placement_line(
            "cifar10", config, record.get("data_files"), results["rows"][0]["test_accuracy"]
        )
        text += f"\n{placed}" if placed else ""
    return View(text, metrics, figures)
