"""What the benchmarks share: their flags, the order of their rounds, and the summaries of
what they measured.

The benchmarks run each side as its own process (orchestration/script_runs.py). They alternate
which spelling goes first, so that a busy spell on a shared machine does not favour one side,
and with --rounds R run both sides R times, each round starting with the side the previous one
ended with, and judge on the medians: on the shared machines here the same benchmark's time
moved by up to 1.6x within an hour (docs/performance.md, Speed targets).
"""

import argparse
import math
import statistics
from pathlib import Path

from reproduction.orchestration.script_runs import run_script
from reproduction.plumbing.cli import existing_folder, int_in_range
from reproduction.plumbing.records import arrays_path, read_arrays


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


def run_with_views(script, argv, workdir, label):
    """One side of a benchmark: run_script's record (a planned run's: its record and arrays
    alone) with the metrics of its views, drawn from them as a plan draws them (no figures; a
    study's per-run table as `workdir`/`label`.csv, in its metrics' "csv")."""
    from reproduction.studies.render import render  # (matplotlib: only once a side has run)

    record = run_script(script, argv, workdir, label)
    csv_path = Path(workdir) / f"{label}.csv" if record["config"]["seeds"] > 1 else None
    arrays = read_arrays(arrays_path(Path(workdir) / f"{label}.json"))
    return record | {"metrics": render(record, arrays, None, csv_path).metrics}
