"""
Title: CIFAR-10 with a Dense network (and the book's convolutional follow-up)
Tutorial: a blog post copying David Foster, "Generative Deep Learning" (1st ed., 2019), ch. 2:
    scale the images by 1/255, one-hot labels, Flatten -> Dense(200, relu) -> Dense(150, relu)
    -> Dense(10, softmax), Adam(5e-4), batch 32, 10 epochs, then `model.evaluate` (the blog and
    the book's notebook 02_01 print its loss and accuracy: reproduction/evidence/claims.py
    quotes them). With `--model cnn`, the chapter's CNN (notebook 02_03).
Expected result: a plain run trains that model.fit (Keras prints its 10 epoch lines) and ends
    near 48.5% test accuracy. Over 30 runs (--seeds 30, the fast compiled engine; JPEG
    re-encoded CIFAR-10, 2 CPU cores) the test accuracy is 48.47% +- 0.74 (range 46.8-50.2%):
    the blog's 48.9% and the notebook's 48.4% are both typical draws. REPORT.md judges every
    published figure.

Usage: python cifar10_dense.py --data-dir ../shared/datasets [--model cnn] [--seeds 10]
"""

import sys

from reproduction.settings.cifar10 import CIFAR10, parse

if __name__ == "__main__":  # --help and usage errors before TensorFlow loads (5-8 s)
    parse()

import numpy as np

from reproduction.data.cifar10 import load_cifar10
from reproduction.engines import dense_networks, keras_fit, keras_model
from reproduction.engines.runs import OneRun
from reproduction.plumbing.backend import keras, layers  # Keras 3 on TensorFlow, quietly
from reproduction.plumbing.exits import run_main
from reproduction.plumbing.keras_outputs import save_keras_outputs
from reproduction.plumbing.progress import progress_to_stderr
from reproduction.plumbing.script_run import ScriptRun, keras_verbose
from reproduction.settings.options import COMPILED, FIT
from reproduction.studies import cifar10_text

NUM_CLASSES = 10


# ## The data: pixels scaled to 0-1, labels one-hot (the tutorial's preparation)
def prepare(images, labels):
    return images.astype("float32") / 255.0, keras.utils.to_categorical(labels, NUM_CLASSES)


# ## The model: the tutorial's, in the book's functional style
def build_dense():
    input_layer = layers.Input((32, 32, 3))
    x = layers.Flatten()(input_layer)
    x = layers.Dense(200, activation="relu")(x)
    x = layers.Dense(150, activation="relu")(x)
    output_layer = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(input_layer, output_layer)


# The chapter's follow-up: the CNN of notebook 02_03, in either of its block orders
# (reproduction/settings/cifar10.py: BLOCK_ORDERS)
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


# ## Compile, fit, evaluate: the tutorial's code. The book's Adam(lr=0.0005): `lr` is gone from
# Keras 3, `learning_rate` is the same thing. The CNN validates on the test set, as the book does.
def compile_as_tutorial(model, learning_rate=5e-4):
    model.compile(
        loss="categorical_crossentropy",
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=["accuracy"],
    )
    return model


def fit_tutorial(model, train, test, args, verbose=0, callbacks=()):
    (x_train, y_train), (x_test, y_test) = train, test
    validation = (
        {"validation_split": args.validation_split}
        if args.validation_split
        else ({"validation_data": (x_test, y_test)} if args.model == "cnn" else {})
    )
    model.fit(
        x_train,
        y_train,
        batch_size=args.batch_size,
        epochs=args.epochs,
        shuffle=True,
        verbose=verbose,
        callbacks=[*callbacks, keras.callbacks.TerminateOnNaN()],
        **validation,
    )
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=args.batch_size, verbose=0)
    return test_loss, test_accuracy, model.predict(x_test, batch_size=1000, verbose=0)


# ## The tutorial's picture: 10 test images with the predicted and the actual class (studies/
# cifar10.py draws it), chosen at random: here by the run's seed, so a rerun shows the same
def picture(seed, count, shown=10):
    return np.random.default_rng(seed).choice(count, size=min(shown, count), replace=False)


# ## Everything else: the fast engines for studies, the run's record, report and figures.
# main() wires the run; what it prints is worded in studies/ (the run cache's code version
# hashes this file but for its print statements, so a message never retrains a cached run).
def fresh_model(model_name, weight_seed, block_order="lrelu-bn"):
    """The tutorial's model with the initial weights of `weight_seed`: Keras's own initializers
    after keras.utils.set_random_seed, on a new model (the same for every engine)."""
    keras.utils.set_random_seed(int(weight_seed))
    return build_dense() if model_name == "dense" else build_cnn(block_order)


def training_and_validation(data, args):
    """((images, labels) to train on, (images, labels) to validate on or None): Keras's
    validation_split holds out the last part (before shuffling); the CNN validates on the test
    set, as the book does."""
    keep = len(data.y_train) - int(len(data.y_train) * args.validation_split)
    held_out = (data.x_train[keep:], data.y_train[keep:]) if args.validation_split else None
    if held_out is None and args.model == "cnn":
        held_out = (data.x_test, data.y_test)
    return (data.x_train[:keep], data.y_train[:keep]), held_out


def run_seeds(args):
    """(weight seeds, data seeds): run r starts from weight seed --seed + r and sees the data in
    the order of data seed --data-seed + r (--data-seed defaults to --seed)."""
    return args.seed + np.arange(args.seeds), args.data_seed + np.arange(args.seeds)


def workload(args):
    """What TensorFlow's threads are set up for (plumbing/threads.py)."""
    return "split_dense" if args.engine == COMPILED and args.model == "dense" else "default"


def study_layout(args, threads):
    """The compiled Dense engine's layout (networks side by side, column blocks); None for the
    CNN and the fit engine."""
    if args.engine != COMPILED or args.model != "dense":
        return None
    return dense_networks.layout(args.column_blocks, args.seeds, threads)


def train(data, args, layout, quiet):
    """Every run of the study (one run: a study of one) by the chosen engine: a Runs."""
    seeds = run_seeds(args)
    single = args.seeds == 1 and not quiet
    report = cifar10_text.epoch_line(args.epochs) if single else None
    on_run_end = None if args.seeds == 1 or quiet else cifar10_text.run_line(seeds)
    fresh = lambda seed: fresh_model(args.model, seed, args.block_order)  # noqa: E731
    if args.engine == FIT:
        train_set, test_set = prepare(data.x_train, data.y_train), prepare(data.x_test, data.y_test)

        def fit_run(run, weight_seed, data_seed):
            model = compile_as_tutorial(fresh(weight_seed), args.learning_rate)
            recorder = keras_fit.HistoryRecorder()
            keras.utils.set_random_seed(data_seed)  # fit's shuffle: the run's data order
            loss, accuracy, outputs = fit_tutorial(
                model, train_set, test_set, args, keras_verbose(args), [recorder]
            )
            return OneRun(recorder.history_record, model.get_weights(), outputs, loss, accuracy)

        return keras_fit.train(fit_run, *seeds, epochs=args.epochs, on_run_end=on_run_end)
    train_set, held_out = training_and_validation(data, args)
    options = dict(
        weight_seeds=seeds[0],
        data_seeds=seeds[1],
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        test_data=(data.x_test, data.y_test),
        validation_data=held_out,
        on_run_end=on_run_end,
    )
    if layout is None:  # the CNN: one CompiledTrainer per run
        return keras_model.train(fresh, train_set, on_epoch_end=report, **options)
    return dense_networks.train_model(fresh, train_set, layout, on_epoch_end=report, **options)


def run_arrays(data, args, runs, layout):
    """(arrays, config): what the views need besides the Runs (the test labels, each run's
    picture and untrained accuracy) and the run's counts and layout."""
    fresh = lambda seed: fresh_model(args.model, seed, args.block_order)  # noqa: E731
    untrained = keras_model.untrained_accuracies(fresh, runs.weight_seeds, data.x_test, data.y_test)
    pictures = np.stack([picture(seed, len(data.y_test)) for seed in runs.weight_seeds])
    arrays = {
        "data.test_labels": data.y_test,
        "data.picture_indices": pictures,
        "data.picture_images": data.x_test[pictures[0]],
        "data.untrained_test_accuracy": untrained,
    }
    config = {
        "train_images": len(training_and_validation(data, args)[0][1]),
        "test_images": len(data.y_test),
        "networks_side_by_side": layout[0] if layout else 1,
        "column_blocks": layout[1] if layout else 1,
    }
    return arrays, config


def main(argv=None):
    parser, args = parse(argv)
    run = ScriptRun(parser, args, CIFAR10.script, workload(args), argv)
    data = run.load(load_cifar10)
    if data is None:
        return run.failed
    layout = study_layout(args, run.threads)
    model = fresh_model(args.model, 0, args.block_order)
    counts = (len(training_and_validation(data, args)[0][1]), model.count_params())
    print(cifar10_text.header_text(args, data, run.device_line, run.threads, layout, *counts))
    if args.summary:
        model.summary()
    with progress_to_stderr():
        runs = train(data, args, layout, args.quiet)
    failed = run.not_finite(runs.loss[0])
    if failed:
        return failed
    arrays, config = run_arrays(data, args, runs, layout)
    code = run.finish(
        {"runs": runs}, arrays, config=config, keep_params=False, spaced=not args.quiet
    )
    models = {}  # --save-model: the first run, compiled as the tutorial compiles it
    if args.save_model is not None:
        models[args.save_model] = compile_as_tutorial(model, args.learning_rate)
        models[args.save_model].set_weights(runs.run(0))
    save_keras_outputs(models, args.tensorboard, {"": runs.history(0)}, args.learning_rate)
    return code


if __name__ == "__main__":
    sys.exit(run_main(main))
