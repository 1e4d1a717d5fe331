"""The plan's runs, one after the other: each script in its own process, or its finished run
taken from the run cache; then every run's views drawn from the records.

A planned run trains and records (the script's --json: its record and arrays, no figures); the
cache keeps that. Its figures, per-run table and metrics are drawn afterwards from the record by
the tutorial's study module (studies/render.py), for a fresh run and a cached one alike, so a
change to a view never retrains anything and `reproduce.py --render` redraws from the cache
alone.
"""

import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from reproduction.orchestration import chunks as chunking
from reproduction.orchestration.run_cache import code_version, run_key, run_machine
from reproduction.orchestration.script_runs import ScriptWorkers, run_script
from reproduction.plumbing.atomic import link_or_copy
from reproduction.plumbing.exits import Interrupted
from reproduction.plumbing.records import plain_record, write_run_record
from reproduction.plumbing.text import counted
from reproduction.settings.tutorials import result_settings


class PlannedRun(NamedTuple):
    part: str  # the report's section: "xor", "mnist", "cifar_dense", "cifar_cnn"
    label: str  # what the progress lines call it
    script: str
    argv: list


def run_name(index, planned):
    return f"{index:02d}_{planned.part}"


@dataclass
class FinishedRun:
    """A run of the plan with its results: its record and the file of its arrays."""

    index: int  # 1-based, in the plan's order
    planned: PlannedRun
    record: dict  # with "plan_seconds": what the run took when it ran (a cached run: then)
    arrays_file: Path
    reused: bool = False

    @property
    def name(self):  # "01_xor": its files' name in the records folder
        return run_name(self.index, self.planned)

    @property
    def seconds(self):
        return self.record["plan_seconds"]


@dataclass
class Plan:
    """A plan's runs and what running them shares: where scripts write, the cache, progress."""

    runs: list
    workdir: Path  # each script's record and arrays land here first
    cache: object = None  # a run_cache.RunCache, or None
    digests: dict = field(default_factory=dict)  # {script: {data file: sha256}}
    reuse: bool = True  # take finished runs from the cache
    quiet: bool = False
    workers: object = None  # a script_runs.ScriptWorkers: consecutive runs share a process
    drawing: object = None  # a drawing.Drawing: each run's views drawn as it finishes
    start: float = field(default_factory=time.perf_counter)
    versions: dict = field(default_factory=dict)  # {script: code version}, read once a plan
    machine: dict = field(default_factory=run_machine)  # what the runs compute on

    def say(self, text):
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def key(self, planned, argv=None, version=None):
        """The cache key of `planned` (or of its chunk `argv`)."""
        version = version or (self.version(planned.script) if self.cache else None)
        return run_key(
            planned.script,
            result_settings(planned.script, planned.argv if argv is None else argv),
            version,
            self.digests.get(planned.script, {}),
            self.machine,
        )

    def version(self, script):
        """run_cache.code_version of `script`, read once in a plan (a plan runs one code)."""
        if script not in self.versions:
            self.versions[script] = code_version(script)
        return self.versions[script]

    def will_train(self, planned):
        """Whether `planned` is not in the cache (or the cache is not used): it will train."""
        if self.cache is None or not self.reuse:
            return True
        try:
            return not self.cache.has(self.key(planned))
        except SystemExit:  # its arguments do not parse: it fails, it does not train
            return False

    def cached(self, key):
        """(record, arrays file) of a finished run in the cache, or None."""
        if self.cache is None or not self.reuse:
            return None
        return self.cache.load(key)


def run_sequentially(plan, only_cached=False):
    """Every run of `plan`, in order: from the cache, else its script run now (stored in the
    cache as it finishes). Returns ([FinishedRun], [failure lines]). A failed run is reported and
    the others go on; with `only_cached`, a run not in the cache is a failure (nothing trains).
    Ctrl-C stops the running script and ends the plan (every run finished before it stays in
    the cache)."""
    finished, failures = [], []
    index, label = 0, ""
    try:
        with ScriptWorkers() as workers:
            plan.workers = workers
            try:
                for index, planned in enumerate(plan.runs, 1):
                    label = planned.label
                    done = _finished_run(index, planned, plan, only_cached, failures)
                    if done is not None:
                        finished.append(done)
                        if plan.drawing is not None:
                            plan.drawing.add(done)
            finally:
                plan.workers = None
    except KeyboardInterrupt:  # wherever it lands: in a script, between runs, in the cache
        raise Interrupted(
            f"stopped in run {index}/{len(plan.runs)} ({label}); the report and its figures are "
            "unchanged (they are replaced only when every run has ended); "
            f"{counted(len(finished), 'finished run')} kept in the cache: rerun the same command "
            + ("without --fresh " if not plan.reuse else "")
            + "to go on"
        ) from None
    return finished, failures


def _finished_run(index, planned, plan, only_cached, failures):
    name, total = run_name(index, planned), len(plan.runs)
    try:
        key = plan.key(planned)
    except SystemExit as error:  # its arguments do not parse: a failed run, not a lost plan
        failures.append(f"{planned.label}: its arguments are not the script's (exit {error})")
        return None
    stored = plan.cached(key)
    if stored is not None:
        plan.say(f"[{index}/{total}] {planned.label}: reused from the cache")
        record, arrays_file = stored
        return FinishedRun(index, planned, record, arrays_file, reused=True)
    if only_cached:
        failures.append(f"{planned.label}: not in the cache (run the plan without --render)")
        return None
    plan.say(f"[{index}/{total}] {planned.label} ({time.perf_counter() - plan.start:.0f} s so far)")
    _prepare_next_script(index, planned, plan)
    if chunking.kept_run_by_run(planned.script, planned.argv):
        return _run_by_run(index, planned, plan, key, failures)
    try:
        record, arrays_file = _script_run(planned.script, planned.argv, plan, key, name)
    except SystemExit as error:
        failures.append(f"{planned.label}: {error}")
        print(f"  failed: {error}", file=sys.stderr)
        return None
    return FinishedRun(index, planned, record, arrays_file)


def _prepare_next_script(index, planned, plan):
    """Start the worker of the next run to train with another script than run `index`'s, so
    that it imports TensorFlow while this run trains (script_runs.ScriptWorkers.prepare)."""
    if plan.workers is None:
        return
    for later in plan.runs[index:]:
        if later.script != planned.script and plan.will_train(later):
            plan.workers.prepare(later.script, now=planned.script)
            return


def _script_run(script, argv, plan, key, name, workdir=None):
    """(record, arrays file) of `script` run now with `argv` (its files in `workdir`, default
    the plan's), stored in the cache under `key`; SystemExit if it fails."""
    workdir = Path(workdir or plan.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    record = run_script(script, argv, workdir, name, workers=plan.workers)
    record["plan_seconds"] = time.perf_counter() - start
    arrays_file = workdir / record["arrays"]
    if plan.cache is not None:
        plan.cache.store(key, record, arrays_file)
    return record, arrays_file


def _run_by_run(index, planned, plan, key, failures):
    """A study run one run at a time (chunks.kept_run_by_run), each run from the cache or run now
    and kept there, then merged into the study (kept under the study's `key` too)."""
    name, total = run_name(index, planned), len(plan.runs)
    version = plan.version(planned.script) if plan.cache else None
    split = chunking.chunk_argvs(planned.script, planned.argv, 1)
    parts = []
    for number, argv in enumerate(split, 1):
        chunk_key, chunk_name = plan.key(planned, argv, version), f"{name}_run{number}"
        stored = plan.cached(chunk_key)
        if stored is not None:
            plan.say(f"  run {number}/{len(split)}: reused from the cache")
            parts.append(stored)
            continue
        plan.say(f"  run {number}/{len(split)} ({time.perf_counter() - plan.start:.0f} s so far)")
        folder = Path(plan.workdir) / ".chunks" / chunk_name
        try:
            parts.append(_script_run(planned.script, argv, plan, chunk_key, chunk_name, folder))
        except SystemExit as error:
            failures.append(f"{planned.label}, run {number}: {error}")
            print(f"  failed: {error}", file=sys.stderr)
            return None
    done = merged_study(index, planned, parts, plan, key)
    if isinstance(done, str):
        failures.append(done)
        print(f"[{index}/{total}] {done}", file=sys.stderr)
        return None
    return done


def merged_study(index, planned, parts, plan, key):
    """The FinishedRun of the study `planned` merged from its chunks' (record, arrays file)
    `parts` (stored in the cache under the study's `key`), or the failure line if they do not
    merge."""
    arrays_file = Path(plan.workdir) / f"{run_name(index, planned)}.npz"
    try:
        record = chunking.merge(planned.argv, parts, arrays_file)
    except (Exception, SystemExit) as error:  # a failed run, not a lost report
        return (
            f"{planned.label}: merging its {len(parts)} chunks failed "
            f"({type(error).__name__}: {error})"
        )
    if plan.cache is not None:
        plan.cache.store(key, record, arrays_file)
    return FinishedRun(index, planned, record, arrays_file)


@dataclass
class Outputs:
    """Where a plan's report, figures and records go: a partial run (any failure) never replaces
    the last complete report, so its report, figures and records go beside them
    (REPORT.partial.md, figures.partial/, runs.partial/)."""

    report: Path
    figures: Path
    records: Path
    failures: list

    def __post_init__(self):
        if self.failures:
            self.report = self.report.with_suffix(".partial.md")
            self.figures, self.records = (
                folder.with_name(folder.name + ".partial")
                for folder in (self.figures, self.records)
            )
        self.figures, self.records = self.figures.resolve(), self.records.resolve()

    def publish(self, figures_staging, records_staging):
        """Move the staged figures and records into place (each rename atomic)."""
        for source, target in ((figures_staging, self.figures), (records_staging, self.records)):
            target.mkdir(parents=True, exist_ok=True)
            for path in sorted(Path(source).iterdir()):
                if path.is_file():
                    os.replace(path, target / path.name)


def seconds_by_part(finished):
    """{part: seconds its runs took} (a run reused from the cache: what it took when it ran)."""
    seconds = {}
    for run in finished:
        part = run.planned.part
        seconds[part] = seconds.get(part, 0.0) + run.seconds
    return seconds


def render_runs(finished, outputs, drawing):
    """Every finished run's views from its record (studies/render.py), drawn by `drawing` (a
    drawing.Drawing: its figures into its figures folder, a study's per-run table into its
    records folder), where each run's record and arrays go too (as <name>.json and .npz),
    each record naming the places `outputs` will move them to. Returns {part: [records with
    their metrics and figures]}, in the plan's order."""
    by_part = {}
    for run, ((record, *_, csv_path), view) in zip(finished, drawing.views(finished), strict=True):
        study = csv_path is not None
        link_or_copy(run.arrays_file, drawing.records_dir / f"{run.name}.npz")
        metrics = view.metrics | (
            {"csv": str(outputs.records / f"{run.name}.csv")} if study else {}
        )
        figures = [str(outputs.figures / Path(figure).name) for figure in view.figures]
        record = plain_record(
            record | {"metrics": metrics, "figures": figures, "arrays": f"{run.name}.npz"}
        )
        write_run_record(drawing.records_dir / f"{run.name}.json", record)
        by_part.setdefault(run.planned.part, []).append(record)
    return by_part
