"""
Title: Reproduce the three tutorials in one go and write the reproduction report
Description: Runs every tutorial as a seed study, each script in its own process with its JSON
    record and per-run CSV kept in runs/: the XOR convergence study (10,000 seeds) for the
    tutorial's three networks and for binary cross-entropy, the MNIST perceptron (linear vs
    sigmoid, 1,000 runs on raw pixels, and the normalised pixels as the lever), the CIFAR-10
    Dense network (10 runs) and, with --with-cnn, the chapter's CNN. Writes REPORT.md: per
    tutorial, the distributions over the runs with their n, where the published number falls
    among them, the figures, and the device, versions, data sources and wall time of each part.
Expected result: about 6 minutes on 2 CPU cores without the CNN (each CNN run adds about 10);
    `--quick` runs the same pipeline with tiny budgets in about a minute.

Usage: python reproduce.py --data-dir ../shared/datasets [--with-cnn] [--cifar-runs 30] [--quick]
"""

import argparse
import datetime
import importlib
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from reproduction.data.checks import DataError
from reproduction.data.lookup import find_make_datasets
from reproduction.data.registry import DATASETS, build_datasets, preflight
from reproduction.evidence.claims import CLAIMS, SOURCE_NAMES, SOURCES, claims_for, published_values
from reproduction.evidence.statistics import wilson_interval
from reproduction.evidence.verdicts import NOT_COMPARABLE, Compare, differing_settings, judge
from reproduction.orchestration.run_cache import RunCache, code_version, files_digest, run_key
from reproduction.orchestration.script_runs import run_script
from reproduction.plumbing.atomic import interrupts_held, write_text_atomic
from reproduction.plumbing.cli import (
    check_output_dir,
    check_output_file,
    existing_folder,
    float_in_range,
    int_in_range,
    ray_address,
)
from reproduction.plumbing.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, Interrupted, run_main
from reproduction.plumbing.provenance import cpu_text
from reproduction.plumbing.records import package_versions
from reproduction.plumbing.text import counted

ROOT = Path(__file__).resolve().parent
XOR_VARIANTS = (
    ((16,), "mean_squared_error"),
    ((16, 16), "mean_squared_error"),
    ((32,), "mean_squared_error"),
    ((16,), "binary_crossentropy"),
)
DEFAULTS = dict(
    xor_seeds=10_000, mnist_runs=1000, mnist_normalized_runs=200, cifar_runs=10, cnn_runs=1
)
QUICK = dict(
    xor_seeds=200,
    mnist_runs=20,
    mnist_normalized_runs=10,
    cifar_runs=2,
    cnn_runs=1,
    epochs=1,
    train_limit=5000,
    test_limit=1000,
)
BUDGETS = ("xor_seeds", "mnist_runs", "mnist_normalized_runs", "cifar_runs", "cnn_runs")


# ## The plan: which script runs with which flags
def plan(args):
    """[(part, label, script, argv)]: the runs, in order."""
    common = ["--device", args.device]
    if args.data_dir is not None:
        common += ["--data-dir", str(args.data_dir)]
    if args.allow_small_data:
        common += ["--allow-small-data"]
    small = (
        [
            "--epochs",
            str(QUICK["epochs"]),
            "--train-limit",
            str(QUICK["train_limit"]),
            "--test-limit",
            str(QUICK["test_limit"]),
        ]
        if args.quick
        else []
    )
    runs = []
    for hidden, loss in XOR_VARIANTS:
        arch = "-".join(map(str, (2, *hidden, 1)))
        name = arch + (", binary cross-entropy" if loss == "binary_crossentropy" else "")
        runs.append(
            (
                "xor",
                f"XOR {name}, {counted(args.xor_seeds, 'seed')}",
                "xor_mlp.py",
                [
                    "--seeds",
                    str(args.xor_seeds),
                    "--hidden",
                    *map(str, hidden),
                    "--loss",
                    loss,
                    "--device",
                    args.device,
                ],
            )
        )
    runs.append(
        (
            "mnist",
            f"MNIST perceptron, linear vs sigmoid, {counted(args.mnist_runs, 'run')}",
            "mnist_perceptron.py",
            ["--compare", "--seeds", str(args.mnist_runs), *small, *common],
        )
    )
    runs.append(
        (
            "mnist",
            f"MNIST perceptron, pixels / 255, {counted(args.mnist_normalized_runs, 'run')}",
            "mnist_perceptron.py",
            [
                "--compare",
                "--normalize",
                "--seeds",
                str(args.mnist_normalized_runs),
                *small,
                *common,
            ],
        )
    )
    runs.append(
        (
            "cifar_dense",
            f"CIFAR-10 Dense, {counted(args.cifar_runs, 'run')}",
            "cifar10_dense.py",
            ["--seeds", str(args.cifar_runs), *small, *common],
        )
    )
    if args.with_cnn:
        for order, name in (
            ("lrelu-bn", "LeakyReLU -> BN (first notebook version)"),
            ("bn-lrelu", "BN -> LeakyReLU (later version)"),
        ):
            runs.append(
                (
                    "cifar_cnn",
                    f"CIFAR-10 CNN, {name}, {counted(args.cnn_runs, 'run')}",
                    "cifar10_dense.py",
                    [
                        "--model",
                        "cnn",
                        "--block-order",
                        order,
                        "--seeds",
                        str(args.cnn_runs),
                        *small,
                        *common,
                    ],
                )
            )
    return runs


# ## Before anything trains: every dataset the plan needs, found and valid
PLAN_DATASETS = {"mnist_perceptron.py": "mnist", "cifar10_dense.py": "cifar10"}


def prepare_datasets(runs, args):
    """[problem lines] for the datasets the plan's scripts read ([] when all are ready).
    Missing ones are built by make-datasets where the data folder has one (idempotent), else
    fetched as Keras does on first use; then each is checked (files read, shapes, counts)."""
    names = sorted({PLAN_DATASETS[script] for _, _, script, _ in runs if script in PLAN_DATASETS})
    try:
        missing = [name for name in names if DATASETS[name].find(args.data_dir) is None]
    except DataError as error:  # $TUTORIALS_DATA_DIR names no folder
        return [str(error)]
    script = find_make_datasets(args.data_dir) if missing else None
    if script is not None:
        if not args.quiet:
            print(
                f"building the datasets with {script} (about 30 s, once)",
                file=sys.stderr,
                flush=True,
            )
        ok, message = build_datasets(script.parent)
        if not ok:
            return [message]
    elif missing:  # no builder here: Keras downloads them, as a script would on first use
        for name in missing:
            try:
                DATASETS[name].load(args.data_dir)
            except DataError as error:
                return [f"{DATASETS[name].title}: {error}"]
    return preflight(names, args.data_dir, allow_small_data=args.allow_small_data)


def data_digests(runs, data_dir):
    """{script: {file: sha256}} of the data each script of the plan reads (part of its cache
    key: other bytes, other results)."""
    digests = {}
    for _, _, script, _ in runs:
        name = PLAN_DATASETS.get(script)
        if name is not None and script not in digests:
            found = DATASETS[name].find(data_dir)
            digests[script] = files_digest(found) if found is not None else {}
    return digests


@dataclass
class PlanRun:
    """What every run of a sequential plan shares (run_plan's arguments and its progress)."""

    runs: list
    figures_dir: Path
    records_dir: Path
    quiet: bool
    cache: RunCache | None
    digests: dict
    reuse: bool
    start: float
    failures: list = field(default_factory=list)

    def say(self, text):
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)


def _finished_run(index, run, shared):
    """Run `index` of the plan, run = (part, label, script, argv): from the cache, or run now
    and stored there; None if it failed (its failure appended to shared.failures)."""
    part, label, script, argv = run
    name = f"{index:02d}_{part}"
    cache = shared.cache
    key = run_key(
        script, argv, code_version(script) if cache else None, shared.digests.get(script, {})
    )
    record = (
        cache.load(key, shared.figures_dir, shared.records_dir, name)
        if cache and shared.reuse
        else None
    )
    if record is not None:
        shared.say(f"[{index}/{len(shared.runs)}] {label}: reused from the cache")
        return record | {"reused": True}
    shared.say(
        f"[{index}/{len(shared.runs)}] {label} ({time.perf_counter() - shared.start:.0f} s so far)"
    )
    run_start = time.perf_counter()
    try:
        record = run_script(script, argv, shared.records_dir, name, figures_dir=shared.figures_dir)
    except SystemExit as error:
        shared.failures.append(f"{label}: {error}")
        print(f"  failed: {error}", file=sys.stderr)
        return None
    record["label"] = label
    record["plan_seconds"] = time.perf_counter() - run_start
    if cache is not None:
        cache.store(key, record)
    return record


def run_plan(runs, figures_dir, records_dir, quiet, cache=None, digests=None, reuse=True):
    """Run each script, or take its finished run from `cache` (a run_cache.RunCache;
    None: run everything; `reuse` False: run everything, still storing each finished run);
    {part: [records]}, {part: seconds}, [failures], runs reused. A
    failed run is reported and the others go on; Ctrl-C stops the running script and ends the
    plan (every run finished before it stays in the cache)."""
    records, seconds, reused = {}, {}, 0
    shared = PlanRun(
        runs, figures_dir, records_dir, quiet, cache, digests or {}, reuse, time.perf_counter()
    )
    index, label = 0, ""
    try:
        for index, run in enumerate(runs, 1):
            label = run[1]
            record = _finished_run(index, run, shared)
            if record is None:
                continue
            part = run[0]
            reused += record.pop("reused", False)
            records.setdefault(part, []).append(record)
            seconds[part] = seconds.get(part, 0.0) + record["plan_seconds"]
    except KeyboardInterrupt:  # wherever it lands: in a script, between runs, in the cache
        finished = sum(len(part) for part in records.values())
        raise Interrupted(
            f"stopped in run {index}/{len(runs)} ({label}); the report and its "
            "figures are unchanged (they are replaced only when every run has "
            f"ended); {counted(finished, 'finished run')} kept in the cache: rerun "
            "the same command to go on"
        ) from None
    return records, seconds, shared.failures, reused


# Scripts whose studies --ray splits into chunks of runs, each chunk a task: the script's own
# chunk_argvs makes the chunks and its merge_chunks rebuilds the study's record from them.
CHUNKED_SCRIPTS = {"cifar10_dense.py": "cifar10_dense"}


def study_size(argv):
    """--seeds of a planned run's argv (the last one given; 1 if none), read with argparse as
    the script reads it, without importing the script (and TensorFlow with it)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--seeds", type=int, default=1)
    return parser.parse_known_args(argv)[0].seeds


def chunk_argvs(script, argv, runs_per_chunk):
    """[argv of each chunk] of a planned run ([argv]: not split)."""
    if not runs_per_chunk or script not in CHUNKED_SCRIPTS or study_size(argv) <= runs_per_chunk:
        return [argv]  # (without importing the script, and TensorFlow with it, in the driver)
    return importlib.import_module(CHUNKED_SCRIPTS[script]).chunk_argvs(argv, runs_per_chunk)


def run_plan_on_ray(
    runs,
    figures_dir,
    records_dir,
    quiet,
    session,
    cache=None,
    digests=None,
    reuse=True,
    runs_per_chunk=None,
):
    """run_plan's twin for --ray: each run not taken from `cache` is a Ray task of `session`
    (a ray_cluster.RaySession), or, for a study of a script in CHUNKED_SCRIPTS, one task per
    chunk of `runs_per_chunk` runs; all are submitted at once. The driver lands each task as it
    finishes (a whole run's figures, record and CSV where a sequential run leaves them; a
    chunk's in a folder of its own until the script's merge_chunks makes the study's record of
    them) and stores it in the cache (a whole run, and each chunk, under its own key; a merged
    study also under the sequential run's key). Returns what run_plan returns, in the plan's
    order. Ctrl-C cancels the outstanding tasks; the finished ones stay in the cache."""
    from reproduction.orchestration import ray_cluster as cluster

    digests = digests or {}
    finished, failures, reused, tasks_done = {}, {}, 0, 0
    keys, chunks, landed = {}, {}, {}  # keys[index, chunk]: (key, code version); chunk None: whole
    start = time.perf_counter()
    tasks = session.tasks()

    def say(text):
        if not quiet:
            print(text, file=sys.stderr, flush=True)

    def chunk_folder(index, chunk):
        """(name, figures folder, records folder) of a whole run (chunk None) or of one chunk."""
        name = f"{index:02d}_{runs[index - 1][0]}" + ("" if chunk is None else f"_chunk{chunk + 1}")
        if chunk is None:
            return name, figures_dir, records_dir
        folder = Path(records_dir) / ".chunks" / name
        return name, folder / "figures", folder

    def made_folder(index, chunk):
        """chunk_folder, its folders created (for the outputs about to be written there)."""
        name, figures, records = chunk_folder(index, chunk)
        Path(figures).mkdir(parents=True, exist_ok=True)
        return name, figures, records

    def cached(key, index, chunk):
        if not (cache and reuse and cache.has(key)):
            return None
        name, figures, records = made_folder(index, chunk)
        return cache.load(key, figures, records, name)

    def merged(index):
        part, label, script, argv = runs[index - 1]
        parts = [landed[index][chunk] for chunk in range(len(chunks[index]))]
        name = f"{index:02d}_{part}"
        try:
            record = importlib.import_module(CHUNKED_SCRIPTS[script]).merge_chunks(
                argv, parts, Path(records_dir) / f"{name}.json", Path(figures_dir)
            )
        except (Exception, SystemExit) as error:  # a failed run, not a lost report
            failures[index] = (
                f"{label}: merging its {len(parts)} chunks failed ({type(error).__name__}: {error})"
            )
            print(f"[{index}/{len(runs)}] {failures[index]}", file=sys.stderr)
            return None
        record["label"] = label
        record["plan_seconds"] = sum(part["plan_seconds"] for part in parts)
        if cache is not None:
            cache.store(keys[index, None][0], record)
        return record

    try:
        for index, (_, label, script, argv) in enumerate(runs, 1):
            version = code_version(script)  # also checked against what each node ran
            keys[index, None] = run_key(script, argv, version, digests.get(script, {})), version
            record = cached(keys[index, None][0], index, None)
            if record is not None:
                reused += 1
                finished[index] = record
                say(f"[{index}/{len(runs)}] {label}: reused from the cache")
                continue
            pieces = chunk_argvs(script, argv, runs_per_chunk)
            if len(pieces) == 1:
                tasks.submit((index, None), script, argv, chunk_folder(index, None)[0])
                continue
            chunks[index], landed[index] = pieces, {}
            for chunk, piece in enumerate(pieces):
                key = run_key(script, piece, version, digests.get(script, {}))
                keys[index, chunk] = key, version
                record = cached(key, index, chunk)
                if record is not None:
                    landed[index][chunk] = record
                else:
                    tasks.submit((index, chunk), script, piece, chunk_folder(index, chunk)[0])
            if landed[index]:
                say(
                    f"[{index}/{len(runs)}] {label}: {len(landed[index])} of "
                    f"{len(pieces)} chunks reused from the cache"
                )
            if len(landed[index]) == len(pieces):
                reused += 1  # the whole study, from its cached chunks
                record = merged(index)
                if record is not None:
                    finished[index] = record
        if tasks.pending:
            split = sum(len(pieces) for pieces in chunks.values())
            say(
                f"{counted(len(tasks.pending), 'task')} submitted to Ray ({session.describe()})"
                + (
                    f"; {len(chunks)} stud{'ies' if len(chunks) != 1 else 'y'} split into "
                    f"{split} chunks of up to "
                    f"{counted(runs_per_chunk, 'run')}"
                    if chunks
                    else ""
                )
            )
        for (index, chunk), result in tasks.as_finished():
            part, label, script, _ = runs[index - 1]
            what = label if chunk is None else f"{label}, chunk {chunk + 1}/{len(chunks[index])}"
            key, version = keys[index, chunk]
            problem = result.get("failure") or cluster.problem_with(
                result, version, digests.get(script, {})
            )
            if problem:
                failures.setdefault(index, f"{what}: {problem}")
                print(f"[{index}/{len(runs)}] {what} failed: {problem}", file=sys.stderr)
                continue
            name, figures, records = made_folder(index, chunk)
            record = cluster.write_outputs(result, figures, records, name)
            record["label"] = label
            record["plan_seconds"] = result["seconds"]
            if cache is not None:
                cache.store(key, record)
            tasks_done += 1
            say(
                f"[{index}/{len(runs)}] {what}: done on node {result['node'][:8]} in "
                f"{result['seconds']:.0f} s ({time.perf_counter() - start:.0f} s so far)"
            )
            if chunk is None:
                finished[index] = record
                continue
            landed[index][chunk] = record
            if len(landed[index]) == len(chunks[index]) and index not in failures:
                record = merged(index)
                if record is not None:
                    finished[index] = record
    except KeyboardInterrupt:
        cancelled = tasks.cancel_outstanding()
        raise Interrupted(
            f"stopped with {counted(tasks_done, 'Ray task')} finished (kept in the cache) "
            f"and {cancelled} cancelled; the report and its figures are unchanged "
            "(they are replaced only when every run has ended): rerun the same "
            "command to go on"
        ) from None
    records, seconds = {}, {}
    for index, (part, *_) in enumerate(runs, 1):  # the plan's order, as run_plan gives it
        if index in finished:
            records.setdefault(part, []).append(finished[index])
            seconds[part] = seconds.get(part, 0.0) + finished[index]["plan_seconds"]
    return records, seconds, [failures[index] for index in sorted(failures)], reused


def publish(records, staging, figures_dir, records_dir, kept_records_dir):
    """Move the figures from `staging` into `figures_dir` and the records and per-run CSVs into
    `kept_records_dir` (each rename atomic), and point the records at them."""
    moved = {}
    for source, target in ((staging, figures_dir), (records_dir, kept_records_dir)):
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted(source.iterdir()):
            if path.is_file():
                os.replace(path, target / path.name)
                moved[str(path)] = str(target / path.name)
    for part in records.values():
        for record in part:
            record["figures"] = [moved.get(f, f) for f in record["figures"]]
            if "csv" in record["metrics"]:
                record["metrics"]["csv"] = moved.get(
                    record["metrics"]["csv"], record["metrics"]["csv"]
                )


# ## Numbers for the report (all read from the scripts' own run records)
def pct(value, decimals=2):
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.{decimals}f}%"


def rate(count, n):
    """'51.4% (48.3-54.5)' : a share with its 95% Wilson interval."""
    if not n:
        return "n/a"
    low, high = wilson_interval(count, n)
    return f"{100 * count / n:.1f}% ({100 * low:.1f}-{100 * high:.1f})"


def spread(summary, decimals=2):
    """'median 96.6% (10-90%: 95.1-97.2%)' from a statistics.distribution dict."""
    if not summary or not summary.get("n"):
        return "n/a"
    return (
        f"median {pct(summary['median'], decimals)} (10-90%: "
        f"{pct(summary['p10'], decimals)} to {pct(summary['p90'], decimals)})"
    )


def epoch_text(value):
    return "never" if value is None or not math.isfinite(value) else f"{value:g}"


def xor_rows(records):
    rows = []
    for record in records:
        study, config = record["metrics"]["study"], record["config"]
        arch = "-".join(map(str, (2, *config["hidden"], 1)))
        loss = "binary cross-entropy" if config.get("loss") == "binary_crossentropy" else "MSE"
        published = study.get("tutorial_epoch")
        share = study.get("share_at_or_before_tutorial")
        deciles = (
            f"; 10-90%: {epoch_text(study['p10'])}-{epoch_text(study['p90'])}"
            if "p10" in study
            else ""
        )
        rows.append(
            f"| {arch}, {loss} | {'epoch ' + str(published) if published else '- (no number)'} "
            f"| {study['seeds']:,} | {rate(study['solved'], study['seeds'])} | median "
            f"{epoch_text(study['median'])} (quartiles {epoch_text(study['q1'])}-"
            f"{epoch_text(study['q3'])}{deciles}) | "
            f"{pct(share, 1) + ' of seeds' if share is not None else '-'} |"
        )
    return rows


XOR_HEAD = (
    "| network, loss | published (one unseeded run) | seeds | reached 100% (95% CI) | "
    "first epoch at 100% | at 100% by the published epoch |\n|---|---|---|---|---|---|"
)


def mnist_rows(record):
    study, config = record["metrics"]["study"], record["config"]
    pixels = "pixels / 255" if config.get("normalize") else "raw pixels"
    rows = []
    for activation in ("linear", "sigmoid"):
        if activation not in study:
            continue
        s = study[activation]
        dead = s["dead"]
        rows.append(
            f"| {activation}, {pixels} | {s['n']:,} | {rate(dead['count'], dead['n'])} | "
            f"{spread(s['live_final_accuracy'])} | {spread(s['final_accuracy'])} | "
            f"{rate(s['below_baseline']['count'], s['below_baseline']['n'])} | "
            f"{pct(s['epoch_spread_points']['median'], 1).rstrip('%')} points |"
        )
    return rows


MNIST_HEAD = (
    "| neuron | runs | dead: every test image one class (95% CI) | final accuracy, "
    "live runs | final accuracy, all runs | below the never-five baseline (95% CI) | "
    "median spread over the epochs |\n|---|---|---|---|---|---|---|"
)


def mnist_notes(record):
    study = record["metrics"]["study"]
    pixels = "pixels / 255" if record["config"].get("normalize") else "raw pixels"
    notes = []
    if "paired" in study:
        paired = study["paired"]
        better = paired["sigmoid_better"]
        notes.append(
            f"- {pixels}, paired (same weights, same order): sigmoid minus linear "
            f"final accuracy median {100 * paired['difference']['median']:+.2f} points "
            f"(10-90%: {100 * paired['difference']['p10']:+.2f} to "
            f"{100 * paired['difference']['p90']:+.2f}); the sigmoid is better in "
            f"{rate(better['count'], better['n'])} of runs."
        )
    for activation in ("linear", "sigmoid"):
        split = study.get(activation, {}).get("variance_split")
        if split and split.get("order_share") is not None:
            notes.append(
                f"- {pixels}, {activation}: of the final accuracy's variance, "
                f"{100 * split['order_share']:.0f}% comes from the data order and "
                f"{100 * (1 - split['order_share']):.0f}% from the initial weights "
                f"({split['groups']} orders of {split['per_group']:g} runs)."
            )
    return notes


def cifar_rows(records):
    rows = []
    for record in records:
        metrics, config = record["metrics"], record["config"]
        study = metrics.get("study")
        published = ", ".join(
            f"{pct(value, 2)} ({source})"
            for value, source in published_values(claims_for("cifar10", config), "test_accuracy")
        )
        name = config.get("model", "dense") + (
            f" ({config['block_order']})" if config.get("model") == "cnn" else ""
        )
        if study:
            test, train = study["test_accuracy"], study["train_accuracy"]
            cells = (
                f"{test['n']} | {pct(test['mean'])}"
                + (f" ± {100 * test['sd']:.2f}" if test["n"] > 1 else "")
                + f" | {pct(test['min'])} to {pct(test['max'])} | "
                f"± {100 * study['sampling_sd']:.2f} | {pct(train['mean'])}"
            )
        else:  # one run: no spread to show
            cells = (
                f"1 | {pct(metrics['test_accuracy'])} | - | - | "
                f"{pct(metrics['train_accuracy'][-1])}"
            )
        rows.append(f"| {name} | {published or '-'} | {cells} |")
    return rows


CIFAR_HEAD = (
    "| network | published test accuracy | runs | test accuracy, mean ± sd | range | "
    "test set's own sampling sd | train accuracy (last epoch), mean |\n"
    "|---|---|---|---|---|---|---|"
)


# ## The claims table: every claim of the registry, with the verdict its study gave
def cross_study_verdicts(records):
    """Verdicts of the claims that compare two studies (verdicts.Compare): judged here,
    where both studies' records are, with the same judge as the scripts."""
    every = [r for part in records.values() for r in part]
    verdicts = {}
    for claim in CLAIMS:
        if not isinstance(claim.rule, Compare):
            continue
        record, values = _claim_values(every, claim.setting, claim.quantity)
        _, reference = _claim_values(every, claim.rule.reference, claim.quantity)
        if record is not None and reference is not None:
            verdicts[claim.id] = judge(claim, values, record["config"], reference=reference)
    return verdicts


def _claim_values(records, setting, quantity):
    """(record, its per-run values of `quantity`) of the first record run in `setting`; a
    value stored as null (JSON has no infinity) is a run that never got there."""
    for record in records:
        values = record["metrics"].get("claim_values", {}).get(quantity)
        if values is not None and not differing_settings(setting, record["config"]):
            return record, [math.inf if v is None else v for v in values]
    return None, None


def gathered_verdicts(records):
    """{claim id: verdict}: each claim's verdict from the record that measured it in the
    tutorial's setting (else the first record that measured it at all)."""
    verdicts = {}
    for part in records.values():
        for record in part:
            for verdict in record["metrics"].get("verdicts", []):
                held = verdicts.get(verdict["id"])
                if held is None or (
                    held["verdict"] == NOT_COMPARABLE and verdict["verdict"] != NOT_COMPARABLE
                ):
                    verdicts[verdict["id"]] = verdict
    return verdicts | cross_study_verdicts(records)


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def claims_table(records, with_cnn):
    """The claims table (one row per registry claim) and, under it, the rules and sources the
    rows refer to by number."""
    verdicts = gathered_verdicts(records)
    rules, sources = {}, {}
    lines = [
        "| claim (quoted) | source | measured (n: runs) | verdict | rule |",
        "|---|---|---|---|---|",
    ]
    for claim in CLAIMS:
        verdict = verdicts.get(claim.id)
        rule = rules.setdefault(claim.rule.text(claim), len(rules) + 1)
        source = sources.setdefault(claim.source, len(sources) + 1)
        if verdict is None:
            measured = "-"
            judged = (
                "not in this run (add `--with-cnn`)"
                if claim.id.startswith("cifar.cnn") and not with_cnn
                else "not measured by this run"
            )
        else:
            measured = f"{_cell(claim.measure)}: {_cell(verdict['measured'])}"
            judged = f"**{verdict['verdict']}**: {_cell(verdict['detail'])}"
        lines.append(
            f"| {_cell(claim.quote)} | {SOURCE_NAMES[claim.source]} [S{source}] | "
            f"{measured} | {judged} | R{rule} |"
        )
    lines += ["", "Rules (`reproduction/evidence/verdicts.py`):", ""]
    lines += [f"- R{number}: {text}" for text, number in rules.items()]
    lines += ["", "Sources:", ""]
    lines += [f"- S{number}: {SOURCES[key]}" for key, number in sources.items()]
    return lines


def provenance_lines(records):
    """The machine and the dataset files (sha256) behind the records."""
    every = [r for part in records.values() for r in part]
    # a study split into Ray chunks ran on each chunk's machine
    machines = [
        m
        for r in every
        for m in [r.get("machine")] + [c["machine"] for c in r.get("chunks", [])]
        if m
    ]
    cpus = sorted({cpu_text(machine["cpu"]) for machine in machines})
    gpus = sorted({g for machine in machines for g in machine.get("gpus", [])})
    files = {}
    for record in every:
        files |= record.get("data_files") or {}
    lines = [
        f"- CPU: {'; '.join(cpus) or 'n/a'}"
        + (f"; GPU: {', '.join(gpus)}" if gpus else "; no GPU used")
    ]
    lines += [f"- data file `{name}`: sha256 `{digest}`" for name, digest in sorted(files.items())]
    return lines


def figure_links(records, report_dir):
    """Markdown images of every figure of the part's records, study figures first."""
    figures = [f for r in records for f in r["figures"]]
    figures.sort(key=lambda f: "_study" not in f)
    links = []
    for figure in figures:
        path = Path(figure)
        try:
            shown = path.resolve().relative_to(report_dir.resolve())
        except ValueError:
            shown = path.resolve()
        links.append(f"![{path.stem}]({shown.as_posix()})")
    return "\n".join(links)


def csv_links(records, report_dir):
    paths = [r["metrics"]["csv"] for r in records if r["metrics"].get("csv")]
    shown = []
    for path in paths:
        try:
            shown.append(Path(path).resolve().relative_to(report_dir.resolve()).as_posix())
        except ValueError:
            shown.append(str(Path(path).resolve()))
    return (
        (
            "Per-run tables (one row per run, with its seeds and a command that replays it "
            "alone; written by this run, not committed): " + ", ".join(f"`{p}`" for p in shown)
        )
        if shown
        else ""
    )


def findings(records):
    """What the studies found beyond the tutorials' claims, as measured (from the records)."""
    lines = []
    for record in records.get("mnist", []):
        sigmoid = record["metrics"]["study"].get("sigmoid")
        if sigmoid:
            pixels = (
                'pixels / 255 (the tutorial\'s "data preparation" lever)'
                if record["config"].get("normalize")
                else "raw pixels"
            )
            dead = sigmoid["dead"]
            why = (
                " (every test image read as not-5: the saturated float32 sigmoid's "
                "gradient is exactly zero)"
                if dead["count"]
                else ""
            )
            lines.append(
                f"- MNIST sigmoid neuron on {pixels}: {rate(dead['count'], dead['n'])} "
                f"of {dead['n']:,} runs die{why}; live runs end at "
                f"{spread(sigmoid['live_final_accuracy'])}."
            )
    for record in records.get("xor", []):
        study = record["metrics"]["study"]
        if study.get("right_at_start"):
            arch = "-".join(map(str, (2, *record["config"]["hidden"], 1)))
            loss = "" if record["config"]["loss"] == "mean_squared_error" else ", BCE"
            lines.append(
                f"- XOR {arch}{loss}: {study['right_at_start']:,} of {study['seeds']:,} "
                "networks were already right before training (100% in epoch 1, whose "
                "accuracy Keras measures before the update); they count as epoch 1."
            )
    for record in records.get("cifar_dense", []):
        study = record["metrics"].get("study")
        if study:
            lines.append(
                f"- CIFAR-10 Dense: over {study['n']} runs the test accuracy's sd is "
                f"{100 * study['test_accuracy']['sd']:.2f} points; the test set's own "
                f"sampling noise (sqrt(p(1-p)/n)) is {100 * study['sampling_sd']:.2f} "
                "points: a single run's accuracy cannot be read more finely than that."
            )
    return lines


def build_report(records, seconds, failures, args, total_seconds, report_dir):
    first = next(iter(next(iter(records.values())))) if records else {}
    versions = package_versions()
    sources = sorted(
        {
            r["metrics"].get("data_source", "")
            for part in records.values()
            for r in part
            if r["metrics"].get("data_source")
        }
    )
    notes = sorted(
        {
            r["metrics"].get("data_note", "")
            for part in records.values()
            for r in part
            if r["metrics"].get("data_note")
        }
    )
    lines = [
        "# Reproduction report",
        "",
        f"Written by `python reproduce.py{' --quick' if args.quick else ''}` on "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. Every tutorial is a "
        "seed study: a single run of these tutorials is chaotic (whether the MNIST sigmoid "
        "neuron dies is decided by float rounding, and one seed's result changes from one "
        "CPU to another), so the results are distributions over many runs, each with its n. "
        "Rerunning on the same machine gives the same numbers; on another CPU single runs "
        "differ and the distributions agree within their intervals.",
        "",
    ]
    if args.quick:
        lines += [
            f"**Quick run**: tiny budgets (one epoch on the first {QUICK['train_limit']:,} "
            f"training and {QUICK['test_limit']:,} test images, {args.mnist_runs} MNIST "
            f"and {args.cifar_runs} CIFAR runs, {args.xor_seeds} XOR networks): a smoke "
            "check of the pipeline, not a reproduction.",
            "",
        ]
    if failures:
        lines += [
            "## Failed runs",
            "",
            f"This report is partial: {len(failures)} of the runs failed, so it was "
            "written beside the last complete report, which it does not replace.",
            "",
        ]
        lines += [f"- {failure}" for failure in failures] + [""]
    lines += [
        "## The tutorials' claims",
        "",
        "Every claim of the registry (`reproduction/evidence/claims.py`): the tutorial's words, "
        "where they are, what this run measured (n: runs), the verdict and the rule that gave it.",
        "",
        *claims_table(records, args.with_cnn),
        "",
    ]
    found = findings(records)
    if found:
        lines += ["## Findings beyond the claims", "", *found, ""]
    lines += [
        "## Where these numbers come from",
        "",
        f"- device: {first.get('device', 'n/a')}; platform: {first.get('platform', 'n/a')}",
        *provenance_lines(records),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "- data: " + ("; ".join(sources) or "n/a"),
        *(f"- data note (CIFAR-10): {note}" for note in notes),
        "- wall time (a run reused from the cache counts the time it took when it ran): "
        + ", ".join(f"{part} {secs:.0f} s" for part, secs in seconds.items())
        + f"; total {total_seconds:.0f} s",
        "- intervals: 95% (Wilson for shares); 10-90%: the central 80% of the runs",
        "- single runs can change from one CPU to another (rounding decides them); the "
        "distributions are what repeats",
        "",
    ]
    if "xor" in records:
        lines += [
            "## XOR (2017 blog): epoch at which accuracy first reaches 100%",
            "",
            "Each seed is one run of the tutorial's `model.fit(X, y, epochs=500)` from its "
            "own initial weights (full batch: no data order).",
            "",
            XOR_HEAD,
            *xor_rows(records["xor"]),
            "",
            csv_links(records["xor"], report_dir),
            "",
            figure_links(records["xor"], report_dir),
            "",
        ]
    if "mnist" in records:
        lines += [
            '## MNIST "five or not" perceptron (ml-class video): final validation accuracy',
            "",
            "The video gives no accuracy figure. Each run has its own initial weights; "
            "the runs of a study share its data orders ("
            + ", ".join(
                f"{r['metrics']['study'][a]['data_orders']} orders for "
                f"{r['metrics']['study'][a]['n']:,} runs"
                for r in records["mnist"]
                for a in ("sigmoid",)
                if a in r["metrics"]["study"]
            )
            + "), so the spread can be split between order and weights. Validation is the "
            "test set, as in the tutorial.",
            "",
            MNIST_HEAD,
            *(row for r in records["mnist"] for row in mnist_rows(r)),
            "",
            *(note for r in records["mnist"] for note in mnist_notes(r)),
            "",
            csv_links(records["mnist"], report_dir),
            "",
            figure_links(records["mnist"], report_dir),
            "",
        ]
    cifar = [r for part in ("cifar_dense", "cifar_cnn") for r in records.get(part, [])]
    if cifar:
        lines += [
            "## CIFAR-10 (Foster, ch. 2): the Dense network and the CNN",
            "",
            "Each run has its own initial weights and its own data order. The published "
            "values are the registry's (blog and book notebook for the Dense network; for "
            "the CNN, the notebook version whose block order the run used).",
            "",
            CIFAR_HEAD,
            *cifar_rows(cifar),
            "",
            csv_links(cifar, report_dir),
            "",
            figure_links(cifar, report_dir),
            "",
        ]
    return "\n".join(lines)


def partial(folder):
    return folder.with_name(folder.name + ".partial")


# ## Command line
def make_reproduce_parser():
    parser = argparse.ArgumentParser(
        prog="reproduce.py", description=__doc__.strip().splitlines()[0].removeprefix("Title: ")
    )
    parser.add_argument(
        "--data-dir",
        type=existing_folder,
        default=None,
        metavar="DIR",
        help="folder with the datasets, passed to the scripts",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument(
        "--with-cnn",
        action="store_true",
        help="also run the CNN follow-up (about 10 min a run on 2 CPU cores)",
    )
    sizes = {
        "xor_seeds": ("networks of each XOR study", 100_000),
        "mnist_runs": ("runs of the MNIST study on raw pixels (each activation)", 20_000),
        "mnist_normalized_runs": ("runs of the MNIST study on pixels / 255", 20_000),
        "cifar_runs": ("runs of the CIFAR-10 Dense study", 1000),
        "cnn_runs": ("runs of the CNN (--with-cnn)", 1000),
    }
    for key, (text, most) in sizes.items():
        parser.add_argument(
            "--" + key.replace("_", "-"),
            type=int_in_range(1, most),
            default=None,
            metavar="N",
            help=f"{text} (default {DEFAULTS[key]:,}; --quick {QUICK[key]:,})",
        )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny budgets (1 epoch on 5,000 training and 1,000 test images, "
        "few runs): a smoke check; writes quick/REPORT.md, quick/figures "
        "and quick/runs unless told otherwise",
    )
    parser.add_argument(
        "--allow-small-data",
        action="store_true",
        help="pass --allow-small-data to the scripts (small dataset copies)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        metavar="PATH",
        help="where the report goes (default REPORT.md; quick/REPORT.md)",
    )
    parser.add_argument(
        "--figures-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the figures go (default figures; quick/figures)",
    )
    parser.add_argument(
        "--records-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the runs' JSON records and per-run CSV tables go (default runs; quick/runs)",
    )
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="run everything again, not reusing the finished runs kept in "
        "RECORDS_DIR/cache (a rerun of the same command otherwise reuses "
        "them: keyed by script, arguments, code version and data "
        "checksums); each new run is kept there as it finishes",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    ray = parser.add_argument_group(
        'Ray (optional extra: pip install -e ".[cluster]"; see README, Scaling out: Ray)'
    )
    ray.add_argument(
        "--ray",
        nargs="?",
        const="local",
        default=None,
        metavar="ADDRESS",
        type=ray_address,
        help="run each planned run as a Ray task: --ray alone starts a local Ray "
        "instance with this machine's cores; 'auto' or an address (such as "
        "HEAD:6379) joins a running cluster",
    )
    ray.add_argument(
        "--ray-cpus-per-task",
        type=float_in_range(0, 1024),
        default=None,
        metavar="N",
        help="CPUs each task declares (default 2: a script sizes its "
        "threads to the node's cores, tuned on 2)",
    )
    ray.add_argument(
        "--ray-chunk-runs",
        type=int_in_range(1, 1_000_000),
        default=None,
        metavar="K",
        help="split each CIFAR-10 study (Dense and CNN) into tasks of at most K runs, "
        "spread over the cluster and merged into the study's record (default 2: a "
        "2-core node trains two Dense networks side by side); XOR and MNIST studies "
        "stay one task each",
    )
    ray.add_argument(
        "--ray-gpus-per-task",
        type=float_in_range(0, 64, low_inclusive=True),
        default=None,
        metavar="F",
        help="GPUs (or a fraction of one) each task declares (default 1 with --device gpu, else 0)",
    )
    return parser


def check_ray_flags(parser, args):
    """--ray's usage errors, before anything runs: Ray not installed (the extra named), a
    --ray-* option without --ray. Fills in the per-task resources' defaults."""
    if args.ray is None:
        for flag in ("ray_cpus_per_task", "ray_gpus_per_task", "ray_chunk_runs"):
            if getattr(args, flag) is not None:
                parser.error(f"--{flag.replace('_', '-')} needs --ray")
        return
    from reproduction.orchestration.ray_cluster import (  # Ray only when --ray is given
        ClusterError,
        import_ray,
    )

    try:
        import_ray()
    except ClusterError as error:
        parser.error(str(error))
    if args.ray_cpus_per_task is None:
        args.ray_cpus_per_task = 2.0
    if args.ray_gpus_per_task is None:
        args.ray_gpus_per_task = 1.0 if args.device == "gpu" else 0.0
    if args.ray_chunk_runs is None:
        args.ray_chunk_runs = 2


def main(argv=None):
    parser = make_reproduce_parser()
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else DEFAULTS
    for key in BUDGETS:
        if getattr(args, key) is None:
            setattr(args, key, budget[key])
    out = ROOT / "quick" if args.quick else ROOT
    args.report = args.report or out / "REPORT.md"
    args.figures_dir = args.figures_dir or out / "figures"
    args.records_dir = args.records_dir or out / "runs"
    check_output_file(parser, "--report", args.report)
    check_output_dir(parser, "--figures-dir", args.figures_dir)
    check_output_dir(parser, "--records-dir", args.records_dir)
    check_ray_flags(parser, args)

    start = time.perf_counter()
    runs = plan(args)
    problems = prepare_datasets(runs, args)
    if problems:
        for problem in problems:
            print(f"{parser.prog}: error: {problem}", file=sys.stderr)
        return EXIT_USAGE
    if not args.quiet:
        print(f"datasets ready ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
    # Figures and records land in staging folders and move in with the report, so that an
    # interrupted run leaves the previous report, its figures and records as they were.
    for folder in (args.figures_dir.parent, args.records_dir.parent):
        folder.mkdir(parents=True, exist_ok=True)
    session = None
    if args.ray is not None:
        from reproduction.orchestration.ray_cluster import ClusterError, RaySession

        try:
            session = RaySession(
                args.ray, args.ray_cpus_per_task, args.ray_gpus_per_task, quiet=args.quiet
            )
        except ClusterError as error:
            print(f"{parser.prog}: error: {error}", file=sys.stderr)
            return EXIT_USAGE
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=args.figures_dir.parent))
    records_staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=args.records_dir.parent))
    try:
        cache, digests = RunCache(args.records_dir / "cache"), data_digests(runs, args.data_dir)
        if session is None:
            records, seconds, failures, reused = run_plan(
                runs, staging, records_staging, args.quiet, cache, digests, reuse=not args.fresh
            )
        else:
            records, seconds, failures, reused = run_plan_on_ray(
                runs,
                staging,
                records_staging,
                args.quiet,
                session,
                cache,
                digests,
                reuse=not args.fresh,
                runs_per_chunk=args.ray_chunk_runs,
            )
        total = time.perf_counter() - start
        # A failed run never replaces the last complete report: the partial one, its figures
        # and records go beside them (REPORT.partial.md, figures.partial/, runs.partial/).
        report_path, figures_dir, records_dir = (
            (args.report, args.figures_dir, args.records_dir)
            if not failures
            else (
                args.report.with_suffix(".partial.md"),
                partial(args.figures_dir),
                partial(args.records_dir),
            )
        )
        with interrupts_held():
            publish(records, staging, figures_dir.resolve(), records_staging, records_dir.resolve())
            report = build_report(records, seconds, failures, args, total, report_path.parent)
            write_text_atomic(report_path, report + "\n")
    finally:
        if session is not None:
            session.close()
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(records_staging, ignore_errors=True)
    print(
        f"report: {report_path} ({len(runs) - len(failures)}/{len(runs)} runs, {total:.0f} s"
        + (
            f"; {counted(reused, 'finished run')} reused from {args.records_dir / 'cache'}"
            if reused
            else ""
        )
        + ")"
        + (
            f"; {len(failures)} failed, so {args.report} and {args.figures_dir} are unchanged"
            if failures
            else ""
        )
    )
    return EXIT_FAILED if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
