"""
Benchmark: CIFAR-10 Dense, the tutorial's model.fit spelling vs the compiled study engine.

Runs `cifar10_dense.py --engine fit --seeds F` (the tutorial's code, model.fit once per run) and
`cifar10_dense.py --seeds S` (the compiled engine's seed study) as separate processes, so that
each one's peak resident memory is its own, and reads their JSON run records: training time
(the epochs only, as each process measured it; the study's graph tracing is reported apart),
peak memory of the whole process, and every run's test accuracy. Same seeds (0, 1, ...), batch
size, optimizer settings and epochs on both sides; each run has its own initial weights and
data order.

Targets (issue "Every tutorial as a seed study"): 10 compiled runs in at most 3 minutes of
training and 30 in at most 8 (the limit is interpolated for other counts: 18 s a run up to 10
runs, 16 s a run from 30, linear in between), peak memory at most 1.5 GB; compiled time per run
at most a quarter of model.fit's; with --rounds R both sides run R times in turn and the time
targets are judged on the median study time and the median of the rounds' ratios (memory on the
highest peak). Distribution mode (--fit-runs >= 10, one round): the mean test accuracy of the
two sides must agree, i.e. their 95% intervals (mean ± t * sd / sqrt(n)) overlap.

Usage: python bench/cifar10_bench.py --data-dir ../shared/datasets [--fit-runs 1] [--study-runs 10]
       python bench/cifar10_bench.py --data-dir ../shared/datasets --fit-runs 10 --study-runs 30
Exit code: 0 when every target is met, 1 when one is missed, 2 for usage errors.
"""

import math
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

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

TARGETS = {
    "seconds_per_run_10": 18.0,
    "seconds_per_run_30": 16.0,
    "peak_rss_mb": 1500.0,
    "time_ratio": 0.25,
    "distribution_min_fit_runs": 10,
}
T_95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    25: 2.060,
    30: 2.042,
    40: 2.021,
    60: 2.000,
    120: 1.980,
}


def t_quantile(degrees):
    """Two-sided 95% Student t quantile (table, the next smaller tabulated degrees: wider)."""
    if degrees < 1:
        return math.nan
    return T_95[max(d for d in T_95 if d <= degrees)] if degrees <= 120 else 1.960


def mean_interval(values):
    """(mean, sd, low, high): the mean's 95% t interval."""
    n = len(values)
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if n > 1 else math.nan
    half = t_quantile(n - 1) * sd / math.sqrt(n) if n > 1 else math.nan
    return mean, sd, mean - half, mean + half


def time_limit(runs):
    """Training-time target for `runs` compiled runs, seconds."""
    low, high = TARGETS["seconds_per_run_10"], TARGETS["seconds_per_run_30"]
    share = min(1.0, max(0.0, (runs - 10) / 20))
    return runs * (low + share * (high - low))


def make_bench_parser():
    parser = bench_parser(__doc__.strip().splitlines()[0])
    parser.add_argument(
        "--fit-runs",
        type=int_in_range(1, 1000),
        default=1,
        metavar="N",
        help="runs of the tutorial's model.fit (about 90 s each here); >= 10 "
        "also compares the two accuracy distributions",
    )
    parser.add_argument(
        "--study-runs",
        type=int_in_range(1, 10_000),
        default=10,
        metavar="N",
        help="runs of the compiled engine's seed study",
    )
    return parser


def side(record):
    runs = record["metrics"].get("runs") or [
        {
            "test_accuracy": record["metrics"]["test_accuracy"],
            "train_seconds": record["timings_s"]["training"],
        }
    ]
    return {
        "runs": len(runs),
        "train_seconds": record["timings_s"]["training"],
        "compile_seconds": record["timings_s"].get("compile", 0.0),
        "train_cpu_seconds": record["timings_s"].get("training_cpu"),
        "per_run_seconds": record["timings_s"]["training"] / len(runs),
        "peak_rss_mb": record["peak_rss_mb"],
        "test_accuracy": [row["test_accuracy"] for row in runs],
        "run_seconds": [row["train_seconds"] for row in runs],
        "device": record["device"],
    }


def main(argv=None):
    parser = make_bench_parser()
    args = parser.parse_args(argv)
    check_output_file(parser, "--json", args.json)
    distribution = args.fit_runs >= TARGETS["distribution_min_fit_runs"] and args.study_runs > 1
    if distribution and args.rounds > 1:
        parser.error("--rounds is for the speed runs: the distribution mode takes one round")
    print(
        f"CIFAR-10 Dense benchmark: {counted(args.fit_runs, 'model.fit run')} vs a "
        f"{args.study_runs}-run "
        f"compiled study, {counted(args.epochs, 'epoch')}, batch 32 (separate processes)",
        flush=True,
    )
    common = ["--epochs", str(args.epochs), "--device", args.device]
    if args.data_dir is not None:
        common += ["--data-dir", str(args.data_dir)]
    rounds = {"compiled": [], "fit": []}
    with tempfile.TemporaryDirectory() as workdir:
        sides = (("compiled", args.study_runs), ("fit", args.fit_runs))
        for engine, runs, label, round_name in rounds_of(args.rounds, sides):
            record = run_with_views(
                "cifar10_dense.py",
                ["--engine", engine, "--seeds", str(runs), *common],
                workdir,
                label,
            )
            rounds[engine].append(row := side(record))
            print(
                f"  {engine:8s}: {counted(row['runs'], 'run')}{round_name}, "
                f"training {row['train_seconds']:.1f} s "
                f"({row['per_run_seconds']:.1f} s a run; tracing "
                f"{row['compile_seconds']:.1f} s apart), peak memory "
                f"{row['peak_rss_mb']:.0f} MB"
                + (
                    f"; CPU time {row['train_cpu_seconds']:.1f} s (on 2 idle cores: wall "
                    "about half of it)"
                    if row["train_cpu_seconds"]
                    else ""
                ),
                flush=True,
            )
            print("            per run: " + ", ".join(f"{s:.1f} s" for s in row["run_seconds"]))

    # Every round repeats the same seeds: the accuracies are the first round's.
    results = {engine: sides[0] for engine, sides in rounds.items()}
    compiled = results["compiled"]
    ratios = [
        study["per_run_seconds"] / tutorial["per_run_seconds"]
        for study, tutorial in zip(rounds["compiled"], rounds["fit"], strict=True)
    ]
    study_seconds = [row["train_seconds"] for row in rounds["compiled"]]
    peak_mb = max(row["peak_rss_mb"] for row in rounds["compiled"])
    ratio, median_study = statistics.median(ratios), statistics.median(study_seconds)
    limit = time_limit(compiled["runs"])
    checks = {
        "time_ratio": ratio <= TARGETS["time_ratio"],
        "study_seconds": median_study <= limit,
        "peak_rss_mb": peak_mb <= TARGETS["peak_rss_mb"],
    }
    print(
        f"\n  time per run: compiled / fit = {rounds_text(ratios, lambda v: f'{v:.3f}')} "
        f"({1 / ratio:.1f}x faster; target <= {TARGETS['time_ratio']}) "
        f"{'met' if checks['time_ratio'] else 'MISSED'}"
    )
    print(
        f"  study training: {rounds_text(study_seconds, lambda v: f'{v:.1f} s')} for "
        f"{compiled['runs']} runs (target <= {limit:.0f} s) "
        f"{'met' if checks['study_seconds'] else 'MISSED'}"
    )
    print(
        f"  peak memory: compiled {peak_mb:.0f} MB, fit "
        f"{max(row['peak_rss_mb'] for row in rounds['fit']):.0f} MB"
        f"{' (the highest of the rounds)' if args.rounds > 1 else ''} "
        f"(target <= {TARGETS['peak_rss_mb']:.0f} MB) "
        f"{'met' if checks['peak_rss_mb'] else 'MISSED'}"
    )
    intervals = {engine: mean_interval(results[engine]["test_accuracy"]) for engine in results}
    for engine, (mean, sd, low, high) in intervals.items():
        print(
            f"  test accuracy, {engine:8s}: mean {100 * mean:.2f}%"
            + (
                f" ± {100 * sd:.2f} sd, 95% interval of the mean {100 * low:.2f}-"
                f"{100 * high:.2f}% (n = {results[engine]['runs']})"
                if results[engine]["runs"] > 1
                else " (one run)"
            )
        )
    if distribution:
        (_, _, fit_low, fit_high), (_, _, low, high) = intervals["fit"], intervals["compiled"]
        checks["accuracy_intervals_overlap"] = low <= fit_high and fit_low <= high
        gap = 100 * (intervals["compiled"][0] - intervals["fit"][0])
        print(
            f"  mean test accuracy: compiled - fit = {gap:+.2f} points; the 95% intervals "
            f"{'overlap' if checks['accuracy_intervals_overlap'] else 'do NOT overlap'}: "
            f"{'met' if checks['accuracy_intervals_overlap'] else 'MISSED'}"
        )
    else:
        print(
            f"  accuracy distributions not compared: needs --fit-runs >= "
            f"{TARGETS['distribution_min_fit_runs']} (distribution mode)"
        )
    if args.json is not None:
        write_run_record(
            args.json,
            build_run_record(
                script="bench/cifar10_bench.py",
                argv=argv,
                config={
                    "fit_runs": args.fit_runs,
                    "study_runs": args.study_runs,
                    "rounds": args.rounds,
                    "epochs": args.epochs,
                    "device": args.device,
                },
                device=compiled["device"],
                timings={},
                metrics={
                    "sides": results,  # the first round (its accuracies are every round's)
                    "sides_by_round": rounds,
                    # the judged values: medians of the rounds, the highest peak
                    "time_ratio": ratio,
                    "study_seconds": median_study,
                    "peak_rss_mb": peak_mb,
                    "time_ratio_by_round": ratios,
                    "study_seconds_by_round": study_seconds,
                    "study_time_limit_s": limit,
                    "accuracy_intervals": intervals,
                    "targets": TARGETS,
                    "met": checks,
                },
            ),
        )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
