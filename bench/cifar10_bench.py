"""
Benchmark: CIFAR-10 Dense, the tutorial's model.fit spelling vs the compiled engine, in one run.

For each seed this runs `cifar10_dense.py --engine fit` (the tutorial's code: float32 copies
scaled by 1/255, one-hot labels, model.fit) and `cifar10_dense.py` (the compiled engine) as
separate processes, so that each one's peak resident memory is its own, alternating which goes
first so that a busy spell on a shared machine does not favour one side. It reads their JSON run
records: training time (the epochs only, as each process measured it), peak memory of the whole
process, test accuracy. Same batch size, optimizer settings and epochs on both sides.

Targets (issue 3): compiled training time at most 1/4 of the tutorial's, its peak memory at most
1.2 GB, and its mean test accuracy over the seeds within 1 point of the tutorial's.

Usage: python bench/cifar10_bench.py --data-dir ../shared/datasets [--seeds 3] [--epochs 10]
Exit code: 0 when every target is met, 1 when one is missed, 2 for usage errors.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from common.cli import check_output_file  # noqa: E402
from common.exits import run_main  # noqa: E402
from common.records import build_run_record, write_run_record  # noqa: E402
from common.script_runs import (  # noqa: E402
    bench_parser,
    mean_and_spread,
    print_summary,
    run_script,
)

ENGINES = ("fit", "compiled")
TARGETS = {"time_ratio": 0.25, "peak_rss_mb": 1200.0, "accuracy_points": 1.0}


def make_bench_parser():
    return bench_parser(__doc__.strip().splitlines()[0])


def main(argv=None):
    parser = make_bench_parser()
    args = parser.parse_args(argv)
    check_output_file(parser, "--json", args.json)
    print(f"CIFAR-10 Dense benchmark: {args.seeds} seeds x {args.epochs} epochs, batch 32, "
          "tutorial model.fit spelling vs compiled engine (separate processes)", flush=True)
    results = {engine: [] for engine in ENGINES}
    with tempfile.TemporaryDirectory() as workdir:
        for seed in range(args.seeds):
            order = ENGINES if seed % 2 == 0 else ENGINES[::-1]
            for engine in order:
                argv = ["--engine", engine, "--seed", str(seed), "--epochs", str(args.epochs),
                        "--device", args.device]
                if args.data_dir is not None:
                    argv += ["--data-dir", str(args.data_dir)]
                record = run_script("cifar10_dense.py", argv, workdir, f"{engine}_{seed}")
                row = {"seed": seed, "train_seconds": record["timings_s"]["training"],
                       "peak_rss_mb": record["peak_rss_mb"],
                       "test_accuracy": record["metrics"]["test_accuracy"],
                       "device": record["device"]}
                results[engine].append(row)
                print(f"  seed {seed} {engine:8s}: training {row['train_seconds']:6.1f} s, "
                      f"peak memory {row['peak_rss_mb']:6.0f} MB, test accuracy "
                      f"{100 * row['test_accuracy']:.2f}%", flush=True)

    stats = {engine: {key: mean_and_spread(row[key] for row in rows)
                      for key in ("train_seconds", "peak_rss_mb", "test_accuracy")}
             for engine, rows in results.items()}
    print_summary(results, [("train_seconds", "training s", 1, 1),
                            ("peak_rss_mb", "peak MB", 1, 0),
                            ("test_accuracy", "test accuracy %", 100, 2)])

    time_ratio = stats["compiled"]["train_seconds"][0] / stats["fit"]["train_seconds"][0]
    rss_ratio = stats["compiled"]["peak_rss_mb"][0] / stats["fit"]["peak_rss_mb"][0]
    worst_rss = max(row["peak_rss_mb"] for row in results["compiled"])
    accuracy_gap = 100 * (stats["compiled"]["test_accuracy"][0]
                          - stats["fit"]["test_accuracy"][0])
    checks = {
        "time_ratio": time_ratio <= TARGETS["time_ratio"],
        "peak_rss_mb": worst_rss <= TARGETS["peak_rss_mb"],
        "accuracy_points": abs(accuracy_gap) <= TARGETS["accuracy_points"],
    }
    print(f"\n  training time: compiled / fit = {time_ratio:.3f} ({1 / time_ratio:.1f}x faster; "
          f"target <= {TARGETS['time_ratio']}) {'met' if checks['time_ratio'] else 'MISSED'}")
    print(f"  peak memory: compiled / fit = {rss_ratio:.3f}; compiled at most {worst_rss:.0f} "
          f"MB (target <= {TARGETS['peak_rss_mb']:.0f} MB) "
          f"{'met' if checks['peak_rss_mb'] else 'MISSED'}")
    print(f"  test accuracy: compiled - fit = {accuracy_gap:+.2f} points over {args.seeds} seeds "
          f"(target within {TARGETS['accuracy_points']}) "
          f"{'met' if checks['accuracy_points'] else 'MISSED'}")
    if args.json is not None:
        write_run_record(args.json, build_run_record(
            script="bench/cifar10_bench.py", argv=argv,
            config={"seeds": args.seeds, "epochs": args.epochs, "device": args.device},
            device=results["compiled"][0]["device"], timings={},
            metrics={"runs": results, "time_ratio": time_ratio, "rss_ratio": rss_ratio,
                     "accuracy_gap_points": accuracy_gap, "targets": TARGETS,
                     "met": checks}))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
