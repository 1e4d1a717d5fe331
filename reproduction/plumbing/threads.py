"""TensorFlow's thread settings for each kind of work, set once before the first op.

Measured on 2 cores (docs/performance.md): the tiny single-run perceptron is per-op overhead (one
thread, no hand-offs); the split Dense path runs one column block per core; stacked studies are
large matmuls that want every core in one op; "parallel_calls" runs one compiled call per core
at a time (the XOR study's workers), each op single-threaded. model.fit keeps TensorFlow's own
defaults.
"""

import os
from dataclasses import dataclass

WORKLOADS = ("default", "tiny", "split_dense", "stacked", "parallel_calls")


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


def thread_plan(workload, compiled, device, cores=None):
    """The thread settings for `workload` (one of WORKLOADS) on `device`; `compiled`: a fast
    engine trains (model.fit keeps TensorFlow's defaults)."""
    if workload not in WORKLOADS:
        raise ValueError(f"unknown workload {workload!r}")
    cores = int(cores or os.cpu_count() or 1)
    if not compiled or not device.startswith("CPU") or workload in ("default", "stacked"):
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


def setup_threads(workload, compiled, device):
    """thread_plan + configure_threads: what a script calls once, before its first op."""
    return configure_threads(thread_plan(workload, compiled, device))


def workers_for(plan, cores=None):
    """Compiled calls to run at a time under `plan`: one per core when each op is
    single-threaded, else one (its ops already use every core)."""
    return int(cores or os.cpu_count() or 1) if plan.intra_op == 1 else 1
