"""
Title: CIFAR-10 with a Dense network (and the book's convolutional follow-up)
Tutorial: a blog post copying David Foster, "Generative Deep Learning" (1st ed., 2019), ch. 2:
    scale the images by 1/255, one-hot labels, Flatten -> Dense(200) -> Dense(150) -> Dense(10),
    Adam(5e-4), batch 32, 10 epochs. With `--model cnn`, the chapter's CNN (notebook 02_03).
Description: Trains the tutorial's model and prints its figures beside the published ones;
    saves the tutorial's picture (10 test images with predicted and actual classes), the
    training curves and a confusion matrix. The default engine feeds and compiles the same
    experiment differently (common/training.py, about 4x faster and in under half the memory);
    `--engine fit` runs the tutorial's own spelling.
Expected result: Dense test accuracy about 49% after 10 epochs (tutorial 48.9%), CNN about 72%
    (book 71.8%). README.md has the measured tables over seeds.

Usage: python cifar10_dense.py --data-dir ../shared/datasets [--model cnn] [--engine fit]
"""

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from common.atomic import atomic_path
from common.backend import keras, layers, tf
from common.cli import (
    add_data_dir_flag,
    check_output_paths,
    check_validation_split,
    config_of,
    count_check,
    float_in_range,
    int_in_range,
    make_parser,
)
from common.data import DataError, load_cifar10
from common.device import select_device_or_exit
from common.exits import error_line, run_main
from common.figures import (
    confusion_figure,
    epoch_curves_figure,
    image_predictions_figure,
    save_figure,
)
from common.records import peak_rss_mb, save_run_record
from common.seeding import set_seed
from common.training import (
    CompiledTrainer,
    HistoryRecorder,
    configure_threads,
    split_plan,
)

NUM_CLASSES = 10


# ## The model: the tutorial's, in the book's functional style
def build_dense():
    input_layer = layers.Input((32, 32, 3))
    x = layers.Flatten()(input_layer)
    x = layers.Dense(200, activation="relu")(x)
    x = layers.Dense(150, activation="relu")(x)
    output_layer = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(input_layer, output_layer)


# ## The follow-up: the chapter's convolutional network (BatchNormalization before LeakyReLU,
# as in the later book; the recorded run had them the other way round)
def build_cnn():
    input_layer = layers.Input((32, 32, 3))
    x = input_layer
    for filters, strides in ((32, 1), (32, 2), (64, 1), (64, 2)):
        x = layers.Conv2D(filters, kernel_size=3, strides=strides, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.LeakyReLU()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128)(x)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU()(x)
    x = layers.Dropout(rate=0.5)(x)
    x = layers.Dense(NUM_CLASSES)(x)
    output_layer = layers.Activation("softmax")(x)
    return keras.Model(input_layer, output_layer)


BUILDERS = {"dense": build_dense, "cnn": build_cnn}


def tutorial_optimizer(learning_rate):
    # The book's Adam(lr=0.0005): `lr` is gone from Keras 3, `learning_rate` is the same thing.
    return keras.optimizers.Adam(learning_rate=learning_rate)


# ## Published figures
# Dense: the blog's run (train 51.9%, evaluate [1.439, 0.489]) and the book notebook's.
# CNN: the book notebook's recorded run, validation (= test) accuracy after 10 epochs.
PUBLISHED = {
    "dense": {"train_accuracy": 0.519, "test_loss": 1.439, "test_accuracy": 0.489},
    "cnn": {"test_accuracy": 0.7183},
}
BOOK_NOTEBOOK = {"dense": {"train_accuracy": 0.514, "test_loss": 1.4406, "test_accuracy": 0.484}}
BAND_POINTS = {"dense": 1.5, "cnn": 3.0}  # |measured - published| test accuracy, in points

# ## Defaults: the tutorial's settings (the run record stores the values actually used)
DEFAULTS = dict(model="dense", engine="compiled", learning_rate=5e-4, batch_size=32, epochs=10,
                validation_split=0.0)
SHOWN_IMAGES = 10


# ## Training: the tutorial's spelling (--engine fit) and the compiled engine
def split_validation(data, fraction):
    """Keras's validation_split: the last `fraction` of the training set, before shuffling."""
    keep = len(data.y_train) - int(len(data.y_train) * fraction)
    return ((data.x_train[:keep], data.y_train[:keep]),
            (data.x_train[keep:], data.y_train[keep:]) if fraction else None)


def fit_tutorial(model, data, args, on_epoch_end):
    """The tutorial's code path: float32 copies scaled by 1/255, one-hot labels, model.fit and
    model.evaluate. Returns (history, [test loss, test accuracy], test probabilities)."""
    x_train = data.x_train.astype("float32") / 255.0
    x_test = data.x_test.astype("float32") / 255.0
    y_train = keras.utils.to_categorical(data.y_train, NUM_CLASSES)
    y_test = keras.utils.to_categorical(data.y_test, NUM_CLASSES)
    model.compile(loss="categorical_crossentropy",
                  optimizer=tutorial_optimizer(args.learning_rate), metrics=["accuracy"])
    recorder = HistoryRecorder(on_epoch_end)
    validation = {"validation_split": args.validation_split} if args.validation_split else (
        {"validation_data": (x_test, y_test)} if args.model == "cnn" else {})
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
              verbose=0, callbacks=[recorder, keras.callbacks.TerminateOnNaN()], **validation)
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size,
                                              verbose=0)
    probabilities = model.predict(x_test, batch_size=1000, verbose=0)
    return recorder.history_record, [float(test_loss), float(test_accuracy)], probabilities


def fit_compiled(model, data, args, on_epoch_end, column_blocks):
    """The same experiment through common/training.py (uint8 data, a graph call per
    hundreds of batches, fused Adam). Returns what fit_tutorial returns."""
    (x_train, y_train), held_out = split_validation(data, args.validation_split)
    if held_out is None and args.model == "cnn":
        held_out = (data.x_test, data.y_test)  # the book validates on the test set
    trainer = CompiledTrainer(model, tutorial_optimizer(args.learning_rate),
                              batch_size=args.batch_size, column_blocks=column_blocks)
    history = trainer.fit(x_train, y_train, epochs=args.epochs, seed=args.seed,
                          validation_data=held_out, on_epoch_end=on_epoch_end)
    test_loss, test_accuracy, probabilities = trainer.evaluate(data.x_test, data.y_test)
    return history, [test_loss, test_accuracy], probabilities


# ## Reports
def epoch_line(epochs, quiet):
    def report(epoch, history):
        if quiet:
            return
        line = (f"Epoch {epoch}/{epochs}: {history.epoch_seconds[-1]:.1f} s - loss "
                f"{history.loss[-1]:.4f} - accuracy {history.accuracy[-1]:.4f}")
        if history.val_loss:
            line += (f" - val_loss {history.val_loss[-1]:.4f} - val_accuracy "
                     f"{history.val_accuracy[-1]:.4f}")
        print(line, flush=True)
    return report


def verdict(model_name, test_accuracy):
    published, band = PUBLISHED[model_name]["test_accuracy"], BAND_POINTS[model_name]
    gap = 100 * (test_accuracy - published)
    inside = abs(gap) <= band
    return inside, (f"{'reproduced' if inside else 'not reproduced'}: test accuracy "
                    f"{100 * test_accuracy:.1f}% is {abs(gap):.1f} points "
                    f"{'above' if gap >= 0 else 'below'} the published {100 * published:.1f}% "
                    f"(band: {band} points)")


def results_table(model_name, train_accuracy, test_loss, test_accuracy):
    published, book = PUBLISHED[model_name], BOOK_NOTEBOOK.get(model_name, {})

    def cell(source, key, percent):
        if key not in source:
            return "-"
        return f"{100 * source[key]:.1f}%" if percent else f"{source[key]:.4f}".rstrip("0")

    rows = [("train accuracy (last epoch)", "train_accuracy", True),
            ("test loss", "test_loss", False), ("test accuracy", "test_accuracy", True)]
    measured = {"train_accuracy": train_accuracy, "test_loss": test_loss,
                "test_accuracy": test_accuracy}
    lines = [f"  {'':28s}{'this run':>10s}{'published':>12s}{'book notebook':>15s}"]
    for label, key, percent in rows:
        lines.append(f"  {label:28s}{cell(measured, key, percent):>10s}"
                     f"{cell(published, key, percent):>12s}{cell(book, key, percent):>15s}")
    return "\n".join(lines)


def confusion_matrix(actual, predicted, classes=NUM_CLASSES):
    matrix = np.zeros((classes, classes), np.int64)
    np.add.at(matrix, (actual, predicted), 1)
    return matrix


def shown_image_indices(count, seed, total):
    """The test images of the tutorial's picture: chosen by the seed, so a rerun shows the same."""
    return np.random.default_rng(seed).choice(total, size=min(count, total), replace=False)


def save_figures(args, data, history, probabilities, matrix, tag, title):
    predicted = probabilities.argmax(axis=1)
    shown = shown_image_indices(SHOWN_IMAGES, args.seed, len(data.y_test))
    references = [("accuracy", PUBLISHED[args.model]["test_accuracy"], "published test"),
                  ("accuracy", float(np.mean(predicted == data.y_test)), "this run's test")]
    curves = {"loss": {"train": history.loss}, "accuracy": {"train": history.accuracy}}
    if history.val_loss:
        curves["loss"]["validation"] = history.val_loss
        curves["accuracy"]["validation"] = history.val_accuracy
    figures_dir = args.figures_dir
    return [
        save_figure(image_predictions_figure(
            data.x_test[shown], predicted[shown], data.y_test[shown], data.class_names,
            f"{title}: test images chosen by seed {args.seed}"),
            figures_dir / f"{tag}_predictions.png"),
        save_figure(epoch_curves_figure(curves, title, references=references),
                    figures_dir / f"{tag}_curves.png"),
        save_figure(confusion_figure(matrix, data.class_names,
                                     f"{title}: test set confusion matrix"),
                    figures_dir / f"{tag}_confusion.png"),
    ]


def save_model(model, path):
    with atomic_path(path, suffix=".keras") as tmp:  # Keras insists on the extension
        model.save(tmp)


# ## Command line
def make_cifar_parser():
    parser = make_parser(__doc__.strip().splitlines()[0].removeprefix("Title: "),
                         epochs=DEFAULTS["epochs"], max_epochs=1000)
    add_data_dir_flag(parser)
    parser.add_argument("--model", choices=tuple(BUILDERS), default=DEFAULTS["model"],
                        help="'dense': the tutorial's network; 'cnn': the chapter's follow-up")
    parser.add_argument("--engine", choices=("compiled", "fit"), default=DEFAULTS["engine"],
                        help="'compiled': the same experiment fed and compiled for speed "
                             "(common/training.py); 'fit': the tutorial's model.fit spelling")
    parser.add_argument("--learning-rate", type=float_in_range(0, 1e6),
                        default=DEFAULTS["learning_rate"], help="Adam's learning rate")
    parser.add_argument("--batch-size", type=int_in_range(1, 50_000),
                        default=DEFAULTS["batch_size"], help="examples per training step")
    parser.add_argument("--validation-split", type=float_in_range(0, 0.9, low_inclusive=True),
                        default=DEFAULTS["validation_split"], metavar="FRACTION",
                        help="hold out the last FRACTION of the training set and report it "
                             "each epoch (0: off, as in the tutorial)")
    parser.add_argument("--save-model", type=_keras_path, default=None, metavar="PATH",
                        help="save the trained model to PATH (a .keras file)")
    return parser


def _keras_path(text):
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .keras (Keras 3's format)")
    return Path(text)


def main(argv=None):
    parser = make_cifar_parser()
    args = parser.parse_args(argv)
    check_output_paths(parser, args, [("--save-model", args.save_model)])
    device = select_device_or_exit(parser, args.device)
    split = (args.engine == "compiled" and args.model == "dense"
             and device.startswith("CPU"))
    intra_op, inter_op, column_blocks = split_plan(os.cpu_count()) if split else (0, 0, 1)
    intra_op, inter_op = configure_threads(intra_op, inter_op)
    try:
        load_start = time.perf_counter()
        data = load_cifar10(args.data_dir, **count_check(args)).head(
            args.train_limit, args.test_limit)
        load_seconds = time.perf_counter() - load_start
    except DataError as error:
        return error_line(error, error.exit_code, parser.prog)
    check_validation_split(parser, len(data.y_train), args.validation_split)
    set_seed(args.seed, args.deterministic)
    run_start = time.perf_counter()
    tag, title = f"cifar10_{args.model}", f"CIFAR-10 {args.model.upper()} network"
    model = BUILDERS[args.model]()
    print(f"{title}: {model.count_params():,} parameters; Adam(learning_rate="
          f"{args.learning_rate:g}), batch {args.batch_size}, {args.epochs} epochs, shuffled; "
          f"engine {args.engine}")
    print(f"device: {device}; Keras {keras.__version__} on TensorFlow {tf.__version__}"
          + (f"; {column_blocks} column blocks, threads {intra_op} intra-op / {inter_op} "
             "inter-op" if split else ""))
    print(f"data: {data.source}: {len(data.y_train):,} training, {len(data.y_test):,} test "
          f"images" + (f"\n  note: {data.note}" if data.note else "") + "\n")

    report = epoch_line(args.epochs, args.quiet)
    if args.engine == "fit":
        history, (test_loss, test_accuracy), probabilities = fit_tutorial(model, data, args,
                                                                           report)
    else:
        history, (test_loss, test_accuracy), probabilities = fit_compiled(
            model, data, args, report, column_blocks)
    if not all(math.isfinite(value) for value in history.loss):
        return error_line(f"the loss became {history.loss[-1]} in epoch {len(history.loss)}; "
                          "no figures written (try a smaller --learning-rate)", prog=parser.prog)

    matrix = confusion_matrix(data.y_test, probabilities.argmax(axis=1))
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    epochs_run = len(history.loss)
    print(f"\nResults after {epochs_run} epoch{'s' * (epochs_run != 1)} (seed {args.seed}):")
    print(results_table(args.model, history.accuracy[-1], test_loss, test_accuracy))
    reproduced, verdict_text = verdict(args.model, test_accuracy)
    print("verdict: " + verdict_text)
    print("per-class test accuracy: " + ", ".join(
        f"{name} {100 * share:.0f}%" for name, share in zip(data.class_names, per_class,
                                                              strict=True)))
    if data.note:
        print(f"note: {data.note}")

    figures = save_figures(args, data, history, probabilities, matrix, tag, title)
    if args.save_model is not None:
        save_model(model, args.save_model)
    total_seconds = time.perf_counter() - run_start
    print(f"\ntraining: {history.train_seconds:.1f} s ({args.engine} engine); whole run "
          f"{total_seconds:.1f} s after {load_seconds:.1f} s loading data; peak memory "
          f"{peak_rss_mb():.0f} MB")
    print("figures: " + ", ".join(figures))
    if args.save_model is not None:
        print(f"model: {args.save_model}")
    if args.json is not None:
        config = config_of(args) | {"threads": {"intra_op": intra_op, "inter_op": inter_op},
                                    "column_blocks": column_blocks}
        metrics = {
            "train_loss": history.loss, "train_accuracy": history.accuracy,
            "val_loss": history.val_loss, "val_accuracy": history.val_accuracy,
            "test_loss": test_loss, "test_accuracy": test_accuracy,
            "per_class_test_accuracy": dict(zip(data.class_names, per_class, strict=True)),
            "confusion_matrix": matrix, "published": PUBLISHED[args.model],
            "reproduced": reproduced, "data_source": data.source, "data_note": data.note,
        }
        save_run_record(
            args.json, script="cifar10_dense.py", argv=argv, config=config, device=device,
            timings={"load_data": load_seconds, "training": history.train_seconds,
                     "epochs": history.epoch_seconds, "total": total_seconds},
            metrics=metrics, figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
