"""
Title: MNIST "five or not five" with a single neuron
Tutorial: the ml-class "Build a Neural Network" video: Flatten -> Dense(1) on the raw 0-255
    pixels, labels `y == 5`, loss "mse", optimizer "adam", metric "accuracy", 10 epochs, the
    test set as validation data. The linear neuron gives "a very low accuracy, which doesn't
    seem to improve with the number of epochs"; the fix, `activation="sigmoid"`, "really
    improves accuracy". The video gives no accuracy number.
Expected result: a plain run trains the linear neuron with the tutorial's model.fit (Keras
    prints its 10 epoch lines) and ends below the 91.08% that a model that never says "five"
    gets. Over 1,000 runs (--compare --seeds 1000, the fast compiled engine) the sigmoid neuron
    dies (reads every image as not-five, its weights stopped) in 48.5% of runs and otherwise
    ends near 96.5%; on pixels / 255 (--normalize) none of 200 runs dies. REPORT.md judges
    every claim.

Usage: python mnist_perceptron.py --data-dir ../shared/datasets [--activation sigmoid] [--compare]
"""

import sys

from reproduction.settings.mnist import MNIST, model_paths, parse

if __name__ == "__main__":  # --help and usage errors before TensorFlow loads (5-8 s)
    parse()

import numpy as np

from reproduction.data.mnist import load_fashion_mnist, load_mnist
from reproduction.engines import keras_fit, neurons
from reproduction.engines.runs import OneRun
from reproduction.plumbing.backend import keras, layers  # Keras 3 on TensorFlow, quietly
from reproduction.plumbing.exits import run_main
from reproduction.plumbing.keras_outputs import save_keras_outputs
from reproduction.plumbing.progress import progress_to_stderr
from reproduction.plumbing.script_run import ScriptRun, keras_verbose
from reproduction.plumbing.seeding import set_seed
from reproduction.settings.options import COMPILED
from reproduction.studies import mnist_text

LOADERS = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}


# ## The data: labels become "is it a five?" (the test set is the validation data)
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


# ## The model: the tutorial's single neuron (activation="sigmoid" is its fix)
def build_model(activation="linear", image_shape=(28, 28)):
    model = keras.Sequential()
    model.add(keras.Input(image_shape))
    model.add(layers.Flatten())
    model.add(layers.Dense(1, activation=activation))
    return model


def compile_as_tutorial(model, learning_rate=1e-3):
    model.compile(
        loss="mse",
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=["accuracy"],
    )
    return model


# ## Training: the tutorial's model.fit(X_train, is_five_train, epochs=10,
# validation_data=(X_test, is_five_test)), from the run's initial weights (engines/glorot.py,
# as Keras draws them), its data order Keras's own shuffle seeded by the run's data seed
def fit_tutorial(model, splits, args, verbose=0, callbacks=()):
    (x_train, is_five_train), (x_val, is_five_val), (x_test, _) = splits
    pixels = (lambda x: x / 255.0) if args.normalize else (lambda x: x)  # --normalize: the lever
    model.fit(
        pixels(x_train),
        is_five_train.astype("float32"),
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=verbose,
        validation_data=(pixels(x_val), is_five_val.astype("float32")),
        callbacks=[*callbacks, keras.callbacks.TerminateOnNaN()],
    )
    return model.predict(pixels(x_test), batch_size=1000, verbose=0)


# ## The picture of the predictions: test images chosen by the run's seed, half of them the
# target class so that the rare class shows (studies/mnist_figures.py draws it). Chosen when
# the run trains and kept in its arrays, so the count is the run's, not the figure's.
PICTURE_IMAGES = 32


def picture(truth, seed, count):
    rng = np.random.default_rng(seed)
    positives, negatives = np.flatnonzero(truth), np.flatnonzero(~np.asarray(truth, bool))
    take = min(count // 2, len(positives))
    chosen = [rng.choice(positives, take, replace=False)]
    chosen.append(rng.choice(negatives, min(count - take, len(negatives)), replace=False))
    return rng.permutation(np.concatenate(chosen))


# ## Everything else: seeds of a study, the fast engine, the run's record, report and figures.
# main() wires the run; what it prints is worded in studies/ (the run cache's code version
# hashes this file but for its print statements, so a message never retrains a cached run).
def run_seeds(args):
    """(weight seeds, data seeds) of the runs: run r starts from weight seed --seed + r and sees
    the data in the order of data seed --data-seed + r // J, where J = ceil(N / --data-orders):
    K data orders x J initial weights."""
    per_order = -(-args.seeds // min(args.data_orders, args.seeds))
    runs = np.arange(args.seeds)
    return args.seed + runs, args.data_seed + runs // per_order


def train(activation, splits, args, image_shape):
    """Every run of one neuron by the chosen engine: a Runs (engines/runs.py)."""
    weight_seeds, data_seeds = run_seeds(args)
    if args.engine == COMPILED:
        return neurons.train(
            *splits,
            activation=activation,
            weight_seeds=weight_seeds,
            data_seeds=data_seeds,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            input_scale=1 / 255 if args.normalize else 1.0,
        )
    kernels, biases = neurons.initial_weights(weight_seeds, int(np.prod(image_shape)))
    verbose = keras_verbose(args)  # Keras's own epoch lines for a plain run

    def fit_run(run, weight_seed, data_seed):
        set_seed(data_seed, args.deterministic)  # fit's shuffle: the run's data order
        model = build_model(activation, image_shape)
        model.set_weights([kernels[run], biases[run]])
        compile_as_tutorial(model, args.learning_rate)
        recorder = keras_fit.HistoryRecorder()
        outputs = fit_tutorial(model, splits, args, verbose, [recorder])
        return OneRun(recorder.history_record, model.get_weights(), outputs[:, 0])

    return keras_fit.train(fit_run, weight_seeds, data_seeds, epochs=args.epochs)


def workload(args):
    """What TensorFlow's threads are set up for (plumbing/threads.py): stacked neurons in a
    study, one tiny neuron alone."""
    return "stacked" if args.seeds > 1 else "tiny"


def neurons_trained(args):
    """The activations a run trains: both with --compare, else --activation's."""
    return ("linear", "sigmoid") if args.compare else (args.activation,)


def run_arrays(data, splits, args):
    """(arrays, counts): what the views need besides the Runs (the test labels, the pixels' lit
    share, the picture, the validation labels) and the run's image counts."""
    shown = picture(data.y_test == args.target_class, args.seed, PICTURE_IMAGES)
    train_images = splits[0][0].reshape(len(splits[0][0]), -1)
    arrays = {
        "data.test_labels": data.y_test,
        # per pixel, the share of training images where it is lit (not 0): only those weights train
        "data.lit_share": np.count_nonzero(train_images, axis=0) / len(train_images),
        "data.picture_indices": shown,
        "data.picture_images": data.x_test[shown],
    }
    if args.validation_split:
        arrays["data.validation_labels"] = data.y_train[len(splits[0][1]) :]
    counts = {"train_images": len(splits[0][1]), "test_images": len(splits[2][1])}
    return arrays, counts


def main(argv=None):
    parser, args = parse(argv)
    run = ScriptRun(parser, args, MNIST.script, workload(args), argv)
    data = run.load(LOADERS[args.dataset])
    if data is None:
        return run.failed
    splits = binary_split(data, args.target_class, args.validation_split)
    activations = neurons_trained(args)
    print(mnist_text.header_text(args, data, splits, run.device_line, activations, run_seeds(args)))
    for activation in activations if args.summary else ():
        build_model(activation, data.x_test.shape[1:]).summary()
    results = {}
    for activation in activations:
        with progress_to_stderr():
            results[activation] = runs = train(activation, splits, args, data.x_test.shape[1:])
        failed = run.not_finite(runs.loss[0], f"the {activation} neuron's loss")
        if failed:
            return failed
    arrays, counts = run_arrays(data, splits, args)
    code = run.finish(results, arrays, config=counts, spaced=keras_verbose(args) > 0)
    models = {}  # --save-model: each neuron's first run, compiled as the tutorial compiles it
    for activation, path in model_paths(args).items():
        models[path] = build_model(activation, data.x_test.shape[1:])
        models[path].set_weights(results[activation].run(0))
        compile_as_tutorial(models[path], args.learning_rate)
    histories = {activation: runs.history(0) for activation, runs in results.items()}
    save_keras_outputs(models, args.tensorboard, histories, args.learning_rate)
    return code


if __name__ == "__main__":
    sys.exit(run_main(main))
