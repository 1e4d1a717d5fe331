"""The "fit" engine: the tutorial's own `model.fit`, once per run, gathered into a `Runs`.

A script hands over its own training code as `fit_run(run, weight_seed, data_seed)` (the
tutorial's compile, fit and evaluate, started from the seed's initial weights) and gets back
what the compiled engines return, so a study, its report and its figures do not care which
engine trained it. HistoryRecorder gives that code the per-epoch figures the compiled engines
keep (training time per epoch with validation left out).
"""

import time

import numpy as np

from reproduction.engines.runs import TrainingHistory, stacked_runs
from reproduction.plumbing.backend import keras


class HistoryRecorder(keras.callbacks.Callback):
    """Fills a TrainingHistory as model.fit runs: each epoch's loss and accuracy (the metric
    "accuracy" or "binary_accuracy"), validation figures, and training seconds with validation
    left out; then calls `on_epoch_end(epoch, history)` if given."""

    def __init__(self, on_epoch_end=None):
        super().__init__()
        self.history_record, self.report = TrainingHistory(), on_epoch_end

    def on_epoch_begin(self, epoch, logs=None):
        self.start, self.validation_seconds = time.perf_counter(), 0.0

    def on_test_begin(self, logs=None):
        self.validation_start = time.perf_counter()

    def on_test_end(self, logs=None):
        self.validation_seconds += time.perf_counter() - self.validation_start

    def on_epoch_end(self, epoch, logs=None):
        record = self.history_record
        record.epoch_seconds.append(time.perf_counter() - self.start - self.validation_seconds)
        for prefix in ("", "val_"):
            if prefix + "loss" in logs:
                getattr(record, prefix + "loss").append(float(logs[prefix + "loss"]))
            for name in ("accuracy", "binary_accuracy"):
                if prefix + name in logs:
                    getattr(record, prefix + "accuracy").append(float(logs[prefix + name]))
                    break
        if self.report is not None:
            self.report(epoch + 1, record)


def train(fit_run, weight_seeds, data_seeds, *, epochs, on_run_end=None):
    """Runs r = 0, 1, ... through fit_run(r, weight_seeds[r], data_seeds[r] or None) -> OneRun;
    on_run_end(r, OneRun) after each. The Runs of engines.runs.stacked_runs."""
    weight_seeds = np.asarray(weight_seeds)
    done = []
    for run, weight_seed in enumerate(weight_seeds):
        data_seed = None if data_seeds is None else int(data_seeds[run])
        done.append(fit_run(run, int(weight_seed), data_seed))
        if on_run_end is not None:
            on_run_end(run, done[-1])
    return stacked_runs(done, weight_seeds, data_seeds, epochs)
