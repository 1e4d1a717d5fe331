"""
Benchmark: the XOR convergence study, tutorial spelling vs the compiled engine, in one run.

Tutorial spelling (--engine fit): one `model.fit(X, y, epochs=500)` per seed
(xor_mlp.build_model, verbose=0). Compiled engine (--engine compiled): all seeds as XLA-compiled
chunks of networks (engines/xor_networks.py), with xor_mlp.py's thread plan. Only training is timed:
not the compiled engine's one-time tracing and XLA compilation (building each Keras model, ~1%
of a fit, is in). The compiled run is repeated and reported as median and range. The tutorial's
time for all seeds is extrapolated from the fits actually run, each of which must match its
compiled network.

Target (issue "Every tutorial as a seed study"): 10,000 seeds x 500 epochs of the 2-16-1
network in at most 1 s of training.

Usage: python bench/xor_bench.py [--seeds 10000] [--epochs 500] [--tutorial-fits 2]
Exit code: 0 when the target is met (or another size was asked for), 1 when it is missed or the
two spellings disagree, 2 for usage errors.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

import numpy as np

import xor_mlp
from reproduction.engines.glorot import glorot_uniform_stack
from reproduction.engines.runs import network
from reproduction.engines.xor_networks import train as train_stacked
from reproduction.plumbing.cli import check_output_file, config_of, int_in_range
from reproduction.plumbing.device import select_device_or_exit
from reproduction.plumbing.exits import run_main
from reproduction.plumbing.records import build_run_record, write_run_record
from reproduction.plumbing.text import counted
from reproduction.plumbing.threads import setup_threads, workers_for
from reproduction.settings.xor import architecture, budget_problem

TARGET_SECONDS = 1.0
TARGET = dict(seeds=10_000, epochs=500, hidden=[16])


def make_bench_parser():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--seeds", type=int_in_range(1, 100_000), default=TARGET["seeds"])
    parser.add_argument("--epochs", type=int_in_range(1, 100_000), default=500)
    parser.add_argument("--hidden", type=int_in_range(1, 4096), nargs="+", default=[16])
    parser.add_argument(
        "--tutorial-fits",
        type=int_in_range(1, 1000),
        default=2,
        help="model.fit runs to time (about 20 s each at 500 epochs)",
    )
    parser.add_argument(
        "--repeats", type=int_in_range(1, 100), default=5, help="timed repeats of the compiled run"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--json", type=Path, default=None, metavar="PATH")
    return parser


def main(argv=None):
    parser = make_bench_parser()
    args = parser.parse_args(argv)
    check_output_file(parser, "--json", args.json)
    problem = budget_problem(args.hidden, args.seeds, args.epochs)
    if problem:
        parser.error(problem)
    device = select_device_or_exit(parser, args.device)
    threads = setup_threads("parallel_calls", True, device)
    workers = workers_for(threads)
    arch = architecture(args.hidden)
    initial = glorot_uniform_stack([2, *args.hidden, 1], range(args.seeds))
    print(
        f"XOR benchmark: {arch}, {counted(args.seeds, 'seed')} x "
        f"{counted(args.epochs, 'epoch')}, device {device}, "
        f"threads {threads.as_record()}"
    )

    fit_seconds, fit_histories = [], []
    for index in range(args.tutorial_fits):
        start = time.perf_counter()
        _, history = xor_mlp.fit_tutorial(
            network(initial, index % args.seeds),
            hidden=args.hidden,
            loss="mean_squared_error",
            learning_rate=1e-3,
            epochs=args.epochs,
        )
        fit_seconds.append(time.perf_counter() - start)
        fit_histories.append(history)
        print(f"  tutorial spelling, model.fit #{index + 1}: {fit_seconds[-1]:.2f} s")

    runs = []
    for repeat in range(args.repeats):
        runs.append(
            train_stacked(xor_mlp.X, xor_mlp.Y, initial, epochs=args.epochs, workers=workers)
        )
        print(
            f"  compiled, repeat {repeat + 1}: {runs[-1].train_seconds:.3f} s "
            f"(warm-up/compile {runs[-1].compile_seconds:.2f} s; {runs[-1].extra['workers']} x "
            f"{runs[-1].extra['chunk_size']} networks at a time)"
        )
    compiled = [run.train_seconds for run in runs]

    # The two spellings must be computing the same thing.
    for index, history in enumerate(fit_histories):
        same_acc = np.array_equal(
            np.array(history["binary_accuracy"], "float32"), runs[0].accuracy[index % args.seeds]
        )
        loss_gap = np.abs(np.array(history["loss"]) - runs[0].loss[index % args.seeds]).max()
        if not same_acc or loss_gap > 1e-3:
            print(
                f"MISMATCH: fit #{index + 1} vs compiled network: accuracy equal {same_acc}, "
                f"max loss gap {loss_gap:.2e}",
                file=sys.stderr,
            )
            return 1

    per_fit = statistics.mean(fit_seconds)
    median = statistics.median(compiled)
    tutorial_total = per_fit * args.seeds
    ratio = tutorial_total / median
    print()
    print(
        f"tutorial spelling: {per_fit:.2f} s per network (mean of {len(fit_seconds)} fits, "
        f"range {min(fit_seconds):.2f}-{max(fit_seconds):.2f}); "
        f"{args.seeds} networks ~ {tutorial_total:,.0f} s (extrapolated)"
    )
    print(
        f"compiled engine:   {median:.3f} s for {args.seeds} networks (median of "
        f"{len(compiled)}, range {min(compiled):.3f}-{max(compiled):.3f}); "
        f"{1e6 * median / args.seeds:.1f} us per network"
    )
    print(f"ratio (same work): {ratio:,.0f}x faster")
    met = median <= TARGET_SECONDS
    judged = (args.seeds, args.epochs, args.hidden) == tuple(TARGET.values())
    if judged:
        print(
            f"target: {TARGET['seeds']:,} seeds x {TARGET['epochs']} epochs in <= "
            f"{TARGET_SECONDS:.1f} s: {'met' if met else 'NOT met'}"
        )
    if args.json is not None:
        write_run_record(
            args.json,
            build_run_record(
                script="bench/xor_bench.py",
                argv=argv,
                config=config_of(args),
                device=device,
                timings={
                    "fit_seconds": fit_seconds,
                    "compiled_seconds": compiled,
                    "compile_seconds": [run.compile_seconds for run in runs],
                },
                metrics={
                    "ratio": ratio,
                    "per_fit_s": per_fit,
                    "compiled_median_s": median,
                    "target_met": met if judged else None,
                    "threads": threads.as_record(),
                    "chunk_size": runs[0].chunk_size,
                    "workers": runs[0].workers,
                },
            ),
        )
    return 1 if judged and not met else 0


if __name__ == "__main__":
    sys.exit(run_main(main))
