"""CIFAR-10 (cifar10_dense.py): what a run or a seed study shows, drawn from its record.

`render(record, arrays)` is the one view of a run (studies/render.py): the first run beside every
published figure of the registry, per-class accuracy, the tutorial's picture (10 test images
with predicted and actual classes), the training curves and the confusion matrix; for a study,
the distributions over the runs, the test set's own sampling spread, the per-run table with a
command that replays each run, and the registry's verdicts.
"""

from types import SimpleNamespace

import numpy as np

from reproduction.engines.runs import Runs
from reproduction.evidence.claims import claims_for, published_values
from reproduction.evidence.statistics import distribution, distribution_text, sampling_sd
from reproduction.evidence.verdicts import claims_report, format_value, judge_all
from reproduction.settings.cifar10 import BLOCK_ORDERS, CIFAR10, FIRST_BLOCK_ORDER
from reproduction.studies.figures import (
    confusion_figure,
    distribution_figure,
    epoch_curves_figure,
    image_predictions_figure,
    save_figure,
)
from reproduction.studies.render import View, write_csv


# ## Progress: what a run prints while it trains
def run_line(seeds):
    """A study's line after each run: on_run_end(run, OneRun) for seeds (weight, data)."""

    def report(run, result):
        history = result.history
        print(
            f"run {run + 1}/{len(seeds[0])} (seed {seeds[0][run]}, data seed {seeds[1][run]}): "
            f"test accuracy {100 * result.test_accuracy:.2f}%, test loss "
            f"{result.test_loss:.4f}, train accuracy {100 * history.accuracy[-1]:.2f}%, "
            f"{history.train_seconds:.1f} s",
            flush=True,
        )

    return report


def epoch_line(epochs):
    """A single compiled run's line after each epoch: on_epoch_end(epoch, TrainingHistory)."""

    def report(epoch, history):
        line = (
            f"Epoch {epoch}/{epochs}: {history.epoch_seconds[-1]:.1f} s - loss "
            f"{history.loss[-1]:.4f} - accuracy {history.accuracy[-1]:.4f}"
        )
        if history.val_loss and np.isfinite(history.val_loss[-1]):
            line += (
                f" - val_loss {history.val_loss[-1]:.4f} - val_accuracy "
                f"{history.val_accuracy[-1]:.4f}"
            )
        print(line, flush=True)

    return report


def epochs_trained(runs, run):
    """Epochs run `run` trained (it stops after an epoch whose loss is not finite)."""
    return int(np.isfinite(runs.extra["epoch_seconds"][run]).sum())


def picture_correct(probabilities, labels, shown):
    """How many of the tutorial's picture's test images (`shown`: chosen by the run's seed, as
    a single run of that seed shows them) the run gets right."""
    return int((probabilities[shown].argmax(axis=1) == labels[shown]).sum())


def study_rows(runs, config, untrained, test_labels, pictures):
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


def measured_values(rows):
    """{quantity: per-run values}: what the registry's claims are judged on."""
    values = {
        key: [row[key] for row in rows]
        for key in ("test_accuracy", "test_loss", "train_accuracy", "untrained_test_accuracy")
    }
    values["picture_around_half"] = [4 <= row["picture_correct"] <= 6 for row in rows]
    return values


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
    rows = study_rows(runs, config, untrained, test_labels, pictures)
    claims = claims_for("cifar10", config)
    probabilities = runs.test_outputs[0]
    matrix = confusion_matrix(test_labels, probabilities.argmax(axis=1))
    count = len(test_labels)
    return {
        "rows": rows,
        "claims": claims,
        "study": study_summary(rows, count) if len(rows) > 1 else None,
        "verdicts": judge_all(claims, measured_values(rows), config, sampling_n=count),
        "matrix": matrix,
        "probabilities": probabilities,
        "per_class": matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1),
        "history": runs.history(0),
    }


def study_report(summary):
    return "\n".join(
        [
            f"Seed study: {summary['n']} runs",
            f"  test accuracy:  {distribution_text(summary['test_accuracy'])}",
            f"  test loss:      {distribution_text(summary['test_loss'], 1, '', 4)}",
            f"  train accuracy: {distribution_text(summary['train_accuracy'])} (last epoch)",
            f"  spread over runs: sd {100 * summary['test_accuracy']['sd']:.2f} points; the test "
            f"set's own sampling sd at this accuracy: {100 * summary['sampling_sd']:.2f} points "
            "(sqrt(p(1-p)/n))",
            f"  before training (initial weights): test accuracy "
            f"{distribution_text(summary['untrained_test_accuracy'])}",
            f"  the tutorial's picture (10 test images per run): correct "
            f"{distribution_text(summary['picture_correct'], 1, '', 1)}",
        ]
    )


def results_table(claims, first):
    """The first run beside every published figure of the registry, one column per source."""
    quantities = (
        ("train accuracy (last epoch)", "train_accuracy", "%"),
        ("test loss", "test_loss", "loss"),
        ("test accuracy", "test_accuracy", "%"),
    )
    columns = {}
    for label, quantity, _ in quantities:
        for value, source in published_values(claims, quantity):
            columns.setdefault(source, {})[label] = value
    width = max([15, *(len(name) + 2 for name in columns)])
    lines = [f"  {'':28s}{'this run':>10s}" + "".join(f"{name:>{width}s}" for name in columns)]

    def as_published(value, unit):  # the source's own digits, no more
        return f"{100 * value:.4g}%" if unit == "%" else f"{value:g}"

    for label, quantity, unit in quantities:
        lines.append(
            f"  {label:28s}{format_value(first[quantity], unit):>10s}"
            + "".join(
                f"{as_published(column[label], unit) if label in column else '-':>{width}s}"
                for column in columns.values()
            )
        )
    return "\n".join(lines)


def report_text(settings, data, results):
    """What the run prints after training: the study (if any), the first run beside the
    published figures, the claims' verdicts, per-class accuracy."""
    rows, study = results["rows"], results["study"]
    parts = []
    if study is not None:
        parts += [
            study_report(study),
            f"  replay a run alone (run 1): {rows[0]['command']}",
            f"\nThe first run (seed {settings.seed}), as a single run prints it:",
        ]
    epochs = len(results["history"].loss)
    parts += [
        f"Results after {epochs} epoch{'s' * (epochs != 1)} (seed {settings.seed}):",
        results_table(results["claims"], rows[0]),
        "",
        *claims_report(results["verdicts"], results["claims"]),
        "",
        "per-class test accuracy: "
        + ", ".join(
            f"{name} {100 * share:.0f}%"
            for name, share in zip(data["class_names"], results["per_class"], strict=True)
        ),
    ]
    if data["note"]:
        parts.append(f"note: {data['note']}")
    return "\n".join(parts)


def save_study_figure(settings, results, path, title):
    rows = results["rows"]
    published = [
        (value, f"published ({source}) {100 * value:.1f}%")
        for value, source in published_values(results["claims"], "test_accuracy")
    ]
    figure = distribution_figure(
        {"runs": [row["test_accuracy"] for row in rows]},
        f"{title}: test accuracy of {len(rows)} runs ({settings.epochs} epoch"
        f"{'s' * (settings.epochs != 1)})",
        "test accuracy (%)",
        published=published,
        bins=max(10, min(40, len(rows))),
    )
    return save_figure(figure, path)


def confusion_matrix(actual, predicted, classes=10):
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def save_figures(settings, data, arrays, results, folder):
    tag, title = names(settings)
    history, probabilities = results["history"], results["probabilities"]
    predicted = probabilities.argmax(axis=1)
    labels = arrays["data.test_labels"]
    shown = arrays["data.picture_indices"][0]
    references = [
        ("accuracy", value, f"published test ({source})")
        for value, source in published_values(results["claims"], "test_accuracy")
    ]
    references.append(("accuracy", float(np.mean(predicted == labels)), "this run's test"))
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
            epoch_curves_figure(curves, title, references=references),
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


def names(settings):
    """(figure file prefix, title) of the run's model; the prefix ends with the settings that
    differ from the tutorial's ('_epochs3_lr0.01')."""
    suffix = CIFAR10.file_suffix(vars(settings))
    if settings.model == "dense":
        return "cifar10_dense" + suffix, "CIFAR-10 Dense network"
    later = settings.block_order != FIRST_BLOCK_ORDER
    return (
        f"cifar10_cnn{'_bn_first' if later else ''}{suffix}",
        f"CIFAR-10 CNN ({'BN -> LeakyReLU' if later else 'LeakyReLU -> BN'})",
    )


def header_text(args, data, device_line, plan, layout, train_count, parameters):
    """What a run prints before training: the model and its training, the device, the data."""
    _, title = names(args)
    held_out = len(data.y_train) - train_count
    lines = [
        f"{title}: {parameters:,} parameters; "
        f"Adam(learning_rate={args.learning_rate:g}), batch {args.batch_size}, "
        f"{args.epochs} epoch{'s' * (args.epochs != 1)}, shuffled; engine {args.engine}",
        f"{device_line}; threads {plan.intra_op} intra-op / {plan.inter_op} inter-op"
        + (
            f"; {layout[1]} column block{'s' * (layout[1] > 1)} per network"
            + (f", {layout[0]} networks side by side" if args.seeds > 1 else "")
            if layout
            else ""
        ),
    ]
    if args.model == "cnn":
        lines.append(f"blocks: {BLOCK_ORDERS[args.block_order]}")
    if args.seeds > 1:
        lines.append(
            f"seed study: {args.seeds} runs; weight seeds {args.seed}.."
            f"{args.seed + args.seeds - 1}, data seeds {args.data_seed}.."
            f"{args.data_seed + args.seeds - 1}"
        )
    lines.append(
        f"data: {data.source}: {train_count:,} training"
        + (f" + {held_out:,} validation" if held_out else "")
        + f", {len(data.y_test):,} test images"
        + (f"\n  note: {data.note}" if data.note else "")
        + "\n"
    )
    return "\n".join(lines)


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
    metrics |= {"runs": results["rows"], "claim_values": measured_values(results["rows"])}
    if results["study"] is not None:
        metrics["study"] = results["study"]
    return metrics


def replay_command(config, weight_seed, data_seed):
    """The single-run command that replays one run of a study exactly (same machine): the
    compiled Dense engine's column blocks are part of its arithmetic."""
    dense_compiled = config["engine"] == "compiled" and config["model"] == "dense"
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
    figures = []
    if figures_dir is not None:
        figures = save_figures(settings, data, arrays, results, figures_dir)
    metrics = record_metrics(data, results)
    if results["study"] is not None:
        metrics |= write_csv(csv_path, results["rows"], CSV_COLUMNS)
    return View(report_text(settings, data, results), metrics, figures)
