"""Probe: what this machine allows the CIFAR-10 Dense study's step, against what it takes.

The numbers behind docs/performance.md "Speed targets: where they stand", measured here in one run:

1. One core's AVX2 peak (a loop of independent FMAs, compiled here with gcc), alone and on every
   core at once: do the cores share arithmetic units?
2. Memory streaming (numpy `a += b`) on arrays that stay in cache and on 64 MB arrays, on one
   core and on every core at once.
3. One CIFAR-10 Dense network's big ops per step, as the study runs them (TensorFlow, one
   thread): the forward product (32 x 3072) @ (3072 x 200), the weight gradient, fused Adam.
4. The CIFAR-10 Dense study's own graph (engines.dense_networks) on random images, per
   network-step: one network on one thread, two side by side (the study's layout), two side by
   side with their first kernels in 4 column blocks each.
5. A prototype kernel that is not part of the engine (C, AVX2 intrinsics, called through
   ctypes): the weight gradient and Adam in one pass over the rows of the first kernel, then
   also the next batch's forward product in the same pass.
6. The MNIST study's two products for 10 data orders x 101 neurons: TensorFlow's per-neuron
   products (as the engine runs them) against hand-written kernels that compute every neuron
   of a data order in one pass over its batch, in an order that does not depend on how many
   neurons there are (checked first: against numpy, and bit for bit against a neuron alone).

Parts 1, 5 and 6 need gcc and an x86-64 CPU with AVX2 and FMA; without them they are skipped,
saying so. Run it on an otherwise idle machine; nothing is written.

Usage: python bench/floor_probe.py [--steps 400]
Exit code: 0; 1 when a hand-written kernel fails its check (nothing of it is timed); 2 for usage
errors.
"""

import argparse
import ctypes
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import numpy as np

from reproduction.plumbing.cli import int_in_range
from reproduction.plumbing.exits import error_line, run_main

KERNEL_C = Path(__file__).with_name("floor_probe_kernels.c")
BATCH, INPUTS, UNITS = 32, 3072, 200  # one CIFAR-10 Dense step: the first layer
ORDERS, NEURONS, MNIST_FEATURES = 10, 101, 784  # an MNIST study step (101: an odd tail too)
# what the C kernels assume (floor_probe_kernels.c): 8-float lanes, batches of 32
assert INPUTS % 8 == UNITS % 8 == MNIST_FEATURES % 8 == 0 and BATCH == 32
LEARNING_RATE = 5e-4  # the tutorial's; Adam's other settings: engines.keras_model.Adam's


def keras_adam():
    """engines.keras_model.Adam (imported here, not at the top: the memory probe's subprocesses
    import this module and must stay free of TensorFlow)."""
    from reproduction.engines.adam import Adam

    return Adam(LEARNING_RATE)


class KernelCheckFailed(Exception):
    """A hand-written kernel computed something else than the step it stands for."""


def compiled_kernels(folder):
    """(path of the FMA-peak program, ctypes library of the fused kernel), or None where gcc or
    AVX2 is missing."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    flags = ["-O3", "-mavx2", "-mfma", "-ffp-contract=off"]
    peak, library = Path(folder) / "fma_peak", Path(folder) / "fused.so"
    try:
        subprocess.run(["gcc", *flags, "-DPEAK_MAIN", str(KERNEL_C), "-o", str(peak)], check=True)
        subprocess.run(
            ["gcc", *flags, "-shared", "-fPIC", str(KERNEL_C), "-o", str(library)], check=True
        )
        probe = subprocess.run([str(peak), "1"], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return (peak, ctypes.CDLL(str(library))) if probe.stdout.strip() else None


def fma_peak(program, copies):
    """GFLOPS of each of `copies` FMA loops run at once."""
    processes = [
        subprocess.Popen(
            [str(program), "400000000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        for _ in range(copies)
    ]
    return [float(process.communicate()[0]) for process in processes]


def stream_rate(megabytes):
    """GB/s of `a += b` on float32 arrays of `megabytes` each (reads two, writes one)."""
    count = int(megabytes * 1e6 / 4)
    a, b = np.ones(count, np.float32), np.ones(count, np.float32)
    repeats = max(20, int(2e9 / (12 * count)))
    for _ in range(5):
        np.add(a, b, out=a)
    start = time.perf_counter()
    for _ in range(repeats):
        np.add(a, b, out=a)
    return 12 * count * repeats / (time.perf_counter() - start) / 1e9


def in_processes(call, copies):
    """`call` (Python text calling a function of this module that returns a number) run in
    `copies` fresh processes at once: their results."""
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import floor_probe; "
    code += f"print(floor_probe.{call})"
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(copies)
    ]
    return [float(process.communicate()[0]) for process in processes]


def stream_rates(megabytes, copies):
    return in_processes(f"stream_rate({megabytes})", copies)


ENGINE_LAYOUTS = {  # (networks side by side in one graph, column blocks each, inter-op threads)
    "one network, one thread": (1, 1, 1),
    "two side by side (the study)": (2, 1, 2),
    "two side by side, 4 blocks each": (2, 4, 2),
}


def engine_step_ms(layout, steps):
    """Wall ms per network-step of the CIFAR-10 Dense study's own graph (engines.dense_networks)
    in `layout` (a key of ENGINE_LAYOUTS), on random uint8 images: best of two epochs of
    `steps` batches, after tracing. Run in a fresh process: thread pools are set once."""
    import tensorflow as tf

    parallel, blocks, inter_op = ENGINE_LAYOUTS[layout]
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    from reproduction.engines.adam import epoch_orders
    from reproduction.engines.dense_networks import DenseGroup

    rng = np.random.default_rng(0)
    count = 50_000  # CIFAR-10's training set: batches are gathered from 150 MB, as in a study
    images = tf.constant(rng.integers(0, 256, (count, INPUTS), dtype=np.uint8))
    targets = tf.one_hot(rng.integers(0, 10, count), 10)
    sizes = [INPUTS, UNITS, 150, 10]
    group = DenseGroup(sizes, parallel, batch_size=BATCH, learning_rate=5e-4, column_blocks=blocks)
    shapes = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True):
        shapes += [(fan_in, fan_out), (fan_out,)]
    weights = [(rng.standard_normal(shape) * 0.03).astype(np.float32) for shape in shapes]
    group.load([weights] * parallel)
    group.trace(images, targets)
    best = np.inf
    for order in epoch_orders(range(parallel), count, 2):  # `steps` batches of each own order
        orders = order[:, : steps * BATCH]
        start = time.perf_counter()
        group.train_epoch(images, targets, orders)
        best = min(best, (time.perf_counter() - start) / steps / parallel * 1e3)
    return best


def graph_ms(body, steps):
    """Best of three: ms a step of `body(i) -> (update ops, value)` run `steps` times in a
    traced tf.while_loop (body picks step i's own inputs, so nothing is loop-invariant)."""
    import tensorflow as tf

    @tf.function
    def loop():
        def step(i, total):
            updates, value = body(i)
            with tf.control_dependencies(updates):
                return tf.identity(i + 1), total + value

        start = (tf.constant(0), tf.constant(0.0))
        return tf.while_loop(lambda i, _: i < steps, step, start, parallel_iterations=1)

    loop()
    best = np.inf
    for _ in range(3):
        start = time.perf_counter()
        loop()
        best = min(best, (time.perf_counter() - start) / steps * 1e3)
    return best


def tensorflow_step_ms(steps):
    """{op: ms a step} of the first layer's ops on one thread, in a tf.while_loop."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    rng = np.random.default_rng(0)
    images = tf.constant(rng.random((8, BATCH, INPUTS), np.float32))
    grads = tf.constant(rng.standard_normal((8, BATCH, UNITS)).astype(np.float32) * 1e-3)
    kernel = tf.Variable(rng.standard_normal((INPUTS, UNITS)).astype(np.float32) * 0.03)
    m, v = tf.Variable(tf.zeros_like(kernel)), tf.Variable(tf.zeros_like(kernel))
    full_grads = tf.constant(rng.standard_normal((8, INPUTS, UNITS)).astype(np.float32) * 1e-3)

    optimizer = keras_adam()

    def adam(gradient):  # the first step's powers at every step: the op's cost is the same
        return optimizer.update(kernel, m, v, gradient, (optimizer.beta_1, optimizer.beta_2))

    def timed(body):  # each step its own batch: nothing is loop-invariant
        return graph_ms(lambda i: body(images[i % 8], grads[i % 8]), steps)

    def corner(t):
        return tf.reduce_sum(t[:1, :1])

    weight_grad = lambda x, g: tf.matmul(x, g, transpose_a=True)  # noqa: E731
    return {
        "forward product": timed(lambda x, g: ([], corner(tf.matmul(x, kernel)))),
        "weight gradient": timed(lambda x, g: ([], corner(weight_grad(x, g)))),
        "fused Adam": graph_ms(lambda i: ([adam(full_grads[i % 8])], 0.0), steps),
        "gradient + Adam": timed(lambda x, g: ([adam(weight_grad(x, g))], 0.0)),
        "all three": timed(lambda x, g: ([adam(weight_grad(x, g))], corner(tf.matmul(x, kernel)))),
    }


def fused_step_ms(library, steps):
    """{kernel: ms a step} of the prototype: gradient + Adam, and with the next forward."""
    pointer = ctypes.POINTER(ctypes.c_float)
    library.fused_step.argtypes = [pointer] * 5 + [ctypes.c_int] * 2 + [ctypes.c_float] * 4
    library.fused_step.argtypes += [pointer] * 2
    rng = np.random.default_rng(0)
    images_t = [np.ascontiguousarray(rng.random((INPUTS, BATCH), np.float32)) for _ in range(8)]
    grads = [(rng.standard_normal((BATCH, UNITS)) * 1e-3).astype(np.float32) for _ in range(8)]
    kernel = (rng.standard_normal((INPUTS, UNITS)) * 0.03).astype(np.float32)
    m, v, hidden = (
        np.zeros_like(kernel),
        np.zeros_like(kernel),
        np.zeros((BATCH, UNITS), np.float32),
    )

    def ptr(array):
        return array.ctypes.data_as(pointer)

    adam = keras_adam()
    settings = (adam.learning_rate, adam.beta_1, adam.beta_2, adam.epsilon)
    # once against numpy first: the timings below are of a kernel that computes the step
    x, x_next, w0 = images_t[0].T, images_t[1].T, kernel.copy()
    library.fused_step(
        ptr(images_t[0]), ptr(grads[0]), ptr(kernel), ptr(m), ptr(v), INPUTS, UNITS,
        *settings, ptr(images_t[1]), ptr(hidden),
    )  # fmt: skip
    gradient = x.T @ grads[0]
    m_ref = gradient * np.float32(1 - adam.beta_1)
    v_ref = gradient * gradient * np.float32(1 - adam.beta_2)
    w_ref = w0 - m_ref * np.float32(adam.learning_rate) / (
        np.sqrt(v_ref) + np.float32(adam.epsilon)
    )
    error = max(np.abs(kernel - w_ref).max(), np.abs(hidden - x_next @ w_ref).max() / 100)
    if not error < 1e-4:
        raise KernelCheckFailed(
            f"the prototype kernel disagrees with numpy (max error {error:.2e})"
        )
    results = {}
    for name, with_forward in (("gradient + Adam", False), ("all three", True)):
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            for i in range(steps):
                library.fused_step(
                    ptr(images_t[i % 8]), ptr(grads[i % 8]), ptr(kernel), ptr(m), ptr(v),
                    INPUTS, UNITS, *settings,
                    ptr(images_t[(i + 1) % 8]) if with_forward else None, ptr(hidden),
                )  # fmt: skip
            best = min(best, (time.perf_counter() - start) / steps * 1e3)
        results[name] = best
    return results


def mnist_products_ms(library, steps):
    """The MNIST study's two products for ORDERS x NEURONS neurons a step, one thread: as the
    engine writes them in TensorFlow (one (32 x 784) @ (784 x 1) product per neuron on the batch
    axis) and as the probe's kernels compute them (every neuron of a data order in one pass over
    its batch, in an order that does not depend on how many neurons there are). Checks that
    first: against numpy, and bit for bit against each neuron computed alone."""
    import tensorflow as tf

    k, j, b, f = ORDERS, NEURONS, BATCH, MNIST_FEATURES
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8, k, b, f)).astype(np.float32)
    weights = (rng.standard_normal((k, j, f)) * 0.05).astype(np.float32)
    grads = (rng.standard_normal((8, k, j, b)) * 1e-3).astype(np.float32)
    pointer = ctypes.POINTER(ctypes.c_float)
    for name in ("neuron_forward", "neuron_weight_grad"):
        getattr(library, name).argtypes = [pointer] * 3 + [ctypes.c_int] * 4

    def ptr(array):
        return array.ctypes.data_as(pointer)

    def forward(x, w):
        out = np.empty((x.shape[0], w.shape[1], b), np.float32)
        library.neuron_forward(ptr(x), ptr(w), ptr(out), x.shape[0], w.shape[1], b, f)
        return out

    def weight_grad(x, g):
        out = np.empty((x.shape[0], g.shape[1], f), np.float32)
        library.neuron_weight_grad(ptr(x), ptr(g), ptr(out), x.shape[0], g.shape[1], b, f)
        return out

    x, g = images[0], grads[0]
    outputs, gradient = forward(x, weights), weight_grad(x, g)
    exact = np.einsum("kbf,kjf->kjb", x.astype(np.float64), weights)
    if not np.allclose(outputs, exact, rtol=1e-4, atol=1e-2) or not np.allclose(
        gradient, np.einsum("kjb,kbf->kjf", g.astype(np.float64), x), rtol=1e-4, atol=1e-4
    ):
        raise KernelCheckFailed("the probe's MNIST kernels disagree with numpy")
    alone = [slice(n, n + 1) for n in (0, j // 2, j - 1)]  # first, middle, last (odd-J tail)
    if not all(
        np.array_equal(outputs[:, one], forward(x, np.ascontiguousarray(weights[:, one])))
        and np.array_equal(gradient[:, one], weight_grad(x, np.ascontiguousarray(g[:, one])))
        for one in alone
    ):
        raise KernelCheckFailed("a neuron computed alone differs from the same neuron among others")

    def ours(with_gradient):
        best = np.inf
        for _ in range(3):
            start = time.perf_counter()
            for i in range(steps):
                forward(images[i % 8], weights)
                if with_gradient:
                    weight_grad(images[i % 8], grads[i % 8])
            best = min(best, (time.perf_counter() - start) / steps * 1e3)
        return best

    batches, kernel = tf.constant(images), tf.Variable(weights[..., None])
    deltas = tf.constant(grads[..., None])

    def theirs_forward(i):
        return [], tf.reduce_sum(tf.matmul(batches[i % 8][:, None], kernel)[:, :, :1])

    def theirs_both(i):
        x = batches[i % 8][:, None]
        product = tf.matmul(x, kernel)[:, :, :1]
        gradient = tf.matmul(x, deltas[i % 8], adjoint_a=True)[:, :, :1]
        return [], tf.reduce_sum(product) + tf.reduce_sum(gradient)

    return {
        "forward product": (ours(False), graph_ms(theirs_forward, steps)),
        "both products": (ours(True), graph_ms(theirs_both, steps)),
    }


def make_bench_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--steps", type=int_in_range(10, 100_000), default=400, help="steps each op is timed over"
    )
    return parser


def main(argv=None):
    args = make_bench_parser().parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    with tempfile.TemporaryDirectory() as folder:
        kernels = compiled_kernels(folder)
        if kernels is None:
            print("1. FMA peak: skipped (needs gcc and an x86-64 CPU with AVX2 and FMA)")
        else:
            alone, together = fma_peak(kernels[0], 1), fma_peak(kernels[0], cores)
            print(
                f"1. FMA peak of a core: {alone[0]:.1f} GFLOPS alone; on {cores} cores at once "
                + ", ".join(f"{rate:.1f}" for rate in together)
            )
        for megabytes in (2.4, 64):
            alone, together = stream_rates(megabytes, 1), stream_rates(megabytes, cores)
            print(
                f"2. a += b on {megabytes:g} MB arrays: {alone[0]:.1f} GB/s alone; on {cores} "
                "cores at once " + ", ".join(f"{rate:.1f}" for rate in together)
            )
        tensorflow = tensorflow_step_ms(args.steps)
        print("3. one network's first-layer ops a step, TensorFlow, one thread (ms):")
        for name, ms in tensorflow.items():
            print(f"     {name:16s} {ms:.3f}")
        print("4. the CIFAR-10 Dense study's own graph, wall ms a network-step:")
        for layout in ENGINE_LAYOUTS:
            (ms,) = in_processes(f"engine_step_ms({layout!r}, {args.steps})", 1)
            print(f"     {layout:32s} {ms:.3f}")
        if kernels is None:
            print("5., 6. hand-written kernels: skipped (needs gcc and AVX2)")
            return 0
        try:
            fused = fused_step_ms(kernels[1], args.steps)
            products = mnist_products_ms(kernels[1], args.steps)
        except KernelCheckFailed as failure:
            return error_line(str(failure))
        print("5. prototype fused kernel, one thread (ms a step; TensorFlow's ops beside it):")
        for name, ms in fused.items():
            print(
                f"     {name:16s} {ms:.3f} vs {tensorflow[name]:.3f} ({ms / tensorflow[name]:.2f}x)"
            )
        print(
            f"6. MNIST study products, {ORDERS} data orders x {NEURONS} neurons, one thread "
            "(ms a step; TensorFlow's per-neuron products beside them):"
        )
        for name, (ms, theirs) in products.items():
            print(f"     {name:16s} {ms:.3f} vs {theirs:.3f} ({ms / theirs:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
