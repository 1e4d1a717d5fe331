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
import shlex
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
from common.dense_study import dense_sizes, train_dense_runs
from common.device import select_device_or_exit
from common.engines import COMPILED, ENGINE_HELP, ENGINES, FIT, Runs, setup
from common.exits import error_line, run_main
from common.figures import (
    confusion_figure,
    epoch_curves_figure,
    image_predictions_figure,
    save_figure,
)
from common.records import peak_rss_mb, save_run_record
from common.seeding import set_seed
from common.studies import (
    csv_path_for,
    distribution,
    distribution_figure,
    distribution_text,
    percentile_of,
    sampling_sd,
    write_runs_csv,
)
from common.training import CompiledTrainer, HistoryRecorder, TrainingHistory, make_evaluator

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
DEFAULTS = dict(model="dense", engine=COMPILED, learning_rate=5e-4, batch_size=32, epochs=10,
                validation_split=0.0, seeds=1)
MAX_SEEDS, MAX_SEED = 10_000, 2**31 - 1
SHOWN_IMAGES = 10


# ## Training: the tutorial's spelling (--engine fit) and the compiled engine, for N runs
def split_validation(data, fraction):
    """Keras's validation_split: the last `fraction` of the training set, before shuffling."""
    keep = len(data.y_train) - int(len(data.y_train) * fraction)
    return ((data.x_train[:keep], data.y_train[:keep]),
            (data.x_train[keep:], data.y_train[keep:]) if fraction else None)


def run_seeds(args):
    """(weight seeds, data seeds): run r starts from weight seed --seed + r and sees the data in
    the order of data seed --data-seed + r (--data-seed defaults to --seed)."""
    runs = np.arange(args.seeds)
    data_seed = args.seed if args.data_seed is None else args.data_seed
    return args.seed + runs, data_seed + runs


def fresh_model(model_name, weight_seed):
    """The tutorial's model with the initial weights of `weight_seed`: Keras's own initializers
    after keras.utils.set_random_seed, on a new model (the same for every engine)."""
    keras.utils.set_random_seed(int(weight_seed))
    return BUILDERS[model_name]()


def validation_of(data, args):
    """(training (images, labels), validation (images, labels) or None) as the tutorial has
    them: the CNN validates on the test set each epoch, as the book does."""
    train, held_out = split_validation(data, args.validation_split)
    if held_out is None and args.model == "cnn":
        held_out = (data.x_test, data.y_test)
    return train, held_out


def _runs_from(rows, weight_seeds, data_seeds, train_seconds, compile_seconds=0.0):
    """A common.engines.Runs from per-run (history, test loss, test accuracy, probabilities,
    weights, seconds) rows."""
    histories = [row[0] for row in rows]
    epochs = max(len(h.loss) for h in histories)

    def padded(key):
        table = np.full((len(rows), epochs), np.nan, np.float32)
        for index, history in enumerate(histories):
            values = getattr(history, key)
            table[index, :len(values)] = values
        return table

    has_validation = any(h.val_loss for h in histories)
    return Runs(weight_seeds=np.asarray(weight_seeds), data_seeds=np.asarray(data_seeds),
                loss=padded("loss"), accuracy=padded("accuracy"),
                val_loss=padded("val_loss") if has_validation else None,
                val_accuracy=padded("val_accuracy") if has_validation else None,
                params=[np.stack(p) for p in zip(*(row[4] for row in rows), strict=True)],
                train_seconds=train_seconds, compile_seconds=compile_seconds,
                test_outputs=np.stack([row[3] for row in rows]),
                extra={"test_loss": np.array([row[1] for row in rows]),
                       "test_accuracy": np.array([row[2] for row in rows]),
                       "train_seconds": np.array([row[5] for row in rows]),
                       "epoch_seconds": padded("epoch_seconds")})


def run_figures(row):
    history, test_loss, test_accuracy, _, _, seconds = row
    return {"loss": history.loss, "accuracy": history.accuracy, "test_loss": test_loss,
            "test_accuracy": test_accuracy, "train_seconds": seconds}


def history_reporter(on_epoch_end):
    """A TrainingHistory callback (epoch, history) -> on_epoch_end(epoch, seconds, loss,
    accuracy, val_loss, val_accuracy)."""
    if on_epoch_end is None:
        return None

    def report(epoch, history):
        on_epoch_end(epoch, history.epoch_seconds[-1], history.loss[-1], history.accuracy[-1],
                     *(values[-1] if values else math.nan
                       for values in (history.val_loss, history.val_accuracy)))
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
        model = fresh_model(args.model, weight_seed)
        model.compile(loss="categorical_crossentropy",
                      optimizer=tutorial_optimizer(args.learning_rate), metrics=["accuracy"])
        recorder = HistoryRecorder(history_reporter(on_epoch_end))
        validation = {"validation_split": args.validation_split} if args.validation_split else (
            {"validation_data": (x_test, y_test)} if args.model == "cnn" else {})
        keras.utils.set_random_seed(int(data_seed))  # fit's shuffle: the run's data order
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                  shuffle=True, verbose=0,
                  callbacks=[recorder, keras.callbacks.TerminateOnNaN()], **validation)
        history = recorder.history_record
        test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size,
                                                  verbose=0)
        probabilities = model.predict(x_test, batch_size=1000, verbose=0)
        rows.append((history, float(test_loss), float(test_accuracy), probabilities,
                     model.get_weights(), history.train_seconds))
        on_run_end(run, run_figures(rows[-1]))
    return _runs_from(rows, *seeds, sum(row[5] for row in rows))


def fit_compiled_model_call(data, args, seeds, on_epoch_end, on_run_end):
    """The CNN through common/training.py's CompiledTrainer (model call, fused Adam, a graph
    call per hundreds of batches), once per run."""
    train, held_out = validation_of(data, args)
    rows = []
    for run, (weight_seed, data_seed) in enumerate(zip(*seeds, strict=True)):
        model = fresh_model(args.model, weight_seed)
        trainer = CompiledTrainer(model, tutorial_optimizer(args.learning_rate),
                                  batch_size=args.batch_size)
        history = trainer.fit(*train, epochs=args.epochs, seed=int(data_seed),
                              validation_data=held_out,
                              on_epoch_end=history_reporter(on_epoch_end))
        test_loss, test_accuracy, probabilities = trainer.evaluate(data.x_test, data.y_test)
        rows.append((history, test_loss, test_accuracy, probabilities, model.get_weights(),
                     history.train_seconds))
        on_run_end(run, run_figures(rows[-1]))
    return _runs_from(rows, *seeds, sum(row[5] for row in rows))


def fit_compiled_dense(data, args, seeds, layout, on_epoch_end, on_run_end):
    """The Dense network through common/dense_study.py: `layout` = (networks side by side,
    column blocks per network). Every run's figures come from the Keras model with its weights
    (the evaluator is model.evaluate's arithmetic)."""
    train, held_out = validation_of(data, args)
    model = BUILDERS[args.model]()
    evaluator = make_evaluator(model)

    def evaluate(weights, images, labels):
        model.set_weights(weights)
        return evaluator(images, labels)

    def initial_weights(seed):
        return fresh_model(args.model, seed).get_weights()

    def epoch_end(members, epoch, seconds, history):
        if on_epoch_end is not None and members[0] == 0:
            on_epoch_end(epoch, seconds, *(history[key][0, epoch - 1] for key in (
                "loss", "accuracy", "val_loss", "val_accuracy")))

    return train_dense_runs(
        initial_weights, dense_sizes(model), train, weight_seeds=seeds[0],
        data_seeds=seeds[1], epochs=args.epochs, batch_size=args.batch_size,
        learning_rate=args.learning_rate, parallel=layout[0], column_blocks=layout[1],
        evaluate=evaluate, test_data=(data.x_test, data.y_test), validation_data=held_out,
        on_epoch_end=epoch_end, on_run_end=on_run_end)


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
        line = (f"Epoch {epoch}/{epochs}: {seconds:.1f} s - loss {loss:.4f} - accuracy "
                f"{accuracy:.4f}")
        if math.isfinite(val_loss):
            line += f" - val_loss {val_loss:.4f} - val_accuracy {val_accuracy:.4f}"
        print(line, flush=True)
    return report


def replay_command(args, weight_seed, data_seed, column_blocks):
    """The single-run command that replays one run of a study exactly (same machine)."""
    argv = ["python", "cifar10_dense.py"]
    if args.data_dir is not None:
        argv += ["--data-dir", str(args.data_dir)]
    for flag, key in (("--model", "model"), ("--engine", "engine"), ("--epochs", "epochs"),
                      ("--learning-rate", "learning_rate"), ("--batch-size", "batch_size"),
                      ("--validation-split", "validation_split")):
        if getattr(args, key) != DEFAULTS[key]:
            argv += [flag, str(getattr(args, key))]
    argv += ["--seed", str(weight_seed), "--data-seed", str(data_seed)]
    if column_blocks is not None:
        argv += ["--column-blocks", str(column_blocks)]
    for flag, key in (("--train-limit", "train_limit"), ("--test-limit", "test_limit"),
                      ("--device", "device")):
        if getattr(args, key) not in (None, "auto"):
            argv += [flag, str(getattr(args, key))]
    argv += [flag for flag, key in (("--allow-small-data", "allow_small_data"),
                                    ("--deterministic", "deterministic")) if getattr(args, key)]
    return shlex.join(argv)


def run_line(run, runs_total, weight_seed, data_seed, figures):
    return (f"run {run + 1}/{runs_total} (seed {weight_seed}, data seed {data_seed}): test "
            f"accuracy {100 * figures['test_accuracy']:.2f}%, test loss "
            f"{figures['test_loss']:.4f}, train accuracy {100 * figures['accuracy'][-1]:.2f}%, "
            f"{figures['train_seconds']:.1f} s")


def epochs_trained(runs, run):
    """Epochs run `run` trained (it stops after an epoch whose loss is not finite)."""
    return int(np.isfinite(runs.extra["epoch_seconds"][run]).sum())


def study_rows(runs, args, column_blocks):
    """One dict per run: seeds, figures, time and the command that replays it."""
    rows = []
    for run in range(len(runs)):
        weight_seed, data_seed = int(runs.weight_seeds[run]), int(runs.data_seeds[run])
        last = max(0, epochs_trained(runs, run) - 1)
        rows.append({
            "run": run, "weight_seed": weight_seed, "data_seed": data_seed,
            "test_accuracy": float(runs.extra["test_accuracy"][run]),
            "test_loss": float(runs.extra["test_loss"][run]),
            "train_accuracy": float(runs.accuracy[run, last]),
            "train_loss": float(runs.loss[run, last]),
            "train_seconds": float(runs.extra["train_seconds"][run]),
            "command": replay_command(args, weight_seed, data_seed, column_blocks)})
    return rows


CSV_COLUMNS = ("run", "weight_seed", "data_seed", "test_accuracy", "test_loss",
               "train_accuracy", "train_loss", "train_seconds", "command")


def study_summary(rows, model_name, test_count):
    test = np.array([row["test_accuracy"] for row in rows])
    summary = {
        "n": len(rows),
        "test_accuracy": distribution(test),
        "test_loss": distribution([row["test_loss"] for row in rows]),
        "train_accuracy": distribution([row["train_accuracy"] for row in rows]),
        "published_percentile": percentile_of(PUBLISHED[model_name]["test_accuracy"], test),
    }
    summary["sampling_sd"] = sampling_sd(summary["test_accuracy"]["mean"], test_count)
    if model_name in BOOK_NOTEBOOK:
        summary["book_percentile"] = percentile_of(BOOK_NOTEBOOK[model_name]["test_accuracy"],
                                                   test)
    return summary


def study_report(summary, model_name):
    published = PUBLISHED[model_name]["test_accuracy"]
    test = summary["test_accuracy"]
    lines = [f"Seed study: {summary['n']} runs",
             f"  test accuracy:  {distribution_text(test)}",
             f"  test loss:      {distribution_text(summary['test_loss'], 1, '', 4)}",
             f"  train accuracy: {distribution_text(summary['train_accuracy'])} (last epoch)",
             f"  published {100 * published:.1f}%: percentile "
             f"{100 * summary['published_percentile']:.0f} among the runs"
             + (f"; the book notebook's {100 * BOOK_NOTEBOOK[model_name]['test_accuracy']:.1f}%:"
                f" percentile {100 * summary['book_percentile']:.0f}"
                if "book_percentile" in summary else ""),
             f"  spread over runs: sd {100 * test['sd']:.2f} points; the test set's own sampling "
             f"sd at this accuracy: {100 * summary['sampling_sd']:.2f} points "
             "(sqrt(p(1-p)/n))"]
    return "\n".join(lines)


def save_study_figure(args, rows, tag, title):
    published = [(PUBLISHED[args.model]["test_accuracy"], "published (blog) "
                  f"{100 * PUBLISHED[args.model]['test_accuracy']:.1f}%")]
    if args.model in BOOK_NOTEBOOK:
        book = BOOK_NOTEBOOK[args.model]["test_accuracy"]
        published.append((book, f"book notebook {100 * book:.1f}%"))
    figure = distribution_figure(
        {"runs": [row["test_accuracy"] for row in rows]},
        f"{title}: test accuracy of {len(rows)} runs ({args.epochs} epochs)",
        "test accuracy (%)", published=published, bins=max(10, min(40, len(rows))))
    return save_figure(figure, args.figures_dir / f"{tag}_study.png")


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
    parser.add_argument("--engine", choices=ENGINES, default=DEFAULTS["engine"],
                        help=ENGINE_HELP)
    parser.add_argument("--seeds", type=int_in_range(1, MAX_SEEDS), default=DEFAULTS["seeds"],
                        metavar="N",
                        help="a seed study: N runs, run r with weight seed --seed + r and data "
                             "seed --data-seed + r; prints the distribution and each run's "
                             "single-run command")
    parser.add_argument("--data-seed", type=int_in_range(0, MAX_SEED), default=None,
                        metavar="SEED",
                        help="seed of the training data order (default: --seed); with "
                             "--engine fit it seeds model.fit's own shuffle")
    parser.add_argument("--column-blocks", type=int_in_range(1, 64), default=None,
                        metavar="K",
                        help="compiled Dense engine: split each network's first kernel into K "
                             "column blocks (default: one per core for a single run, 1 in a "
                             "study). Part of the arithmetic: a study's replay commands give it")
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


def check_seeds(parser, args):
    """Usage error (exit 2) if the last run's seeds would pass the largest seed."""
    for flag, first in (("--seed", args.seed), ("--data-seed", args.data_seed)):
        if first is not None and first + args.seeds - 1 > MAX_SEED:
            parser.error(f"{flag} {first} with --seeds {args.seeds}: the last run's seed "
                         f"would exceed {MAX_SEED}")
    if args.column_blocks is not None and (args.engine != COMPILED or args.model != "dense"):
        parser.error("--column-blocks applies to the compiled Dense engine only")


def train_runs(data, args, seeds, layout, quiet):
    """Every run of the study (one run: a study of one) through the chosen engine."""
    single = args.seeds == 1
    on_epoch_end = epoch_line(args.epochs) if single and not quiet else None

    def on_run_end(run, figures):
        if not single and not quiet:
            print(run_line(run, args.seeds, int(seeds[0][run]), int(seeds[1][run]), figures),
                  flush=True)

    if args.engine == FIT:
        return fit_tutorial(data, args, seeds, on_epoch_end, on_run_end)
    if layout is None:
        return fit_compiled_model_call(data, args, seeds, on_epoch_end, on_run_end)
    return fit_compiled_dense(data, args, seeds, layout, on_epoch_end, on_run_end)


def main(argv=None):
    parser = make_cifar_parser()
    args = parser.parse_args(argv)
    check_seeds(parser, args)
    check_output_paths(parser, args, [("--save-model", args.save_model)])
    device = select_device_or_exit(parser, args.device)
    dense_compiled = args.engine == COMPILED and args.model == "dense"
    plan = setup("split_dense" if dense_compiled else "default", args.engine, device)
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
    seeds = run_seeds(args)
    layout = study_layout(args, plan) if dense_compiled else None
    print(f"{title}: {BUILDERS[args.model]().count_params():,} parameters; Adam(learning_rate="
          f"{args.learning_rate:g}), batch {args.batch_size}, {args.epochs} epochs, shuffled; "
          f"engine {args.engine}")
    print(f"device: {device}; Keras {keras.__version__} on TensorFlow {tf.__version__}; "
          f"threads {plan.intra_op} intra-op / {plan.inter_op} inter-op"
          + (f"; {layout[1]} column block{'s' * (layout[1] > 1)} per network"
             + (f", {layout[0]} networks side by side" if args.seeds > 1 else "")
             if layout else ""))
    if args.seeds > 1:
        print(f"seed study: {args.seeds} runs; weight seeds {seeds[0][0]}..{seeds[0][-1]}, "
              f"data seeds {seeds[1][0]}..{seeds[1][-1]}")
    print(f"data: {data.source}: {len(data.y_train):,} training, {len(data.y_test):,} test "
          f"images" + (f"\n  note: {data.note}" if data.note else "") + "\n")

    runs = train_runs(data, args, seeds, layout, args.quiet)
    model = BUILDERS[args.model]()  # the first run's network: figures and --save-model
    model.set_weights(runs.run(0))
    epochs_run = epochs_trained(runs, 0)
    history = runs.loss[0][:epochs_run]
    if args.seeds == 1 and not np.all(np.isfinite(history)):
        return error_line(f"the loss became {history[-1]} in epoch {len(history)}; no figures "
                          "written (try a smaller --learning-rate)", prog=parser.prog)
    rows = study_rows(runs, args, layout[1] if layout else None)
    first = rows[0]
    test_loss, test_accuracy = first["test_loss"], first["test_accuracy"]
    probabilities = runs.test_outputs[0]
    matrix = confusion_matrix(data.y_test, probabilities.argmax(axis=1))
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    study = None
    if args.seeds > 1:
        study = study_summary(rows, args.model, len(data.y_test))
        print("\n" + study_report(study, args.model))
        print(f"  replay a run alone (run 1): {rows[0]['command']}")
        print(f"\nThe first run (seed {args.seed}), as a single run prints it:")
    print(f"\nResults after {epochs_run} epoch{'s' * (epochs_run != 1)} (seed {args.seed}):")
    print(results_table(args.model, first["train_accuracy"], test_loss, test_accuracy))
    reproduced, verdict_text = verdict(args.model, test_accuracy)
    print("verdict: " + verdict_text)
    print("per-class test accuracy: " + ", ".join(
        f"{name} {100 * share:.0f}%" for name, share in zip(data.class_names, per_class,
                                                              strict=True)))
    if data.note:
        print(f"note: {data.note}")

    history_record = TrainingHistory(
        loss=[float(v) for v in history], accuracy=[float(v) for v in runs.accuracy[0][
            :epochs_run]],
        val_loss=[] if runs.val_loss is None else [float(v) for v in runs.val_loss[0][
            :epochs_run]],
        val_accuracy=[] if runs.val_accuracy is None else [float(v) for v in runs.val_accuracy[
            0][:epochs_run]],
        epoch_seconds=[float(v) for v in runs.extra["epoch_seconds"][0][:epochs_run]])
    figures = save_figures(args, data, history_record, probabilities, matrix, tag, title)
    if args.seeds > 1:
        figures.append(save_study_figure(args, rows, tag, title))
    if args.save_model is not None:
        save_model(model, args.save_model)
    total_seconds = time.perf_counter() - run_start
    per_run = (f", {runs.train_seconds / len(runs):.1f} s a run" if len(runs) > 1 else "")
    cpu = runs.extra.get("train_cpu_seconds")
    cpu_text = f", CPU time {cpu:.1f} s" if cpu is not None else ""
    print(f"\ntraining: {runs.train_seconds:.1f} s ({args.engine} engine{per_run}{cpu_text}; "
          f"tracing {runs.compile_seconds:.1f} s); whole run {total_seconds:.1f} s after "
          f"{load_seconds:.1f} s loading data; peak memory {peak_rss_mb():.0f} MB")
    print("figures: " + ", ".join(figures))
    if args.save_model is not None:
        print(f"model: {args.save_model}")
    if args.json is not None:
        config = config_of(args) | {"threads": plan.as_record(),
                                    "data_seed": int(seeds[1][0]),
                                    "networks_side_by_side": layout[0] if layout else 1,
                                    "column_blocks": layout[1] if layout else 1}
        metrics = {
            "train_loss": history_record.loss, "train_accuracy": history_record.accuracy,
            "val_loss": history_record.val_loss, "val_accuracy": history_record.val_accuracy,
            "test_loss": test_loss, "test_accuracy": test_accuracy,
            "per_class_test_accuracy": dict(zip(data.class_names, per_class, strict=True)),
            "confusion_matrix": matrix, "published": PUBLISHED[args.model],
            "reproduced": reproduced, "data_source": data.source, "data_note": data.note,
        }
        if study is not None:
            csv_path = write_runs_csv(csv_path_for(args.json), rows, CSV_COLUMNS)
            print(f"per-run table: {csv_path}")
            metrics |= {"study": study, "runs": rows, "csv": csv_path}
        save_run_record(
            args.json, script="cifar10_dense.py", argv=argv, config=config, device=device,
            timings={"load_data": load_seconds, "training": runs.train_seconds,
                     "compile": runs.compile_seconds, "training_cpu": cpu,
                     "training_per_run": runs.train_seconds / len(runs),
                     "epochs": history_record.epoch_seconds, "total": total_seconds},
            metrics=metrics, figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
