"""
Benchmark: the MNIST perceptron, the tutorial's model.fit spelling vs the compiled engine.

For each seed this runs `mnist_perceptron.py --engine fit` (the tutorial's code: model.fit on
the arrays, the test set as validation data) and `mnist_perceptron.py` (the compiled engine) as
separate processes, alternating which goes first, and reads their JSON run records: training
time (the epochs only: the per-epoch validation is left out on both sides), and the final
validation accuracy. Same epochs, batch size and optimizer on both sides. The sigmoid neuron is
the default (its accuracy is stable enough to compare); `--activation linear` times the
tutorial's first model, whose accuracy swings from epoch to epoch.

Targets (issue 4): at least 10x faster, and the sigmoid neuron's mean validation accuracy over
3 seeds within 0.5 point of the tutorial spelling's.

Usage: python bench/mnist_bench.py --data-dir ../shared/datasets [--seeds 3] [--epochs 10]
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
TARGETS = {"speedup": 10.0, "accuracy_points": 0.5}


def make_bench_parser():
    parser = bench_parser(__doc__.strip().splitlines()[0])
    parser.add_argument("--activation", choices=("sigmoid", "linear"), default="sigmoid")
    return parser


def main(argv=None):
    parser = make_bench_parser()
    args = parser.parse_args(argv)
    check_output_file(parser, "--json", args.json)
    print(f"MNIST perceptron benchmark ({args.activation} neuron): {args.seeds} seeds x "
          f"{args.epochs} epochs, batch 32, tutorial model.fit spelling vs compiled engine "
          "(separate processes)", flush=True)
    results = {engine: [] for engine in ENGINES}
    with tempfile.TemporaryDirectory() as workdir:
        for seed in range(args.seeds):
            for engine in ENGINES if seed % 2 == 0 else ENGINES[::-1]:
                script_argv = ["--engine", engine, "--activation", args.activation, "--seed",
                               str(seed), "--epochs", str(args.epochs), "--device", args.device]
                if args.data_dir is not None:
                    script_argv += ["--data-dir", str(args.data_dir)]
                record = run_script("mnist_perceptron.py", script_argv, workdir,
                                    f"{engine}_{seed}")
                run = record["metrics"]["runs"][args.activation]
                row = {"seed": seed,
                       "train_seconds": record["timings_s"]["training"][args.activation],
                       "val_accuracy": run["val_accuracy"][-1],
                       "peak_rss_mb": record["peak_rss_mb"], "device": record["device"]}
                results[engine].append(row)
                print(f"  seed {seed} {engine:8s}: training {row['train_seconds']:6.2f} s, "
                      f"validation accuracy {100 * row['val_accuracy']:.2f}%", flush=True)

    print_summary(results, [("train_seconds", "training s", 1, 2),
                            ("val_accuracy", "val accuracy %", 100, 2),
                            ("peak_rss_mb", "peak MB", 1, 0)])
    fit_time = mean_and_spread(row["train_seconds"] for row in results["fit"])[0]
    compiled_time = mean_and_spread(row["train_seconds"] for row in results["compiled"])[0]
    speedup = fit_time / compiled_time
    gap = 100 * (mean_and_spread(row["val_accuracy"] for row in results["compiled"])[0]
                 - mean_and_spread(row["val_accuracy"] for row in results["fit"])[0])
    checks = {"speedup": speedup >= TARGETS["speedup"],
              "accuracy_points": abs(gap) <= TARGETS["accuracy_points"]}
    print(f"\n  training time: fit / compiled = {speedup:.1f}x (target >= "
          f"{TARGETS['speedup']:g}x) {'met' if checks['speedup'] else 'MISSED'}")
    print(f"  validation accuracy: compiled - fit = {gap:+.2f} points over {args.seeds} seeds "
          f"(target within {TARGETS['accuracy_points']}) "
          f"{'met' if checks['accuracy_points'] else 'MISSED'}")
    if args.json is not None:
        write_run_record(args.json, build_run_record(
            script="bench/mnist_bench.py", argv=argv,
            config={"seeds": args.seeds, "epochs": args.epochs, "activation": args.activation,
                    "device": args.device},
            device=results["compiled"][0]["device"], timings={},
            metrics={"runs": results, "speedup": speedup, "accuracy_gap_points": gap,
                     "targets": TARGETS, "met": checks}))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(run_main(main))
