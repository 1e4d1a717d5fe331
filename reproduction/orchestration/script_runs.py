"""Scripts run as their own processes (by the benchmarks and reproduce.py), JSON records read.

Each run is a separate process so that its peak resident memory is its own; the benchmarks
alternate which spelling goes first, so that a busy spell on a shared machine does not favour
one side, and with --rounds R run both sides R times, each round starting with the side the
previous one ended with, and judge on the medians: on the shared machines here the same
benchmark's time moved by up to 1.6x within an hour (README, Speed targets).
"""

import argparse
import contextlib
import ctypes
import ctypes.util
import json
import math
import signal
import statistics
import subprocess
import sys
from pathlib import Path

from reproduction import ROOT
from reproduction.plumbing.cli import existing_folder, int_in_range


def bench_parser(description):
    """The flags the image benchmarks share (data, epochs, device, --json); each adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--data-dir", type=existing_folder, default=None, metavar="DIR")
    parser.add_argument("--epochs", type=int_in_range(1, 1000), default=10)
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument(
        "--rounds",
        type=int_in_range(1, 20),
        default=1,
        metavar="R",
        help="run both sides R times (odd R: the median is one round's), alternating which "
        "goes first, and judge the time targets on the medians of the rounds (the machine's "
        "speed drifts; the accuracies are the first round's)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the benchmark's record (its settings, every round's timings, each side's "
        "results and the judged values) to PATH",
    )
    return parser


def round_order(sides, round_index):
    """The sides in the order round `round_index` runs them: every other round reversed, so that
    a steady drift of the machine's speed favours neither side."""
    return tuple(sides) if round_index % 2 == 0 else tuple(reversed(sides))


def rounds_of(count, sides):
    """Every run of `count` rounds of `sides` ((engine, runs) pairs), in the order they run:
    (engine, runs, label for run_script, ' (round k)' to print, or '' for a single round)."""
    for round_index in range(count):
        round_name = f" (round {round_index + 1})" if count > 1 else ""
        for engine, runs in round_order(sides, round_index):
            yield engine, runs, f"{engine}_{round_index}", round_name


def median_and_range(values):
    """(median, lowest, highest) of per-round measurements."""
    return statistics.median(values), min(values), max(values)


def rounds_text(values, unit_format):
    """'V' for one round; 'V (median of R rounds: LOW to HIGH)' for several; unit_format
    formats one value."""
    median, low, high = median_and_range(values)
    if len(values) == 1:
        return unit_format(median)
    return (
        f"{unit_format(median)} (median of {len(values)} rounds: {unit_format(low)} to "
        f"{unit_format(high)})"
    )


def run_script(script, argv, workdir, label, end_with_parent=False):
    """Run ROOT/script with `argv` plus what run_argv adds (its record and arrays in `workdir`
    as `label`.json and .npz); its record. SystemExit with the last error line if it fails.
    `end_with_parent` (Linux): the script is killed if this process dies first (a Ray worker
    killed mid-task must not leave its script running beside the retry)."""
    record_path = Path(workdir) / f"{label}.json"
    command = [
        sys.executable,
        str(ROOT / script),
        *run_argv(argv, record_path, Path(workdir) / "figures"),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent() if end_with_parent else None,
    )
    try:
        _, stderr = process.communicate()
    except KeyboardInterrupt:
        stop_child(process)
        raise
    if process.returncode != 0:
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"{script} ({label}) failed (exit {process.returncode}): {tail}")
    return json.loads(record_path.read_text())


def run_argv(argv, record_path, figures_dir):
    """The arguments run_script gives a script: `argv`, quiet, its record where asked, and no
    figures (they are drawn from the record afterwards: orchestration/plan_runner.py)."""
    return [
        *argv,
        "--quiet",
        "--json",
        str(record_path),
        "--figures-dir",
        str(figures_dir),
        "--no-figures",
    ]


def _die_with_parent():
    """A preexec_fn asking Linux to SIGKILL the child when its parent dies (prctl
    PR_SET_PDEATHSIG); None elsewhere. prctl is looked up here, before the fork, so that the
    child only calls it (no library loading between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG, linux/prctl.h
    return lambda: prctl(set_parent_death_signal, signal.SIGKILL)


def stop_child(process, grace_s=60):
    """After a Ctrl-C: let the child end as an interrupted run does (exit 130, nothing
    half-written). A terminal's Ctrl-C reaches it already; SIGINT is sent in case it was only
    this process that got one. Killed only if it has not ended after `grace_s` seconds."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still wait
    try:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    finally:
        signal.signal(signal.SIGINT, previous)


def mean_and_spread(values):
    """(mean, sample standard deviation; 0 for a single value) of the values that were measured
    (None and NaN left out); (NaN, NaN) when there are none."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return math.nan, math.nan
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def print_summary(results, columns):
    """results: {engine: [row dicts]}; columns: (key, heading, scale, decimals)."""
    print("\n  " + f"{'':10s}" + "".join(f"{heading:>20s}" for _, heading, _, _ in columns))
    for engine, rows in results.items():
        cells = []
        for key, _, scale, decimals in columns:
            mean, spread = mean_and_spread(scale * row[key] for row in rows)
            cells.append(f"{mean:12.{decimals}f} ± {spread:5.{decimals}f}")
        print(f"  {engine:10s}" + "".join(cells))
