"""What the fast engines share: Keras's Adam as they apply it, each epoch's example order, an
epoch run in graph calls, and the training images handed to TensorFlow without a copy.

Adam is TensorFlow's fused kernel `ResourceApplyAdam`, one op per variable. It computes what
`keras.optimizers.Adam` does: step size lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), epsilon added
outside the square root. Each engine's fidelity test checks it against model.fit.
"""

import time
from dataclasses import dataclass

import numpy as np

from reproduction.plumbing.backend import tf

# Batches per graph call: Python regains control between calls, so Ctrl-C stops a long epoch.
# Calls start at STEPS_PER_CALL batches and double while one takes under CALL_SECONDS / 2, so
# fast models (MNIST: 100 batches in ~10 ms; each call costs ~1 ms) soon run an epoch in one
# or two calls and slow ones (the CNN: ~3 s per 100 batches) still stop within seconds.
STEPS_PER_CALL = 100
CALL_SECONDS = 0.5


@dataclass(frozen=True)
class Adam:
    """keras.optimizers.Adam's settings (its defaults but the learning rate), applied as
    TensorFlow's fused kernel computes the update: step size lr * sqrt(1 - beta_2^t) /
    (1 - beta_1^t), epsilon outside the square root."""

    learning_rate: float
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7

    def next_powers(self, iterations):
        """Count one more step on the int64 variable `iterations`: (beta_1^t, beta_2^t)."""
        iterations.assign_add(1)
        step = tf.cast(iterations, tf.float32)
        return tf.pow(self.beta_1, step), tf.pow(self.beta_2, step)

    def update(self, variable, m, v, gradient, powers):
        """The update op of `variable` and its moments `m`, `v` for step `powers`."""
        return tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=m.handle,
            v=v.handle,
            beta1_power=powers[0],
            beta2_power=powers[1],
            lr=self.learning_rate,
            beta1=self.beta_1,
            beta2=self.beta_2,
            epsilon=self.epsilon,
            grad=gradient,
        )


def epoch_orders(data_seeds, count, epochs):
    """Each epoch's example order for every data seed: the permutations np.random.default_rng(seed)
    draws, one per epoch (what fit(shuffle=True) does with its own generator). Yields one
    (len(data_seeds), count) int32 array per epoch, so no more than an epoch's orders are held."""
    generators = [np.random.default_rng(int(seed)) for seed in data_seeds]
    for _ in range(epochs):
        yield np.stack([rng.permutation(count) for rng in generators]).astype(np.int32)


def batch_loop(train_batch, first, last, *sums):
    """Batches `first` .. `last` - 1 through `train_batch(index, *sums) -> (index + 1, *sums)` in
    one graph loop, one after the other (each batch sees the weights the one before it
    updated). Returns the sums."""
    _, *sums = tf.while_loop(
        lambda index, *_: index < last, train_batch, (first, *sums), parallel_iterations=1
    )
    return tuple(sums)


def run_in_calls(steps, batches, sums, steps_per_call):
    """Batches 0 .. batches - 1 of an epoch through `steps(first, last, *sums) -> sums` (a
    traced graph), in calls that start at `steps_per_call` batches and double while a call takes
    under CALL_SECONDS / 2: Python regains control between calls, so Ctrl-C stops a long epoch.
    The running sums carry over, so the result is that of one call. Returns (sums, the call
    size reached, for the next epoch)."""
    first = 0
    while first < batches:
        last = min(first + steps_per_call, batches)
        start = time.perf_counter()
        sums = steps(tf.constant(first), tf.constant(last), *sums)
        if time.perf_counter() - start < CALL_SECONDS / 2 and last - first == steps_per_call:
            steps_per_call *= 2
        first = last
    return sums, steps_per_call


def as_tensor(array):
    """A TensorFlow tensor over `array`'s memory when possible (aligned, C-contiguous, CPU),
    else a copy. Sharing keeps the training set in memory once."""
    array = np.asarray(array)
    if array.flags.c_contiguous and array.ctypes.data % 64 == 0:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array)
