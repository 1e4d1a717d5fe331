"""Train many single-neuron image classifiers at once, step for step as `model.fit` would.

The MNIST tutorial's model is Flatten -> Dense(1, activation) trained with mean squared error and
Adam, batch 32. A seed study trains N such neurons: run r starts from its own Glorot-uniform
weights (its weight seed) and sees the training set in its own order (its data seed). Runs that
share a data seed form a group and share its batches: one gathered (batch x 784) block serves
every neuron of the group. Each neuron's arithmetic is its own (batch x 784) @ (784 x 1) product,
laid out on the batch axis of one batched matmul, so a neuron's numbers do not depend on how
many neurons train beside it: a single run with the same seeds replays a study's run exactly
(on the same machine). A wide (784 x J) product per group would be faster per flop but rounds
each column differently for different J.

Faithful to Keras: the same forward pass, Keras's mean squared error, the binary accuracy that
the "accuracy" metric means for one output (output > 0.5), Adam as keras.optimizers.Adam
computes it (TensorFlow's fused kernel: step size lr * sqrt(1 - beta_2^t) / (1 - beta_1^t),
epsilon outside the square root), a new permutation each epoch with a short last batch, and the
epoch's loss and accuracy averaged over its batches before each update, as fit reports them.
tests/test_stacked_neuron.py checks it against model.fit step by step.
"""

import time

import numpy as np

from reproduction.engines.adam import (
    STEPS_PER_CALL,
    Adam,
    as_tensor,
    batch_loop,
    epoch_orders,
    run_in_calls,
)
from reproduction.engines.glorot import glorot_uniform_stack
from reproduction.engines.runs import Runs
from reproduction.plumbing.backend import tf

ACTIVATIONS = ("linear", "sigmoid")
VALIDATION_CHUNK = 1024  # examples per validation product (bounds its memory)
SIMD_PAD = 16  # floats in the widest SIMD register (AVX-512)


def initial_weights(weight_seeds, features):
    """Keras Dense(1)'s default initial weights for each seed: Glorot-uniform kernel
    (features, 1), zero bias; stacked as (N, features, 1) and (N, 1)."""
    kernel, bias = glorot_uniform_stack([features, 1], weight_seeds)
    return kernel, bias.reshape(len(kernel), 1)


class _Stack:
    """Variables and compiled steps for K groups of J neurons ((K, J, features, 1) kernels)."""

    def __init__(self, kernels, biases, activation, learning_rate, input_scale, batch_size):
        self.kernel = tf.Variable(kernels)
        self.bias = tf.Variable(biases)
        self.slots = [
            (tf.Variable(tf.zeros_like(v)), tf.Variable(tf.zeros_like(v)))
            for v in (self.kernel, self.bias)
        ]
        self.iterations = tf.Variable(0, dtype=tf.int64)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, not {activation!r}")
        self.sigmoid = activation == "sigmoid"
        self.adam, self.scale = Adam(float(learning_rate)), float(input_scale)
        self.batch_size = int(batch_size)
        self.steps = tf.function(self._steps)
        self.outputs = tf.function(self._outputs)

    def _forward(self, images):
        """images: (K, b, features) float -> outputs (K, J, b, 1)."""
        return self._activate(tf.matmul(images[:, None], self.kernel) + self.bias[..., None])

    def _adam(self, gradients):
        powers = self.adam.next_powers(self.iterations)
        return [
            self.adam.update(variable, m, v, gradient, powers)
            for variable, gradient, (m, v) in zip(
                (self.kernel, self.bias), gradients, self.slots, strict=True
            )
        ]

    def _activate(self, logits):
        """The activation over (K, J, b, 1) logits. A vectorised sigmoid rounds differently
        from the scalar one that finishes a tensor whose size is not a multiple of the SIMD
        width, so the example axis is padded to a multiple of SIMD_PAD: then every neuron's
        outputs come out the same however many neurons there are."""
        if not self.sigmoid:
            return logits
        count = tf.shape(logits)[2]
        padded = tf.pad(logits, [[0, 0], [0, 0], [0, (-count) % SIMD_PAD], [0, 0]])
        return tf.sigmoid(padded)[:, :, :count]

    def _pointwise(self, logits, targets, size):
        """Element-wise per neuron and example: the squared error, the gradient of the batch's
        mean squared error with respect to the logits (as TensorFlow's autodiff computes it:
        SquareGrad, then SigmoidGrad) and the binary accuracy's hit (0 or 1)."""
        outputs = self._activate(logits)
        errors = targets - outputs
        grad_outputs = -(2.0 * errors) / size
        grad_logits = grad_outputs * outputs * (1 - outputs) if self.sigmoid else grad_outputs
        hits = tf.cast(tf.equal(tf.cast(outputs > 0.5, tf.float32), targets), tf.float32)
        return tf.square(errors), grad_logits, hits

    def _steps(self, images, labels, order, first, last, loss_sums, hit_sums):
        """Batches first .. last - 1 of the epoch whose example order per group is `order`
        (K, n); returns the running per-neuron (loss sum, hit sum), weighted by batch size."""
        count = tf.shape(order)[1]

        def train_batch(index, loss_sums, hit_sums):
            take = order[
                :, index * self.batch_size : tf.minimum((index + 1) * self.batch_size, count)
            ]
            batch = tf.cast(tf.gather(images, take), tf.float32)
            if self.scale != 1:
                batch = batch * self.scale
            targets = tf.cast(tf.gather(labels, take), tf.float32)[:, None, :, None]
            inputs = batch[:, None]  # (K, 1, b, features): shared by the group's neurons
            logits = tf.matmul(inputs, self.kernel) + self.bias[..., None]
            size = tf.cast(tf.shape(take)[1], tf.float32)
            squared_errors, grad_logits, hit_flags = self._pointwise(logits, targets, size)
            gradients = [
                tf.matmul(inputs, grad_logits, adjoint_a=True),
                tf.reduce_sum(grad_logits, axis=2),
            ]
            updates = self._adam(gradients)
            # Keras's mean squared error: mean over the output axis (of 1), then over the batch
            losses = tf.reduce_mean(squared_errors, axis=[2, 3])
            hits = tf.reduce_sum(hit_flags, axis=[2, 3])
            with tf.control_dependencies(updates):  # the next batch sees the updated weights
                index = tf.identity(index + 1)
            return index, loss_sums + losses * size, hit_sums + hits

        return batch_loop(train_batch, first, last, loss_sums, hit_sums)

    def _outputs(self, images):
        """Every neuron's outputs on the same images (b, features): (K, J, b)."""
        batch = tf.cast(images, tf.float32)
        if self.scale != 1:
            batch = batch * self.scale
        return self._forward(batch[None])[..., 0]  # (1, 1, b, f) broadcasts over (K, J)

    def predict(self, images):
        """(K, J, n) outputs on `images` (n, features), in chunks of VALIDATION_CHUNK."""
        parts = [
            self.outputs(tf.constant(images[start : start + VALIDATION_CHUNK])).numpy()
            for start in range(0, len(images), VALIDATION_CHUNK)
        ]
        return np.concatenate(parts, axis=2)


def _mse_and_accuracy(outputs, labels):
    """Per-neuron (mean squared error, binary accuracy) of outputs (..., n) against 0/1 labels."""
    targets = np.asarray(labels, np.float32)
    errors = (targets - outputs) ** 2
    loss = errors.mean(axis=-1, dtype=np.float64)
    accuracy = ((outputs > 0.5) == (targets > 0.5)).mean(axis=-1)
    return loss, accuracy


def train(
    train,
    validation,
    test,
    *,
    activation,
    weight_seeds,
    data_seeds,
    epochs,
    batch_size=32,
    learning_rate=1e-3,
    input_scale=1.0,
    on_epoch_end=None,
):
    """Train one neuron per run (weight_seeds[r], data_seeds[r]) on uint8 images.

    train, validation, test: (images (n, ...) uint8, labels (n,) 0/1). Validation after every
    epoch (model.fit's validation_data); test outputs at the end. `on_epoch_end(epoch, seconds)`
    after each epoch. Returns a reproduction.engines.runs.Runs (test_outputs: (N, n_test))."""
    weight_seeds = np.asarray(weight_seeds, np.int64)
    data_seeds = np.asarray(data_seeds, np.int64)
    features = int(np.prod(train[0].shape[1:]))
    runs = len(weight_seeds)
    # Groups: one per data seed, padded to the largest group (the padding is dropped).
    group_seeds, group_of = np.unique(data_seeds, return_inverse=True)
    slot_in_group = np.zeros(runs, np.int64)
    for group in range(len(group_seeds)):
        members = np.flatnonzero(group_of == group)
        slot_in_group[members] = np.arange(len(members))
    width = int(slot_in_group.max()) + 1
    kernels, biases = initial_weights(weight_seeds, features)
    stacked_kernels = np.zeros((len(group_seeds), width, features, 1), np.float32)
    stacked_biases = np.zeros((len(group_seeds), width, 1), np.float32)
    stacked_kernels[group_of, slot_in_group] = kernels
    stacked_biases[group_of, slot_in_group] = biases
    stack = _Stack(
        stacked_kernels, stacked_biases, activation, learning_rate, input_scale, batch_size
    )

    images = as_tensor(np.ascontiguousarray(train[0]).reshape(len(train[0]), features))
    labels = tf.constant(np.asarray(train[1], np.uint8))
    flat = {
        name: np.ascontiguousarray(split[0]).reshape(len(split[0]), features)
        for name, split in (("validation", validation), ("test", test))
    }
    count = len(train[1])
    batches = -(-count // batch_size)
    pick = (group_of, slot_in_group)
    history = {
        key: np.zeros((runs, epochs), np.float32)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    train_seconds, steps_per_call = 0.0, STEPS_PER_CALL
    zeros = tf.zeros((len(group_seeds), width), tf.float32)
    # Trace the training graph with an empty range of batches (nothing trained) so that
    # train_seconds holds training alone.
    start = time.perf_counter()
    stack.steps(
        images,
        labels,
        tf.zeros((len(group_seeds), count), tf.int32),
        tf.constant(0),
        tf.constant(0),
        zeros,
        zeros,
    )
    compile_seconds = time.perf_counter() - start
    for epoch, order in enumerate(epoch_orders(group_seeds, count, epochs)):
        order = tf.constant(order)
        start = time.perf_counter()
        (loss_sums, hit_sums), steps_per_call = run_in_calls(
            lambda first, last, *sums, order=order: stack.steps(
                images, labels, order, first, last, *sums
            ),
            batches,
            (zeros, zeros),
            steps_per_call,
        )
        epoch_seconds = time.perf_counter() - start
        train_seconds += epoch_seconds
        # fit's epoch figures: float32 sums divided by the example count
        history["loss"][:, epoch] = (loss_sums.numpy() / np.float32(count))[pick]
        history["accuracy"][:, epoch] = (hit_sums.numpy() / np.float32(count))[pick]
        validation_outputs = stack.predict(flat["validation"])[pick]
        val_loss, val_accuracy = _mse_and_accuracy(validation_outputs, validation[1])
        history["val_loss"][:, epoch], history["val_accuracy"][:, epoch] = val_loss, val_accuracy
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, epoch_seconds)
        if not np.isfinite(history["loss"][:, epoch]).any():  # every run diverged
            for value in history.values():
                value[:, epoch + 1 :] = np.nan
            break
    # the tutorial validates on the test set: its last validation outputs are the test outputs
    same_images = validation[0] is test[0] and epochs > 0
    test_outputs = validation_outputs if same_images else stack.predict(flat["test"])[pick]
    return Runs(
        weight_seeds=weight_seeds,
        data_seeds=data_seeds,
        params=[stack.kernel.numpy()[pick], stack.bias.numpy()[pick]],
        train_seconds=train_seconds,
        compile_seconds=compile_seconds,
        test_outputs=test_outputs,
        extra={"group": group_of, "groups": len(group_seeds), "width": width},
        **history,
    )
