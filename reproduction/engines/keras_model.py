"""Compiled training for image classifiers: a TensorFlow graph call per hundreds of batches.

The tutorials' `model.fit(x / 255, y, batch_size=32, shuffle=True)` spends its time (profiled,
see docs/performance.md) on per-step dispatch and on Adam's update written as separate
element-wise ops per variable, and its memory on float copies of the images. This keeps the
experiment (batch size, a new shuffle each epoch with a short last batch, the loss, the metric,
Adam's formula and settings) and changes how the work is fed and compiled:

- the images stay uint8 and are shared with TensorFlow without a copy; each batch is gathered,
  cast and scaled by 1/255 inside the graph;
- an epoch is a `tf.while_loop` over the batches of a permutation, run in graph calls of at
  least STEPS_PER_CALL batches (Python regains control between them, so Ctrl-C works);
- Adam is TensorFlow's fused kernel `ResourceApplyAdam`, one op per variable. It computes what
  `keras.optimizers.Adam` does: step size lr * sqrt(1 - beta_2^t) / (1 - beta_1^t), epsilon
  added outside the square root;
- on CPU, a model made of Flatten and Dense layers trains on a copy of its weights whose first
  kernel is split into column blocks, one per inter-op thread (intra-op threads 1), so the
  blocks' matmuls and Adam updates run side by side on the cores. Each output column is the
  same dot product as before. The weights are written back to the model after every epoch.
"""

import math
import time
from dataclasses import dataclass

import numpy as np

from reproduction.engines.adam import (
    STEPS_PER_CALL,
    Adam,
    as_tensor,
    batch_loop,
    epoch_orders,
    run_in_calls,
)
from reproduction.engines.runs import OneRun, TrainingHistory, stacked_runs
from reproduction.plumbing.backend import keras, layers, tf


class TrainingSetupError(Exception):
    """The model or optimizer is not one this trainer reproduces faithfully."""


def _scaled(images, scale):
    images = tf.cast(images, tf.float32)
    return images if scale == 1 else images * scale


# ## Objectives: the tutorials' losses, each with the accuracy Keras reports beside it


@dataclass(frozen=True)
class Objective:
    """How labels become targets, the per-example loss, and the per-example hit (0 or 1)."""

    name: str
    targets: object  # (integer labels, output width) -> targets
    loss: object  # (targets, outputs) -> per-example loss, as Keras computes it
    hits: object  # (targets, outputs) -> per-example 1.0 for right, 0.0 for wrong


OBJECTIVES = {
    # Softmax output: Keras reads the logits behind the softmax, as fit's loss does; the
    # "accuracy" metric is categorical accuracy (arg-max match).
    "categorical_crossentropy": Objective(
        "categorical_crossentropy",
        targets=lambda labels, width: tf.one_hot(labels, width),
        loss=lambda targets, outputs: keras.losses.categorical_crossentropy(targets, outputs),
        hits=lambda targets, outputs: tf.cast(
            tf.equal(tf.argmax(outputs, axis=1), tf.argmax(targets, axis=1)), tf.float32
        ),
    ),
    # One output against 0/1 targets: the "accuracy" metric is binary accuracy, output > 0.5.
    "mean_squared_error": Objective(
        "mean_squared_error",
        targets=lambda labels, width: tf.reshape(tf.cast(labels, tf.float32), (-1, 1)),
        loss=lambda targets, outputs: keras.losses.mean_squared_error(targets, outputs),
        hits=lambda targets, outputs: tf.cast(
            tf.equal(tf.cast(outputs > 0.5, tf.float32), targets), tf.float32
        )[:, 0],
    ),
}


# ## Models


def dense_stack(model):
    """The Dense layers of a model that is only Input/Flatten/Dense (with biases) and ends in a
    softmax, else None. Such a model can train on split weights."""
    dense = []
    for layer in model.layers:
        if isinstance(layer, layers.Dense):
            if not layer.use_bias:
                return None
            dense.append(layer)
        elif not isinstance(layer, (layers.InputLayer, layers.Flatten)):
            return None
    if not dense or dense[-1].activation is not keras.activations.softmax:
        return None
    return dense


class _SplitDense:
    """Trainable copies of a Dense stack's weights, first kernel split into column blocks."""

    def __init__(self, dense_layers, blocks):
        self.layers = dense_layers
        self.blocks = []  # per layer: [(kernel block, bias block), ...]
        for index, layer in enumerate(dense_layers):
            kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
            parts = blocks if index == 0 else 1
            columns = np.array_split(np.arange(kernel.shape[1]), min(parts, kernel.shape[1]))
            self.blocks.append([(tf.Variable(kernel[:, c]), tf.Variable(bias[c])) for c in columns])
        self.variables = [v for layer in self.blocks for pair in layer for v in pair]

    def logits(self, images):
        hidden = tf.reshape(images, (tf.shape(images)[0], -1))
        for index, (layer, blocks) in enumerate(zip(self.layers, self.blocks, strict=True)):
            parts = [tf.nn.bias_add(tf.matmul(hidden, kernel), bias) for kernel, bias in blocks]
            pre_activation = parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)
            if index == len(self.layers) - 1:
                return pre_activation  # the softmax is folded into the loss, as Keras does
            hidden = layer.activation(pre_activation)

    def write_back(self):
        for layer, blocks in zip(self.layers, self.blocks, strict=True):
            layer.kernel.assign(tf.concat([kernel for kernel, _ in blocks], axis=1))
            layer.bias.assign(tf.concat([bias for _, bias in blocks], axis=0))


def _check_adam(optimizer):
    if type(optimizer) is not keras.optimizers.Adam:
        raise TrainingSetupError(
            f"the compiled trainer implements Adam, not {type(optimizer).__name__}"
        )
    extras = {
        name: getattr(optimizer, name, None)
        for name in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm")
    }
    extras["amsgrad"] = optimizer.amsgrad or None
    extras["use_ema"] = optimizer.use_ema or None
    used = [name for name, value in extras.items() if value]
    if used:
        raise TrainingSetupError(f"the compiled trainer implements plain Adam; not {used}")


# ## The trainer


class CompiledTrainer:
    """Trains `model` for `loss` (a key of OBJECTIVES) with `optimizer`'s Adam settings, a
    graph call per hundreds of batches (STEPS_PER_CALL), on uint8 images multiplied by
    `input_scale` in the graph (1/255 as the tutorials scale; 1 for raw pixels).
    `column_blocks` > 1 selects the split Dense path when the model allows it (a Dense stack
    ending in softmax, trained for categorical crossentropy)."""

    def __init__(
        self,
        model,
        optimizer,
        *,
        batch_size,
        loss="categorical_crossentropy",
        input_scale=1 / 255,
        column_blocks=1,
    ):
        _check_adam(optimizer)
        if loss not in OBJECTIVES:
            raise TrainingSetupError(
                f"the compiled trainer knows the losses {list(OBJECTIVES)}, not {loss!r}"
            )
        self.objective, self.input_scale = OBJECTIVES[loss], float(input_scale)
        self.model, self.batch_size = model, int(batch_size)
        self.adam = Adam(
            float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
            float(optimizer.beta_1),
            float(optimizer.beta_2),
            float(optimizer.epsilon),
        )
        splittable = column_blocks > 1 and loss == "categorical_crossentropy"
        dense = dense_stack(model) if splittable else None
        self.split = _SplitDense(dense, column_blocks) if dense else None
        self.variables = self.split.variables if self.split else model.trainable_variables
        self.m = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.variables]
        self.v = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.variables]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._steps_fn, self.steps_per_call = None, STEPS_PER_CALL
        self.evaluate = make_evaluator(model, loss, input_scale)

    def _loss_and_outputs(self, images, targets):
        if self.split:  # logits: the softmax is folded into the loss, as Keras does
            logits = self.split.logits(images)
            loss = tf.nn.softmax_cross_entropy_with_logits(targets, logits)
            return tf.reduce_mean(loss), logits
        outputs = self.model(images, training=True)
        return tf.reduce_mean(self.objective.loss(targets, outputs)), outputs

    def _apply_adam(self, gradients):
        powers = self.adam.next_powers(self.iterations)
        return [
            self.adam.update(variable, m, v, gradient, powers)
            for variable, gradient, m, v in zip(
                self.variables, gradients, self.m, self.v, strict=True
            )
        ]

    def _train_steps(self, images, targets, order, first, last, loss_sum, correct_sum):
        """Batches first .. last - 1 of the epoch over the examples in `order`; returns the
        running (loss sum, correct sum), weighted by batch size as fit reports them."""
        count = tf.size(order)

        def train_batch(index, loss_sum, correct_sum):
            take = order[index * self.batch_size : tf.minimum((index + 1) * self.batch_size, count)]
            batch_targets = tf.gather(targets, take)
            batch_images = _scaled(tf.gather(images, take), self.input_scale)
            with tf.GradientTape() as tape:
                loss, outputs = self._loss_and_outputs(batch_images, batch_targets)
            updates = self._apply_adam(tape.gradient(loss, self.variables))
            hits = self.objective.hits(batch_targets, outputs)
            size = tf.cast(tf.size(take), tf.float32)
            with tf.control_dependencies(updates):  # the next batch sees updated weights
                index = tf.identity(index + 1)
            return index, loss_sum + loss * size, correct_sum + tf.reduce_sum(hits)

        return batch_loop(train_batch, first, last, loss_sum, correct_sum)

    def _train_epoch(self, images, targets, order):
        """One epoch, as (mean loss, accuracy), in graph calls of self.steps_per_call batches
        (see STEPS_PER_CALL); the sums carry over between calls, so the numbers are those of a
        single call."""
        batches = -(-len(order) // self.batch_size)
        order = tf.constant(order, tf.int32)
        zero = tf.constant(0.0)
        (loss_sum, correct_sum), self.steps_per_call = run_in_calls(
            lambda first, last, *sums: self._steps_fn(images, targets, order, first, last, *sums),
            batches,
            (zero, zero),
            self.steps_per_call,
        )
        count = tf.cast(len(order), tf.float32)  # float32 division, as fit's mean
        return float(loss_sum / count), float(correct_sum / count)

    def fit(
        self, images, labels, *, epochs, seed, shuffle=True, validation_data=None, on_epoch_end=None
    ):
        """Train on uint8 `images` (N, ...) and integer `labels` (N,): class indices, or 0/1 for
        a single output. A new permutation per epoch from `seed` (as fit(shuffle=True)
        reshuffles). Stops after an epoch whose loss is not finite. `on_epoch_end(epoch,
        history)` is called after each epoch."""
        width = int(self.model.outputs[0].shape[-1])
        images_tensor = as_tensor(images)
        targets = self.objective.targets(np.asarray(labels, np.int64), width)
        if self._steps_fn is None:
            self._steps_fn = tf.function(self._train_steps)
        count, history = len(labels), TrainingHistory()
        orders = (order[0] for order in epoch_orders([seed], count, epochs)) if shuffle else None
        for epoch in range(1, epochs + 1):
            order = next(orders) if shuffle else np.arange(count)
            start = time.perf_counter()
            loss, accuracy = self._train_epoch(images_tensor, targets, order)
            history.epoch_seconds.append(time.perf_counter() - start)
            history.loss.append(loss)
            history.accuracy.append(accuracy)
            if self.split:
                self.split.write_back()
            if validation_data is not None and math.isfinite(loss):
                val_loss, val_accuracy, _ = self.evaluate(*validation_data)
                history.val_loss.append(val_loss)
                history.val_accuracy.append(val_accuracy)
            if on_epoch_end is not None:
                on_epoch_end(epoch, history)
            if not math.isfinite(loss):
                break
        return history


# ## Evaluation: the Keras model in inference mode, as model.evaluate runs it


def make_evaluator(model, loss="categorical_crossentropy", input_scale=1 / 255, batch_size=1000):
    """A function (uint8 images, integer labels) -> (mean loss, accuracy, outputs) giving
    `model.evaluate`'s [loss, accuracy] without a float copy of the whole set."""
    objective = OBJECTIVES[loss]

    @tf.function
    @tf.autograph.experimental.do_not_convert  # straight-line code: nothing to convert
    def batch_sums(images, labels):
        outputs = model(_scaled(images, input_scale), training=False)
        targets = objective.targets(labels, tf.shape(outputs)[1])
        return (
            tf.reduce_sum(objective.loss(targets, outputs)),
            tf.reduce_sum(objective.hits(targets, outputs)),
            outputs,
        )

    def evaluate(images, labels):
        labels = np.asarray(labels, np.int64)
        if not len(labels):
            raise ValueError("nothing to evaluate: no examples")
        loss_sum, hit_sum, outputs = 0.0, 0.0, []
        for start in range(0, len(labels), batch_size):
            loss, hits, batch_outputs = batch_sums(
                tf.constant(images[start : start + batch_size]),
                tf.constant(labels[start : start + batch_size]),
            )
            loss_sum, hit_sum = loss_sum + float(loss), hit_sum + float(hits)
            outputs.append(batch_outputs.numpy())
        return loss_sum / len(labels), hit_sum / len(labels), np.concatenate(outputs)

    return evaluate


# ## The engine: one CompiledTrainer per run (the CNN's compiled engine)


def train(
    fresh_model,
    train_data,
    *,
    weight_seeds,
    data_seeds,
    epochs,
    batch_size,
    learning_rate,
    test_data,
    validation_data=None,
    on_epoch_end=None,
    on_run_end=None,
):
    """Train fresh_model(weight_seed) (a new Keras model with that seed's initial weights) once
    per run on uint8 `train_data` = (images, labels), the data in data seed's order, with
    Keras's Adam(learning_rate); validate after every epoch on `validation_data` (if given) and
    evaluate on `test_data` at the end. on_epoch_end(epoch, history) for each run's epochs;
    on_run_end(run, OneRun) after each run. Returns engines.runs.stacked_runs' Runs."""
    done = []
    for run, (weight_seed, data_seed) in enumerate(zip(weight_seeds, data_seeds, strict=True)):
        model = fresh_model(int(weight_seed))
        trainer = CompiledTrainer(
            model, keras.optimizers.Adam(learning_rate=learning_rate), batch_size=batch_size
        )
        history = trainer.fit(
            *train_data,
            epochs=epochs,
            seed=int(data_seed),
            validation_data=validation_data,
            on_epoch_end=on_epoch_end,
        )
        test_loss, test_accuracy, outputs = trainer.evaluate(*test_data)
        done.append(OneRun(history, model.get_weights(), outputs, test_loss, test_accuracy))
        if on_run_end is not None:
            on_run_end(run, done[-1])
    return stacked_runs(done, weight_seeds, data_seeds, epochs)


def untrained_accuracies(fresh_model, weight_seeds, images, labels):
    """Each run's test accuracy at its initial weights (fresh_model(seed)): a network that has
    learnt nothing, the measured form of a tutorial's "random guessing"."""
    model = fresh_model(0)
    evaluate = make_evaluator(model)
    accuracies = []
    for seed in weight_seeds:
        model.set_weights(fresh_model(int(seed)).get_weights())
        accuracies.append(evaluate(images, labels)[1])
    return np.array(accuracies)
