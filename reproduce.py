"""
Title: Reproduce the three tutorials in one go and write the reproduction report
Description: Runs every tutorial as a seed study, its runs in one worker process of its script
    (the next tutorial's starts while this one trains): the XOR
    convergence study (10,000 seeds) for the tutorial's three networks and for binary
    cross-entropy, the MNIST perceptron (linear vs sigmoid, 1,000 runs on raw pixels, and pixels
    / 255 as the lever), the CIFAR-10 Dense network (10 runs) and, with --with-cnn, the
    chapter's CNN in both block orders. Each run's record and arrays are its results, kept in
    runs/ and in the run cache; every figure, per-run table, verdict and REPORT.md is drawn from
    them as each run finishes (--render redraws them from the cache without training anything).
Expected result: about 6-7 minutes on 2 CPU cores without the CNN (each CNN run adds about 10);
    `--quick` runs the same pipeline with tiny budgets in about a minute.

Usage: python reproduce.py --data-dir ../shared/datasets [--with-cnn] [--cifar-runs 30] [--quick]
"""

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from reproduction import ROOT
from reproduction.orchestration import plan_runner
from reproduction.orchestration.drawing import Drawing
from reproduction.orchestration.plan_data import data_digests, prepare_datasets
from reproduction.orchestration.plan_runner import Plan, PlannedRun
from reproduction.orchestration.ray_options import add_ray_flags, check_ray_flags
from reproduction.orchestration.report import build_report, studies_summary
from reproduction.orchestration.run_cache import RunCache
from reproduction.plumbing.atomic import interrupts_held, write_text_atomic
from reproduction.plumbing.cli import (
    check_output_dir,
    check_output_file,
    existing_folder,
    int_in_range,
)
from reproduction.plumbing.exits import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_main
from reproduction.plumbing.text import counted
from reproduction.settings.cifar10 import BLOCK_ORDERS, CIFAR10
from reproduction.settings.mnist import MNIST
from reproduction.settings.options import COMPILED
from reproduction.settings.xor import XOR, architecture
from reproduction.studies.placement import SUMMARY_NAME

# ## The plan's budgets: runs per study (the default plan and --quick's)
DEFAULTS = dict(
    xor_seeds=10_000, mnist_runs=1000, mnist_normalized_runs=200, cifar_runs=10, cnn_runs=1
)
QUICK = dict(
    xor_seeds=200, mnist_runs=20, mnist_normalized_runs=10, cifar_runs=2, cnn_runs=1
) | dict(epochs=1, train_limit=5000, test_limit=1000)
BUDGETS = {  # flag: (what it counts, most)
    "xor_seeds": ("networks of each XOR study", 100_000),
    "mnist_runs": ("runs of the MNIST study on raw pixels (each activation)", 20_000),
    "mnist_normalized_runs": ("runs of the MNIST study on pixels / 255", 20_000),
    "cifar_runs": ("runs of the CIFAR-10 Dense study", 1000),
    "cnn_runs": ("runs of the CNN in each block order (--with-cnn)", 1000),
}
XOR_VARIANTS = (
    ([16], "mean_squared_error"),
    ([16, 16], "mean_squared_error"),
    ([32], "mean_squared_error"),
    ([16], "binary_crossentropy"),
)


# ## The plan: which script runs with which settings (flags spelled by reproduction/settings)
def plan(args):
    """[PlannedRun]: the runs, in order. Every study trains with the compiled engine."""
    data = dict(device=args.device, data_dir=args.data_dir, allow_small_data=args.allow_small_data)
    small = (
        {key: QUICK[key] for key in ("epochs", "train_limit", "test_limit")} if args.quick else {}
    )
    runs = []

    def add(part, label, tutorial, argv):
        runs.append(PlannedRun(part, label, tutorial.script, argv))

    for hidden, loss in XOR_VARIANTS:
        name = architecture(hidden) + (", binary cross-entropy" if "cross" in loss else "")
        argv = XOR.argv(
            seeds=args.xor_seeds, engine=COMPILED, hidden=hidden, loss=loss, device=args.device
        )
        add("xor", f"XOR {name}, {counted(args.xor_seeds, 'seed')}", XOR, argv)
    for normalize, count in ((False, args.mnist_runs), (True, args.mnist_normalized_runs)):
        what = "pixels / 255" if normalize else "linear vs sigmoid"
        argv = MNIST.argv(
            compare=True, normalize=normalize, seeds=count, engine=COMPILED, **small, **data
        )
        add("mnist", f"MNIST perceptron, {what}, {counted(count, 'run')}", MNIST, argv)
    argv = CIFAR10.argv(seeds=args.cifar_runs, engine=COMPILED, **small, **data)
    add("cifar_dense", f"CIFAR-10 Dense, {counted(args.cifar_runs, 'run')}", CIFAR10, argv)
    for order in BLOCK_ORDERS if args.with_cnn else ():
        argv = CIFAR10.argv(
            model="cnn", block_order=order, seeds=args.cnn_runs, engine=COMPILED, **small, **data
        )
        blocks = BLOCK_ORDERS[order].split(" (")[0].removeprefix("Conv2D -> ")
        add("cifar_cnn", f"CIFAR-10 CNN, {blocks}, {counted(args.cnn_runs, 'run')}", CIFAR10, argv)
    return runs


# ## Command line
def make_reproduce_parser():
    parser = argparse.ArgumentParser(prog="reproduce.py", description=__doc__.split("\n")[1][7:])
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
    for key, (text, most) in BUDGETS.items():
        parser.add_argument(
            "--" + key.replace("_", "-"),
            type=int_in_range(1, most),
            metavar="N",
            help=f"{text} (default {DEFAULTS[key]:,}; --quick {QUICK[key]:,})",
        )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny budgets (1 epoch on 5,000 training and 1,000 test images, few "
        "runs): a smoke check; writes quick/REPORT.md, quick/figures and "
        "quick/runs unless told otherwise",
    )
    parser.add_argument(
        "--allow-small-data",
        action="store_true",
        help="pass --allow-small-data to the scripts (small dataset copies)",
    )
    for flag, what in (("--report", "PATH"), ("--figures-dir", "DIR"), ("--records-dir", "DIR")):
        parser.add_argument(flag, type=Path, metavar=what, help=OUTPUT_HELP[flag])
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="run everything again, not reusing the finished runs kept in "
        "RECORDS_DIR/cache (a rerun of the same command otherwise reuses them: "
        "keyed by script, arguments, the code that computes a run and the data "
        "files' sha256); each new run is kept there as it finishes",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="train nothing: redraw the report, its figures and the per-run "
        "tables from the runs kept in the cache (a run missing there is a "
        "failure, exit 1)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    add_ray_flags(parser)
    return parser


OUTPUT_HELP = {
    "--report": "where the report goes (default REPORT.md; quick/REPORT.md)",
    "--figures-dir": "where the figures go (default figures; quick/figures)",
    "--records-dir": "where the runs' records, arrays and per-run CSV tables go (default runs; "
    "quick/runs)",
}


def check_args(parser, args):
    """Budgets and output paths resolved, and checked (usage errors exit 2) with --ray's."""
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


def main(argv=None):
    parser = make_reproduce_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    start, runs = time.perf_counter(), plan(args)
    problems = (
        []
        if args.render
        else prepare_datasets(
            runs, args.data_dir, allow_small_data=args.allow_small_data, quiet=args.quiet
        )
    )
    for problem in problems:
        print(f"{parser.prog}: error: {problem}", file=sys.stderr)
    if problems:
        return EXIT_USAGE
    if not args.quiet and not args.render:
        print(f"datasets ready ({time.perf_counter() - start:.0f} s)", file=sys.stderr)
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
    # Records, figures and the report land in staging folders and move in together, so that an
    # interrupted or failed run leaves the previous report, its figures and records as they were.
    staging = [
        Path(tempfile.mkdtemp(prefix=".staging-", dir=mkdir(folder.parent)))
        for folder in (args.figures_dir, args.records_dir, args.records_dir)
    ]
    try:
        cache = RunCache(args.records_dir / "cache")
        digests = data_digests(runs, args.data_dir)
        work = Plan(runs, staging[2], cache, digests, not args.fresh, args.quiet, start)
        with Drawing(staging[0], staging[1]) as drawing:
            if session is None:
                work.drawing = drawing
                finished, failures = plan_runner.run_sequentially(work, only_cached=args.render)
            else:
                from reproduction.orchestration.ray_plan import run_on_ray

                finished, failures = run_on_ray(work, session, args.ray_chunk_runs)
            outputs = plan_runner.Outputs(args.report, args.figures_dir, args.records_dir, failures)
            records = plan_runner.render_runs(finished, outputs, drawing)
        total = time.perf_counter() - start
        report = build_report(
            records,
            plan_runner.seconds_by_part(finished),
            failures,
            total,
            outputs.report.parent,
            quick=QUICK | vars(args) if args.quick else None,
            with_cnn=args.with_cnn,
            command=shlex.join(
                ["python", "reproduce.py", *(sys.argv[1:] if argv is None else argv)]
            ),
        )
        with interrupts_held():
            outputs.publish(staging[0], staging[1])
            write_text_atomic(outputs.report, report + "\n")
            if not failures:  # what a plain script run places itself in (studies/placement.py)
                summary = studies_summary(records, outputs.report)
                write_text_atomic(outputs.report.with_name(SUMMARY_NAME), summary + "\n")
    finally:
        if session is not None:
            session.close()
        for folder in staging:
            shutil.rmtree(folder, ignore_errors=True)
    reused = sum(run.reused for run in finished)
    print(
        f"report: {outputs.report} ({len(runs) - len(failures)}/{len(runs)} runs, {total:.0f} s"
        + (f"; {counted(reused, 'finished run')} reused from {cache.folder}" if reused else "")
        + ")"
        + (
            f"; {len(failures)} failed, so {args.report} and {args.figures_dir} are unchanged"
            if failures
            else ""
        )
    )
    return EXIT_FAILED if failures else EXIT_OK


def mkdir(folder):
    folder.mkdir(parents=True, exist_ok=True)
    return folder


if __name__ == "__main__":
    sys.exit(run_main(main))
