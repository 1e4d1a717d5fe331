"""Keras Dense's default initial weights, drawn per seed with NumPy: Glorot-uniform kernels and
zero biases. Every engine (and each script's model.fit) starts a run from these, so a seed means
the same network everywhere, and any run of a study can be replayed alone."""

import itertools

import numpy as np


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
