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
Expected result: the linear neuron's accuracy is erratic and mostly below the 91.1% a model
    that never says "five" gets; the sigmoid neuron reaches about 97%. README.md has the table.

Usage: python mnist_perceptron.py --data-dir ../shared/datasets [--compare] [--normalize]
"""

import math
import sys
import time

import numpy as np

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
from common.data import DataError, load_fashion_mnist, load_mnist
from common.device import select_device_or_exit
from common.exits import error_line, run_main
from common.figures import epoch_curves_figure, image_predictions_figure, new_figure, save_figure
from common.records import peak_rss_mb, save_run_record
from common.seeding import set_seed
from common.training import CompiledTrainer, HistoryRecorder, configure_threads


# ## The model: the tutorial's single neuron
def build_model(activation="linear", image_shape=(28, 28)):
    return keras.Sequential([
        keras.Input(image_shape),
        layers.Flatten(),
        layers.Dense(1, activation=activation),
    ])
# The tutorial: model.compile(loss="mse", optimizer="adam", metrics=["accuracy"]) and
# model.fit(X_train, is_five_train, epochs=10, validation_data=(X_test, is_five_test)).


# ## Defaults: the tutorial's settings (the run record stores the values actually used)
DEFAULTS = dict(dataset="mnist", target_class=5, activation="linear", learning_rate=1e-3,
                batch_size=32, epochs=10, normalize=False, validation_split=0.0,
                engine="compiled")
LOADERS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}
READINGS = ((0.0, "output > 0 (the tutorial's reading)"), (0.5, "output > 0.5 (Keras's metric)"))
QUANTILES = (0.0, 0.01, 0.25, 0.5, 0.75, 0.99, 1.0)
GRID = (4, 8)  # rows, columns of the predictions figure


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
    return ((data.x_train[:keep], is_target(data.y_train[:keep])),
            (data.x_train[keep:], is_target(data.y_train[keep:])), test)


# ## Training: the tutorial's spelling (--engine fit) and the compiled engine
def train_fit(model, train, validation, test, args):
    """The tutorial's code: compile with "mse", Adam and "accuracy", fit with the validation
    data, predict. Returns (history, raw outputs on the test set)."""
    x_train, y_train = train
    scale = (lambda x: x / 255.0) if args.normalize else (lambda x: x)
    model.compile(loss="mse", optimizer=keras.optimizers.Adam(learning_rate=args.learning_rate),
                  metrics=["accuracy"])
    recorder = HistoryRecorder()
    model.fit(scale(x_train), y_train.astype("float32"), batch_size=args.batch_size,
              epochs=args.epochs, shuffle=True, verbose=0,
              validation_data=(scale(validation[0]), validation[1].astype("float32")),
              callbacks=[recorder, keras.callbacks.TerminateOnNaN()])
    return recorder.history_record, model.predict(scale(test[0]), batch_size=1000, verbose=0)[:, 0]


def train_compiled(model, train, validation, test, args):
    """The same experiment through common/training.py: the images stay uint8 and are scaled
    (or not) in the graph, a graph call per hundreds of batches, fused Adam."""
    trainer = CompiledTrainer(model, keras.optimizers.Adam(learning_rate=args.learning_rate),
                              batch_size=args.batch_size, loss="mean_squared_error",
                              input_scale=1 / 255 if args.normalize else 1.0)
    history = trainer.fit(*train, epochs=args.epochs, seed=args.seed,
                          validation_data=validation)
    return history, trainer.evaluate(*test)[2][:, 0]


def train(activation, data_splits, args, image_shape):
    """One neuron trained from the seed; (model, history, raw test outputs)."""
    set_seed(args.seed, args.deterministic)  # --compare: both neurons start from the same seed
    model = build_model(activation, image_shape)
    engine = train_fit if args.engine == "fit" else train_compiled
    history, outputs = engine(model, *data_splits, args)
    return model, history, outputs


# ## Metrics: what accuracy hides on an imbalanced task
def binary_metrics(outputs, truth, threshold):
    """Accuracy, precision, recall and the 2x2 counts of reading `outputs > threshold` as the
    target class. Precision is NaN when nothing is called the target."""
    predicted = np.asarray(outputs) > threshold
    truth = np.asarray(truth).astype(bool)
    tp, fp = int(np.sum(predicted & truth)), int(np.sum(predicted & ~truth))
    fn, tn = int(np.sum(~predicted & truth)), int(np.sum(~predicted & ~truth))
    return {"threshold": threshold, "accuracy": (tp + tn) / max(len(truth), 1),
            "precision": tp / (tp + fp) if tp + fp else math.nan,
            "recall": tp / (tp + fn) if tp + fn else math.nan,
            "tn": tn, "fp": fp, "fn": fn, "tp": tp}


def baseline_metrics(truth):
    """The model that never says "target": its accuracy is the share of the other classes."""
    return binary_metrics(np.zeros(len(truth)), truth, 0.5)


def output_quantiles(outputs):
    return dict(zip((f"q{int(q * 100)}" for q in QUANTILES),
                    np.quantile(np.asarray(outputs, np.float64), QUANTILES).tolist(),
                    strict=True))


# ## Reports
def _percent(value):
    return "   n/a" if math.isnan(value) else f"{100 * value:5.1f}%"


def metrics_table(rows):
    """rows: (label, metrics) -> aligned lines: accuracy, precision, recall, confusion counts."""
    lines = [f"  {'':44s}{'accuracy':>9s}{'precision':>10s}{'recall':>8s}"
             f"{'TN':>7s}{'FP':>6s}{'FN':>6s}{'TP':>6s}"]
    for label, m in rows:
        lines.append(f"  {label:44s}{_percent(m['accuracy']):>9s}{_percent(m['precision']):>10s}"
                     f"{_percent(m['recall']):>8s}{m['tn']:7d}{m['fp']:6d}{m['fn']:6d}"
                     f"{m['tp']:6d}")
    return "\n".join(lines)


QUANTILE_NAMES = {"q0": "min", "q100": "max", "q50": "median"}


def quantiles_line(quantiles):
    return "  " + ", ".join(f"{QUANTILE_NAMES.get(name, name.replace('q', '') + '%')} "
                            f"{value:.3g}" for name, value in quantiles.items())


def epochs_table(histories):
    """Per-epoch validation accuracy, one column per neuron."""
    names = list(histories)
    lines = ["  epoch" + "".join(f"{name + ' val accuracy':>26s}" for name in names)]
    for epoch in range(max(len(h.val_accuracy) for h in histories.values())):
        cells = [f"{100 * h.val_accuracy[epoch]:25.2f}%" if epoch < len(h.val_accuracy)
                 else f"{'-':>26s}" for h in histories.values()]
        lines.append(f"  {epoch + 1:5d}" + "".join(cells))
    return "\n".join(lines)


def run_report(activation, history, outputs, truth):
    """Printed lines and the metrics dict for one trained neuron."""
    readings = [binary_metrics(outputs, truth, threshold) for threshold, _ in READINGS]
    quantiles = output_quantiles(outputs)
    spread = 100 * (max(history.val_accuracy) - min(history.val_accuracy))
    lines = [f"{activation} neuron: raw outputs on the test set (quantiles):",
             quantiles_line(quantiles),
             f"  validation accuracy over the epochs: {100 * min(history.val_accuracy):.2f}% to "
             f"{100 * max(history.val_accuracy):.2f}% (a spread of {spread:.1f} points)"]
    metrics = {"val_accuracy": history.val_accuracy, "train_loss": history.loss,
               "output_quantiles": quantiles, "readings": readings,
               "val_accuracy_spread_points": spread}
    return lines, readings, metrics


# ## Figures
def prediction_grid_indices(truth, seed, count):
    """Half target-class images, half others (so the rare class shows), chosen by the seed."""
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(truth), np.flatnonzero(~np.asarray(truth, bool))
    take_pos = min(count // 2, len(positives))
    chosen = np.concatenate([rng.choice(positives, take_pos, replace=False),
                             rng.choice(negatives, min(count - take_pos, len(negatives)),
                                        replace=False)])
    return rng.permutation(chosen)


def weights_figure(weights_by_name, image_shape, title):
    fig, axes = new_figure(len(weights_by_name), size=(3.6 * len(weights_by_name), 3.4))
    for ax, (name, kernel) in zip(np.atleast_1d(axes), weights_by_name.items(), strict=True):
        image = np.asarray(kernel).reshape(image_shape)
        limit = float(np.max(np.abs(image))) or 1.0
        shown = ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(f"{name}: weight per pixel", fontsize=9)
        ax.axis("off")
        fig.colorbar(shown, ax=ax, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    return fig


def save_figures(args, data, runs, tag, target_name, validation_truth):
    """runs: {activation: (model, history, outputs)}. Returns the saved paths."""
    truth = (data.y_test == args.target_class)
    names = ("not " + target_name, target_name)
    figures_dir, saved = args.figures_dir, []
    shown = prediction_grid_indices(truth, args.seed, GRID[0] * GRID[1])
    for activation, (_, _, outputs) in runs.items():
        predicted = (outputs[shown] > 0.5).astype(int)
        saved.append(save_figure(image_predictions_figure(
            data.x_test[shown], predicted, truth[shown].astype(int), names,
            f"{activation} neuron, read at 0.5 (Keras's accuracy); red: mistakes; seed "
            f"{args.seed}", columns=GRID[1], cmap="gray"),
            figures_dir / f"{tag}_{activation}_predictions.png"))
    baseline = baseline_metrics(validation_truth)["accuracy"]
    curves = {"validation accuracy": {f"{a} neuron": h.val_accuracy
                                      for a, (_, h, _) in runs.items()}}
    which = "compare" if len(runs) > 1 else next(iter(runs))
    baseline_line = ("validation accuracy", baseline,
                     f"never '{target_name}' ({100 * baseline:.1f}%)")
    saved.append(save_figure(epoch_curves_figure(
        curves, f"{target_name} vs rest: validation accuracy per epoch",
        references=[baseline_line]), figures_dir / f"{tag}_{which}_accuracy.png"))
    kernels = {f"{a} neuron": model.layers[-1].kernel.numpy() for a, (model, _, _) in runs.items()}
    saved.append(save_figure(weights_figure(kernels, data.x_test.shape[1:],
                                            f"What the neuron looks at ({target_name} vs rest)"),
                             figures_dir / f"{tag}_{which}_weights.png"))
    return saved


# ## Command line
def make_perceptron_parser():
    parser = make_parser(__doc__.strip().splitlines()[0].removeprefix("Title: "),
                         epochs=DEFAULTS["epochs"], max_epochs=1000)
    add_data_dir_flag(parser)
    parser.add_argument("--dataset", choices=tuple(LOADERS), default=DEFAULTS["dataset"],
                        help="fashion_mnist: the video's follow-up exercise")
    parser.add_argument("--target-class", type=int_in_range(0, 9),
                        default=DEFAULTS["target_class"], metavar="N",
                        help="the class the neuron tells from the rest (MNIST: the digit)")
    parser.add_argument("--activation", choices=("linear", "sigmoid"),
                        default=DEFAULTS["activation"],
                        help="the output neuron's activation: the tutorial's first model is "
                             "linear, its fix sigmoid")
    parser.add_argument("--compare", action="store_true",
                        help="train the linear and the sigmoid neuron with the same seed and "
                             "print them side by side (ignores --activation)")
    parser.add_argument("--learning-rate", type=float_in_range(0, 1e6),
                        default=DEFAULTS["learning_rate"], help="Adam's learning rate")
    parser.add_argument("--batch-size", type=int_in_range(1, 60_000),
                        default=DEFAULTS["batch_size"], help="examples per training step")
    parser.add_argument("--normalize", action="store_true",
                        help="divide the pixels by 255 (the 'data preparation' lever; off in "
                             "the tutorial)")
    parser.add_argument("--validation-split", type=float_in_range(0, 0.9, low_inclusive=True),
                        default=DEFAULTS["validation_split"], metavar="FRACTION",
                        help="validate on the last FRACTION of the training set instead of the "
                             "test set (0: the test set, as in the tutorial)")
    parser.add_argument("--engine", choices=("compiled", "fit"), default=DEFAULTS["engine"],
                        help="'compiled': the same experiment, fed and compiled for speed "
                             "(common/training.py); 'fit': the tutorial's model.fit spelling")
    return parser


def main(argv=None):
    parser = make_perceptron_parser()
    args = parser.parse_args(argv)
    check_output_paths(parser, args)
    device = select_device_or_exit(parser, args.device)
    # A 785-weight model is all per-op overhead: one thread per op, no hand-offs (measured).
    intra_op, inter_op = configure_threads(1, 1) if args.engine == "compiled" else (0, 0)
    try:
        load_start = time.perf_counter()
        data = LOADERS[args.dataset](args.data_dir, **count_check(args)).head(
            args.train_limit, args.test_limit)
        load_seconds = time.perf_counter() - load_start
    except DataError as error:
        return error_line(error, error.exit_code, parser.prog)
    check_validation_split(parser, len(data.y_train), args.validation_split)
    run_start = time.perf_counter()
    target_name = data.class_names[args.target_class]
    tag = f"{args.dataset}_class{args.target_class}"
    activations = ("linear", "sigmoid") if args.compare else (args.activation,)
    data_splits = binary_split(data, args.target_class, args.validation_split)
    truth = data_splits[2][1]
    pixels = "pixels / 255" if args.normalize else "raw pixels (0-255)"
    print(f"{args.dataset}: '{target_name}' vs the rest; Flatten -> Dense(1, "
          f"{' | '.join(activations)}) on {pixels}; mean squared error, Adam(learning_rate="
          f"{args.learning_rate:g}), batch {args.batch_size}, {args.epochs} epochs; engine "
          f"{args.engine}")
    print(f"device: {device}; Keras {keras.__version__} on TensorFlow {tf.__version__}")
    validation_text = (f"the last {args.validation_split:g} of the training set"
                       if args.validation_split else "the test set, as in the tutorial")
    print(f"data: {data.source}: {len(data.y_train):,} training, {len(data.y_test):,} test "
          f"images; validation: {validation_text}")
    print("classes: " + ", ".join(f"{index} {name}" for index, name in
                                  enumerate(data.class_names)) + "\n")

    runs, train_seconds = {}, {}
    for activation in activations:
        start = time.perf_counter()
        runs[activation] = train(activation, data_splits, args, data.x_test.shape[1:])
        train_seconds[activation] = time.perf_counter() - start
        history = runs[activation][1]
        if not all(math.isfinite(v) for v in history.loss):
            return error_line(f"the {activation} neuron's loss became {history.loss[-1]} in "
                              f"epoch {len(history.loss)}; no figures written (try a smaller "
                              "--learning-rate)", prog=parser.prog)

    print(epochs_table({a: h for a, (_, h, _) in runs.items()}) + "\n")
    rows, metrics = [], {}
    for activation, (_, history, outputs) in runs.items():
        lines, readings, metrics[activation] = run_report(activation, history, outputs, truth)
        print("\n".join(lines))
        rows += [(f"{activation}, {label}", m) for (_, label), m in
                 zip(READINGS, readings, strict=True)]
    baseline = baseline_metrics(truth)
    rows.append((f"never '{target_name}' (the baseline)", baseline))
    print(f"\nOn the {len(truth):,} test images ({100 * truth.mean():.1f}% are "
          f"'{target_name}'):")
    print(metrics_table(rows))

    figures = save_figures(args, data, runs, tag, target_name, data_splits[1][1])
    total_seconds = time.perf_counter() - run_start
    timing = ", ".join(f"{a} {runs[a][1].train_seconds:.1f} s" for a in runs)
    print(f"\ntraining ({args.engine} engine): {timing}; whole run {total_seconds:.1f} s after "
          f"{load_seconds:.1f} s loading data; peak memory {peak_rss_mb():.0f} MB")
    print("figures: " + ", ".join(figures))
    if args.json is not None:
        config = config_of(args) | {"threads": {"intra_op": intra_op, "inter_op": inter_op}}
        save_run_record(
            args.json, script="mnist_perceptron.py", argv=argv, config=config, device=device,
            timings={"load_data": load_seconds, "total": total_seconds,
                     "training": {a: runs[a][1].train_seconds for a in runs},
                     "training_with_setup": train_seconds},
            metrics={"runs": metrics, "baseline": baseline, "target": target_name,
                     "data_source": data.source}, figures=figures)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
