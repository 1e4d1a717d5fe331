"""A tutorial script's run around its training: what every script does before and after it.

Before: the device (a usage error, exit 2, if it cannot be used), TensorFlow's threads for the
engine, the seed, the data (exit 2 if it cannot be read). After: the run's record (settings,
machine, data files, timings) and arrays (engines/runs.Runs plus what the views need of the
data, such as the test labels and the images of the tutorial's picture) are the results; the
views (text, figures, per-run table, metrics) are drawn from them by the tutorial's study
module (studies/), exactly as reproduce.py draws them from a cached run; then the record is
kept where --json says.
"""

import math
import sys
import time

from reproduction.plumbing.backend import keras, tf
from reproduction.plumbing.cli import check_validation_split, config_of
from reproduction.plumbing.device import select_device_or_exit
from reproduction.plumbing.exits import error_line
from reproduction.plumbing.records import build_run_record, peak_rss_mb, plain_record, save_run
from reproduction.plumbing.seeding import set_seed
from reproduction.plumbing.text import counted
from reproduction.plumbing.threads import setup_threads, workers_for
from reproduction.settings.options import COMPILED


class ScriptRun:
    """One run of a tutorial script, from its parsed arguments to its kept record."""

    def __init__(self, parser, args, script, workload, argv=None):
        self.parser, self.args, self.script, self.argv = parser, args, script, argv
        self.device = select_device_or_exit(parser, args.device)
        self.threads = setup_threads(workload, args.engine == COMPILED, self.device)
        self.workers = workers_for(self.threads) if args.engine == COMPILED else 1
        set_seed(args.seed, args.deterministic)
        self.device_line = (
            f"device: {self.device}; Keras {keras.__version__} on TensorFlow {tf.__version__}"
        )
        self.start, self.timings, self.data = time.perf_counter(), {}, None

    def load(self, loader):
        """The dataset loader(data_dir) gives, cut to --train-limit / --test-limit; None after
        reporting a DataError (the script returns self.failed)."""
        from reproduction.data.checks import DataError

        args = self.args
        start = time.perf_counter()
        counts = {"expected_counts": None} if args.allow_small_data else {}
        try:
            data = loader(args.data_dir, **counts).head(args.train_limit, args.test_limit)
        except DataError as error:
            self.failed = error_line(error, error.exit_code, self.parser.prog)
            return None
        self.timings["load_data"] = time.perf_counter() - start
        check_validation_split(self.parser, len(data.y_train), args.validation_split)
        self.start, self.data = time.perf_counter(), data
        return data

    def not_finite(self, loss, what="the loss"):
        """Exit code 1 and one line if the first run's per-epoch `loss` is not finite somewhere,
        else None: the report and figures centre on the first run."""
        epoch = not_finite_epoch(loss)
        if epoch is None:
            return None
        seed = f" (seed {self.args.seed})" if self.args.seeds > 1 else ""
        return error_line(
            f"{what} became {loss[epoch]} in epoch {epoch + 1}{seed}; no figures written (try a "
            "smaller --learning-rate)",
            prog=self.parser.prog,
        )

    def finish(self, runs, arrays, *, config=None, keep_params=True, spaced=False):
        """Record the run (`runs`: {name: Runs}, `arrays`: what the views need besides; the
        final weights too unless not `keep_params`), draw and print its views (after a blank
        line if `spaced`: training printed lines of its own), keep the record where --json says;
        the exit code (0)."""
        args = self.args
        everything = {}
        for name, part in runs.items():
            kept = part.arrays(f"{name}.")
            everything |= {k: v for k, v in kept.items() if keep_params or ".params." not in k}
        everything |= arrays
        training = {name: part.train_seconds for name, part in runs.items()}
        compile_ = {name: part.compile_seconds for name, part in runs.items()}
        first, named = next(iter(runs.values())), set(runs) != {"runs"}  # MNIST's: by neuron
        timings = self.timings | {
            "training": training if named else first.train_seconds,
            "compile": compile_ if named else first.compile_seconds,
            "training_per_run": first.train_seconds / len(first),
        }
        if "train_cpu_seconds" in first.extra:  # wall time counts other programs' load too
            timings["training_cpu"] = first.extra["train_cpu_seconds"]
        record = build_run_record(
            script=self.script,
            argv=self.argv,
            config=config_of(args) | {"threads": self.threads.as_record()} | dict(config or {}),
            device=self.device,
            timings=timings,
            data_files=getattr(self.data, "files", None),
            data=data_description(self.data),
        )
        from reproduction.studies.render import View, render  # the views: not the results
        from reproduction.studies.tables import csv_path_for

        csv_path = csv_path_for(args.json) if args.json is not None and args.seeds > 1 else None
        if args.record_only:  # reproduce.py's runs: their views are drawn from the record
            view = View("", {}, [])
        else:
            figures = None if args.no_figures else args.figures_dir
            view = render(record, everything, figures, csv_path)
            print(("\n" if spaced else "") + view.text.rstrip() + "\n")
        timings["total"] = time.perf_counter() - self.start
        print(self.timing_line(runs, timings))
        if view.figures:
            print("figures: " + ", ".join(view.figures))
        if "csv" in view.metrics:
            print(f"per-run table: {view.metrics['csv']}")
        record = plain_record(
            record
            | {
                "timings_s": timings,
                "peak_rss_mb": peak_rss_mb(),
                "metrics": view.metrics,
                "figures": view.figures,
            }
        )
        if args.json is not None:
            save_run(args.json, record, everything)
        return 0

    def timing_line(self, runs, timings):
        args, first = self.args, next(iter(runs.values()))
        training = ", ".join(
            (f"{name} " if set(runs) != {"runs"} else "") + seconds_text(part.train_seconds)
            for name, part in runs.items()
        )
        per_run = (
            f", {seconds_text(first.train_seconds / len(first))} a run" if len(first) > 1 else ""
        )
        compiled = sum(part.compile_seconds for part in runs.values())
        loading = (
            f" after {timings['load_data']:.1f} s loading data" if "load_data" in timings else ""
        )
        return (
            f"training: {training} ({args.engine} engine, {counted(len(first), 'run')}{per_run}"
            + (f"; compiling {compiled:.1f} s" if compiled else "")
            + f"); whole run {timings['total']:.1f} s{loading}; peak memory {peak_rss_mb():.0f} MB"
        )


def seconds_text(seconds):
    """'12.3 s', '0.42 s': tenths, or hundredths under a second."""
    return f"{seconds:.2f} s" if seconds < 1 else f"{seconds:.1f} s"


def data_description(data):
    """What the views need to know of a dataset besides its arrays."""
    if data is None:
        return {}
    return {"source": data.source, "note": data.note, "class_names": list(data.class_names)}


def not_finite_epoch(loss):
    """The first epoch (0-based) whose loss is not finite, or None."""
    bad = [epoch for epoch, value in enumerate(loss) if not math.isfinite(value)]
    return bad[0] if bad else None


def keras_verbose(args):
    """model.fit's verbose for a run: Keras's own epoch lines for a plain single run (its live
    progress bar on a terminal, one line per epoch in a log), nothing for a study or --quiet."""
    if args.quiet or args.seeds > 1:
        return 0
    return 1 if sys.stdout.isatty() else 2
