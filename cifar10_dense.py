"""
Title: CIFAR-10 with a Dense network (and the book's convolutional follow-up)
Tutorial: a blog post copying David Foster, "Generative Deep Learning" (1st ed., 2019), ch. 2:
    scale the images by 1/255, one-hot labels, Flatten -> Dense(200) -> Dense(150) -> Dense(10),
    Adam(5e-4), batch 32, 10 epochs. With `--model cnn`, the chapter's CNN (notebook 02_03).
Description: Trains the tutorial's model and prints its figures beside the published ones;
    saves the tutorial's picture (10 test images with predicted and actual classes), the
    training curves and a confusion matrix. The default engine feeds and compiles the same
    experiment differently (engines/keras_model.py, about 4x faster and in under half the memory);
    `--engine fit` runs the tutorial's own spelling.
Expected result: over 30 runs (JPEG re-encoded CIFAR-10, 2 CPU cores) the Dense network's test
    accuracy is 48.47% +- 0.74 (range 46.8-50.2%): the blog's 48.9% and the book notebook's
    48.4% are both typical draws. REPORT.md judges every published figure (evidence/claims.py).

Usage: python cifar10_dense.py --data-dir ../shared/datasets [--model cnn] [--engine fit]
"""

import math
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from reproduction.data.checks import DataError
from reproduction.data.cifar10 import load_cifar10
from reproduction.engines.dense_networks import dense_sizes
from reproduction.engines.dense_networks import train as train_dense_runs
from reproduction.engines.keras_fit import HistoryRecorder
from reproduction.engines.keras_model import (
    CompiledTrainer,
    make_evaluator,
)
from reproduction.engines.runs import COMPILED, ENGINE_HELP, ENGINES, FIT, Runs, TrainingHistory
from reproduction.evidence.claims import claims_for, published_values
from reproduction.evidence.statistics import (
    distribution,
    distribution_text,
    sampling_sd,
)
from reproduction.evidence.verdicts import claims_report, format_value, judge_all
from reproduction.orchestration.script_runs import run_argv
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
from reproduction.plumbing.records import (
    peak_rss_mb,
    plain_record,
    save_run_record,
    write_run_record,
)
from reproduction.plumbing.seeding import set_seed
from reproduction.plumbing.threads import setup_threads
from reproduction.studies.figures import (
    confusion_figure,
    distribution_figure,
    epoch_curves_figure,
    image_predictions_figure,
    save_figure,
    settings_suffix,
)
from reproduction.studies.tables import csv_path_for, write_runs_csv

NUM_CLASSES = 10


# ## The model: the tutorial's, in the book's functional style
def build_dense():
    input_layer = layers.Input((32, 32, 3))
    x = layers.Flatten()(input_layer)
    x = layers.Dense(200, activation="relu")(x)
    x = layers.Dense(150, activation="relu")(x)
    output_layer = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(input_layer, output_layer)


# ## The follow-up: the chapter's convolutional network, in either of the book's block orders.
# The notebook's first version (the run that recorded 71.83%) has Conv2D -> LeakyReLU ->
# BatchNormalization; the later notebook and book put BatchNormalization before LeakyReLU.
BLOCK_ORDERS = {
    "lrelu-bn": "Conv2D -> LeakyReLU -> BatchNormalization (first notebook version)",
    "bn-lrelu": "Conv2D -> BatchNormalization -> LeakyReLU (later notebook, book)",
}


def build_cnn(block_order="lrelu-bn"):
    def activation_and_norm(x):
        if block_order == "lrelu-bn":
            return layers.BatchNormalization()(layers.LeakyReLU()(x))
        return layers.LeakyReLU()(layers.BatchNormalization()(x))

    input_layer = layers.Input((32, 32, 3))
    x = input_layer
    for filters, strides in ((32, 1), (32, 2), (64, 1), (64, 2)):
        x = layers.Conv2D(filters, kernel_size=3, strides=strides, padding="same")(x)
        x = activation_and_norm(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    x = activation_and_norm(x)
    x = layers.Dropout(rate=0.5)(x)
    x = layers.Dense(NUM_CLASSES)(x)
    output_layer = layers.Activation("softmax")(x)
    return keras.Model(input_layer, output_layer)


MODELS = ("dense", "cnn")


def build(model_name, block_order="lrelu-bn"):
    return build_dense() if model_name == "dense" else build_cnn(block_order)


def tutorial_optimizer(learning_rate):
    # The book's Adam(lr=0.0005): `lr` is gone from Keras 3, `learning_rate` is the same thing.
    return keras.optimizers.Adam(learning_rate=learning_rate)


def compile_as_tutorial(model, learning_rate):
    """The tutorial's compile: one-hot targets, so its model.evaluate(x_test, y_test) takes
    one-hot labels (the compiled engines feed integer labels, but save this model)."""
    model.compile(
        loss="categorical_crossentropy",
        optimizer=tutorial_optimizer(learning_rate),
        metrics=["accuracy"],
    )
    return model


# ## Defaults: the tutorial's settings (the run record stores the values actually used)
DEFAULTS = dict(
    model="dense",
    block_order="lrelu-bn",
    engine=COMPILED,
    learning_rate=5e-4,
    batch_size=32,
    epochs=10,
    validation_split=0.0,
    seeds=1,
)
MAX_SEEDS, MAX_SEED = 10_000, 2**31 - 1
SHOWN_IMAGES = 10


# ## Training: the tutorial's spelling (--engine fit) and the compiled engine, for N runs
def split_validation(data, fraction):
    """Keras's validation_split: the last `fraction` of the training set, before shuffling."""
    keep = len(data.y_train) - int(len(data.y_train) * fraction)
    return (
        (data.x_train[:keep], data.y_train[:keep]),
        (data.x_train[keep:], data.y_train[keep:]) if fraction else None,
    )


def run_seeds(args):
    """(weight seeds, data seeds): run r starts from weight seed --seed + r and sees the data in
    the order of data seed --data-seed + r (--data-seed defaults to --seed)."""
    runs = np.arange(args.seeds)
    data_seed = args.seed if args.data_seed is None else args.data_seed
    return args.seed + runs, data_seed + runs


def fresh_model(model_name, weight_seed, block_order="lrelu-bn"):
    """The tutorial's model with the initial weights of `weight_seed`: Keras's own initializers
    after keras.utils.set_random_seed, on a new model (the same for every engine)."""
    keras.utils.set_random_seed(int(weight_seed))
    return build(model_name, block_order)


def validation_of(data, args):
    """(training (images, labels), validation (images, labels) or None) as the tutorial has
    them: the CNN validates on the test set each epoch, as the book does."""
    train, held_out = split_validation(data, args.validation_split)
    if held_out is None and args.model == "cnn":
        held_out = (data.x_test, data.y_test)
    return train, held_out


def _runs_from(rows, weight_seeds, data_seeds, train_seconds, compile_seconds=0.0):
    """An engines.runs.Runs from per-run (history, test loss, test accuracy, probabilities,
    weights, seconds) rows."""
    histories = [row[0] for row in rows]
    epochs = max(len(h.loss) for h in histories)

    def padded(key):
        table = np.full((len(rows), epochs), np.nan, np.float32)
        for index, history in enumerate(histories):
            values = getattr(history, key)
            table[index, : len(values)] = values
        return table

    has_validation = any(h.val_loss for h in histories)
    return Runs(
        weight_seeds=np.asarray(weight_seeds),
        data_seeds=np.asarray(data_seeds),
        loss=padded("loss"),
        accuracy=padded("accuracy"),
        val_loss=padded("val_loss") if has_validation else None,
        val_accuracy=padded("val_accuracy") if has_validation else None,
        params=[np.stack(p) for p in zip(*(row[4] for row in rows), strict=True)],
        train_seconds=train_seconds,
        compile_seconds=compile_seconds,
        test_outputs=np.stack([row[3] for row in rows]),
        extra={
            "test_loss": np.array([row[1] for row in rows]),
            "test_accuracy": np.array([row[2] for row in rows]),
            "train_seconds": np.array([row[5] for row in rows]),
            "epoch_seconds": padded("epoch_seconds"),
        },
    )


def run_figures(row):
    history, test_loss, test_accuracy, _, _, seconds = row
    return {
        "loss": history.loss,
        "accuracy": history.accuracy,
        "test_loss": test_loss,
        "test_accuracy": test_accuracy,
        "train_seconds": seconds,
    }


def history_reporter(on_epoch_end):
    """A TrainingHistory callback (epoch, history) -> on_epoch_end(epoch, seconds, loss,
    accuracy, val_loss, val_accuracy)."""
    if on_epoch_end is None:
        return None

    def report(epoch, history):
        on_epoch_end(
            epoch,
            history.epoch_seconds[-1],
            history.loss[-1],
            history.accuracy[-1],
            *(
                values[-1] if values else math.nan
                for values in (history.val_loss, history.val_accuracy)
            ),
        )

    return report


def fit_tutorial(data, args, seeds, on_epoch_end, on_run_end):
    """The tutorial's code path, once per run: float32 copies scaled by 1/255, one-hot labels,
    model.fit (its own shuffle, seeded by the run's data seed) and model.evaluate."""
    x_train = data.x_train.astype("float32") / 255.0
    x_test = data.x_test.astype("float32") / 255.0
    y_train = keras.utils.to_categorical(data.y_train, NUM_CLASSES)
    y_test = keras.utils.to_categorical(data.y_test, NUM_CLASSES)
    rows = []
    for run, (weight_seed, data_seed) in enumerate(zip(*seeds, strict=True)):
        model = compile_as_tutorial(
            fresh_model(args.model, weight_seed, args.block_order), args.learning_rate
        )
        recorder = HistoryRecorder(history_reporter(on_epoch_end))
        validation = (
            {"validation_split": args.validation_split}
            if args.validation_split
            else ({"validation_data": (x_test, y_test)} if args.model == "cnn" else {})
        )
        keras.utils.set_random_seed(int(data_seed))  # fit's shuffle: the run's data order
        model.fit(
            x_train,
            y_train,
            batch_size=args.batch_size,
            epochs=args.epochs,
            shuffle=True,
            verbose=0,
            callbacks=[recorder, keras.callbacks.TerminateOnNaN()],
            **validation,
        )
        history = recorder.history_record
        test_loss, test_accuracy = model.evaluate(
            x_test, y_test, batch_size=args.batch_size, verbose=0
        )
        probabilities = model.predict(x_test, batch_size=1000, verbose=0)
        rows.append(
            (
                history,
                float(test_loss),
                float(test_accuracy),
                probabilities,
                model.get_weights(),
                history.train_seconds,
            )
        )
        on_run_end(run, run_figures(rows[-1]))
    return _runs_from(rows, *seeds, sum(row[5] for row in rows))


def fit_compiled_model_call(data, args, seeds, on_epoch_end, on_run_end):
    """The CNN through engines/keras_model.py's CompiledTrainer (model call, fused Adam, a graph
    call per hundreds of batches), once per run."""
    train, held_out = validation_of(data, args)
    rows = []
    for run, (weight_seed, data_seed) in enumerate(zip(*seeds, strict=True)):
        model = fresh_model(args.model, weight_seed, args.block_order)
        trainer = CompiledTrainer(
            model, tutorial_optimizer(args.learning_rate), batch_size=args.batch_size
        )
        history = trainer.fit(
            *train,
            epochs=args.epochs,
            seed=int(data_seed),
            validation_data=held_out,
            on_epoch_end=history_reporter(on_epoch_end),
        )
        test_loss, test_accuracy, probabilities = trainer.evaluate(data.x_test, data.y_test)
        rows.append(
            (
                history,
                test_loss,
                test_accuracy,
                probabilities,
                model.get_weights(),
                history.train_seconds,
            )
        )
        on_run_end(run, run_figures(rows[-1]))
    return _runs_from(rows, *seeds, sum(row[5] for row in rows))


def fit_compiled_dense(data, args, seeds, layout, on_epoch_end, on_run_end):
    """The Dense network through engines/dense_networks.py: `layout` = (networks side by side,
    column blocks per network). Every run's figures come from the Keras model with its weights
    (the evaluator is model.evaluate's arithmetic)."""
    train, held_out = validation_of(data, args)
    model = build(args.model, args.block_order)
    evaluator = make_evaluator(model)

    def evaluate(weights, images, labels):
        model.set_weights(weights)
        return evaluator(images, labels)

    def initial_weights(seed):
        return fresh_model(args.model, seed, args.block_order).get_weights()

    def epoch_end(members, epoch, seconds, history):
        if on_epoch_end is not None and members[0] == 0:
            on_epoch_end(
                epoch,
                seconds,
                *(
                    history[key][0, epoch - 1]
                    for key in ("loss", "accuracy", "val_loss", "val_accuracy")
                ),
            )

    return train_dense_runs(
        initial_weights,
        dense_sizes(model),
        train,
        weight_seeds=seeds[0],
        data_seeds=seeds[1],
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        parallel=layout[0],
        column_blocks=layout[1],
        evaluate=evaluate,
        test_data=(data.x_test, data.y_test),
        validation_data=held_out,
        on_epoch_end=epoch_end,
        on_run_end=on_run_end,
    )


def study_layout(args, plan):
    """(networks side by side, column blocks per network) of the compiled Dense engine.
    A single run splits its first kernel into one column block per core (plan.column_blocks);
    a study trains one network per core side by side, each in one block (faster per run).
    --column-blocks fixes the blocks (a replay of a study's run gives the study's)."""
    cores = max(1, plan.column_blocks)
    blocks = args.column_blocks or (cores if args.seeds == 1 else 1)
    return max(1, cores // blocks), blocks


# ## Reports
def epoch_line(epochs):
    def report(epoch, seconds, loss, accuracy, val_loss, val_accuracy):
        line = (
            f"Epoch {epoch}/{epochs}: {seconds:.1f} s - loss {loss:.4f} - accuracy {accuracy:.4f}"
        )
        if math.isfinite(val_loss):
            line += f" - val_loss {val_loss:.4f} - val_accuracy {val_accuracy:.4f}"
        print(line, flush=True)

    return report


def replay_command(args, weight_seed, data_seed, column_blocks):
    """The single-run command that replays one run of a study exactly (same machine)."""
    argv = ["python", "cifar10_dense.py"]
    if args.data_dir is not None:
        argv += ["--data-dir", str(args.data_dir)]
    for flag, key in (
        ("--model", "model"),
        ("--engine", "engine"),
        ("--epochs", "epochs"),
        ("--learning-rate", "learning_rate"),
        ("--batch-size", "batch_size"),
        ("--validation-split", "validation_split"),
    ):
        if getattr(args, key) != DEFAULTS[key]:
            argv += [flag, str(getattr(args, key))]
    if args.model == "cnn" and args.block_order != DEFAULTS["block_order"]:
        argv += ["--block-order", args.block_order]
    argv += ["--seed", str(weight_seed), "--data-seed", str(data_seed)]
    if column_blocks is not None:
        argv += ["--column-blocks", str(column_blocks)]
    for flag, key in (
        ("--train-limit", "train_limit"),
        ("--test-limit", "test_limit"),
        ("--device", "device"),
    ):
        if getattr(args, key) not in (None, "auto"):
            argv += [flag, str(getattr(args, key))]
    argv += [
        flag
        for flag, key in (
            ("--allow-small-data", "allow_small_data"),
            ("--deterministic", "deterministic"),
        )
        if getattr(args, key)
    ]
    return shlex.join(argv)


def run_line(run, runs_total, weight_seed, data_seed, figures):
    return (
        f"run {run + 1}/{runs_total} (seed {weight_seed}, data seed {data_seed}): test "
        f"accuracy {100 * figures['test_accuracy']:.2f}%, test loss "
        f"{figures['test_loss']:.4f}, train accuracy {100 * figures['accuracy'][-1]:.2f}%, "
        f"{figures['train_seconds']:.1f} s"
    )


def epochs_trained(runs, run):
    """Epochs run `run` trained (it stops after an epoch whose loss is not finite)."""
    return int(np.isfinite(runs.extra["epoch_seconds"][run]).sum())


def picture_correct(probabilities, labels, seed):
    """How many of the tutorial's picture's 10 test images (chosen by the run's seed, as a
    single run of that seed shows them) the run gets right."""
    shown = shown_image_indices(SHOWN_IMAGES, seed, len(labels))
    return int((probabilities[shown].argmax(axis=1) == labels[shown]).sum())


def untrained_accuracies(args, data, weight_seeds):
    """Each run's test accuracy at its initial weights: a network that has learnt nothing, the
    measured form of the tutorial's "random guessing"."""
    evaluate = make_evaluator(model := build(args.model, args.block_order))
    accuracies = []
    for seed in weight_seeds:
        model.set_weights(fresh_model(args.model, seed, args.block_order).get_weights())
        accuracies.append(evaluate(data.x_test, data.y_test)[1])
    return np.array(accuracies)


def study_rows(runs, args, column_blocks, untrained, test_labels):
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
                    runs.test_outputs[run], test_labels, weight_seed
                ),
                "train_seconds": float(runs.extra["train_seconds"][run]),
                "command": replay_command(args, weight_seed, data_seed, column_blocks),
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


def run_config(args, data_counts):
    """The run's settings as the registry's claims are judged on them (config_of plus the
    images actually used, which --train-limit, --validation-split and small copies change)."""
    return config_of(args) | {"train_images": data_counts[0], "test_images": data_counts[1]}


def summarize(args, data, runs, layout, train_count):
    """Everything the run reports and saves, computed once: per-run rows, the study, the first
    run's confusion matrix, and the registry's verdicts."""
    untrained = untrained_accuracies(args, data, runs.weight_seeds)
    rows = study_rows(runs, args, layout[1] if layout else None, untrained, data.y_test)
    config = run_config(args, (train_count, len(data.y_test)))
    claims = claims_for("cifar10", config)
    probabilities = runs.test_outputs[0]
    matrix = confusion_matrix(data.y_test, probabilities.argmax(axis=1))
    epochs_run = epochs_trained(runs, 0)

    def first_run(values):
        return [] if values is None else [float(v) for v in values[0][:epochs_run]]

    return {
        "rows": rows,
        "config": config,
        "claims": claims,
        "epochs_run": epochs_run,
        "study": study_summary(rows, len(data.y_test)) if len(rows) > 1 else None,
        "verdicts": judge_all(claims, measured_values(rows), config, sampling_n=len(data.y_test)),
        "matrix": matrix,
        "probabilities": probabilities,
        "per_class": matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1),
        "history": TrainingHistory(
            loss=first_run(runs.loss),
            accuracy=first_run(runs.accuracy),
            val_loss=first_run(runs.val_loss),
            val_accuracy=first_run(runs.val_accuracy),
            epoch_seconds=first_run(runs.extra["epoch_seconds"]),
        ),
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


def report_text(args, data, results):
    """What the run prints after training: the study (if any), the first run beside the
    published figures, the claims' verdicts, per-class accuracy."""
    rows, study = results["rows"], results["study"]
    parts = []
    if study is not None:
        parts += [
            study_report(study),
            f"  replay a run alone (run 1): {rows[0]['command']}",
            f"\nThe first run (seed {args.seed}), as a single run prints it:",
        ]
    epochs = results["epochs_run"]
    parts += [
        f"Results after {epochs} epoch{'s' * (epochs != 1)} (seed {args.seed}):",
        results_table(results["claims"], rows[0]),
        "",
        *claims_report(results["verdicts"], results["claims"]),
        "",
        "per-class test accuracy: "
        + ", ".join(
            f"{name} {100 * share:.0f}%"
            for name, share in zip(data.class_names, results["per_class"], strict=True)
        ),
    ]
    if data.note:
        parts.append(f"note: {data.note}")
    return "\n".join(parts)


def save_study_figure(args, results, tag, title):
    rows = results["rows"]
    published = [
        (value, f"published ({source}) {100 * value:.1f}%")
        for value, source in published_values(results["claims"], "test_accuracy")
    ]
    figure = distribution_figure(
        {"runs": [row["test_accuracy"] for row in rows]},
        f"{title}: test accuracy of {len(rows)} runs ({args.epochs} epoch"
        f"{'s' * (args.epochs != 1)})",
        "test accuracy (%)",
        published=published,
        bins=max(10, min(40, len(rows))),
    )
    return save_figure(figure, args.figures_dir / f"{tag}_study.png")


def confusion_matrix(actual, predicted, classes=NUM_CLASSES):
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def shown_image_indices(count, seed, total):
    """The test images of the tutorial's picture: chosen by the seed, so a rerun shows the same."""
    return np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)


def save_figures(args, data, results, tag, title):
    history, probabilities = results["history"], results["probabilities"]
    predicted = probabilities.argmax(axis=1)
    shown = shown_image_indices(SHOWN_IMAGES, args.seed, len(data.y_test))
    references = [
        ("accuracy", value, f"published test ({source})")
        for value, source in published_values(results["claims"], "test_accuracy")
    ]
    references.append(("accuracy", float(np.mean(predicted == data.y_test)), "this run's test"))
    curves = {"loss": {"train": history.loss}, "accuracy": {"train": history.accuracy}}
    if history.val_loss:
        curves["loss"]["validation"] = history.val_loss
        curves["accuracy"]["validation"] = history.val_accuracy
    figures_dir = args.figures_dir
    figures = [
        save_figure(
            image_predictions_figure(
                data.x_test[shown],
                predicted[shown],
                data.y_test[shown],
                data.class_names,
                f"{title}: test images chosen by seed {args.seed}",
            ),
            figures_dir / f"{tag}_predictions.png",
        ),
        save_figure(
            epoch_curves_figure(curves, title, references=references),
            figures_dir / f"{tag}_curves.png",
        ),
        save_figure(
            confusion_figure(
                results["matrix"], data.class_names, f"{title}: test set confusion matrix"
            ),
            figures_dir / f"{tag}_confusion.png",
        ),
    ]
    if results["study"] is not None:
        figures.append(save_study_figure(args, results, tag, title))
    return figures


def trained_model(args, runs, run=0):
    """Run `run`'s network with its final weights, compiled as the tutorial compiles it (a
    fresh Adam: every engine's model is saved alike, and the compiled engines keep Adam's
    state outside Keras)."""
    model = build(args.model, args.block_order)
    model.set_weights(runs.run(run))
    return compile_as_tutorial(model, args.learning_rate)


# ## Command line
def make_cifar_parser():
    parser = make_parser(
        __doc__.strip().splitlines()[0].removeprefix("Title: "),
        epochs=DEFAULTS["epochs"],
        max_epochs=1000,
    )
    add_data_dir_flag(parser)
    parser.add_argument(
        "--model",
        choices=MODELS,
        default=DEFAULTS["model"],
        help="'dense': the tutorial's network; 'cnn': the chapter's follow-up",
    )
    parser.add_argument(
        "--block-order",
        choices=tuple(BLOCK_ORDERS),
        default=None,
        help="the CNN's blocks: "
        + "; ".join(f"'{name}': {text}" for name, text in BLOCK_ORDERS.items())
        + f" (default {DEFAULTS['block_order']}: the run that recorded the "
        "published 71.83%%)",
    )
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULTS["engine"], help=ENGINE_HELP)
    parser.add_argument(
        "--seeds",
        type=int_in_range(1, MAX_SEEDS),
        default=DEFAULTS["seeds"],
        metavar="N",
        help="a seed study: N runs, run r with weight seed --seed + r and data "
        "seed --data-seed + r; prints the distribution and each run's "
        "single-run command",
    )
    parser.add_argument(
        "--data-seed",
        type=int_in_range(0, MAX_SEED),
        default=None,
        metavar="SEED",
        help="seed of the training data order (default: --seed); with "
        "--engine fit it seeds model.fit's own shuffle",
    )
    parser.add_argument(
        "--column-blocks",
        type=int_in_range(1, 64),
        default=None,
        metavar="K",
        help="compiled Dense engine: split each network's first kernel into K "
        "column blocks (default: one per core for a single run, 1 in a "
        "study). Part of the arithmetic: a study's replay commands give it",
    )
    add_optimizer_flags(
        parser,
        DEFAULTS,
        max_batch=50_000,
        validation_help="hold out the last FRACTION of the training set and report it "
        "each epoch (0: off, as in the tutorial)",
    )
    add_output_flags(
        parser,
        save_model_help="save the trained model to PATH (a .keras file), compiled as the "
        "tutorial compiles it: keras.models.load_model(PATH).evaluate("
        "x_test / 255, one-hot y_test) works. A seed study saves its "
        "first run's",
        tensorboard_help="write the per-epoch loss and accuracy as TensorBoard logs: "
        "DIR/train and, with validation, DIR/validation (the tags of "
        "Keras's TensorBoard callback), after training; a seed study "
        "writes its first run's. View: tensorboard --logdir DIR",
    )
    return parser


def check_args(parser, args):
    """Usage errors (exit 2) the flags' types cannot see; resolves --block-order."""
    for flag, first in (("--seed", args.seed), ("--data-seed", args.data_seed)):
        if first is not None and first + args.seeds - 1 > MAX_SEED:
            parser.error(
                f"{flag} {first} with --seeds {args.seeds}: the last run's seed "
                f"would exceed {MAX_SEED}"
            )
    if args.column_blocks is not None and (args.engine != COMPILED or args.model != "dense"):
        parser.error("--column-blocks applies to the compiled Dense engine only")
    if args.block_order is not None and args.model != "cnn":
        parser.error("--block-order applies to --model cnn only")
    if args.model == "cnn" and args.block_order is None:
        args.block_order = DEFAULTS["block_order"]


def train_runs(data, args, seeds, layout, quiet):
    """Every run of the study (one run: a study of one) through the chosen engine."""
    single = args.seeds == 1
    on_epoch_end = epoch_line(args.epochs) if single and not quiet else None

    def on_run_end(run, figures):
        if not single and not quiet:
            print(
                run_line(run, args.seeds, int(seeds[0][run]), int(seeds[1][run]), figures),
                flush=True,
            )

    if args.engine == FIT:
        return fit_tutorial(data, args, seeds, on_epoch_end, on_run_end)
    if layout is None:
        return fit_compiled_model_call(data, args, seeds, on_epoch_end, on_run_end)
    return fit_compiled_dense(data, args, seeds, layout, on_epoch_end, on_run_end)


# Settings that change a run's numbers: each that differs from DEFAULTS gets its part in the
# figures' file names (studies/figures.settings_suffix), so a quick experiment keeps its own.
NAMED_SETTINGS = (
    "epochs",
    "learning_rate",
    "batch_size",
    "validation_split",
    "engine",
    "train_limit",
    "test_limit",
)


def names(args):
    """(figure file prefix, title) of the run's model; the prefix ends with the settings that
    differ from the tutorial's ('_epochs3_fit')."""
    suffix = settings_suffix(args, DEFAULTS, NAMED_SETTINGS)
    if args.model == "dense":
        return "cifar10_dense" + suffix, "CIFAR-10 Dense network"
    later = args.block_order != DEFAULTS["block_order"]
    return (
        f"cifar10_cnn{'_bn_first' if later else ''}{suffix}",
        f"CIFAR-10 CNN ({'BN -> LeakyReLU' if later else 'LeakyReLU -> BN'})",
    )


def header_text(args, data, device, plan, layout, seeds, train_count):
    tag, title = names(args)
    held_out = len(data.y_train) - train_count
    lines = [
        f"{title}: {build(args.model, args.block_order).count_params():,} parameters; "
        f"Adam(learning_rate={args.learning_rate:g}), batch {args.batch_size}, "
        f"{args.epochs} epoch{'s' * (args.epochs != 1)}, shuffled; engine {args.engine}",
        f"device: {device}; Keras {keras.__version__} on TensorFlow {tf.__version__}; "
        f"threads {plan.intra_op} intra-op / {plan.inter_op} inter-op"
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
            f"seed study: {args.seeds} runs; weight seeds {seeds[0][0]}..{seeds[0][-1]}"
            f", data seeds {seeds[1][0]}..{seeds[1][-1]}"
        )
    lines.append(
        f"data: {data.source}: {train_count:,} training"
        + (f" + {held_out:,} validation" if held_out else "")
        + f", {len(data.y_test):,} test images"
        + (f"\n  note: {data.note}" if data.note else "")
        + "\n"
    )
    return "\n".join(lines)


def main(argv=None):
    parser = make_cifar_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    check_output_paths(parser, args, [("--save-model", args.save_model)])
    if args.tensorboard is not None:
        check_output_dir(parser, "--tensorboard", args.tensorboard)
    device = select_device_or_exit(parser, args.device)
    dense_compiled = args.engine == COMPILED and args.model == "dense"
    plan = setup_threads(
        "split_dense" if dense_compiled else "default", args.engine == COMPILED, device
    )
    try:
        load_start = time.perf_counter()
        data = load_cifar10(args.data_dir, **count_check(args)).head(
            args.train_limit, args.test_limit
        )
        load_seconds = time.perf_counter() - load_start
    except DataError as error:
        return error_line(error, error.exit_code, parser.prog)
    check_validation_split(parser, len(data.y_train), args.validation_split)
    set_seed(args.seed, args.deterministic)
    run_start = time.perf_counter()
    seeds = run_seeds(args)
    layout = study_layout(args, plan) if dense_compiled else None
    train_count = len(split_validation(data, args.validation_split)[0][1])
    print(header_text(args, data, device, plan, layout, seeds, train_count))

    runs = train_runs(data, args, seeds, layout, args.quiet)
    first_loss = runs.loss[0][: epochs_trained(runs, 0)]
    if args.seeds == 1 and not np.all(np.isfinite(first_loss)):
        return error_line(
            f"the loss became {first_loss[-1]} in epoch {len(first_loss)}; no "
            "figures written (try a smaller --learning-rate)",
            prog=parser.prog,
        )
    results = summarize(args, data, runs, layout, train_count)
    print("\n" + report_text(args, data, results))

    outputs = save_outputs(args, data, runs, results)
    timings = {
        "load_data": load_seconds,
        "training": runs.train_seconds,
        "compile": runs.compile_seconds,
        "training_cpu": runs.extra.get("train_cpu_seconds"),
        "training_per_run": runs.train_seconds / len(runs),
        "epochs": results["history"].epoch_seconds,
        "total": time.perf_counter() - run_start,
    }
    print(
        "\n"
        + timing_text(args, runs, timings)
        + "\n"
        + "\n".join(
            f"{kind}: {', '.join(map(str, path)) if isinstance(path, list) else path}"
            for kind, path in outputs.items()
            if path
        )
    )
    if args.json is not None:
        config = results["config"] | {
            "threads": plan.as_record(),
            "data_seed": int(seeds[1][0]),
            "networks_side_by_side": layout[0] if layout else 1,
            "column_blocks": layout[1] if layout else 1,
        }
        if results["study"] is not None:
            csv_path = write_runs_csv(csv_path_for(args.json), results["rows"], CSV_COLUMNS)
            print(f"per-run table: {csv_path}")
        save_run_record(
            args.json,
            script="cifar10_dense.py",
            argv=argv,
            config=config,
            device=device,
            data_files=data.files,
            timings=timings,
            metrics=record_metrics(args, data, results),
            figures=outputs["figures"],
        )
    return 0


def save_outputs(args, data, runs, results):
    """Write the figures and, when asked for, the model and the TensorBoard logs; {kind: what
    was written} for the closing lines."""
    figures = save_figures(args, data, results, *names(args))
    if args.save_model is not None:
        save_model(trained_model(args, runs), args.save_model)
    if args.tensorboard is not None:  # the first run's epochs, as the figures show them
        write_tensorboard_logs(args.tensorboard, {"": results["history"]}, args.learning_rate)
    return {
        "figures": figures,
        "model": args.save_model,
        "TensorBoard logs": args.tensorboard
        and (f"{args.tensorboard} (tensorboard --logdir {args.tensorboard})"),
    }


def timing_text(args, runs, timings):
    per_run = f", {timings['training_per_run']:.1f} s a run" if len(runs) > 1 else ""
    cpu = timings["training_cpu"]
    cpu_text = f", CPU time {cpu:.1f} s" if cpu is not None else ""
    return (
        f"training: {runs.train_seconds:.1f} s ({args.engine} engine{per_run}{cpu_text}; "
        f"tracing {runs.compile_seconds:.1f} s); whole run {timings['total']:.1f} s after "
        f"{timings['load_data']:.1f} s loading data; peak memory {peak_rss_mb():.0f} MB"
    )


def record_metrics(args, data, results):
    """The JSON record's metrics: the first run as a single run reports it, the verdicts, and a
    study's distributions, rows and per-run claim values."""
    history, first = results["history"], results["rows"][0]
    metrics = {
        "train_loss": history.loss,
        "train_accuracy": history.accuracy,
        "val_loss": history.val_loss,
        "val_accuracy": history.val_accuracy,
        "test_loss": first["test_loss"],
        "test_accuracy": first["test_accuracy"],
        "per_class_test_accuracy": dict(zip(data.class_names, results["per_class"], strict=True)),
        "confusion_matrix": results["matrix"],
        "verdicts": results["verdicts"],
        "data_source": data.source,
        "data_note": data.note,
    }
    metrics |= {"runs": results["rows"], "claim_values": measured_values(results["rows"])}
    if results["study"] is not None:
        metrics |= {"study": results["study"], "csv": str(csv_path_for(args.json))}
    return metrics


# ## A study in chunks (reproduce.py --ray): each chunk a task, one record as the study's
def parsed_args(argv):
    parser = make_cifar_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def chunk_argvs(argv, runs_per_chunk):
    """The study `argv` as the argvs of chunks of at most `runs_per_chunk` consecutive runs
    ([argv] if it fits in one). Each chunk gives its runs the weight and data seeds they have
    in the whole study, and the compiled Dense engine the study's one column block per
    network, so every run is the study's own, bit for bit on the same kind of CPU."""
    args = parsed_args(argv)
    if args.seeds <= runs_per_chunk:
        return [list(argv)]
    weight_seeds, data_seeds = run_seeds(args)
    blocks = (
        ["--column-blocks", "1"]
        if args.engine == COMPILED and args.model == "dense" and args.column_blocks is None
        else []
    )
    return [
        [
            *argv,
            "--seeds",
            str(min(runs_per_chunk, args.seeds - first)),
            "--seed",
            str(weight_seeds[first]),
            "--data-seed",
            str(data_seeds[first]),
            *blocks,
        ]
        for first in range(0, args.seeds, runs_per_chunk)
    ]


def merge_chunks(argv, records, json_path, figures_dir):
    """The record the study `argv` writes to `json_path`, from its chunks' records (in
    chunk_argvs' order): the first run's metrics and figures from the first chunk (copied into
    `figures_dir`); the per-run rows of all; the distributions, verdicts, per-run CSV and study
    figure recomputed from those rows by the functions the study itself uses. Writes the CSV,
    the figures and the record; returns the record."""
    args = parsed_args(run_argv(argv, json_path, figures_dir))
    # what reproduce.py added to each chunk's record in memory is not the study's
    first = {k: v for k, v in records[0].items() if k not in ("label", "plan_seconds")}
    rows = [
        row | {"run": run}
        for run, row in enumerate(row for record in records for row in record["metrics"]["runs"])
    ]
    if len(rows) != args.seeds:
        raise ValueError(f"the chunks hold {len(rows)} runs; the study has {args.seeds}")
    counts = (first["config"]["train_images"], first["config"]["test_images"])
    config = run_config(args, counts) | {
        key: first["config"][key]
        for key in ("threads", "data_seed", "networks_side_by_side", "column_blocks")
    }
    claims = claims_for("cifar10", config)
    study = study_summary(rows, counts[1]) if len(rows) > 1 else None
    tag, title = names(args)
    figures_dir.mkdir(parents=True, exist_ok=True)
    figures = [
        shutil.copy2(figure, figures_dir / Path(figure).name)
        for figure in first["figures"]
        if Path(figure).name != f"{tag}_study.png"
    ]
    values = measured_values(rows)
    metrics = first["metrics"] | {
        "runs": rows,
        "claim_values": values,
        "verdicts": judge_all(claims, values, config, sampling_n=counts[1]),
    }
    if study is not None:
        figures.append(save_study_figure(args, {"rows": rows, "claims": claims}, tag, title))
        metrics |= {
            "study": study,
            "csv": write_runs_csv(csv_path_for(json_path), rows, CSV_COLUMNS),
        }

    def total(key):
        values = [record["timings_s"].get(key) for record in records]
        return None if None in values else sum(values)

    timings = first["timings_s"] | {
        key: total(key) for key in ("training", "compile", "training_cpu", "total")
    }
    timings["training_per_run"] = timings["training"] / len(rows)
    record = first | {
        "argv": run_argv(argv, json_path, figures_dir),
        "config": config,
        "finished_utc": max(record["finished_utc"] for record in records),
        "timings_s": timings,
        "peak_rss_mb": max(record["peak_rss_mb"] for record in records),
        "metrics": metrics,
        "figures": [str(figure) for figure in figures],
        "chunks": [
            {
                "argv": record["argv"],
                "machine": record["machine"],
                "runs": len(record["metrics"]["runs"]),
            }
            for record in records
        ],
    }
    record = plain_record(record)  # NaN as null, as every record stores it
    write_run_record(json_path, record)
    return record


if __name__ == "__main__":
    sys.exit(run_main(main))
