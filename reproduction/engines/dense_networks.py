"""Seed studies of a Dense image classifier (Flatten -> Dense relu ... -> Dense softmax), run
after run as `model.fit` would train each one, with several runs side by side in one graph.

Run r starts from its own initial weights and sees the training set in its own order (a new
permutation each epoch from np.random.default_rng(data seed), the last batch short). What is
computed for one network does not depend on the other runs: every network has its own ops
(gather, matmuls, softmax cross-entropy, gradient, fused Adam), never a product shared with
another network, and with one thread per op (engines.runs.thread_plan, "split_dense") each
op's arithmetic is fixed by its shapes. So a single run with the same seeds and the same column
blocks replays a study's run bit for bit on the same machine.

Why side by side: one network's step is a chain of small dependent ops (the 200 -> 150 -> 10
layers, the loss, their gradients) between two large ones (the first layer's matmul and its
weight gradient + Adam update). Alone, one core idles while the other runs that chain. Two
networks in one `tf.while_loop` body give TensorFlow's inter-op threads independent work to fill
those gaps. Each network's first kernel is split into `column_blocks` column blocks (one per
core), as a single run needs to use both cores; a column of a block is not always the same bits
as that column of the whole product, so the blocks are part of the experiment's arithmetic and
are recorded.

Faithful to Keras (tests/test_dense_study.py checks it against model.fit step by step): images
cast to float32 and divided by 255 (bit for bit the tutorial's `x / 255.0`), `x @ W + b`, relu,
softmax cross-entropy from the logits (as Keras computes categorical cross-entropy behind a
softmax), the mean over the batch, its gradient written out as TensorFlow's autodiff computes
it, Adam as keras.optimizers.Adam (TensorFlow's fused kernel: step size lr * sqrt(1 - beta_2^t) /
(1 - beta_1^t), epsilon outside the square root), and each epoch's loss and accuracy averaged
over its batches as fit reports them.
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
from reproduction.engines.keras_model import TrainingSetupError
from reproduction.engines.runs import OneRun, Runs, TrainingHistory
from reproduction.plumbing.backend import keras, tf

PARALLEL = 2  # networks per graph: measured fastest on 2 cores (docs/performance.md)
TEST_FIGURES = ("test_loss", "test_accuracy")  # model.evaluate's, per run


def dense_sizes(model):
    """[inputs, units, ...] of a model that is Input/Flatten then Dense layers with biases,
    relu hidden layers and a softmax output; TrainingSetupError otherwise."""
    from reproduction.plumbing.backend import layers

    sizes = [int(np.prod(model.inputs[0].shape[1:]))]
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    others = [
        layer
        for layer in model.layers
        if not isinstance(layer, (layers.Dense, layers.InputLayer, layers.Flatten))
    ]
    activations = [layer.activation for layer in dense]
    if (
        others
        or not dense
        or not all(layer.use_bias for layer in dense)
        or activations[-1] is not keras.activations.softmax
        or any(a is not keras.activations.relu for a in activations[:-1])
    ):
        raise TrainingSetupError(
            "the Dense study engine trains Flatten -> Dense(relu)... -> Dense(softmax) models only"
        )
    return sizes + [int(layer.units) for layer in dense]


class _Network:
    """One network's variables (first kernel and bias in column blocks) and Adam slots."""

    def __init__(self, sizes, blocks):
        self.columns = np.array_split(np.arange(sizes[1]), min(blocks, sizes[1]))
        shapes = [(sizes[0], len(c)) for c in self.columns] + [(len(c),) for c in self.columns]
        for fan_in, fan_out in zip(sizes[1:-1], sizes[2:], strict=True):
            shapes += [(fan_in, fan_out), (fan_out,)]
        self.variables = [tf.Variable(tf.zeros(s)) for s in shapes]
        self.m = [tf.Variable(tf.zeros(s), trainable=False) for s in shapes]
        self.v = [tf.Variable(tf.zeros(s), trainable=False) for s in shapes]
        self.blocks = len(self.columns)

    def load(self, weights):
        """Keras-ordered weights [W1, b1, W2, b2, ...] in; Adam's moments reset to zero."""
        first = [weights[0][:, c] for c in self.columns] + [weights[1][c] for c in self.columns]
        for variable, value in zip(self.variables, first + list(weights[2:]), strict=True):
            variable.assign(value)
        for slot in self.m + self.v:
            slot.assign(tf.zeros_like(slot))

    def weights(self):
        """The weights in Keras's order [W1, b1, W2, b2, ...], as numpy arrays."""
        values = [v.numpy() for v in self.variables]
        k = self.blocks
        return [np.concatenate(values[:k], axis=1), np.concatenate(values[k : 2 * k])] + values[
            2 * k :
        ]

    def step(self, images, targets, take, divisor, adam, powers):
        """One batch: returns (Adam update ops, loss sum over the batch, hits)."""
        k = self.blocks
        kernels, biases = self.variables[:k], self.variables[k : 2 * k]
        x = tf.cast(tf.gather(images, take), tf.float32) / divisor
        batch_targets = tf.gather(targets, take)
        parts = [tf.nn.bias_add(tf.matmul(x, w), b) for w, b in zip(kernels, biases, strict=True)]
        hidden = tf.nn.relu(parts[0] if k == 1 else tf.concat(parts, axis=1))
        activations = [hidden]
        rest = self.variables[2 * k :]
        for index in range(0, len(rest), 2):
            z = tf.nn.bias_add(tf.matmul(activations[-1], rest[index]), rest[index + 1])
            activations.append(tf.nn.relu(z) if index + 2 < len(rest) else z)
        logits = activations.pop()
        losses, backprop = tf.raw_ops.SoftmaxCrossEntropyWithLogits(
            features=logits, labels=batch_targets
        )
        size = tf.cast(tf.shape(take)[0], tf.float32)
        # d(mean)/d(loss_i) = 1 / size, times the fused op's backprop, as autodiff has it
        grad = backprop * tf.expand_dims(tf.fill(tf.shape(losses), 1.0 / size), 1)
        gradients = []
        for index in range(len(rest) - 2, -1, -2):
            inputs = activations[index // 2]
            gradients[:0] = [tf.matmul(inputs, grad, transpose_a=True), tf.reduce_sum(grad, axis=0)]
            grad = tf.raw_ops.ReluGrad(
                gradients=tf.matmul(grad, rest[index], transpose_b=True), features=inputs
            )
        grads = [grad] if k == 1 else tf.split(grad, [len(c) for c in self.columns], axis=1)
        first = [tf.matmul(x, g, transpose_a=True) for g in grads] + [
            tf.reduce_sum(g, axis=0) for g in grads
        ]
        updates = [
            adam.update(var, m, v, g, powers)
            for var, m, v, g in zip(self.variables, self.m, self.v, first + gradients, strict=True)
        ]
        hits = tf.reduce_sum(
            tf.cast(
                tf.equal(tf.argmax(logits, axis=1), tf.argmax(batch_targets, axis=1)), tf.float32
            )
        )
        return updates, tf.reduce_sum(losses), hits


class DenseGroup:
    """`parallel` networks of one Dense shape, trained side by side in one traced graph; load
    new initial weights to train the next runs in the same graph (no retracing)."""

    def __init__(self, sizes, parallel, *, batch_size, learning_rate, column_blocks):
        self.sizes, self.parallel = list(sizes), int(parallel)
        self.batch_size, self.adam = int(batch_size), Adam(float(learning_rate))
        self.networks = [_Network(self.sizes, column_blocks) for _ in range(self.parallel)]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        # 255 as a variable: TensorFlow's graph optimiser turns a division by a constant into a
        # multiplication by its reciprocal, which is not the tutorial's x / 255.0 (126 of the
        # 256 pixel values would differ in the last bit).
        self.divisor = tf.Variable(255.0, trainable=False)
        scalar, sums = tf.TensorSpec([], tf.int32), tf.TensorSpec([self.parallel], tf.float32)
        self.steps = tf.function(
            self._steps,
            input_signature=[
                tf.TensorSpec([None, None], tf.uint8),
                tf.TensorSpec([None, None], tf.float32),
                tf.TensorSpec([self.parallel, None], tf.int32),
                scalar,
                scalar,
                sums,
                sums,
            ],
        )
        self.steps_per_call = STEPS_PER_CALL

    def load(self, weights):
        """One list of Keras-ordered weights per network; Adam's state starts afresh."""
        for network, values in zip(self.networks, weights, strict=True):
            network.load(values)
        self.iterations.assign(0)

    def _steps(self, images, targets, orders, first, last, loss_sums, hit_sums):
        """Batches first .. last - 1 of the epoch; orders (parallel, count); running per-network
        (loss sum, hit sum) weighted by batch size, as fit's epoch means are."""
        count = tf.shape(orders)[1]

        def train_batch(index, loss_sums, hit_sums):
            powers = self.adam.next_powers(self.iterations)
            start, stop = index * self.batch_size, tf.minimum((index + 1) * self.batch_size, count)
            updates, losses, hits = [], [], []
            for slot, network in enumerate(self.networks):
                ops, loss, hit = network.step(
                    images,
                    targets,
                    orders[slot, start:stop],
                    self.divisor,
                    self.adam,
                    powers,
                )
                updates += ops
                losses.append(loss)
                hits.append(hit)
            with tf.control_dependencies(updates):  # the next batch sees updated weights
                index = tf.identity(index + 1)
            return index, loss_sums + tf.stack(losses), hit_sums + tf.stack(hits)

        return batch_loop(train_batch, first, last, loss_sums, hit_sums)

    def trace(self, images, targets):
        """Trace and optimise the graph on an empty range of batches (nothing trained)."""
        zeros = tf.zeros(self.parallel)
        self.steps(
            images,
            targets,
            tf.zeros((self.parallel, 1), tf.int32),
            tf.constant(0),
            tf.constant(0),
            zeros,
            zeros,
        )

    def train_epoch(self, images, targets, orders):
        """One epoch over `orders` (parallel, count): per-network (mean loss, accuracy) as
        float32 sums divided by the count, in graph calls of self.steps_per_call batches."""
        count = orders.shape[1]
        orders = tf.constant(orders)
        zeros = tf.zeros(self.parallel)
        (loss_sums, hit_sums), self.steps_per_call = run_in_calls(
            lambda first, last, *sums: self.steps(images, targets, orders, first, last, *sums),
            -(-count // self.batch_size),
            (zeros, zeros),
            self.steps_per_call,
        )
        count = np.float32(count)
        return loss_sums.numpy() / count, hit_sums.numpy() / count


def train(
    initial_weights,
    sizes,
    train,
    *,
    weight_seeds,
    data_seeds,
    epochs,
    batch_size,
    learning_rate,
    column_blocks,
    parallel=PARALLEL,
    evaluate=None,
    test_data=None,
    validation_data=None,
    on_epoch_end=None,
    on_run_end=None,
):
    """Train one network per run (weight_seeds[r], data_seeds[r]) on uint8 images.

    initial_weights(seed) -> Keras-ordered weights [W1, b1, ...]; train = (images, labels);
    evaluate(weights, images, labels) -> (loss, accuracy, outputs) gives the figures on
    test_data = (images, labels) after training, and on validation_data after every epoch.
    Runs go `parallel` at a time (the last group may be smaller: its graph is traced for its
    own size). on_epoch_end(epoch, TrainingHistory of the group's first run so far) after each
    epoch of a group; on_run_end(run index, OneRun without weights) after each run.
    Returns a reproduction.engines.runs.Runs whose extra holds per-run test_loss, test_accuracy,
    train_seconds (a group's wall time split evenly between its runs) and epoch_seconds, and
    train_cpu_seconds (the process's CPU time while training: on a shared machine, wall time
    counts other programs' load too)."""
    weight_seeds = np.asarray(weight_seeds, np.int64)
    data_seeds = np.asarray(data_seeds, np.int64)
    n, count = len(weight_seeds), len(train[1])
    images = as_tensor(np.ascontiguousarray(train[0]).reshape(count, -1))
    targets = tf.one_hot(np.asarray(train[1], np.int64), sizes[-1])
    history = {
        key: np.full((n, epochs), np.nan, np.float32)
        for key in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    test = {key: np.full(n, np.nan) for key in (*TEST_FIGURES, "train_seconds")}
    epoch_seconds = np.full((n, epochs), np.nan)
    params, test_outputs, groups = [], [], {}
    train_seconds = compile_seconds = cpu_seconds = 0.0
    for begin in range(0, n, parallel):
        members = list(range(begin, min(begin + parallel, n)))
        start = time.perf_counter()
        if len(members) not in groups:
            groups[len(members)] = DenseGroup(
                sizes,
                len(members),
                batch_size=batch_size,
                learning_rate=learning_rate,
                column_blocks=column_blocks,
            )
            groups[len(members)].trace(images, targets)
        group = groups[len(members)]
        compile_seconds += time.perf_counter() - start
        group.load([initial_weights(int(weight_seeds[r])) for r in members])
        orders = epoch_orders(data_seeds[members], count, epochs)
        group_seconds = 0.0
        for epoch in range(epochs):
            start, cpu_start = time.perf_counter(), time.process_time()
            loss, accuracy = group.train_epoch(images, targets, next(orders))
            seconds = time.perf_counter() - start
            cpu_seconds += time.process_time() - cpu_start
            group_seconds += seconds
            epoch_seconds[members, epoch] = seconds
            history["loss"][members, epoch] = loss
            history["accuracy"][members, epoch] = accuracy
            if validation_data is not None:
                for slot, r in enumerate(members):
                    val_loss, val_accuracy, _ = evaluate(
                        group.networks[slot].weights(), *validation_data
                    )
                    history["val_loss"][r, epoch] = val_loss
                    history["val_accuracy"][r, epoch] = val_accuracy
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, _history_of(history, epoch_seconds, members[0], epoch + 1))
            if not np.isfinite(loss).any():  # every network of the group diverged
                break
        train_seconds += group_seconds
        for slot, r in enumerate(members):
            weights = group.networks[slot].weights()
            params.append(weights)
            test["train_seconds"][r] = group_seconds / len(members)
            if test_data is not None:
                test_loss, test_accuracy, outputs = evaluate(weights, *test_data)
                test["test_loss"][r], test["test_accuracy"][r] = test_loss, test_accuracy
                test_outputs.append(outputs)
            if on_run_end is not None:
                trained = _history_of(history, epoch_seconds, r, epochs)
                trained.epoch_seconds = [test["train_seconds"][r]]  # its share of the group's
                on_run_end(r, OneRun(trained, None, None, *(test[k][r] for k in TEST_FIGURES)))
    have_validation = validation_data is not None
    return Runs(
        weight_seeds=weight_seeds,
        data_seeds=data_seeds,
        loss=history["loss"],
        accuracy=history["accuracy"],
        val_loss=history["val_loss"] if have_validation else None,
        val_accuracy=history["val_accuracy"] if have_validation else None,
        params=[np.stack(p) for p in zip(*params, strict=True)],
        train_seconds=train_seconds,
        compile_seconds=compile_seconds,
        test_outputs=np.stack(test_outputs) if test_outputs else None,
        extra=test
        | {
            "epoch_seconds": epoch_seconds,
            "train_cpu_seconds": cpu_seconds,
            "parallel": parallel,
            "column_blocks": column_blocks,
        },
    )


def _history_of(history, epoch_seconds, run, epochs):
    """Run `run`'s first `epochs` epochs of the (N, epochs) `history` as a TrainingHistory."""
    rows = {key: [float(v) for v in values[run, :epochs]] for key, values in history.items()}
    return TrainingHistory(**rows, epoch_seconds=[float(s) for s in epoch_seconds[run, :epochs]])


def layout(column_blocks, seeds, plan):
    """(networks side by side, column blocks per network) of the compiled Dense engine under
    the thread `plan`: a single run splits its first kernel into one column block per core
    (plan.column_blocks); a study trains one network per core side by side, each in one block
    (faster per run). `column_blocks` (--column-blocks) fixes the blocks: a replay of a study's
    run gives the study's."""
    cores = max(1, plan.column_blocks)
    blocks = column_blocks or (cores if seeds == 1 else 1)
    return max(1, cores // blocks), blocks


def train_model(fresh_model, train_data, layout, *, test_data, validation_data=None, **options):
    """train() for a Keras model: fresh_model(seed) gives a run's initial weights, and the
    figures on the test and validation data are the model's own (make_evaluator: what
    model.evaluate computes) with the run's weights. `layout`: (networks side by side, column
    blocks per network); `options`: train()'s other keyword arguments."""
    from reproduction.engines.keras_model import make_evaluator

    model = fresh_model(0)
    evaluator = make_evaluator(model)

    def evaluate(weights, images, labels):
        model.set_weights(weights)
        return evaluator(images, labels)

    return train(
        lambda seed: fresh_model(seed).get_weights(),
        dense_sizes(model),
        train_data,
        parallel=layout[0],
        column_blocks=layout[1],
        evaluate=evaluate,
        test_data=test_data,
        validation_data=validation_data,
        **options,
    )
