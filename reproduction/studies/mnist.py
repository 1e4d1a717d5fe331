"""MNIST "five or not" (mnist_perceptron.py): what a run or a seed study shows, from its record.

`render(record, arrays)` is the one view of a run (studies/render.py): the per-epoch validation
accuracy, the raw outputs' range (the tutorial's debugging step), the test set read at 0 (the
tutorial's "anything greater than 0 is a five") and at 0.5 (Keras's metric) beside what an
imbalanced task needs (the never-five baseline, precision, recall, the confusion counts); for a
study, the dead share, the distributions, the variance split between data order and initial
weights, and the registry's verdicts; the per-run CSV; the figures (studies/mnist_figures.py).
"""

import math
from types import SimpleNamespace

import numpy as np

from reproduction.engines.runs import Runs
from reproduction.evidence.claims import claims_for
from reproduction.evidence.statistics import (
    distribution,
    quantile,
    share,
    variance_split,
)
from reproduction.evidence.verdicts import judge_all
from reproduction.settings.mnist import ACTIVATIONS, MNIST
from reproduction.studies.placement import dead_advice, placement_line
from reproduction.studies.render import View, write_csv

READINGS = ((0.0, "output > 0 (the tutorial's reading)"), (0.5, "output > 0.5 (Keras's metric)"))
QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)


# ## Metrics: what accuracy hides on an imbalanced task
def binary_metrics(outputs, truth, threshold):
    """Accuracy, precision, recall and the 2x2 counts of reading `outputs > threshold` as the
    target class. Precision is NaN when nothing is called the target."""
    predicted = np.asarray(outputs) > threshold
    truth = np.asarray(truth).astype(bool)
    tp, fp = int(np.sum(predicted & truth)), int(np.sum(predicted & ~truth))
    fn, tn = int(np.sum(~predicted & truth)), int(np.sum(~predicted & ~truth))
    return {
        "threshold": threshold,
        "accuracy": (tp + tn) / max(len(truth), 1),
        "precision": tp / (tp + fp) if tp + fp else math.nan,
        "recall": tp / (tp + fn) if tp + fn else math.nan,
        "tn": tn,
        "fp": fp,
        "fn": fn,
        "tp": tp,
    }


def baseline_metrics(truth):
    """The model that never says "target": its accuracy is the share of the other classes."""
    return binary_metrics(np.zeros(len(truth)), truth, 0.5)


def output_quantiles(outputs):
    return dict(
        zip(
            (f"q{int(q * 100)}" for q in QUANTILES),
            [quantile(outputs, q) for q in QUANTILES],
            strict=True,
        )
    )


# ## Per-run figures, and what a study of many runs says
def run_metrics(runs, truth):
    """Per-run arrays from `runs` (an engines.runs.Runs): the test set read at 0.5 (Keras's
    metric) and at 0 (the tutorial's reading), whether the neuron died, and its validation
    accuracy's path over the epochs. Against the never-target baseline a run is compared in
    correct test images (integers: float32 0.9108 reads 0.91079998), so a dead run is at the
    baseline, not below it."""
    truth = np.asarray(truth, bool)
    said = runs.test_outputs > 0.5
    counts = {
        "tp": (said & truth).sum(1),
        "fp": (said & ~truth).sum(1),
        "fn": (~said & truth).sum(1),
        "tn": (~said & ~truth).sum(1),
    }
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = counts["tp"] / (counts["tp"] + counts["fp"])
        recall = counts["tp"] / (counts["tp"] + counts["fn"])
    final = runs.val_accuracy[:, -1].astype(np.float64)
    correct, baseline_correct = counts["tp"] + counts["tn"], int((~truth).sum())
    return {
        **counts,
        "correct": correct,
        "test_accuracy": correct / len(truth),
        "precision": precision,
        "recall": recall,
        "accuracy_at_0": ((runs.test_outputs > 0) == truth).mean(1),
        "one_class": (one_class := said.all(1) | (~said).all(1)),
        "dead": one_class & weights_stopped(runs.loss),
        "diverged": ~np.isfinite(runs.loss).all(1),
        "final_val_accuracy": final,
        "final_val_loss": runs.val_loss[:, -1].astype(np.float64),
        "epoch_spread_points": 100 * (runs.val_accuracy.max(1) - runs.val_accuracy.min(1)),
        "below_baseline": correct < baseline_correct,
        "at_baseline": correct == baseline_correct,
        "improved": final > runs.val_accuracy[:, 0],
        "clear_upward_trend": clear_upward_trend(runs.val_accuracy),
        "train_test_gap": runs.accuracy[:, -1].astype(np.float64) - correct / len(truth),
    }


def weights_stopped(loss_by_epoch, last=2):
    """Per run: whether its training loss is the same float in its last `last` epochs. The
    epochs see the images in different orders, so an unchanged float32 mean means unchanged
    weights: the gradient is exactly zero on every training image (a sigmoid saturated on raw
    pixels). A run with fewer epochs cannot show it (False)."""
    loss = np.asarray(loss_by_epoch, np.float64)
    if loss.ndim == 1:
        loss = loss[None]
    if loss.shape[1] < last:
        return np.zeros(len(loss), bool)
    tail = loss[:, -last:]
    return np.isfinite(tail).all(1) & (tail.max(1) == tail.min(1))


def clear_upward_trend(accuracy_by_epoch, t_bound=2.0):
    """Per run: whether its accuracy rises over the epochs clearly, beyond its own ups and
    downs: the least-squares slope over every epoch is positive and at least `t_bound` standard
    errors from zero (a run with fewer than 3 epochs has no trend)."""
    values = np.asarray(accuracy_by_epoch, np.float64)
    epochs = values.shape[1]
    if epochs < 3:
        return np.zeros(len(values), bool)
    x = np.arange(epochs) - (epochs - 1) / 2
    slope = values @ x / (x @ x)
    fitted = values.mean(1, keepdims=True) + slope[:, None] * x
    residual = ((values - fitted) ** 2).sum(1) / (epochs - 2)
    error = np.sqrt(residual / (x @ x))
    with np.errstate(divide="ignore", invalid="ignore"):
        return (slope > 0) & ((error == 0) | (slope / error >= t_bound))


def outputs_far_outside(outputs, share=0.01, margin=1.0):
    """Per run: whether at least `share` of its outputs lie more than `margin` (the width of
    0-1 itself) below 0 and at least `share` lie more than `margin` above 1: "large negative
    and positive numbers", not a stray output just past 0 or 1."""
    outputs = np.asarray(outputs, np.float64)
    return ((outputs < -margin).mean(1) >= share) & ((outputs > 1 + margin).mean(1) >= share)


def study_summary(runs, metrics):
    """A study's distributions: dead share, live and all final accuracies, the linear neuron's
    erratic epochs, and how much of the spread comes from the data order vs the weights."""
    final, dead = metrics["final_val_accuracy"], metrics["dead"]
    return {
        "n": len(runs),
        "data_orders": int(runs.extra.get("groups", len(runs))),
        "dead": share(dead & ~metrics["diverged"]),
        "diverged": share(metrics["diverged"]),
        "live_final_accuracy": distribution(final[~dead]),
        "final_accuracy": distribution(final),
        "below_baseline": share(metrics["below_baseline"]),
        "at_baseline": share(metrics["at_baseline"]),
        "improved_over_epochs": share(metrics["improved"]),
        "epoch_spread_points": distribution(metrics["epoch_spread_points"] / 100),
        "variance_split": variance_split(final, runs.data_seeds),
        "dead_variance_split": variance_split(dead.astype(float), runs.data_seeds),
    }


def paired_summary(metrics):
    """--compare: the same runs (same weights, same order) with both neurons, compared in
    correct test images."""
    linear, sigmoid = metrics["linear"], metrics["sigmoid"]
    difference = sigmoid["test_accuracy"] - linear["test_accuracy"]
    return {
        "difference": distribution(difference),
        "sigmoid_better": share(sigmoid["correct"] > linear["correct"]),
        "sigmoid_better_and_above_baseline": share(sigmoid_improves(metrics)),
    }


def sigmoid_improves(metrics):
    """Per pair: the sigmoid neuron ends with more correct test images than its linear pair and
    than the never-target baseline (a dead sigmoid at the baseline has not improved)."""
    linear, sigmoid = metrics["linear"], metrics["sigmoid"]
    above = ~sigmoid["below_baseline"] & ~sigmoid["at_baseline"]
    return (sigmoid["correct"] > linear["correct"]) & above


CSV_COLUMNS = (
    "run",
    "activation",
    "weight_seed",
    "data_seed",
    "final_val_accuracy",
    "final_val_loss",
    "test_accuracy",
    "precision",
    "recall",
    "tn",
    "fp",
    "fn",
    "tp",
    "dead",
    "below_baseline",
    "epoch_spread_points",
    "accuracy_at_0",
)


def replay_command(config, runs, run, activation):
    """The single-run command that trains run `run` of a study alone, with the same numbers."""
    return MNIST.replay(
        config
        | {
            "seed": int(runs.weight_seeds[run]),
            "data_seed": int(runs.data_seeds[run]),
            "activation": activation,
        }
    )


def csv_rows(config, results, metrics):
    rows = []
    for activation, runs in results.items():
        for run in range(len(runs)):
            row = {
                "run": run,
                "activation": activation,
                "weight_seed": int(runs.weight_seeds[run]),
                "data_seed": int(runs.data_seeds[run]),
            }
            row |= {key: metrics[activation][key][run] for key in CSV_COLUMNS[4:]}
            row |= {
                f"val_accuracy_{epoch + 1}": float(value)
                for epoch, value in enumerate(runs.val_accuracy[run])
            }
            row["replay"] = replay_command(config, runs, run, activation)
            rows.append(row)
    return rows


def readings_of(activation):
    # A sigmoid's output is always above 0: reading it at 0 would call everything the target.
    return READINGS if activation == "linear" else READINGS[1:]


def first_run_metrics(activation, runs, truth, index=0):
    """Run `index` of a neuron as a single run shows it: its histories, its raw outputs'
    quantiles, the test set read at each of its readings, whether it died."""
    outputs, val_accuracy = runs.test_outputs[index], runs.val_accuracy[index]
    return {
        "val_accuracy": val_accuracy.tolist(),
        "val_loss": runs.val_loss[index].tolist(),
        "train_loss": runs.loss[index].tolist(),
        "train_accuracy": runs.accuracy[index].tolist(),
        "output_quantiles": output_quantiles(outputs),
        "readings": [binary_metrics(outputs, truth, t) for t, _ in readings_of(activation)],
        "val_accuracy_spread_points": 100 * float(val_accuracy.max() - val_accuracy.min()),
        "one_class": (one_class := bool(np.all(outputs > 0.5) or np.all(outputs <= 0.5))),
        "dead": one_class and bool(weights_stopped(runs.loss[index])[0]),
        "weight_seed": int(runs.weight_seeds[index]),
        "data_seed": int(runs.data_seeds[index]),
    }


def claim_values(metrics, results):
    """{quantity: per-run values} of the registry's MNIST claims that this run measured."""
    values = {}
    for activation, measured in metrics.items():
        values[f"{activation}_test_accuracy"] = measured["test_accuracy"]
        values[f"{activation}_train_test_gap"] = measured["train_test_gap"]
        values[f"{activation}_dead"] = measured["dead"]
    if "linear" in metrics:
        linear, outputs = metrics["linear"], results["linear"].test_outputs
        values |= {
            "linear_below_baseline": linear["below_baseline"],
            "linear_clear_upward_trend": linear["clear_upward_trend"],
            "linear_last_beats_first": linear["improved"],
            "linear_outputs_far_outside": outputs_far_outside(outputs),
            "linear_outputs_outside": (outputs.min(axis=1) < 0) & (outputs.max(axis=1) > 1),
            "linear_reading_at_0_as_good": linear["accuracy_at_0"] >= linear["test_accuracy"],
        }
    if {"linear", "sigmoid"} <= set(metrics):
        values["sigmoid_more_correct"] = (
            metrics["sigmoid"]["correct"] > metrics["linear"]["correct"]
        )
        values["sigmoid_improves"] = sigmoid_improves(metrics)
    return values


def summarize(config, class_names, results, truth, validation_truth):
    """Everything the run shows, computed once: the first run's readings, the per-run metrics,
    the study (several runs) and the registry's verdicts. `results`: {activation: Runs};
    `truth`, `validation_truth`: whether each test (validation) image is the target class."""
    target_name = class_names[config["target_class"]]
    first_run, table = {}, []
    for activation, runs in results.items():
        first_run[activation] = first = first_run_metrics(activation, runs, truth)
        table += [
            (f"{activation}, {label}", m)
            for (_, label), m in zip(readings_of(activation), first["readings"], strict=True)
        ]
    baseline = baseline_metrics(truth)
    table.append((f"never '{target_name}' (the baseline)", baseline))
    validation_baseline = baseline_metrics(validation_truth)["accuracy"]
    metrics = {a: run_metrics(runs, truth) for a, runs in results.items()}
    study = {}
    if config["seeds"] > 1:
        study = {a: study_summary(runs, metrics[a]) for a, runs in results.items()}
        if len(results) > 1:
            study["paired"] = paired_summary(metrics)
    claims = claims_for("mnist", config)
    return {
        "target_name": target_name,
        "first_run": first_run,
        "table": table,
        "baseline": baseline,
        "validation_baseline": validation_baseline,
        "metrics": metrics,
        "study": study,
        "claims": claims,
        "claim_values": (values := claim_values(metrics, results)),
        "verdicts": judge_all(claims, values, config),
    }


def record_metrics(record, summary):
    """The record's metrics: the first run's readings, the verdicts, and a study's
    distributions and per-run claim values."""
    metrics = {
        "runs": summary["first_run"],
        "baseline": summary["baseline"],
        "target": summary["target_name"],
        "data_source": record["data"]["source"],
        "verdicts": summary["verdicts"],
        "validation_baseline": summary["validation_baseline"],
    }
    if record["config"]["seeds"] > 1:
        metrics |= {"study": summary["study"], "claim_values": summary["claim_values"]}
    return metrics


# ## The view
def labels_of(config, arrays):
    """(test truth, validation truth): whether each image is the target class."""
    target = config["target_class"]
    test = arrays["data.test_labels"] == target
    validation = arrays.get("data.validation_labels")
    return test, test if validation is None else validation == target


def render(record, arrays, figures_dir=None, csv_path=None):
    """The view of an MNIST run from its record and arrays: figures into `figures_dir` and a
    study's per-run CSV at `csv_path`, where given."""
    from reproduction.studies import mnist_figures, mnist_text  # (matplotlib only if drawing)

    config, class_names = record["config"], record["data"]["class_names"]
    results = {
        activation: Runs.from_arrays(arrays, f"{activation}.")
        for activation in ACTIVATIONS
        if f"{activation}.loss" in arrays
    }
    truth, validation_truth = labels_of(config, arrays)
    summary = summarize(config, class_names, results, truth, validation_truth)
    figures = []
    if figures_dir is not None:
        figures = mnist_figures.save_figures(
            SimpleNamespace(**config), record, arrays, results, summary, figures_dir
        )
    metrics = record_metrics(record, summary)
    if config["seeds"] > 1:
        columns = [*CSV_COLUMNS, *(f"val_accuracy_{e + 1}" for e in range(config["epochs"]))]
        metrics |= write_csv(
            csv_path, csv_rows(config, results, summary["metrics"]), [*columns, "replay"]
        )
    text = mnist_text.report_text(config, results, summary, truth)
    if config["seeds"] == 1:  # a single run: where it falls among the committed study's
        lines = []
        for activation in results:
            measured = summary["metrics"][activation]
            placed = placement_line(
                "mnist",
                config,
                record.get("data_files"),
                float(measured["test_accuracy"][0]),
                activation=activation,
            )
            lines += [placed] if placed else []
            advice = dead_advice(config) if measured["dead"][0] else None
            lines += [f"the {activation} neuron died: {advice}"] if advice else []
        text += "".join(f"\n{line}" for line in lines)
    return View(text, metrics, figures)
