"""The plan's views drawn while it trains: each finished run's figures and per-run table are
drawn in the background as soon as the run is finished, in the CPU time training leaves.

matplotlib draws on one core, and a plan has long stretches that use one (importing TensorFlow,
tracing and compiling, writing arrays: most of the XOR studies' time), so the views are drawn
by DRAWING_PROCESSES forked processes at the lowest scheduling priority (nice 19): they take
what training leaves idle and, when only drawing is left, the whole machine. Without fork, in a
process with threads or TensorFlow (fork would copy them half-held), or on one core, the views
are drawn at the end, in this process, one after the other.
"""

import multiprocessing
import os
import signal
import sys
import threading
from pathlib import Path

from reproduction.plumbing.records import read_arrays

DRAWING_PROCESSES = 2  # at most one a core: each draws on one


def draw(job):
    """The View of one run: job = (record, arrays file, figures folder, CSV path or None)."""
    from reproduction.studies.render import render  # (matplotlib, only when drawing)

    record, arrays_file, figures_dir, csv_path = job
    return render(record, read_arrays(arrays_file), figures_dir, csv_path)


def can_fork():
    """Whether this process may fork drawing processes: one thread, no TensorFlow."""
    forkable = "fork" in multiprocessing.get_all_start_methods()
    alone = threading.active_count() == 1 and "tensorflow" not in sys.modules
    return forkable and alone and (os.cpu_count() or 1) >= 2


def _drawing_process():
    """A drawing process's set-up: lowest priority; Ctrl-C is the plan's to handle."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        os.nice(19)
    except OSError:  # not allowed here: it draws at the plan's priority
        pass


class Drawing:
    """Views of a plan's finished runs (plan_runner.FinishedRun), drawn into `figures_dir` (and
    a study's per-run table into `records_dir`/<name>.csv): `add(run)` as a run finishes,
    `views(runs)` to wait for them, in that order (a run not added yet is drawn then). Use as
    a context manager: the processes end with it (stopped at once if the plan stops)."""

    def __init__(self, figures_dir, records_dir, background=True):
        self.figures_dir, self.records_dir = Path(figures_dir), Path(records_dir)
        self.pool = None
        if background and can_fork():
            # Pool forks all its processes before it starts its own threads
            context = multiprocessing.get_context("fork")
            self.pool = context.Pool(DRAWING_PROCESSES, initializer=_drawing_process)
        self.pending = {}  # run name: its AsyncResult, or its job without a pool

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if self.pool is not None:
            if kind is None:
                self.pool.close()
            else:
                self.pool.terminate()
            self.pool.join()

    def job(self, run):
        """draw's job for `run`: its record (without the plan's timing), arrays, folders."""
        record = {k: v for k, v in run.record.items() if k != "plan_seconds"}
        study = record["config"]["seeds"] > 1
        csv_path = self.records_dir / f"{run.name}.csv" if study else None
        return record, run.arrays_file, self.figures_dir, csv_path

    def add(self, run):
        job = self.job(run)
        self.pending[run.name] = job if self.pool is None else self.pool.apply_async(draw, (job,))

    def views(self, runs):
        """[(job, View)] of `runs`, in their order, each drawn once."""
        for run in runs:
            if run.name not in self.pending:
                self.add(run)
        return [(self.job(run), self._view(self.pending[run.name])) for run in runs]

    def _view(self, pending):
        return draw(pending) if self.pool is None else pending.get()
