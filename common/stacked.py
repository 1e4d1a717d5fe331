"""Train many small, independent MLPs at once, step for step as Keras's `model.fit` would.

`model.fit` on a tiny full-batch problem spends its time on per-epoch bookkeeping, not on
arithmetic (about 40 ms an epoch for XOR's 65 weights). Here N networks of the same shape are
stacked along a leading axis, so one batched matmul serves all of them, and the whole training
run (every epoch of forward pass, gradient and Adam update) is one `tf.while_loop` inside one
traced `tf.function`: Python is entered once per chunk of networks, not once per step.

It stays faithful to Keras: the same layer arithmetic (`x @ W + b`, relu, sigmoid), the same
losses (mean squared error; binary cross-entropy from the sigmoid's logits, which is what Keras
does when a sigmoid layer feeds that loss), Keras's Adam update written exactly as
`keras.optimizers.Adam.update_step` writes it, and the same history: each epoch's loss and
binary accuracy are those of the forward pass *before* that epoch's update, as `fit` reports
them. tests/test_stacked.py checks this against `model.fit` seed by seed.
"""

import functools
import itertools
import time
from dataclasses import dataclass

import numpy as np

from common.backend import tf

LOSSES = ("mean_squared_error", "binary_crossentropy")
# XLA measured no faster here (README, Performance): the while loop already runs in one graph.
JIT_COMPILE = False
# keras.optimizers.Adam defaults
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


def glorot_uniform_stack(layer_sizes, seeds):
    """Initial weights for one network per seed, as Keras's Dense defaults draw them:
    Glorot-uniform kernels (limit sqrt(6 / (fan_in + fan_out))) and zero biases.

    Returns [W1, b1, W2, b2, ...] with shapes (N, fan_in, fan_out) and (N, 1, fan_out).
    Network i depends only on seeds[i], so any network of a study can be replayed alone.
    """
    params = [[] for _ in range(2 * (len(layer_sizes) - 1))]
    for seed in seeds:
        rng = np.random.default_rng(seed)
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(layer_sizes)):
            limit = np.sqrt(6.0 / (fan_in + fan_out))
            params[2 * layer].append(rng.uniform(-limit, limit, (fan_in, fan_out)))
            params[2 * layer + 1].append(np.zeros((1, fan_out)))
    return [np.asarray(p, dtype=np.float32) for p in params]


def mlp_forward(params, x):
    """NumPy forward pass of one network (params without the stacking axis): relu hidden
    layers, sigmoid output. For figures and tables, not for training."""
    h = np.asarray(x, dtype=np.float32)
    n_layers = len(params) // 2
    for layer in range(n_layers):
        z = h @ params[2 * layer] + params[2 * layer + 1].reshape(-1)
        h = np.maximum(z, 0) if layer < n_layers - 1 else 1 / (1 + np.exp(-z))
    return h


def network(params, index):
    """The weights of network `index` out of a stack."""
    return [p[index] for p in params]


@functools.cache
def _compiled_trainer(n_layers, loss):
    spec3 = tf.TensorSpec([None, None, None], tf.float32)
    signature = [
        [spec3] * (2 * n_layers),
        tf.TensorSpec([None, None], tf.float32),  # x: (batch, features)
        tf.TensorSpec([None, None], tf.float32),  # y: (batch, 1)
        tf.TensorSpec([], tf.int32),  # epochs
        tf.TensorSpec([], tf.float32),  # learning rate
    ]

    @tf.function(input_signature=signature, jit_compile=JIT_COMPILE)
    def train(params, x, y, epochs, learning_rate):
        n_networks = tf.shape(params[0])[0]
        x_stacked = tf.broadcast_to(x, tf.concat([[n_networks], tf.shape(x)], 0))
        y_stacked = y[None]

        def forward(weights):
            h = x_stacked
            for layer in range(n_layers):
                z = tf.matmul(h, weights[2 * layer]) + weights[2 * layer + 1]
                h = tf.nn.relu(z) if layer < n_layers - 1 else z
            return h  # logits of the output layer

        def epoch_step(epoch, params, m, v, losses, accuracies):
            with tf.GradientTape() as tape:
                tape.watch(params)
                logits = forward(params)
                probabilities = tf.sigmoid(logits)
                if loss == "mean_squared_error":
                    per_example = tf.square(y_stacked - probabilities)
                else:
                    per_example = tf.nn.sigmoid_cross_entropy_with_logits(
                        labels=tf.broadcast_to(y_stacked, tf.shape(logits)), logits=logits)
                per_network = tf.reduce_mean(per_example, axis=[1, 2])
                # Networks share no weights, so the gradient of the sum is each network's own.
                total = tf.reduce_sum(per_network)
            grads = tape.gradient(total, params)
            correct = tf.equal(tf.cast(probabilities > 0.5, tf.float32), y_stacked)
            accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), axis=[1, 2])
            losses = losses.write(epoch, per_network)
            accuracies = accuracies.write(epoch, accuracy)

            # keras.optimizers.Adam.update_step, operation for operation.
            step = tf.cast(epoch + 1, tf.float32)
            alpha = learning_rate * tf.sqrt(1 - tf.pow(BETA_2, step)) / (1 - tf.pow(BETA_1, step))
            new_params, new_m, new_v = [], [], []
            for p, g, m_i, v_i in zip(params, grads, m, v, strict=True):
                m_i = m_i + (g - m_i) * (1 - BETA_1)
                v_i = v_i + (tf.square(g) - v_i) * (1 - BETA_2)
                new_params.append(p - (m_i * alpha) / (tf.sqrt(v_i) + EPSILON))
                new_m.append(m_i)
                new_v.append(v_i)
            return epoch + 1, new_params, new_m, new_v, losses, accuracies

        zeros = [tf.zeros_like(p) for p in params]
        state = (tf.constant(0), list(params), zeros, list(zeros),
                 tf.TensorArray(tf.float32, size=epochs), tf.TensorArray(tf.float32, size=epochs))
        _, params, _, _, losses, accuracies = tf.while_loop(
            lambda epoch, *_: epoch < epochs, epoch_step, state)
        return params, tf.transpose(losses.stack()), tf.transpose(accuracies.stack())

    return train


@dataclass
class StackedRun:
    params: list  # final weights, stacked: [W1 (N, a, b), b1 (N, 1, b), ...]
    loss: np.ndarray  # (N, epochs): each epoch's loss, as model.fit's history reports it
    accuracy: np.ndarray  # (N, epochs): each epoch's binary accuracy
    train_seconds: float  # wall time of training alone
    compile_seconds: float  # graph tracing and optimisation (warm-up), not in train_seconds


def train_stacked(x, y, params, *, epochs, loss="mean_squared_error", learning_rate=1e-3,
                  chunk_size=1000, on_chunk=None):
    """Train the stacked networks `params` (see glorot_uniform_stack) on the full batch (x, y)
    for `epochs` full-batch Adam steps. `on_chunk(networks_done)` is called after each chunk."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")
    x = tf.constant(x, tf.float32)
    y = tf.constant(np.reshape(y, (-1, 1)), tf.float32)
    trainer = _compiled_trainer(len(params) // 2, loss)
    rate = tf.constant(learning_rate, tf.float32)
    # Warm-up: the first call traces the graph and optimises it (once per depth and loss);
    # one network for one epoch costs nothing else, and keeps that out of train_seconds.
    start = time.perf_counter()
    trainer([tf.constant(p[:1]) for p in params], x, y, tf.constant(1), rate)
    compile_seconds = time.perf_counter() - start

    n_networks = params[0].shape[0]
    finals, losses, accuracies = [], [], []
    start = time.perf_counter()
    for begin in range(0, n_networks, chunk_size):
        chunk = [tf.constant(p[begin:begin + chunk_size]) for p in params]
        final, loss_history, accuracy_history = trainer(
            chunk, x, y, tf.constant(epochs, tf.int32), rate)
        finals.append([p.numpy() for p in final])
        losses.append(loss_history.numpy())
        accuracies.append(accuracy_history.numpy())
        if on_chunk is not None:
            on_chunk(min(begin + chunk_size, n_networks))
    train_seconds = time.perf_counter() - start
    return StackedRun(
        params=[np.concatenate(parts) for parts in zip(*finals, strict=True)],
        loss=np.concatenate(losses),
        accuracy=np.concatenate(accuracies),
        train_seconds=train_seconds,
        compile_seconds=compile_seconds,
    )


def epochs_to_full_accuracy(accuracy):
    """First epoch (1-based, as Keras prints it) whose accuracy is 100%, per network; NaN where
    a network never got there."""
    solved = accuracy >= 1.0
    first = solved.argmax(axis=1) + 1.0
    return np.where(solved.any(axis=1), first, np.nan)
