"""Seeding: one call seeds Python, NumPy and TensorFlow (and optionally makes ops deterministic)."""

from reproduction.plumbing.backend import keras, tf


def set_seed(seed, deterministic=False):
    keras.utils.set_random_seed(seed)
    if deterministic:
        # Slower on GPU; on CPU these models are already deterministic run to run.
        tf.config.experimental.enable_op_determinism()
