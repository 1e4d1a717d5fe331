"""One engine design for the three scripts: two names, one result, thread settings in one place.

Every script offers the same two engines:
- "fit": the tutorial's own spelling, `model.fit` once per run;
- "compiled": this project's fast path for the same experiment: compiled TensorFlow graphs, and
  in a seed study the runs stacked into one computation where that is faster.
Both return a `Runs`: per-run arrays with one row per run (a single run is a study of one).
"""

import os
from dataclasses import dataclass, field

import numpy as np

FIT, COMPILED = "fit", "compiled"
ENGINES = (COMPILED, FIT)
ENGINE_HELP = (
    "'compiled': the same experiment in compiled TensorFlow graphs, a study's runs "
    "stacked where that is faster; 'fit': the tutorial's model.fit, once per run"
)


@dataclass
class Runs:
    """What an engine returns for N runs. Histories are (N, epochs) as model.fit reports them
    (training figures averaged over the epoch; validation after it)."""

    weight_seeds: np.ndarray  # (N,) the seed of each run's initial weights
    data_seeds: np.ndarray | None  # (N,) the seed of each run's data order (None: full batch)
    loss: np.ndarray
    accuracy: np.ndarray
    params: list  # final weights, each array with a leading run axis
    train_seconds: float  # training alone (not tracing, not validation where separable)
    compile_seconds: float = 0.0  # graph tracing and warm-up, outside train_seconds
    val_loss: np.ndarray | None = None
    val_accuracy: np.ndarray | None = None
    test_outputs: np.ndarray | None = None  # (N, test examples[, outputs])
    extra: dict = field(default_factory=dict)  # engine-specific per-run arrays

    def __len__(self):
        return len(self.weight_seeds)

    def run(self, index):
        """The final weights of run `index`."""
        return [p[index] for p in self.params]


@dataclass(frozen=True)
class ThreadPlan:
    intra_op: int
    inter_op: int
    column_blocks: int = (
        1  # the split Dense path (engines/keras_model.py): blocks of the 1st kernel
    )

    def as_record(self):
        return {
            "intra_op": self.intra_op,
            "inter_op": self.inter_op,
            "column_blocks": self.column_blocks,
        }


# Measured on 2 cores (README, Performance): the tiny single-run perceptron is per-op overhead
# (one thread, no hand-offs); the split Dense path runs one column block per core; stacked
# studies are large matmuls that want every core in one op; "parallel_calls" runs one compiled
# call per core at a time (the XOR study's workers), each op single-threaded.
WORKLOADS = ("default", "tiny", "split_dense", "stacked", "parallel_calls")


def thread_plan(workload, engine, device, cores=None):
    """The TensorFlow thread settings for `workload` (one of WORKLOADS) on `device`."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}")
    cores = int(cores or os.cpu_count() or 1)
    if engine != COMPILED or not device.startswith("CPU") or workload in ("default", "stacked"):
        return ThreadPlan(0, 0)
    if workload == "tiny":
        return ThreadPlan(1, 1)
    if workload == "parallel_calls":
        return ThreadPlan(1, cores)
    blocks = max(1, min(cores, 4))  # capped at 4 so blocks stay large enough to pay off
    return ThreadPlan(1, blocks, blocks)


def configure_threads(plan):
    """Apply `plan` (possible only before TensorFlow's first op; later the pools stay as they
    are, which changes speed, not results) and return the plan in effect."""
    from reproduction.plumbing.backend import tf

    threading = tf.config.threading
    try:
        threading.set_intra_op_parallelism_threads(plan.intra_op)
        threading.set_inter_op_parallelism_threads(plan.inter_op)
    except RuntimeError:  # already initialised
        pass
    return ThreadPlan(
        threading.get_intra_op_parallelism_threads(),
        threading.get_inter_op_parallelism_threads(),
        plan.column_blocks,
    )


def setup(workload, engine, device):
    """thread_plan + configure_threads: what a script calls once, before its first op."""
    return configure_threads(thread_plan(workload, engine, device))
