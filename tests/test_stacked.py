"""The stacked engine computes what model.fit computes.

For the same initial weights, each network of a stacked run must give model.fit's per-epoch
loss (to float tolerance) and binary accuracy (exactly), for several seeds and for each of the
tutorial's tweaks. Runs are shortened to 120 epochs (a 500-epoch fit takes ~20 s), long enough
for seed 0 of the default network to cross into 100% accuracy.
"""

import numpy as np
import pytest

import xor_mlp
from reproduction.engines import xor_networks as stacked_module
from reproduction.engines.glorot import glorot_uniform_stack
from reproduction.engines.runs import network
from reproduction.engines.xor_networks import train as train_stacked
from reproduction.studies.xor import epochs_to_full_accuracy, mlp_forward

EPOCHS = 120
VARIANTS = [  # (hidden layers, loss, seeds)
    ((16,), "mean_squared_error", (0, 1, 2)),
    ((16, 16), "mean_squared_error", (3,)),
    ((32,), "mean_squared_error", (4,)),
    ((16,), "binary_crossentropy", (5,)),
]


@pytest.mark.slow
@pytest.mark.parametrize("hidden, loss, seeds", VARIANTS)
def test_stacked_matches_model_fit(hidden, loss, seeds):
    initial = glorot_uniform_stack([2, *hidden, 1], seeds)
    run = train_stacked(xor_mlp.X, xor_mlp.Y, initial, epochs=EPOCHS, loss=loss)
    for index in range(len(seeds)):
        model, history = xor_mlp.fit_tutorial(
            network(initial, index), hidden=hidden, loss=loss, learning_rate=1e-3, epochs=EPOCHS
        )
        np.testing.assert_allclose(run.loss[index], history["loss"], rtol=1e-3, atol=1e-5)
        np.testing.assert_array_equal(run.accuracy[index], history["binary_accuracy"])
        final = network(run.params, index)
        for mine, keras_weight in zip(final, model.get_weights(), strict=True):
            np.testing.assert_allclose(mine.reshape(keras_weight.shape), keras_weight, atol=2e-3)
        np.testing.assert_allclose(
            mlp_forward(final, xor_mlp.X),
            model.predict(np.array(xor_mlp.X, "float32"), verbose=0),
            atol=1e-3,
        )


def test_seed_0_crosses_into_full_accuracy_within_the_test_budget():
    # Guards the test above: it must see the accuracy climb, not just a flat line.
    run = train_stacked(xor_mlp.X, xor_mlp.Y, glorot_uniform_stack([2, 16, 1], [0]), epochs=EPOCHS)
    assert epochs_to_full_accuracy(run.accuracy)[0] < EPOCHS
    assert run.accuracy[0, 0] < 1.0


@pytest.mark.parametrize("chunk_size, workers", [(4, 1), (3, 2), (None, 2)])
def test_networks_are_independent_of_stack_and_chunking(chunk_size, workers):
    # Each network is its own lanes of every op: where it sits in a chunk, how big the chunk is
    # (the last one is padded) and how many chunks train at once change no number.
    seeds = range(10)
    stacked = train_stacked(
        xor_mlp.X,
        xor_mlp.Y,
        glorot_uniform_stack([2, 16, 1], seeds),
        epochs=60,
        chunk_size=chunk_size,
        workers=workers,
    )
    alone = train_stacked(xor_mlp.X, xor_mlp.Y, glorot_uniform_stack([2, 16, 1], [7]), epochs=60)
    np.testing.assert_array_equal(stacked.loss[7], alone.loss[0])
    np.testing.assert_array_equal(stacked.accuracy[7], alone.accuracy[0])
    for mine, single in zip(network(stacked.params, 7), network(alone.params, 0), strict=True):
        np.testing.assert_array_equal(mine, single)
    assert stacked.loss.shape == stacked.accuracy.shape == (10, 60)


def test_epochs_beyond_one_compiled_block_continue_the_same_run(monkeypatch):
    # Runs longer than BLOCK_EPOCHS take several compiled calls; Adam's step count carries on.
    initial = glorot_uniform_stack([2, 4, 1], [0, 1])
    whole = train_stacked(xor_mlp.X, xor_mlp.Y, initial, epochs=25)
    monkeypatch.setattr(stacked_module, "BLOCK_EPOCHS", 10)
    blocks = train_stacked(xor_mlp.X, xor_mlp.Y, initial, epochs=25)
    np.testing.assert_allclose(blocks.loss, whole.loss, rtol=1e-6)
    np.testing.assert_array_equal(blocks.accuracy, whole.accuracy)


def test_chunk_size_for():
    assert stacked_module.chunk_size_for([2, 16, 1], 10_000, workers=2) == 1000
    assert stacked_module.chunk_size_for([2, 16, 1], 10, workers=2) == 5
    assert stacked_module.chunk_size_for([2, 16, 1], 1) == 1
    assert stacked_module.chunk_size_for([2, 4096, 1], 100) == 50  # <= CHUNK_WEIGHTS (61)


def test_glorot_stack_shapes_and_bounds():
    params = glorot_uniform_stack([2, 16, 16, 1], range(5))
    assert [p.shape for p in params] == [
        (5, 2, 16),
        (5, 1, 16),
        (5, 16, 16),
        (5, 1, 16),
        (5, 16, 1),
        (5, 1, 1),
    ]
    assert all(p.dtype == np.float32 for p in params)
    for kernel, (fan_in, fan_out) in zip(params[::2], [(2, 16), (16, 16), (16, 1)], strict=True):
        assert np.abs(kernel).max() <= np.sqrt(6 / (fan_in + fan_out))
        assert len(np.unique(kernel)) == kernel.size  # really random, not a constant
    assert all(not b.any() for b in params[1::2])
    np.testing.assert_array_equal(params[0][3], glorot_uniform_stack([2, 16, 16, 1], [3])[0][0])


def test_epochs_to_full_accuracy():
    accuracy = np.array([[0.5, 1.0, 0.75, 1.0], [0.5, 0.75, 0.75, 0.75], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(epochs_to_full_accuracy(accuracy), [2, np.nan, 1])


def test_unknown_loss_rejected():
    with pytest.raises(ValueError, match="loss"):
        train_stacked(
            xor_mlp.X, xor_mlp.Y, glorot_uniform_stack([2, 4, 1], [0]), epochs=1, loss="hinge"
        )
