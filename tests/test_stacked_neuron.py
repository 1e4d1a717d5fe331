"""The MNIST study engine computes what model.fit computes, and any run of a study replays alone.

Fidelity: a run inside a study (several data orders, several neurons per order) against plain
`model.fit` with keras.optimizers.Adam, fed the same initial weights and the same batch order,
over 200 steps (2 epochs of 100 batches): per-epoch loss and accuracy, validation figures and
the final weights, to float tolerance. Replay: the same run trained alone gives the same numbers
bit for bit (each neuron's arithmetic does not depend on the others).
"""

import numpy as np
import pytest

from mnist_perceptron import build_model
from reproduction.engines.adam import epoch_orders
from reproduction.engines.neurons import initial_weights
from reproduction.engines.neurons import train as train_neurons
from reproduction.plumbing.backend import keras

STEPS_PER_EPOCH, EPOCHS, BATCH = 100, 2, 32


def synthetic_digits(count, seed):
    """uint8 28x28 images with MNIST-like statistics (mostly 0, strokes up to 255) and a
    target class (about 10%) that lights up its own region, so there is something to learn."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(count) < 0.1).astype(np.uint8)
    images = np.zeros((count, 28, 28), np.uint8)
    strokes = rng.random((count, 28, 28)) < 0.15
    images[strokes] = rng.integers(60, 256, strokes.sum())
    images[labels == 1, 8:20, 12:16] = 255
    return images, labels


def fit_with_orders(activation, weights, data_seed, train, validation, scale):
    """plain model.fit, one epoch at a time, on the study's order for `data_seed`."""
    model = build_model(activation)
    model.set_weights(weights)
    model.compile(
        loss="mse", optimizer=keras.optimizers.Adam(learning_rate=1e-3), metrics=["accuracy"]
    )
    history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
    images, labels = train[0].astype("float32") * scale, train[1].astype("float32")
    for (order,) in epoch_orders([data_seed], len(labels), EPOCHS):
        result = model.fit(
            images[order],
            labels[order],
            batch_size=BATCH,
            epochs=1,
            shuffle=False,
            verbose=0,
            validation_data=(
                validation[0].astype("float32") * scale,
                validation[1].astype("float32"),
            ),
        )
        for key in history:
            history[key] += result.history[key]
    return model, history


# On raw pixels the sigmoid saturates: its gradients are products of tiny numbers and a
# rounding difference grows over the steps (the chaos the studies measure), so its weights are
# compared to 2e-3 (here they move by up to 0.04 before it saturates; a wrong update rule misses by
# far more).
@pytest.mark.parametrize(
    "activation, scale, weight_atol",
    [("linear", 1.0, 1e-5), ("sigmoid", 1.0, 2e-3), ("sigmoid", 1 / 255, 1e-5)],
    ids=["linear-raw", "sigmoid-raw", "sigmoid-normalized"],
)
def test_a_run_inside_a_study_matches_model_fit_for_200_steps(activation, scale, weight_atol):
    train = synthetic_digits(STEPS_PER_EPOCH * BATCH, seed=1)
    validation = synthetic_digits(500, seed=2)
    weight_seeds, data_seeds = np.arange(6) + 10, np.repeat([3, 4], 3)
    study = train_neurons(
        train,
        validation,
        validation,
        activation=activation,
        weight_seeds=weight_seeds,
        data_seeds=data_seeds,
        epochs=EPOCHS,
        batch_size=BATCH,
        input_scale=scale,
    )
    run = 4  # the second neuron of the second order
    kernels, biases = initial_weights(weight_seeds, 784)
    model, history = fit_with_orders(
        activation, [kernels[run], biases[run]], data_seeds[run], train, validation, scale
    )
    np.testing.assert_allclose(study.loss[run], history["loss"], rtol=2e-4)
    np.testing.assert_allclose(study.accuracy[run], history["accuracy"], atol=1.5 / len(train[1]))
    np.testing.assert_allclose(study.val_loss[run], history["val_loss"], rtol=2e-4)
    np.testing.assert_allclose(study.val_accuracy[run], history["val_accuracy"], atol=1.5 / 500)
    kernel, bias = model.get_weights()
    np.testing.assert_allclose(study.params[0][run], kernel, rtol=1e-3, atol=weight_atol)
    np.testing.assert_allclose(study.params[1][run], bias, rtol=1e-3, atol=weight_atol)
    expected = model.predict(validation[0].astype("float32") * scale, verbose=0)[:, 0]
    # an output is a sum of hundreds of terms: its error scales with the largest ones
    np.testing.assert_allclose(
        study.test_outputs[run], expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max() + 1e-6
    )
    # Guard: the weights moved well beyond the tolerance, so the comparison means something.
    assert np.abs(kernel - kernels[run]).max() > 10 * weight_atol


def test_any_run_of_a_study_replays_alone_bit_for_bit():
    train, validation = synthetic_digits(1000, seed=5), synthetic_digits(300, seed=6)
    weight_seeds, data_seeds = np.arange(7), np.array([0, 0, 0, 1, 1, 1, 1])
    study = train_neurons(
        train,
        validation,
        validation,
        activation="sigmoid",
        weight_seeds=weight_seeds,
        data_seeds=data_seeds,
        epochs=2,
    )
    for run in (2, 5):
        alone = train_neurons(
            train,
            validation,
            validation,
            activation="sigmoid",
            weight_seeds=weight_seeds[run : run + 1],
            data_seeds=data_seeds[run : run + 1],
            epochs=2,
        )
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "test_outputs"):
            np.testing.assert_array_equal(getattr(alone, key)[0], getattr(study, key)[run])
        for mine, theirs in zip(alone.params, study.params, strict=True):
            np.testing.assert_array_equal(mine[0], theirs[run])


def test_runs_differ_in_weights_and_in_order():
    train, validation = synthetic_digits(640, seed=7), synthetic_digits(100, seed=8)
    runs = train_neurons(
        train,
        validation,
        validation,
        activation="linear",
        weight_seeds=[0, 1, 0],
        data_seeds=[0, 0, 1],
        epochs=1,
    )
    assert not np.array_equal(runs.params[0][0], runs.params[0][1])  # other weights
    assert not np.array_equal(runs.params[0][0], runs.params[0][2])  # other order
    assert runs.extra["groups"] == 2 and runs.extra["width"] == 2
