"""
Title: MNIST "five or not five" with a single neuron
Tutorial: the ml-class "Build a Neural Network" video: Flatten -> Dense(1) on the raw 0-255
    pixels, labels `y == 5`, loss "mse", optimizer "adam", metric "accuracy", 10 epochs, the test
    set as validation data; then `Dense(1, activation="sigmoid")` as the fix.
Description: Replays the tutorial's story with real numbers: the per-epoch validation accuracy,
    the range of the raw outputs (the tutorial's debugging step), the accuracy read at 0 (the
    tutorial's "anything greater than 0 is a five") and at 0.5 (what Keras's metric reads),
    beside what an imbalanced task needs: the never-five baseline, precision, recall and the
    confusion matrix. `--compare` runs the linear and the sigmoid neuron back to back;
    `--dataset fashion_mnist --target-class N` is the video's follow-up exercise.
Expected result (1,000 runs, 2 CPU cores): the linear neuron ends below the 91.08% a model that
    never says "five" gets in every run, swinging by a median 55 points over its epochs; the
    sigmoid neuron dies (stays at exactly 91.08%) in about half the runs and otherwise ends near
    96.5%. On pixels / 255 (--normalize) no sigmoid run dies. REPORT.md has the distributions.

Usage: python mnist_perceptron.py --data-dir ../shared/datasets [--compare] [--normalize]
"""

import functools
import math
import sys
import time

import numpy as np

from reproduction.data.checks import DataError
from reproduction.data.mnist import load_fashion_mnist, load_mnist
from reproduction.data.registry import DATASETS
from reproduction.engines.keras_fit import HistoryRecorder
from reproduction.engines.neurons import initial_weights
from reproduction.engines.neurons import train as train_neurons
from reproduction.engines.runs import COMPILED, ENGINE_HELP, ENGINES, FIT, Runs, TrainingHistory
from reproduction.evidence.claims import claims_for
from reproduction.evidence.statistics import (
    distribution,
    distribution_text,
    share,
    share_text,
    variance_split,
    variance_split_text,
)
from reproduction.evidence.verdicts import claims_report, judge_all
from reproduction.plumbing.backend import keras, layers, tf
from reproduction.plumbing.cli import (
    add_data_dir_flag,
    add_optimizer_flags,
    check_output_dir,
    check_output_paths,
    check_validation_split,
    config_of,
    count_check,
    int_in_range,
    make_parser,
)
from reproduction.plumbing.device import select_device_or_exit
from reproduction.plumbing.exits import error_line, run_main
from reproduction.plumbing.keras_outputs import add_output_flags, save_model, write_tensorboard_logs
from reproduction.plumbing.records import peak_rss_mb, save_run_record
from reproduction.plumbing.seeding import set_seed
from reproduction.plumbing.threads import setup_threads
from reproduction.studies.figures import (
    distribution_figure,
    epoch_curves_figure,
    image_predictions_figure,
    new_figure,
    plt,
    save_figure,
    settings_suffix,
)
from reproduction.studies.tables import csv_path_for, write_runs_csv


# ## The model: the tutorial's single neuron
def build_model(activation="linear", image_shape=(28, 28)):
    return keras.Sequential(
        [
            keras.Input(image_shape),
            layers.Flatten(),
            layers.Dense(1, activation=activation),
        ]
    )


# The tutorial: model.compile(loss="mse", optimizer="adam", metrics=["accuracy"]) and
# model.fit(X_train, is_five_train, epochs=10, validation_data=(X_test, is_five_test)).


def compile_as_tutorial(model, learning_rate):
    model.compile(
        loss="mse",
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=["accuracy"],
    )
    return model


# ## Defaults: the tutorial's settings (the run record stores the values actually used)
DEFAULTS = dict(
    dataset="mnist",
    target_class=5,
    activation="linear",
    learning_rate=1e-3,
    batch_size=32,
    epochs=10,
    normalize=False,
    validation_split=0.0,
    engine=COMPILED,
    seeds=1,
    data_orders=10,
)
# A study keeps every run's test outputs (40 kB a run on MNIST): 20,000 runs hold 0.8 GB.
MAX_SEEDS = 20_000
LOADERS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}
READINGS = ((0.0, "output > 0 (the tutorial's reading)"), (0.5, "output > 0.5 (Keras's metric)"))
QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)
GRID = (4, 8)  # rows, columns of the predictions figure
# Settings that change a run's numbers: each that differs from DEFAULTS gets its part in the
# figures' file names (reproduction/studies/figures.settings_suffix), --normalize as '_normalized'.
NAMED_SETTINGS = (
    "normalize",
    "epochs",
    "learning_rate",
    "batch_size",
    "validation_split",
    "engine",
    "train_limit",
    "test_limit",
)
# The weight image's colour limit: the 99th percentile of |w| over the pixels lit in at least
# 1% of the training images (a few outliers, and barely trained weights, do not wash it out).
WEIGHT_PERCENTILE, MIN_LIT_SHARE = 99, 0.01
NEVER_TRAINED_GREY = "0.6"


# ## Data: labels become "is it the target class?"
def binary_split(data, target_class, validation_split):
    """(train images, train 0/1 labels), (validation images, labels), (test images, labels).
    Validation is the test set, as in the tutorial, unless a split of training is asked for
    (Keras's validation_split: the last part, before shuffling)."""
    is_target = lambda labels: (labels == target_class).astype(np.uint8)  # noqa: E731
    test = (data.x_test, is_target(data.y_test))
    if not validation_split:
        return (data.x_train, is_target(data.y_train)), test, test
    keep = len(data.y_train) - int(len(data.y_train) * validation_split)
    return (
        (data.x_train[:keep], is_target(data.y_train[:keep])),
        (data.x_train[keep:], is_target(data.y_train[keep:])),
        test,
    )


# ## Training: the tutorial's spelling (--engine fit) and the compiled engine
def run_seeds(args):
    """(weight seeds, data seeds) of the runs: run r starts from weight seed --seed + r and sees
    the data in the order of data seed --data-seed + r // J, where J = ceil(N / --data-orders):
    K data orders x J initial weights."""
    per_order = -(-args.seeds // min(args.data_orders, args.seeds))
    runs = np.arange(args.seeds)
    return args.seed + runs, args.data_seed + runs // per_order


def train_fit(activation, splits, args, image_shape):
    """The tutorial's code, once per run: compile with "mse", Adam and "accuracy", fit with the
    validation data, predict. Each run starts from the same initial weights the compiled engine
    uses (its weight seed); its data order is Keras's own shuffle, seeded by its data seed."""
    (x_train, y_train), validation, test = splits
    scale = (lambda x: x / 255.0) if args.normalize else (lambda x: x)
    weight_seeds, data_seeds = run_seeds(args)
    kernels, biases = initial_weights(weight_seeds, int(np.prod(image_shape)))
    histories, outputs, finals, seconds = [], [], [], 0.0
    for run, data_seed in enumerate(data_seeds):
        set_seed(int(data_seed), args.deterministic)
        model = build_model(activation, image_shape)
        model.set_weights([kernels[run], biases[run]])
        compile_as_tutorial(model, args.learning_rate)
        recorder = HistoryRecorder()
        model.fit(
            scale(x_train),
            y_train.astype("float32"),
            batch_size=args.batch_size,
            epochs=args.epochs,
            shuffle=True,
            verbose=0,
            validation_data=(scale(validation[0]), validation[1].astype("float32")),
            callbacks=[recorder, keras.callbacks.TerminateOnNaN()],
        )
        histories.append(recorder.history_record)
        seconds += recorder.history_record.train_seconds
        outputs.append(model.predict(scale(test[0]), batch_size=1000, verbose=0)[:, 0])
        finals.append(model.get_weights())
    # TerminateOnNaN may stop a run early: its remaining epochs are NaN
    stacked = {
        key: np.array(
            [
                getattr(h, key) + [math.nan] * (args.epochs - len(getattr(h, key)))
                for h in histories
            ],
            np.float32,
        )
        for key in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    return Runs(
        weight_seeds=weight_seeds,
        data_seeds=data_seeds,
        train_seconds=seconds,
        params=[np.stack(parts) for parts in zip(*finals, strict=True)],
        test_outputs=np.stack(outputs),
        **stacked,
    )


def train_compiled(activation, splits, args, image_shape):
    """The same experiment, every run of the study at once (reproduction/engines/neurons.py)."""
    weight_seeds, data_seeds = run_seeds(args)
    return train_neurons(
        *splits,
        activation=activation,
        weight_seeds=weight_seeds,
        data_seeds=data_seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        input_scale=1 / 255 if args.normalize else 1.0,
    )


ENGINE_FUNCTIONS = {FIT: train_fit, COMPILED: train_compiled}


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
            np.quantile(np.asarray(outputs, np.float64), QUANTILES).tolist(),
            strict=True,
        )
    )


# ## Per-run figures, and what a study of many runs says
def run_metrics(runs, truth, baseline):
    """Per-run arrays from `runs` (an engines.runs.Runs): the test set read at 0.5 (Keras's
    metric) and at 0 (the tutorial's reading), whether the neuron died, and its validation
    accuracy's path over the epochs."""
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
    return {
        **counts,
        "test_accuracy": (counts["tp"] + counts["tn"]) / len(truth),
        "precision": precision,
        "recall": recall,
        "accuracy_at_0": ((runs.test_outputs > 0) == truth).mean(1),
        # Dead: the neuron says the same for every test image (all outputs on one side of
        # 0.5). On raw pixels a sigmoid saturates: its float32 gradient is then exactly zero.
        "dead": said.all(1) | (~said).all(1),
        "diverged": ~np.isfinite(runs.loss).all(1),
        "final_val_accuracy": final,
        "final_val_loss": runs.val_loss[:, -1].astype(np.float64),
        "epoch_spread_points": 100 * (runs.val_accuracy.max(1) - runs.val_accuracy.min(1)),
        "below_baseline": final < baseline,
        "improved": final > runs.val_accuracy[:, 0],
    }


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
        "improved_over_epochs": share(metrics["improved"]),
        "epoch_spread_points": distribution(metrics["epoch_spread_points"] / 100),
        "variance_split": variance_split(final, runs.data_seeds),
        "dead_variance_split": variance_split(dead.astype(float), runs.data_seeds),
    }


def paired_summary(metrics):
    """--compare: the same runs (same weights, same order) with both neurons."""
    difference = metrics["sigmoid"]["final_val_accuracy"] - metrics["linear"]["final_val_accuracy"]
    return {"difference": distribution(difference), "sigmoid_better": share(difference > 0)}


def study_report(activation, summary, baseline, target_name):
    """Printed lines of one activation's study."""
    points = functools.partial(distribution_text, scale=100, unit=" points", decimals=1)
    return [
        f"{activation} neuron, {summary['n']} runs:",
        f"  dead neuron (every test image read as the same class): {share_text(summary['dead'])}",
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


def replay_command(args, run, weight_seed, data_seed, activation):
    """The single-run command that trains run `run` of a study alone, with the same numbers."""
    flags = [f"--seed {weight_seed}", f"--data-seed {data_seed}"]
    if args.data_dir is not None:
        flags.insert(0, f"--data-dir {args.data_dir}")
    if activation != DEFAULTS["activation"]:
        flags.append(f"--activation {activation}")
    for name in (
        "dataset",
        "target_class",
        "epochs",
        "learning_rate",
        "batch_size",
        "validation_split",
        "engine",
        "train_limit",
        "test_limit",
    ):
        value = getattr(args, name)
        if value != DEFAULTS.get(name):
            flags.append(f"--{name.replace('_', '-')} {value}")
    for name in ("normalize", "allow_small_data", "deterministic"):
        if getattr(args, name):
            flags.append(f"--{name.replace('_', '-')}")
    return "python mnist_perceptron.py " + " ".join(flags)


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


def csv_rows(args, results, metrics):
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
            row["replay"] = replay_command(
                args, run, row["weight_seed"], row["data_seed"], activation
            )
            rows.append(row)
    return rows


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


def epochs_table(val_accuracies):
    """Per-epoch validation accuracy, one column per neuron ({name: values})."""
    lines = ["  epoch" + "".join(f"{name + ' val accuracy':>26s}" for name in val_accuracies)]
    for epoch in range(max(len(v) for v in val_accuracies.values())):
        cells = [
            f"{100 * v[epoch]:25.2f}%" if epoch < len(v) else f"{'-':>26s}"
            for v in val_accuracies.values()
        ]
        lines.append(f"  {epoch + 1:5d}" + "".join(cells))
    return "\n".join(lines)


def readings_of(activation):
    # A sigmoid's output is always above 0: reading it at 0 would call everything the target.
    return READINGS if activation == "linear" else READINGS[1:]


def run_report(activation, runs, truth, target_name, index=0):
    """Printed lines, readings and the metrics dict for run `index` of `runs`."""
    outputs, val_accuracy = runs.test_outputs[index], runs.val_accuracy[index]
    readings = [
        binary_metrics(outputs, truth, threshold) for threshold, _ in readings_of(activation)
    ]
    quantiles = output_quantiles(outputs)
    spread = 100 * float(val_accuracy.max() - val_accuracy.min())
    dead = bool(np.all(outputs > 0.5) or np.all(outputs <= 0.5))
    lines = [
        f"{activation} neuron: raw outputs on the test set (quantiles):",
        quantiles_line(quantiles),
        f"  validation accuracy over the epochs: {100 * val_accuracy.min():.2f}% to "
        f"{100 * val_accuracy.max():.2f}% (a spread of {spread:.1f} points)",
    ]
    if dead:
        said = f"'{target_name}'" if np.all(outputs > 0.5) else f"not '{target_name}'"
        lines.append(f"  the {activation} neuron died: every test image read as {said}")
    metrics = {
        "val_accuracy": val_accuracy.tolist(),
        "val_loss": runs.val_loss[index].tolist(),
        "train_loss": runs.loss[index].tolist(),
        "train_accuracy": runs.accuracy[index].tolist(),
        "output_quantiles": quantiles,
        "readings": readings,
        "val_accuracy_spread_points": spread,
        "dead": dead,
        "weight_seed": int(runs.weight_seeds[index]),
        "data_seed": int(runs.data_seeds[index]),
    }
    return lines, readings, metrics


# ## Figures
def prediction_grid_indices(truth, seed, count):
    """Half target-class images, half others (so the rare class shows), chosen by the seed."""
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(truth), np.flatnonzero(~np.asarray(truth, bool))
    take_pos = min(count // 2, len(positives))
    chosen = np.concatenate(
        [
            rng.choice(positives, take_pos, replace=False),
            rng.choice(negatives, min(count - take_pos, len(negatives)), replace=False),
        ]
    )
    return rng.permutation(chosen)


def weight_colour_scale(
    kernel, train_images, percentile=WEIGHT_PERCENTILE, min_lit_share=MIN_LIT_SHARE
):
    """(never_lit, limit) of a weight image. never_lit (the images' shape) marks the pixels
    that are 0 in every training image: their input is always 0, so their weight never gets a
    gradient (nor an Adam step) and keeps its random initial value. limit: a symmetric colour
    limit at the `percentile` of |w| over the pixels lit (not 0) in at least `min_lit_share` of
    the training images; the others are clipped. Adam moves every lit weight by about the same
    amount, so a pixel lit in a handful of images keeps most of its random start and would set
    the scale as an unlit one does (MNIST's linear neuron: 0.07 over every lit pixel, 0.003
    over those lit in 1% of the images). Falls back to every lit pixel, then to 1.0."""
    images = np.asarray(train_images)
    lit_share = np.count_nonzero(images.reshape(len(images), -1), axis=0) / max(len(images), 1)
    never_lit = lit_share == 0
    magnitudes = np.abs(np.asarray(kernel, np.float64).reshape(-1))
    limit = 0.0
    for pixels in (lit_share >= min_lit_share, ~never_lit):
        if pixels.any():
            limit = float(np.percentile(magnitudes[pixels], percentile))
            break
    return never_lit.reshape(images.shape[1:]), limit or 1.0


def weights_figure(weights_by_name, train_images, title):
    """Each neuron's weight per pixel, coloured on the scale of the weights training moves;
    pixels that are 0 in every training image (never trained) in grey."""
    fig, axes = new_figure(len(weights_by_name), size=(4.0 * len(weights_by_name), 3.6))
    grey_unlit = plt.get_cmap("RdBu_r").with_extremes(bad=NEVER_TRAINED_GREY)
    for ax, (name, kernel) in zip(np.atleast_1d(axes), weights_by_name.items(), strict=True):
        never_lit, limit = weight_colour_scale(kernel, train_images)
        image = np.ma.masked_array(np.asarray(kernel).reshape(never_lit.shape), mask=never_lit)
        shown = ax.imshow(image, cmap=grey_unlit, vmin=-limit, vmax=limit)
        ax.set_title(f"{name}: weight per pixel", fontsize=9)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046, extend="both")  # arrows: clipped
    fig.suptitle(title, fontsize=10)
    notes = (
        [
            f"grey: the {int(never_lit.sum())} pixels that are 0 in every training image "
            "(their weights never train)"
        ]
        if never_lit.any()
        else []
    )
    notes += [
        f"colour limit: the {WEIGHT_PERCENTILE}th percentile of |weight| over the pixels "
        f"lit in {MIN_LIT_SHARE:.0%} of the training images or more;",
        "rarer pixels' weights barely train (still near their random start): clipped",
    ]
    fig.text(0.5, 0.07, "\n".join(notes), ha="center", va="top", fontsize=7.5)
    return fig


def task_title(args, target_name):
    """'Fashion-MNIST, 'Ankle boot' vs the rest': the dataset and the task of a figure."""
    return f"{DATASETS[args.dataset].title}, '{target_name}' vs the rest"


def save_figures(args, data, results, tag, target_name, validation_truth, train_images):
    """The first run's pictures. results: {activation: Runs}; train_images: the images the
    neurons trained on (they tell which weights training can move). Returns the saved paths."""
    truth = data.y_test == args.target_class
    names = ("not " + target_name, target_name)
    figures_dir, saved = args.figures_dir, []
    shown = prediction_grid_indices(truth, args.seed, GRID[0] * GRID[1])
    for activation, runs in results.items():
        predicted = (runs.test_outputs[0][shown] > 0.5).astype(int)
        saved.append(
            save_figure(
                image_predictions_figure(
                    data.x_test[shown],
                    predicted,
                    truth[shown].astype(int),
                    names,
                    f"{task_title(args, target_name)}: the {activation} neuron read at 0.5 "
                    f"(Keras's accuracy); red: mistakes; seed {args.seed}",
                    columns=GRID[1],
                    cmap="gray",
                ),
                figures_dir / f"{tag}_{activation}_predictions.png",
            )
        )
    baseline = baseline_metrics(validation_truth)["accuracy"]
    curves = {
        "validation accuracy": {f"{a} neuron": runs.val_accuracy[0] for a, runs in results.items()}
    }
    which = "compare" if len(results) > 1 else next(iter(results))
    baseline_line = (
        "validation accuracy",
        baseline,
        f"never '{target_name}' ({100 * baseline:.1f}%)",
    )
    saved.append(
        save_figure(
            epoch_curves_figure(
                curves,
                f"{task_title(args, target_name)}: validation accuracy per epoch",
                references=[baseline_line],
            ),
            figures_dir / f"{tag}_{which}_accuracy.png",
        )
    )
    kernels = {f"{a} neuron": runs.params[0][0] for a, runs in results.items()}
    saved.append(
        save_figure(
            weights_figure(
                kernels, train_images, f"What the neuron looks at ({task_title(args, target_name)})"
            ),
            figures_dir / f"{tag}_{which}_weights.png",
        )
    )
    return saved


def save_study_figure(args, metrics, tag, target_name, baseline):
    """Final validation accuracy over the runs: live and dead neurons apart, per activation."""
    groups = {}
    for activation, values in metrics.items():
        dead = values["dead"]
        groups[f"{activation}, live"] = values["final_val_accuracy"][~dead]
        groups[f"{activation}, dead"] = values["final_val_accuracy"][dead]
    n = len(next(iter(metrics.values()))["dead"])
    which = "compare" if len(metrics) > 1 else next(iter(metrics))
    pixels = "pixels / 255" if args.normalize else "raw pixels"
    figure = distribution_figure(
        groups,
        f"{task_title(args, target_name)}, {pixels}: final validation accuracy of {n} runs",
        "final validation accuracy (%)",
        published=[(baseline, f"never '{target_name}' ({100 * baseline:.2f}%)")],
    )
    return save_figure(figure, args.figures_dir / f"{tag}_{which}_study.png")


# ## Command line
def make_perceptron_parser():
    parser = make_parser(
        __doc__.strip().splitlines()[0].removeprefix("Title: "),
        epochs=DEFAULTS["epochs"],
        max_epochs=1000,
    )
    add_data_dir_flag(parser)
    parser.add_argument(
        "--dataset",
        choices=tuple(LOADERS),
        default=DEFAULTS["dataset"],
        help="fashion_mnist: the video's follow-up exercise",
    )
    parser.add_argument(
        "--target-class",
        type=int_in_range(0, 9),
        default=DEFAULTS["target_class"],
        metavar="N",
        help="the class the neuron tells from the rest (MNIST: the digit)",
    )
    parser.add_argument(
        "--activation",
        choices=("linear", "sigmoid"),
        default=DEFAULTS["activation"],
        help="the output neuron's activation: the tutorial's first model is "
        "linear, its fix sigmoid",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="train the linear and the sigmoid neuron with the same seeds and "
        "print them side by side (ignores --activation)",
    )
    add_optimizer_flags(
        parser,
        DEFAULTS,
        max_batch=60_000,
        validation_help="validate on the last FRACTION of the training set instead of the "
        "test set (0: the test set, as in the tutorial)",
    )
    parser.add_argument(
        "--normalize",
        action="store_true",
        help="divide the pixels by 255 (the 'data preparation' lever; off in the tutorial)",
    )
    parser.add_argument(
        "--seeds",
        type=int_in_range(1, MAX_SEEDS),
        default=DEFAULTS["seeds"],
        metavar="N",
        help="a seed study of N runs: run r starts from weight seed --seed + r "
        "and sees the data in its group's order (see --data-orders)",
    )
    parser.add_argument(
        "--data-seed",
        type=int_in_range(0, 2**31 - 1),
        default=None,
        metavar="SEED",
        help="seed of the training data's order (default: --seed); in a study "
        "the K orders are --data-seed .. --data-seed + K - 1",
    )
    parser.add_argument(
        "--data-orders",
        type=int_in_range(1, MAX_SEEDS),
        default=DEFAULTS["data_orders"],
        metavar="K",
        help="a study's runs share K data orders (ceil(N / K) runs each), so "
        "the spread can be split between data order and initial weights",
    )
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULTS["engine"], help=ENGINE_HELP)
    add_output_flags(
        parser,
        save_model_help="save the trained neuron to PATH (a .keras file), compiled as the "
        "tutorial compiles it (mse, Adam, accuracy): keras.models."
        "load_model(PATH).evaluate(x_test, y_test == target) works (with "
        "--normalize it expects pixels / 255). A seed study saves its "
        "first run's; --compare saves both neurons, as PATH with _linear "
        "and _sigmoid before .keras",
        tensorboard_help="write the per-epoch loss and accuracy as TensorBoard logs, one "
        "folder per neuron: DIR/<activation>/train and .../validation "
        "(the tags of Keras's TensorBoard callback), after training; a "
        "seed study writes its first run's. View: tensorboard --logdir DIR",
    )
    return parser


def model_paths(args):
    """{activation: .keras path} of --save-model: PATH itself for one neuron; with --compare,
    PATH with the activation before the extension."""
    if args.save_model is None:
        return {}
    if not args.compare:
        return {args.activation: args.save_model}
    return {
        activation: args.save_model.with_name(
            f"{args.save_model.stem}_{activation}{args.save_model.suffix}"
        )
        for activation in ("linear", "sigmoid")
    }


def trained_model(runs, activation, image_shape, learning_rate, run=0):
    """Run `run`'s neuron with its final weights, compiled as the tutorial compiles it (a fresh
    Adam: every engine's model is saved alike)."""
    model = build_model(activation, image_shape)
    model.set_weights(runs.run(run))
    return compile_as_tutorial(model, learning_rate)


def first_run_history(runs):
    """Run 0's per-epoch figures as a TrainingHistory (for the TensorBoard logs)."""
    return TrainingHistory(
        **{
            key: getattr(runs, key)[0].tolist()
            for key in ("loss", "accuracy", "val_loss", "val_accuracy")
        }
    )


def claim_values(metrics, results):
    """{quantity: per-run values} of the registry's MNIST claims that this run measured."""
    values = {}
    if "linear" in metrics:
        linear, outputs = metrics["linear"], results["linear"].test_outputs
        values |= {
            "linear_below_baseline": linear["below_baseline"],
            "linear_improved": linear["improved"],
            "linear_outputs_outside": (outputs.min(axis=1) < 0) & (outputs.max(axis=1) > 1),
            "linear_reading_at_0_as_good": linear["accuracy_at_0"] >= linear["test_accuracy"],
        }
    if {"linear", "sigmoid"} <= set(metrics):
        values["sigmoid_better"] = (
            metrics["sigmoid"]["final_val_accuracy"] > metrics["linear"]["final_val_accuracy"]
        )
    return values


def run_config(args, splits):
    """The run's settings as the registry's claims are judged on them (config_of plus the
    images actually used, which --train-limit, --validation-split and small copies change)."""
    return config_of(args) | {"train_images": len(splits[0][1]), "test_images": len(splits[2][1])}


def summarize(args, data, results, splits):
    """Everything the run reports and saves, computed once: the first run's readings, the
    per-run metrics, the study (several runs) and the registry's verdicts."""
    truth, validation_truth = splits[2][1], splits[1][1]
    target_name = data.class_names[args.target_class]
    first_run, lines, table = {}, [], []
    for activation, runs in results.items():
        run_lines, readings, first_run[activation] = run_report(
            activation, runs, truth, target_name
        )
        lines += run_lines
        table += [
            (f"{activation}, {label}", m)
            for (_, label), m in zip(readings_of(activation), readings, strict=True)
        ]
    baseline = baseline_metrics(truth)
    table.append((f"never '{target_name}' (the baseline)", baseline))
    validation_baseline = baseline_metrics(validation_truth)["accuracy"]
    metrics = {a: run_metrics(runs, truth, validation_baseline) for a, runs in results.items()}
    study = {}
    if args.seeds > 1:
        study = {a: study_summary(runs, metrics[a]) for a, runs in results.items()}
        if len(results) > 1:
            study["paired"] = paired_summary(metrics)
    config = run_config(args, splits)
    claims = claims_for("mnist", config)
    return {
        "target_name": target_name,
        "first_run": first_run,
        "first_run_lines": lines,
        "table": table,
        "baseline": baseline,
        "validation_baseline": validation_baseline,
        "metrics": metrics,
        "study": study,
        "config": config,
        "claims": claims,
        "claim_values": (values := claim_values(metrics, results)),
        "verdicts": judge_all(claims, values, config),
    }


def replay_lines(args, results, metrics):
    """A replay command for the first dead and the first live run of each neuron."""
    lines = []
    for activation, runs in results.items():
        dead = metrics[activation]["dead"]
        for label, chosen in (("a dead", np.flatnonzero(dead)), ("a live", np.flatnonzero(~dead))):
            if len(chosen):
                run = int(chosen[0])
                lines.append(
                    f"replay {label} {activation} run alone (run {run}): "
                    + replay_command(
                        args,
                        run,
                        int(runs.weight_seeds[run]),
                        int(runs.data_seeds[run]),
                        activation,
                    )
                )
    return lines


def report_text(args, results, summary, truth):
    """What the run prints after training: the first run's epochs and readings, the study,
    the claims' verdicts."""
    target_name, study = summary["target_name"], summary["study"]
    parts = [
        (f"First run of the study (seed {args.seed}):\n" if args.seeds > 1 else "")
        + epochs_table({a: runs.val_accuracy[0] for a, runs in results.items()})
        + "\n",
        *summary["first_run_lines"],
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
        parts += replay_lines(args, results, summary["metrics"])
    claims = claims_report(summary["verdicts"], summary["claims"])
    return "\n".join(parts + ([""] + claims if claims else []))


def header_text(args, data, splits, device, activations):
    pixels = "pixels / 255" if args.normalize else "raw pixels (0-255)"
    target_name = data.class_names[args.target_class]
    held_out = len(splits[1][1]) if args.validation_split else 0
    lines = [
        f"{args.dataset}: '{target_name}' vs the rest; Flatten -> Dense(1, "
        f"{' | '.join(activations)}) on {pixels}; mean squared error, Adam(learning_rate="
        f"{args.learning_rate:g}), batch {args.batch_size}, {args.epochs} epoch"
        f"{'s' * (args.epochs != 1)}; engine {args.engine}",
        f"device: {device}; Keras {keras.__version__} on TensorFlow {tf.__version__}",
        f"data: {data.source}: {len(splits[0][1]):,} training"
        + (f" + {held_out:,} validation" if held_out else "")
        + f", {len(data.y_test):,} test images; validation: "
        + (
            f"the last {args.validation_split:g} of the training set"
            if held_out
            else "the test set, as in the tutorial"
        ),
        "classes: " + ", ".join(f"{index} {name}" for index, name in enumerate(data.class_names)),
    ]
    if args.seeds > 1:
        weight_seeds, data_seeds = run_seeds(args)
        lines.append(
            f"seed study: {args.seeds} runs; weight seeds {weight_seeds[0]}.."
            f"{weight_seeds[-1]}, {len(set(data_seeds))} data orders (data seeds "
            f"{data_seeds[0]}..{data_seeds[-1]}) of up to "
            f"{np.bincount(data_seeds - data_seeds[0]).max()} runs"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = make_perceptron_parser()
    args = parser.parse_args(argv)
    if args.data_seed is None:
        args.data_seed = args.seed
    check_output_paths(
        parser, args, [("--save-model", path) for path in model_paths(args).values()]
    )
    if args.tensorboard is not None:
        check_output_dir(parser, "--tensorboard", args.tensorboard)
    device = select_device_or_exit(parser, args.device)
    threads = setup_threads(
        "tiny" if args.seeds == 1 else "stacked", args.engine == COMPILED, device
    )
    try:
        load_start = time.perf_counter()
        data = LOADERS[args.dataset](args.data_dir, **count_check(args)).head(
            args.train_limit, args.test_limit
        )
        load_seconds = time.perf_counter() - load_start
    except DataError as error:
        return error_line(error, error.exit_code, parser.prog)
    check_validation_split(parser, len(data.y_train), args.validation_split)
    run_start = time.perf_counter()
    tag = f"{args.dataset}_class{args.target_class}" + settings_suffix(
        args, DEFAULTS, NAMED_SETTINGS
    )
    activations = ("linear", "sigmoid") if args.compare else (args.activation,)
    splits = binary_split(data, args.target_class, args.validation_split)
    print(header_text(args, data, splits, device, activations))

    results = {}
    for activation in activations:
        results[activation] = runs = ENGINE_FUNCTIONS[args.engine](
            activation, splits, args, data.x_test.shape[1:]
        )
        if not np.isfinite(runs.loss[0]).all():  # the report and figures centre on run 0
            epoch = int(np.argmin(np.isfinite(runs.loss[0])))
            seed = f" (seed {args.seed})" if args.seeds > 1 else ""
            return error_line(
                f"the {activation} neuron's loss became {runs.loss[0, epoch]} in "
                f"epoch {epoch + 1}{seed}; no figures written (try a smaller "
                "--learning-rate)",
                prog=parser.prog,
            )
    summary = summarize(args, data, results, splits)
    print(report_text(args, results, summary, splits[2][1]))

    outputs = save_outputs(args, data, results, summary, splits, tag)
    timings = {
        "load_data": load_seconds,
        "total": time.perf_counter() - run_start,
        "training": {a: runs.train_seconds for a, runs in results.items()},
        "compile": {a: runs.compile_seconds for a, runs in results.items()},
    }
    timing = ", ".join(f"{a} {seconds:.1f} s" for a, seconds in timings["training"].items())
    print(
        f"\ntraining ({args.engine} engine, {args.seeds} run{'s' * (args.seeds > 1)}): "
        f"{timing}; whole run {timings['total']:.1f} s after {load_seconds:.1f} s loading "
        f"data; peak memory {peak_rss_mb():.0f} MB"
    )
    print(
        "\n".join(
            f"{kind}: {', '.join(map(str, paths))}" for kind, paths in outputs.items() if paths
        )
    )
    if args.json is not None:
        if args.seeds > 1:
            csv_path = write_runs_csv(
                csv_path_for(args.json),
                csv_rows(args, results, summary["metrics"]),
                [*CSV_COLUMNS, *(f"val_accuracy_{e + 1}" for e in range(args.epochs)), "replay"],
            )
            print(f"per-run table: {csv_path}")
        save_run_record(
            args.json,
            script="mnist_perceptron.py",
            argv=argv,
            data_files=data.files,
            config=summary["config"] | {"threads": threads.as_record()},
            device=device,
            timings=timings,
            metrics=record_metrics(args, data, summary),
            figures=outputs["figures"],
        )
    return 0


def save_outputs(args, data, results, summary, splits, tag):
    """Write the figures and, when asked for, the models and the TensorBoard logs; {kind:
    [what was written]} for the closing lines."""
    target_name = summary["target_name"]
    figures = save_figures(args, data, results, tag, target_name, splits[1][1], splits[0][0])
    if args.seeds > 1:
        figures.append(
            save_study_figure(
                args, summary["metrics"], tag, target_name, summary["validation_baseline"]
            )
        )
    for activation, path in model_paths(args).items():
        save_model(
            trained_model(
                results[activation], activation, data.x_test.shape[1:], args.learning_rate
            ),
            path,
        )
    if args.tensorboard is not None:  # the first run of each neuron, as the figures show it
        write_tensorboard_logs(
            args.tensorboard,
            {activation: first_run_history(runs) for activation, runs in results.items()},
            args.learning_rate,
        )
    return {
        "figures": figures,
        "model": list(model_paths(args).values()),
        "TensorBoard logs": [f"{args.tensorboard} (tensorboard --logdir {args.tensorboard})"]
        if args.tensorboard
        else [],
    }


def record_metrics(args, data, summary):
    """The JSON record's metrics: the first run's readings, the verdicts, and a study's
    distributions, CSV and per-run claim values."""
    metrics = {
        "runs": summary["first_run"],
        "baseline": summary["baseline"],
        "target": summary["target_name"],
        "data_source": data.source,
        "verdicts": summary["verdicts"],
        "validation_baseline": summary["validation_baseline"],
    }
    if args.seeds > 1:
        metrics |= {
            "study": summary["study"],
            "csv": str(csv_path_for(args.json)),
            "claim_values": summary["claim_values"],
        }
    return metrics


if __name__ == "__main__":
    sys.exit(run_main(main))
