"""CIFAR-10 (cifar10_dense.py): the text a run prints, before, while and after it trains."""

import sys

import numpy as np

from reproduction.evidence.claims import published_values
from reproduction.evidence.statistics import distribution_text
from reproduction.evidence.verdicts import claims_report, format_value
from reproduction.plumbing.text import clipped_limits
from reproduction.settings.cifar10 import BLOCK_ORDERS
from reproduction.studies.cifar10_figures import model_title


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
            file=sys.stderr,
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
        print(line, file=sys.stderr, flush=True)

    return report


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


def header_text(args, data, device_line, plan, layout, train_count, parameters):
    """What a run prints before training: the model and its training, the device, the data."""
    title = model_title(vars(args))
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
        + clipped_limits(args, len(data.y_train), len(data.y_test))
        + (f"\n  note: {data.note}" if data.note else "")
        + "\n"
    )
    return "\n".join(lines)
