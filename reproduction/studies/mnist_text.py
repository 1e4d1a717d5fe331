"""MNIST "five or not" (mnist_perceptron.py): the text a run prints, before and after training."""

import functools
import math

import numpy as np

from reproduction.evidence.statistics import distribution_text, share_text, variance_split_text
from reproduction.evidence.verdicts import claims_report
from reproduction.plumbing.text import clipped_limits
from reproduction.studies.mnist import replay_command


def study_report(activation, summary, baseline, target_name):
    """Printed lines of one activation's study."""
    points = functools.partial(distribution_text, scale=100, unit=" points", decimals=1)
    return [
        f"{activation} neuron, {summary['n']} runs:",
        "  dead neuron (every test image read as one class, weights stopped): "
        f"{share_text(summary['dead'])}",
        *(
            [f"  diverged (loss not finite): {share_text(summary['diverged'])}"]
            if summary["diverged"]["count"]
            else []
        ),
        f"  final validation accuracy, live runs: "
        f"{distribution_text(summary['live_final_accuracy'])}",
        f"  final validation accuracy, all runs: {distribution_text(summary['final_accuracy'])}",
        f"  ending below the never-'{target_name}' baseline ({100 * baseline:.2f}%): "
        f"{share_text(summary['below_baseline'])}",
        f"  last epoch better than the first: {share_text(summary['improved_over_epochs'])}",
        f"  validation accuracy's spread across the epochs (max - min) per run: "
        f"{points(summary['epoch_spread_points'])}",
        "  " + variance_split_text(summary["variance_split"], "final accuracy"),
        "  " + variance_split_text(summary["dead_variance_split"], "dying"),
    ]


# ## Reports of one run
def _percent(value):
    return "   n/a" if math.isnan(value) else f"{100 * value:5.1f}%"


def metrics_table(rows):
    """rows: (label, metrics) -> aligned lines: accuracy, precision, recall, confusion counts."""
    lines = [
        f"  {'':44s}{'accuracy':>9s}{'precision':>10s}{'recall':>8s}"
        f"{'TN':>7s}{'FP':>6s}{'FN':>6s}{'TP':>6s}"
    ]
    for label, m in rows:
        lines.append(
            f"  {label:44s}{_percent(m['accuracy']):>9s}{_percent(m['precision']):>10s}"
            f"{_percent(m['recall']):>8s}{m['tn']:7d}{m['fp']:6d}{m['fn']:6d}"
            f"{m['tp']:6d}"
        )
    return "\n".join(lines)


QUANTILE_NAMES = {"q0": "min", "q100": "max", "q50": "median"}


def quantiles_line(quantiles):
    return "  " + ", ".join(
        f"{QUANTILE_NAMES.get(name, name.replace('q', '') + '%')} {value:.3g}"
        for name, value in quantiles.items()
    )


def epochs_table(results):
    """Per epoch and neuron ({name: Runs}): the first run's training loss, validation loss and
    validation accuracy, as Keras's epoch lines give them."""
    columns = [
        (f"{name} {what}", values)
        for name, runs in results.items()
        for what, values in (
            ("loss", runs.loss[0]),
            ("val loss", runs.val_loss[0]),
            ("val accuracy", runs.val_accuracy[0]),
        )
    ]
    width = max(len(label) for label, _ in columns) + 2
    lines = ["  epoch" + "".join(f"{label:>{width}s}" for label, _ in columns)]
    for epoch in range(max(len(values) for _, values in columns)):
        cells = []
        for label, values in columns:
            if epoch >= len(values):
                cells.append(f"{'-':>{width}s}")
            elif label.endswith("accuracy"):
                cells.append(f"{100 * values[epoch]:{width - 1}.2f}%")
            else:
                cells.append(f"{values[epoch]:{width}.4f}")
        lines.append(f"  {epoch + 1:5d}" + "".join(cells))
    return "\n".join(lines)


def run_lines(activation, first_run, target_name):
    """A neuron's first run in lines: its raw outputs' quantiles (the tutorial's debugging
    step), its validation accuracy's range over the epochs, and whether it died."""
    val_accuracy, spread = first_run["val_accuracy"], first_run["val_accuracy_spread_points"]
    lines = [
        f"{activation} neuron: raw outputs on the test set (quantiles):",
        quantiles_line(first_run["output_quantiles"]),
        f"  validation accuracy over the epochs: {100 * min(val_accuracy):.2f}% to "
        f"{100 * max(val_accuracy):.2f}% (a spread of {spread:.1f} points)",
    ]
    if first_run["one_class"]:  # read at 0.5 (its last reading), every image is one class
        keras_reading = first_run["readings"][-1]
        all_target = keras_reading["tp"] + keras_reading["fp"] > 0
        said = f"'{target_name}'" if all_target else f"not '{target_name}'"
        if first_run["dead"]:
            lines.append(
                f"  the {activation} neuron died: every test image read as {said}, and its "
                "training loss stayed the same float over its last epochs: its weights stopped "
                "(a saturated sigmoid's float32 gradient is exactly zero)"
            )
        else:
            why = (
                "one epoch cannot show whether its weights stopped"
                if len(first_run["train_loss"]) < 2
                else "its weights still move (its training loss still changes)"
            )
            lines.append(
                f"  the {activation} neuron predicts one class: every test image read as "
                f"{said}; {why}, so it is not called dead: more epochs or images may change that"
            )
    return lines


def replay_lines(config, results, metrics):
    """A replay command for the first dead and the first live run of each neuron."""
    lines = []
    for activation, runs in results.items():
        dead = metrics[activation]["dead"]
        for label, chosen in (("a dead", np.flatnonzero(dead)), ("a live", np.flatnonzero(~dead))):
            if len(chosen):
                run = int(chosen[0])
                lines.append(
                    f"replay {label} {activation} run alone (run {run}): "
                    + replay_command(config, runs, run, activation)
                )
    return lines


def report_text(config, results, summary, truth):
    """What the run prints after training: the first run's epochs and readings, the study,
    the claims' verdicts."""
    target_name, study = summary["target_name"], summary["study"]
    parts = [
        (f"First run of the study (seed {config['seed']}):\n" if config["seeds"] > 1 else "")
        + epochs_table(results)
        + "\n",
        *(
            line
            for activation, first_run in summary["first_run"].items()
            for line in run_lines(activation, first_run, target_name)
        ),
        f"\nOn the {len(truth):,} test images ({100 * truth.mean():.1f}% are '{target_name}'):",
        metrics_table(summary["table"]),
    ]
    if study:
        parts.append("")
        for activation in results:
            parts += study_report(
                activation, study[activation], summary["validation_baseline"], target_name
            )
        if "paired" in study:
            difference = functools.partial(distribution_text, unit=" points", decimals=2)
            parts += [
                f"paired, same seeds: sigmoid minus linear final accuracy: "
                f"{difference(study['paired']['difference'])}",
                f"  the sigmoid is better in {share_text(study['paired']['sigmoid_better'])}",
            ]
        parts += replay_lines(config, results, summary["metrics"])
    claims = claims_report(summary["verdicts"], summary["claims"])
    return "\n".join(parts + ([""] + claims if claims else []))


def header_text(args, data, splits, device_line, activations, seeds):
    """What a run prints before training: the task, the model and its training, the data."""
    pixels = "pixels / 255" if args.normalize else "raw pixels (0-255)"
    target_name = data.class_names[args.target_class]
    held_out = len(splits[1][1]) if args.validation_split else 0
    lines = [
        f"{args.dataset}: '{target_name}' vs the rest; Flatten -> Dense(1, "
        f"{' | '.join(activations)}) on {pixels}; mean squared error, Adam(learning_rate="
        f"{args.learning_rate:g}), batch {args.batch_size}, {args.epochs} epoch"
        f"{'s' * (args.epochs != 1)}; engine {args.engine}",
        device_line,
        f"data: {data.source}: {len(splits[0][1]):,} training"
        + (f" + {held_out:,} validation" if held_out else "")
        + f", {len(data.y_test):,} test images; validation: "
        + (
            f"the last {args.validation_split:g} of the training set"
            if held_out
            else "the test set, as in the tutorial"
        )
        + clipped_limits(args, len(data.y_train), len(data.y_test)),
    ]
    if list(data.class_names) != [str(index) for index in range(len(data.class_names))]:
        lines.append(  # names that are not their numbers (Fashion-MNIST's)
            "classes: "
            + ", ".join(f"{index} {name}" for index, name in enumerate(data.class_names))
        )
    if args.seeds > 1:
        weight_seeds, data_seeds = seeds
        lines.append(
            f"seed study: {args.seeds} runs; weight seeds {weight_seeds[0]}.."
            f"{weight_seeds[-1]}, {len(set(data_seeds))} data orders (data seeds "
            f"{data_seeds[0]}..{data_seeds[-1]}) of up to "
            f"{np.bincount(data_seeds - data_seeds[0]).max()} runs"
        )
    return "\n".join(lines) + "\n"
