"""
Benchmark: the MNIST perceptron seed study, the tutorial's model.fit spelling vs the study engine.

In one run, as separate processes: `mnist_perceptron.py --engine fit --seeds F` (the tutorial's
code, one model.fit per run, the test set as validation data) and `mnist_perceptron.py --seeds N`
(the compiled engine: the N runs stacked, reproduction/engines/neurons.py), both with the sigmoid
neuron on raw pixels, both reading their JSON records. Time is training only (the per-epoch
validation is left out on both sides, tracing too). The tutorial's cost of N runs is its
per-run time times N.

Speed target (issue "Every tutorial as a seed study"): 1,000 runs x 10 epochs in at most 60 s of
training, and at least 500x the tutorial's spelling. With --rounds R both sides run R times in
turn; the targets are judged on the median study time and the median of the rounds' ratios.
Distribution target (--fit-runs 30 or more): the raw sigmoid's death rate and the live runs'
median final accuracy of the two engines agree within their 95% intervals (Wilson for the rate,
the binomial order-statistic interval for the median). Single runs are not compared: whether a
given run dies is decided by rounding, so the engines agree in distribution, not run by run.

Usage: python bench/mnist_bench.py --data-dir ../shared/datasets [--runs 1000] [--fit-runs 2]
       python bench/mnist_bench.py --data-dir ../shared/datasets --rounds 3    (the medians of 3)
       python bench/mnist_bench.py --data-dir ../shared/datasets --fit-runs 30   (~15 minutes)
Exit code: 0 when every target is met, 1 when one is missed, 2 for usage errors.
"""

import csv
import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import numpy as np

from reproduction.evidence.statistics import Z_95, share, share_text
from reproduction.orchestration.benchmarks import (
    bench_parser,
    rounds_of,
    rounds_text,
    run_with_views,
)
from reproduction.plumbing.cli import check_output_file, int_in_range
from reproduction.plumbing.exits import run_main
from reproduction.plumbing.records import build_run_record, write_run_record
from reproduction.plumbing.text import counted

TARGETS = {"study_seconds_per_1000": 60.0, "speedup": 500.0}
MIN_FIT_RUNS_FOR_DISTRIBUTION = 30
MIN_STUDY_RUNS_FOR_DISTRIBUTION = 100


def make_bench_parser():
    parser = bench_parser(__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--runs", type=int_in_range(1, 20_000), default=1000, help="runs of the study engine"
    )
    parser.add_argument(
        "--fit-runs",
        type=int_in_range(1, 1000),
        default=2,
        help="runs of the tutorial's model.fit (about 30 s each); from "
        f"{MIN_FIT_RUNS_FOR_DISTRIBUTION} on, the distributions are compared",
    )
    return parser


def median_interval(values):
    """95% interval of the median of `values`: the binomial order-statistic interval."""
    values = np.sort(np.asarray(values, np.float64))
    n = len(values)
    if n == 0:
        return math.nan, math.nan, math.nan
    half_width = Z_95 * math.sqrt(n) / 2
    low = max(0, int(math.floor(n / 2 - half_width)))
    high = min(n - 1, int(math.ceil(n / 2 + half_width)))
    return float(np.median(values)), float(values[low]), float(values[high])


def engine_summary(record):
    """Death rate, live median with its interval and training time, from a study's record."""
    rows = list(csv.DictReader(open(record["metrics"]["csv"])))
    dead = np.array([row["dead"] == "1" for row in rows])
    final = np.array([float(row["final_val_accuracy"]) for row in rows])
    median, low, high = median_interval(final[~dead])
    return {
        "runs": len(rows),
        "dead": share(dead),
        "live_median": median,
        "live_median_low": low,
        "live_median_high": high,
        "train_seconds": record["timings_s"]["training"]["sigmoid"],
        "peak_rss_mb": record["peak_rss_mb"],
        "device": record["device"],
    }


def overlap(low_a, high_a, low_b, high_b):
    return max(low_a, low_b) <= min(high_a, high_b)


def main(argv=None):
    parser = make_bench_parser()
    args = parser.parse_args(argv)
    check_output_file(parser, "--json", args.json)
    distribution = args.fit_runs >= MIN_FIT_RUNS_FOR_DISTRIBUTION
    if distribution and args.runs < MIN_STUDY_RUNS_FOR_DISTRIBUTION:
        parser.error(f"comparing distributions needs --runs >= {MIN_STUDY_RUNS_FOR_DISTRIBUTION}")
    if distribution and args.rounds > 1:
        parser.error("--rounds is for the speed runs: the distribution mode takes one round")
    print(
        "MNIST perceptron benchmark (sigmoid neuron, raw pixels, "
        f"{counted(args.epochs, 'epoch')}): "
        f"{counted(args.fit_runs, 'model.fit run')} vs a {args.runs}-run study, separate processes",
        flush=True,
    )
    common = ["--activation", "sigmoid", "--epochs", str(args.epochs), "--device", args.device]
    if args.data_dir is not None:
        common += ["--data-dir", str(args.data_dir)]
    rounds = {"fit": [], "compiled": []}
    with tempfile.TemporaryDirectory() as workdir:
        sides = (("fit", args.fit_runs), ("compiled", args.runs))
        for engine, runs, label, round_name in rounds_of(args.rounds, sides):
            record = run_with_views(
                "mnist_perceptron.py",
                ["--engine", engine, "--seeds", str(runs), *common],
                workdir,
                label,
            )
            if runs == 1:  # a single run writes no CSV: read its one row from the record
                run = record["metrics"]["runs"]["sigmoid"]
                record["metrics"]["csv"] = str(Path(workdir) / f"{label}_one.csv")
                Path(record["metrics"]["csv"]).write_text(
                    f"dead,final_val_accuracy\n{int(run['dead'])},{run['val_accuracy'][-1]!r}\n"
                )
            rounds[engine].append(summary := engine_summary(record))
            print(
                f"  {engine:8s}: {counted(runs, 'run')}{round_name}, training "
                f"{summary['train_seconds']:.1f} s "
                f"({summary['train_seconds'] / runs:.3f} s a run), peak "
                f"{summary['peak_rss_mb']:.0f} MB; dead {share_text(summary['dead'])}; live "
                f"median {100 * summary['live_median']:.2f}% (95% CI "
                f"{100 * summary['live_median_low']:.2f}-"
                f"{100 * summary['live_median_high']:.2f}%)",
                flush=True,
            )

    # Every round repeats the same seeds: the accuracies are the first round's.
    results = {engine: summaries[0] for engine, summaries in rounds.items()}
    fit, study = results["fit"], results["compiled"]
    fit_per_run = [row["train_seconds"] / row["runs"] for row in rounds["fit"]]
    study_seconds = [row["train_seconds"] for row in rounds["compiled"]]
    speedups = [
        per_run * study["runs"] / seconds
        for per_run, seconds in zip(fit_per_run, study_seconds, strict=True)
    ]
    speedup = statistics.median(speedups)
    median_fit, median_study = statistics.median(fit_per_run), statistics.median(study_seconds)
    per_1000 = median_study * 1000 / study["runs"]
    checks = {
        "speedup": speedup >= TARGETS["speedup"],
        "study_seconds_per_1000": per_1000 <= TARGETS["study_seconds_per_1000"],
    }
    print(
        f"\n  tutorial spelling: {rounds_text(fit_per_run, lambda v: f'{v:.1f} s')} a run -> "
        f"{study['runs']} runs ~ {median_fit * study['runs']:,.0f} s (extrapolated)"
    )
    print(
        f"  study engine: {rounds_text(study_seconds, lambda v: f'{v:.1f} s')} for "
        f"{study['runs']} runs ({per_1000:.1f} s per 1,000; target <= "
        f"{TARGETS['study_seconds_per_1000']:g} s) "
        f"{'met' if checks['study_seconds_per_1000'] else 'MISSED'}"
    )
    own = ", each round's own" if args.rounds > 1 else ""
    print(
        f"  ratio (same work{own}): {rounds_text(speedups, lambda v: f'{v:,.0f}x')} "
        f"(target >= {TARGETS['speedup']:g}x) {'met' if checks['speedup'] else 'MISSED'}"
    )
    if distribution:
        checks["dead_rate_agrees"] = overlap(
            fit["dead"]["low"], fit["dead"]["high"], study["dead"]["low"], study["dead"]["high"]
        )
        checks["live_median_agrees"] = overlap(
            fit["live_median_low"],
            fit["live_median_high"],
            study["live_median_low"],
            study["live_median_high"],
        )
        print(
            f"  death rate: fit {share_text(fit['dead'])} vs study "
            f"{share_text(study['dead'])}: intervals "
            f"{'overlap (agree)' if checks['dead_rate_agrees'] else 'DISAGREE'}"
        )
        agree = "overlap (agree)" if checks["live_median_agrees"] else "DISAGREE"
        print(f"  live runs' median final accuracy: intervals {agree}")
    else:
        print(
            f"  (distributions not compared: that needs --fit-runs >= "
            f"{MIN_FIT_RUNS_FOR_DISTRIBUTION})"
        )
    if args.json is not None:
        write_run_record(
            args.json,
            build_run_record(
                script="bench/mnist_bench.py",
                argv=argv,
                config={
                    "runs": args.runs,
                    "fit_runs": args.fit_runs,
                    "rounds": args.rounds,
                    "epochs": args.epochs,
                    "device": args.device,
                },
                device=study["device"],
                # the judged values (medians of the rounds), then every round's
                timings={
                    "fit_per_run": median_fit,
                    "study": median_study,
                    "fit_per_run_by_round": fit_per_run,
                    "study_by_round": study_seconds,
                },
                metrics={
                    "engines": results,  # the first round (its accuracies are every round's)
                    "engines_by_round": rounds,
                    "speedup": speedup,
                    "speedup_by_round": speedups,
                    "targets": TARGETS,
                    "met": checks,
                },
            ),
        )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
