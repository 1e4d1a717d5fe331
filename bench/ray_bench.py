"""
Benchmark: a CIFAR-10 Dense seed study run by reproduce.py sequentially and with --ray.

Runs the same one-study plan (`cifar10_dense.py --seeds N`) twice through reproduce.py's own
functions: once as a sequential run does (run_plan: one process trains the whole study), once
on Ray (run_plan_on_ray: the study split into tasks of --chunk-runs runs, merged back into the
study's record). Prints the wall time of each, Ray's start-up (connecting to or starting the
instance, before any task), the ratio, and whether the two records agree run for run (every
run's test accuracy, loss and seeds) and in their verdicts. Nothing is cached: both sides train.

On one 2-core machine Ray cannot be faster (each task starts its own process and TensorFlow,
and the tasks share the same two cores); what it measures there is Ray's overhead. On a cluster
(`--ray auto` or an address) the tasks spread over the nodes.

Usage: python bench/ray_bench.py --data-dir ../shared/datasets [--runs 4] [--chunk-runs 2]
       python bench/ray_bench.py --data-dir ../shared/datasets --ray HEAD:6379 --cpus-per-task 2
Exit code: 0 when the two records agree, 1 when they do not, 2 for usage errors.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from anywhere

from reproduction.plumbing.cli import check_output_file, existing_folder, int_in_range, ray_address
from reproduction.plumbing.exits import EXIT_FAILED, EXIT_OK, run_main
from reproduction.plumbing.records import write_run_record
from reproduction.plumbing.text import counted


def make_bench_parser():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--data-dir", type=existing_folder, default=None, metavar="DIR")
    parser.add_argument("--runs", type=int_in_range(1, 10_000), default=4, metavar="N")
    parser.add_argument("--epochs", type=int_in_range(1, 1000), default=10)
    parser.add_argument(
        "--chunk-runs",
        type=int_in_range(1, 10_000),
        default=2,
        metavar="K",
        help="runs per Ray task (reproduce.py --ray-chunk-runs)",
    )
    parser.add_argument(
        "--ray",
        type=ray_address,
        default="local",
        metavar="ADDRESS",
        help="'local' (default: start Ray on this machine), 'auto' or HEAD:PORT",
    )
    parser.add_argument(
        "--cpus-per-task",
        type=int_in_range(1, 1024),
        default=2,
        metavar="N",
        help="CPUs each task declares (reproduce.py --ray-cpus-per-task)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the benchmark's timings and comparison to PATH",
    )
    return parser


def run_side(runs, workdir, session=None, chunk_runs=None):
    """(the study's record with its metrics, wall seconds) of the planned `runs` run
    sequentially or on `session`, its views drawn as reproduce.py draws them."""
    from reproduction.orchestration import plan_runner
    from reproduction.orchestration.drawing import Drawing

    work, figures, records = (Path(workdir) / name for name in ("work", "figures", "runs"))
    for folder in (work, figures, records):
        folder.mkdir(parents=True)
    start = time.perf_counter()
    plan = plan_runner.Plan(runs, work, quiet=True)
    if session is None:
        done, failures = plan_runner.run_sequentially(plan)
    else:
        from reproduction.orchestration.ray_plan import run_on_ray

        done, failures = run_on_ray(plan, session, chunk_runs)
    seconds = time.perf_counter() - start
    if failures:
        raise SystemExit(f"the study failed: {failures[0]}")
    outputs = plan_runner.Outputs(records / "REPORT.md", figures, records, failures)
    with Drawing(figures, records, background=False) as drawing:
        rendered = plan_runner.render_runs(done, outputs, drawing)
    return rendered["cifar_dense"][0], seconds


def differences(sequential, on_ray):
    """What differs between the two records' runs and verdicts ([] if nothing)."""
    keys = ("weight_seed", "data_seed", "test_accuracy", "test_loss", "train_accuracy")
    found = []
    for ours, theirs in zip(sequential["metrics"]["runs"], on_ray["metrics"]["runs"], strict=True):
        found += [
            f"run {ours['run']}: {key} {ours[key]!r} vs {theirs[key]!r}"
            for key in keys
            if ours[key] != theirs[key]
        ]
    verdicts = [(v["id"], v["verdict"]) for v in sequential["metrics"]["verdicts"]]
    if verdicts != [(v["id"], v["verdict"]) for v in on_ray["metrics"]["verdicts"]]:
        found.append("the verdicts differ")
    return found


def main(argv=None):
    parser = make_bench_parser()
    args = parser.parse_args(argv)
    check_output_file(parser, "--json", args.json)
    from reproduction.orchestration.ray_cluster import ClusterError, RaySession, import_ray

    try:
        import_ray()
    except ClusterError as error:
        parser.error(str(error))
    study = ["--seeds", str(args.runs), "--engine", "compiled", "--epochs", str(args.epochs)]
    if args.data_dir is not None:
        study += ["--data-dir", str(args.data_dir)]
    label = f"CIFAR-10 Dense, {args.runs} runs"
    from reproduction.orchestration.plan_runner import PlannedRun

    plan = [PlannedRun("cifar_dense", label, "cifar10_dense.py", study)]
    print(
        f"Ray benchmark: {label}, {counted(args.epochs, 'epoch')}; sequential, "
        f"then on Ray ({args.ray}) "
        f"in tasks of up to {args.chunk_runs} runs, {args.cpus_per_task} CPUs each",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as workdir:
        sequential, sequential_s = run_side(plan, Path(workdir) / "sequential")
        print(f"  sequential: {sequential_s:.1f} s", flush=True)
        start = time.perf_counter()
        try:
            session = RaySession(args.ray, args.cpus_per_task, 0.0, quiet=True)
        except ClusterError as error:
            parser.error(str(error))
        startup_s = time.perf_counter() - start
        try:
            on_ray, ray_s = run_side(plan, Path(workdir) / "ray", session, args.chunk_runs)
            where = session.describe()
        finally:
            session.close()
    found = differences(sequential, on_ray)
    tasks = -(-args.runs // args.chunk_runs)
    print(f"  Ray start-up: {startup_s:.1f} s ({where})")
    print(
        f"  on Ray: {ray_s:.1f} s in {tasks} task{'s' * (tasks != 1)} (+ {startup_s:.1f} s "
        f"start-up = {ray_s + startup_s:.1f} s)"
    )
    print(f"  Ray / sequential: {(ray_s + startup_s) / sequential_s:.2f} with start-up")
    print(
        "  records: "
        + (
            "the same runs and verdicts"
            if not found
            else f"DIFFER ({len(found)}): " + "; ".join(found[:5])
        )
    )
    if args.json is not None:
        write_run_record(
            args.json,
            {
                "benchmark": "ray_bench",
                "argv": sys.argv[1:] if argv is None else list(argv),
                "sequential_s": sequential_s,
                "ray_startup_s": startup_s,
                "ray_s": ray_s,
                "tasks": tasks,
                "cluster": where,
                "differences": found,
                "sequential_machine": sequential["machine"],
                "test_accuracy": [row["test_accuracy"] for row in on_ray["metrics"]["runs"]],
            },
        )
        print(f"benchmark record: {args.json}")
    return EXIT_OK if not found else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(run_main(main))
