"""The compiled trainer computes what model.fit computes (same weights, losses and accuracies),
on both its paths, and its helpers behave."""

import os

import numpy as np
import pytest

from reproduction.engines import keras_model as training
from reproduction.engines.adam import as_tensor
from reproduction.engines.keras_model import (
    CompiledTrainer,
    TrainingSetupError,
    dense_stack,
    make_evaluator,
)
from reproduction.plumbing.backend import keras, layers
from reproduction.plumbing.threads import thread_plan


def tiny_images(count=70, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8),
        rng.integers(0, 10, count).astype(np.uint8),
    )


def dense_model(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    hidden = layers.Flatten()(inputs)
    hidden = layers.Dense(20, activation="relu")(hidden)
    hidden = layers.Dense(15, activation="relu")(hidden)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(hidden))


def small_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3))
    hidden = layers.Conv2D(4, 3, strides=2, padding="same")(inputs)
    hidden = layers.BatchNormalization()(hidden)
    hidden = layers.LeakyReLU()(hidden)
    hidden = layers.Flatten()(hidden)
    hidden = layers.Dense(10)(hidden)
    return keras.Model(inputs, layers.Activation("softmax")(hidden))


def perceptron(activation):
    def build(seed=0):
        keras.utils.set_random_seed(seed)
        return keras.Sequential(
            [keras.Input((32, 32, 3)), layers.Flatten(), layers.Dense(1, activation=activation)]
        )

    build.__name__ = f"perceptron_{activation}"
    return build


def fit_reference(build, images, labels, epochs, loss, scale):
    """The tutorials' spelling: float images (times `scale`), one-hot labels for categorical
    crossentropy, model.fit, no shuffle so that both sides see the same batches."""
    model = build()
    model.compile(
        loss=loss, optimizer=keras.optimizers.Adam(learning_rate=5e-3), metrics=["accuracy"]
    )
    targets = (
        keras.utils.to_categorical(labels, 10)
        if loss == "categorical_crossentropy"
        else labels.astype("float32")
    )
    history = model.fit(
        images.astype("float32") * scale,
        targets,
        batch_size=32,
        epochs=epochs,
        shuffle=False,
        verbose=0,
    )
    return model, history.history


@pytest.mark.parametrize(
    "build, blocks, loss, scale",
    [
        (dense_model, 2, "categorical_crossentropy", 1 / 255),
        (dense_model, 1, "categorical_crossentropy", 1 / 255),
        (small_cnn, 2, "categorical_crossentropy", 1 / 255),
        (perceptron("linear"), 2, "mean_squared_error", 1.0),  # raw pixels, as the MNIST tutorial
        (perceptron("sigmoid"), 1, "mean_squared_error", 1 / 255),
    ],
    ids=["split-dense", "dense-model-call", "cnn-model-call", "perceptron-raw", "perceptron"],
)
def test_same_numbers_as_model_fit(build, blocks, loss, scale):
    images, labels = tiny_images()  # 70 examples: batches of 32, 32 and a short one of 6
    if loss == "mean_squared_error":
        labels = (labels == 5).astype(np.uint8) | (labels == 3)
    reference, expected = fit_reference(build, images, labels, 3, loss, scale)
    model = build()
    trainer = CompiledTrainer(
        model,
        keras.optimizers.Adam(learning_rate=5e-3),
        batch_size=32,
        loss=loss,
        input_scale=scale,
        column_blocks=blocks,
    )
    assert (trainer.split is not None) == (build is dense_model and blocks > 1)
    history = trainer.fit(images, labels, epochs=3, seed=0, shuffle=False)
    np.testing.assert_allclose(history.loss, expected["loss"], rtol=2e-4)
    np.testing.assert_allclose(history.accuracy, expected["accuracy"], atol=1e-6)
    for variable, want in zip(model.weights, reference.get_weights(), strict=True):
        if (
            variable.path.startswith("conv2d")
            and variable.path.endswith("bias")
            or variable.path.endswith("moving_mean")
        ):
            # A bias followed by BatchNormalization has a zero gradient up to rounding, which
            # Adam scales to full steps: rounding noise on both sides, and BN's mean moves with it.
            continue
        np.testing.assert_allclose(
            variable.numpy(), want, rtol=1e-3, atol=2e-5, err_msg=variable.path
        )


def test_evaluator_matches_model_evaluate():
    images, labels = tiny_images(50, seed=1)
    model = dense_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    expected = model.evaluate(
        images.astype("float32") / 255.0, keras.utils.to_categorical(labels, 10), verbose=0
    )
    loss, accuracy, probabilities = make_evaluator(model, batch_size=16)(images, labels)
    assert probabilities.shape == (50, 10)
    np.testing.assert_allclose([loss, accuracy], expected, rtol=1e-5)


def test_evaluator_matches_model_evaluate_for_mse_on_raw_pixels():
    images, labels = tiny_images(50, seed=2)
    labels = (labels < 4).astype(np.uint8)
    model = perceptron("linear")()
    model.compile(loss="mean_squared_error", optimizer="adam", metrics=["accuracy"])
    expected = model.evaluate(images.astype("float32"), labels.astype("float32"), verbose=0)
    loss, accuracy, outputs = make_evaluator(model, "mean_squared_error", 1.0, 16)(images, labels)
    assert outputs.shape == (50, 1)
    np.testing.assert_allclose([loss, accuracy], expected, rtol=1e-5)


def test_shuffled_epochs_are_repeatable_and_differ_from_unshuffled():
    images, labels = tiny_images()

    def run(shuffle, seed=3):
        model = dense_model()
        trainer = CompiledTrainer(
            model, keras.optimizers.Adam(5e-3), batch_size=32, column_blocks=2
        )
        return trainer.fit(images, labels, epochs=2, seed=seed, shuffle=shuffle).loss

    assert run(True) == run(True)
    assert run(True) != run(False)


@pytest.mark.parametrize("blocks", [1, 2])
def test_an_epoch_split_into_graph_calls_gives_the_same_numbers(blocks, monkeypatch):
    """Returning to Python between calls (for Ctrl-C) changes nothing: one batch per call gives
    bit-for-bit the losses, accuracies and weights of one call per epoch."""
    images, labels = tiny_images()  # 3 batches an epoch

    def run():
        model = dense_model()
        trainer = CompiledTrainer(
            model, keras.optimizers.Adam(5e-3), batch_size=32, column_blocks=blocks
        )
        history = trainer.fit(images, labels, epochs=2, seed=1)
        return history.loss, history.accuracy, [w.numpy() for w in model.weights]

    whole = run()
    monkeypatch.setattr(training, "STEPS_PER_CALL", 1)
    split = run()
    assert whole[:2] == split[:2]
    for a, b in zip(whole[2], split[2], strict=True):
        np.testing.assert_array_equal(a, b)


def test_non_finite_loss_stops_after_that_epoch():
    images, labels = tiny_images()
    trainer = CompiledTrainer(
        dense_model(), keras.optimizers.Adam(learning_rate=1e9), batch_size=32, column_blocks=2
    )
    history = trainer.fit(images, labels, epochs=20, seed=0)
    assert not np.isfinite(history.loss[-1]) and len(history.loss) < 20


def test_validation_figures_each_epoch():
    images, labels = tiny_images()
    trainer = CompiledTrainer(dense_model(), keras.optimizers.Adam(), batch_size=32)
    history = trainer.fit(
        images[:50], labels[:50], epochs=2, seed=0, validation_data=(images[50:], labels[50:])
    )
    assert len(history.val_loss) == len(history.val_accuracy) == 2
    assert all(0 <= a <= 1 for a in history.val_accuracy)


def test_refuses_what_it_does_not_implement():
    with pytest.raises(TrainingSetupError, match="SGD"):
        CompiledTrainer(dense_model(), keras.optimizers.SGD(), batch_size=32)
    with pytest.raises(TrainingSetupError, match="amsgrad"):
        CompiledTrainer(dense_model(), keras.optimizers.Adam(amsgrad=True), batch_size=32)


def test_dense_stack_recognises_only_flatten_dense_softmax():
    assert len(dense_stack(dense_model())) == 3
    assert dense_stack(small_cnn()) is None
    linear_out = keras.Sequential([keras.Input((4,)), layers.Dense(2)])
    assert dense_stack(linear_out) is None


def test_as_tensor_shares_aligned_memory_and_copies_otherwise():
    from reproduction.data.checks import aligned_empty

    shared = aligned_empty((4, 3))
    shared[...] = 1
    tensor = as_tensor(shared)
    shared[0, 0] = 9
    assert int(tensor[0, 0]) == 9  # one copy of the data, not two
    strided = np.arange(12, dtype=np.uint8).reshape(4, 3)[:, ::2]
    np.testing.assert_array_equal(as_tensor(strided).numpy(), strided)


def test_split_plan():
    def split_plan(cores):  # (intra-op, inter-op, column blocks) of the split Dense path
        plan = thread_plan("split_dense", True, "CPU", cores=cores)
        return plan.intra_op, plan.inter_op, plan.column_blocks

    assert split_plan(2) == (1, 2, 2)
    assert split_plan(1) == (1, 1, 1)
    assert split_plan(64) == (1, 4, 4)
    blocks = min(os.cpu_count() or 1, 4)  # no count given: this machine's
    assert split_plan(None) == (1, blocks, blocks)
