"""Train many small, independent MLPs at once, step for step as Keras's `model.fit` would.

`model.fit` on a tiny full-batch problem spends its time on per-epoch bookkeeping, not on
arithmetic (about 40 ms an epoch for XOR's 65 weights). Here N networks of the same shape train
as one computation: the whole run (every epoch of forward pass, gradient and Adam update) is one
`tf.while_loop` inside one XLA-compiled `tf.function`, entered once per chunk of networks.

Layout: the networks lie along the last (lane) axis: a kernel is (fan_in, fan_out, N), a bias
(fan_out, N), a layer's activations (batch, units, N). A layer is a broadcast multiply-add summed
over fan_in, not a batched matmul of tiny matrices, so every op is a long run of independent
lanes, and XLA fuses the element-wise work of forward, backward and Adam into a few loops
(about 25 per epoch) instead of ~90 separate TensorFlow kernels.

It stays faithful to Keras: the same layer arithmetic (x . W + b, relu, sigmoid), the same losses
(mean squared error; binary cross-entropy from the sigmoid's logits, which is what Keras does
when a sigmoid layer feeds that loss), the gradient by TensorFlow's autodiff, Keras's Adam update
written exactly as `keras.optimizers.Adam.update_step` writes it, and the same history: each
epoch's loss and binary accuracy are those of the forward pass *before* that epoch's update, as
`fit` reports them. tests/test_stacked.py checks this against `model.fit` seed by seed (sums
over fan_in are added in another order than Keras's matmul, so losses agree to float rounding).

The public arrays keep the network axis first ([W1 (N, a, b), b1 (N, 1, b), ...]); only the
compiled trainer sees the lane layout.
"""

import functools
import itertools
import math
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from reproduction.engines.adam import Adam
from reproduction.engines.runs import Runs
from reproduction.plumbing.backend import tf
from reproduction.settings.xor import LOSSES

# XLA fuses the lane-layout element-wise ops: 10,000 2-16-1 networks x 500 epochs take about
# 0.4 s with it and about 3 s without (docs/performance.md).
JIT_COMPILE = True
# Epochs per compiled call: the loss and accuracy histories of a call are (BLOCK_EPOCHS, N)
# buffers, so one compiled program serves every --epochs (longer runs take several calls).
BLOCK_EPOCHS = 500
# Networks per compiled call. Measured on 2 cores (docs/performance.md): 1,000 2-16-1 networks
# (65,000 weights, with Adam's state and the activations about 1 MB: cache-sized) per call, one
# call per core at a time, each single-threaded, beat one 10,000-network call split over both
# cores (XLA then synchronises the threads at every one of the ~25 fused loops of an epoch).
CHUNK_NETWORKS = 1000
CHUNK_WEIGHTS = 1_000_000  # and at most this many weights (4 MB a copy) for big networks
BETA_1, BETA_2, EPSILON = Adam.beta_1, Adam.beta_2, Adam.epsilon  # keras.optimizers.Adam's


def to_lanes(params):
    """[W (N, a, b), b (N, 1, b), ...] -> [W (a, b, N), b (b, N), ...] (networks last)."""
    return [
        np.ascontiguousarray(np.moveaxis(p if i % 2 == 0 else p[:, 0, :], 0, -1))
        for i, p in enumerate(params)
    ]


def from_lanes(lanes):
    """The inverse of to_lanes."""
    return [
        np.ascontiguousarray(np.moveaxis(p, -1, 0))
        if i % 2 == 0
        else np.ascontiguousarray(np.moveaxis(p, -1, 0))[:, None, :]
        for i, p in enumerate(lanes)
    ]


@functools.cache
def _compiled_block(n_layers, loss, block_epochs):
    """A compiled function running up to `block_epochs` epochs of Adam on lane-layout networks.
    One program per (depth, loss) and per chunk shape (XLA compiles for concrete shapes)."""
    weights = [
        tf.TensorSpec([None, None, None], tf.float32),
        tf.TensorSpec([None, None], tf.float32),
    ]
    state = weights * n_layers
    signature = [
        state,
        state,
        state,  # params, Adam's m, Adam's v
        tf.TensorSpec([None, None], tf.float32),  # x: (batch, features)
        tf.TensorSpec([None], tf.float32),  # y: (batch,)
        tf.TensorSpec([], tf.int32),  # steps already taken
        tf.TensorSpec([], tf.int32),  # epochs to run now, <= block_epochs
        tf.TensorSpec([], tf.float32),  # learning rate
    ]

    @tf.function(input_signature=signature, jit_compile=JIT_COMPILE)
    def train_block(params, m, v, x, y, steps_done, epochs, learning_rate):
        h0 = x[:, :, None]  # (batch, features, 1): broadcast over the networks
        y_lanes = y[:, None]  # (batch, 1)

        def forward(weights):
            h = h0
            for layer in range(n_layers):
                kernel, bias = weights[2 * layer], weights[2 * layer + 1]
                # (batch, fan_in, 1, N) * (1, fan_in, fan_out, N), summed over fan_in
                z = tf.reduce_sum(h[:, :, None, :] * kernel[None], axis=1) + bias[None]
                h = tf.nn.relu(z) if layer < n_layers - 1 else z
            return h[:, 0, :]  # logits of the output unit: (batch, N)

        def epoch_step(epoch, params, m, v, losses, accuracies):
            with tf.GradientTape() as tape:
                tape.watch(params)
                logits = forward(params)
                probabilities = tf.sigmoid(logits)
                if loss == "mean_squared_error":
                    per_example = tf.square(y_lanes - probabilities)
                else:
                    per_example = tf.nn.sigmoid_cross_entropy_with_logits(
                        labels=tf.broadcast_to(y_lanes, tf.shape(logits)), logits=logits
                    )
                per_network = tf.reduce_mean(per_example, axis=0)
                # Networks share no weights, so the gradient of the sum is each network's own.
                total = tf.reduce_sum(per_network)
            grads = tape.gradient(total, params)
            correct = tf.equal(tf.cast(probabilities > 0.5, tf.float32), y_lanes)
            accuracy = tf.reduce_mean(tf.cast(correct, tf.float32), axis=0)
            losses = losses.write(epoch, per_network)
            accuracies = accuracies.write(epoch, accuracy)

            # keras.optimizers.Adam.update_step, operation for operation.
            step = tf.cast(steps_done + epoch + 1, tf.float32)
            alpha = learning_rate * tf.sqrt(1 - tf.pow(BETA_2, step)) / (1 - tf.pow(BETA_1, step))
            new_params, new_m, new_v = [], [], []
            for p, g, m_i, v_i in zip(params, grads, m, v, strict=True):
                m_i = m_i + (g - m_i) * (1 - BETA_1)
                v_i = v_i + (tf.square(g) - v_i) * (1 - BETA_2)
                new_params.append(p - (m_i * alpha) / (tf.sqrt(v_i) + EPSILON))
                new_m.append(m_i)
                new_v.append(v_i)
            return epoch + 1, new_params, new_m, new_v, losses, accuracies

        # Fixed-size histories (rows past `epochs` stay zero): one program for any epochs.
        history = (
            tf.TensorArray(tf.float32, size=block_epochs),
            tf.TensorArray(tf.float32, size=block_epochs),
        )
        state = (tf.constant(0), list(params), list(m), list(v), *history)
        _, params, m, v, losses, accuracies = tf.while_loop(
            lambda epoch, *_: epoch < epochs, epoch_step, state
        )
        return params, m, v, losses.stack(), accuracies.stack()

    return train_block


def chunk_size_for(layer_sizes, n_networks, workers=1):
    """Networks per compiled call: about CHUNK_NETWORKS (at most CHUNK_WEIGHTS weights), in
    chunks of equal size, their number a multiple of `workers` where there are enough."""
    weights = sum(a * b + b for a, b in itertools.pairwise(layer_sizes))
    largest = max(1, min(CHUNK_NETWORKS, CHUNK_WEIGHTS // weights))
    chunks = math.ceil(n_networks / largest)
    if n_networks >= workers:
        chunks = workers * math.ceil(chunks / workers)
    return math.ceil(n_networks / chunks)


def train(
    x,
    y,
    params,
    *,
    weight_seeds=None,
    epochs,
    loss="mean_squared_error",
    learning_rate=1e-3,
    chunk_size=None,
    workers=1,
    on_chunk=None,
):
    """Train the stacked networks `params` (engines.glorot.glorot_uniform_stack of
    `weight_seeds`, default 0 .. N - 1: recorded with the runs) on the full batch (x, y)
    for `epochs` full-batch Adam steps. `chunk_size` networks go through each compiled call
    (default: chunk_size_for); the last chunk is padded to the same size, so one compiled
    program serves them all. `workers` chunks train at a time, from that many Python threads
    (each compiled call releases the GIL): one per core when TensorFlow's intra-op pool has
    one thread. `on_chunk(networks_done)` is called after each chunk, in order. Results do not
    depend on chunk_size or workers (each network is its own lanes of every op). Returns an
    engines.runs.Runs (extra: chunk_size, workers)."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {LOSSES}, not {loss!r}")
    n_networks = params[0].shape[0]
    layer_sizes = [params[0].shape[1], *(p.shape[2] for p in params[::2])]
    chunk_size = int(chunk_size or chunk_size_for(layer_sizes, n_networks, workers))
    x = tf.constant(x, tf.float32)
    y = tf.constant(np.reshape(y, (-1,)), tf.float32)
    trainer = _compiled_block(len(params) // 2, loss, BLOCK_EPOCHS)
    rate = tf.constant(learning_rate, tf.float32)
    lanes = to_lanes(params)

    def padded(begin):
        """Networks begin .. begin + chunk_size - 1, the last chunk padded with its first."""
        parts = []
        for p in lanes:
            part = p[..., begin : begin + chunk_size]
            if part.shape[-1] < chunk_size:
                fill = np.repeat(part[..., :1], chunk_size - part.shape[-1], axis=-1)
                part = np.concatenate([part, fill], axis=-1)
            parts.append(tf.constant(part))
        return parts

    def run_chunk(chunk, n_epochs):
        state = (chunk, [tf.zeros_like(p) for p in chunk], [tf.zeros_like(p) for p in chunk])
        losses, accuracies = [], []
        for done in range(0, n_epochs, BLOCK_EPOCHS):
            now = min(BLOCK_EPOCHS, n_epochs - done)
            *state, block_loss, block_accuracy = trainer(
                *state, x, y, tf.constant(done, tf.int32), tf.constant(now, tf.int32), rate
            )
            losses.append(block_loss.numpy()[:now])
            accuracies.append(block_accuracy.numpy()[:now])
        return [p.numpy() for p in state[0]], np.concatenate(losses), np.concatenate(accuracies)

    # Warm-up: the first call for a chunk shape traces and XLA-compiles the program (once per
    # depth, loss and chunk size); one epoch costs nothing else, and keeps that out of
    # train_seconds.
    start = time.perf_counter()
    run_chunk(padded(0), 1)
    compile_seconds = time.perf_counter() - start

    finals, losses, accuracies = [], [], []
    start = time.perf_counter()
    begins = range(0, n_networks, chunk_size)
    pool = ThreadPoolExecutor(max(1, min(workers, len(begins))))
    try:
        results = pool.map(lambda begin: run_chunk(padded(begin), epochs), begins)
        for begin, (final, loss_history, accuracy_history) in zip(begins, results, strict=True):
            real = min(chunk_size, n_networks - begin)
            finals.append([p[..., :real] for p in final])
            losses.append(loss_history[:, :real].T)
            accuracies.append(accuracy_history[:, :real].T)
            if on_chunk is not None:
                on_chunk(begin + real)
    finally:  # on Ctrl-C, drop the chunks not started (the running ones end within ~0.1 s)
        pool.shutdown(wait=True, cancel_futures=True)
    train_seconds = time.perf_counter() - start
    return Runs(
        weight_seeds=np.arange(n_networks) if weight_seeds is None else np.asarray(weight_seeds),
        data_seeds=None,
        params=from_lanes([np.concatenate(parts, axis=-1) for parts in zip(*finals, strict=True)]),
        loss=np.ascontiguousarray(np.concatenate(losses)),
        accuracy=np.ascontiguousarray(np.concatenate(accuracies)),
        train_seconds=train_seconds,
        compile_seconds=compile_seconds,
        extra={"chunk_size": chunk_size, "workers": workers},
    )
