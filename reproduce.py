"""
Title: Reproduce the three tutorials in one go and write the reproduction report
Description: Runs, with the tutorials' settings, the XOR convergence study for the tutorial's
    three networks, the MNIST perceptron comparison (linear vs sigmoid), the CIFAR-10 Dense
    network and, with --with-cnn, the chapter's CNN; each script in its own process, its JSON
    run record collected. Writes REPORT.md: per tutorial, the published figure, the measured one
    (mean and spread over the seeds run), a verdict with its band, the figures, and the device,
    versions, data sources and wall time of each part.
Expected result: about 3 minutes on 2 CPU cores without the CNN (each CNN seed adds about 10);
    `--quick` runs the same pipeline with tiny budgets in about a minute.

Usage: python reproduce.py --data-dir ../shared/datasets [--with-cnn] [--seeds 3] [--quick]
"""

import argparse
import datetime
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common.atomic import interrupts_held, write_text_atomic
from common.cli import check_output_dir, check_output_file, existing_folder, int_in_range
from common.exits import EXIT_FAILED, EXIT_OK, Interrupted, run_main
from common.records import package_versions
from common.script_runs import mean_and_spread, run_script

ROOT = Path(__file__).resolve().parent
XOR_NETWORKS = ((16,), (16, 16), (32,))
XOR_BAND = (0.10, 0.90)  # "within band": the published epoch inside the seeds' 10-90% range
CIFAR_PUBLISHED = {"dense": (0.489, 1.5), "cnn": (0.7183, 3.0)}  # test accuracy, band (points)
MNIST_SIGMOID = (0.97, 1.5)  # the "about 97%", band in points
DEFAULTS = dict(seeds=3, xor_seeds=1000, cnn_seeds=1)
QUICK = dict(seeds=2, xor_seeds=50, cnn_seeds=1, epochs=1, train_limit=5000, test_limit=1000)


# ## The plan: which script runs with which flags
def plan(args):
    """[(part, label, script, argv, keep_figures)]: the runs, in order."""
    common = ["--device", args.device]
    if args.data_dir is not None:
        common += ["--data-dir", str(args.data_dir)]
    if args.allow_small_data:
        common += ["--allow-small-data"]
    epochs = (["--epochs", str(QUICK["epochs"]), "--train-limit", str(QUICK["train_limit"]),
               "--test-limit", str(QUICK["test_limit"])] if args.quick else [])
    runs = []
    for hidden in XOR_NETWORKS:
        arch = "-".join(map(str, (2, *hidden, 1)))
        runs.append(("xor", f"XOR {arch}, {args.xor_seeds} seeds", "xor_mlp.py",
                     ["--seeds", str(args.xor_seeds), "--hidden", *map(str, hidden),
                      "--device", args.device], True))
    for seed in range(args.seeds):
        runs.append(("mnist", f"MNIST perceptron compare, seed {seed}", "mnist_perceptron.py",
                     ["--compare", "--seed", str(seed), *epochs, *common], seed == 0))
    for seed in range(args.seeds):
        runs.append(("cifar_dense", f"CIFAR-10 Dense, seed {seed}", "cifar10_dense.py",
                     ["--seed", str(seed), *epochs, *common], seed == 0))
    if args.with_cnn:
        for seed in range(args.cnn_seeds):
            runs.append(("cifar_cnn", f"CIFAR-10 CNN, seed {seed}", "cifar10_dense.py",
                         ["--model", "cnn", "--seed", str(seed), *epochs, *common], seed == 0))
    return runs


def run_plan(runs, figures_dir, quiet):
    """Run each script; {part: [records]}, {part: seconds}, [failures]. A failed run is
    reported and the others go on; Ctrl-C stops the running script and ends the plan."""
    records, seconds, failures = {}, {}, []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        for index, (part, label, script, argv, keep_figures) in enumerate(runs, 1):
            if not quiet:
                print(f"[{index}/{len(runs)}] {label} ({time.perf_counter() - start:.0f} s so "
                      "far)", file=sys.stderr, flush=True)
            workdir = Path(scratch) / f"run{index}"
            workdir.mkdir()
            run_start = time.perf_counter()
            try:
                record = run_script(script, argv, workdir, "record",
                                    figures_dir=figures_dir if keep_figures else None)
            except SystemExit as error:
                failures.append(f"{label}: {error}")
                print(f"  failed: {error}", file=sys.stderr)
                continue
            except KeyboardInterrupt:
                raise Interrupted(f"stopped in run {index}/{len(runs)} ({label}); the report "
                                  "and its figures are unchanged (they are replaced only when "
                                  "every run has ended)") from None
            records.setdefault(part, []).append(record)
            seconds[part] = seconds.get(part, 0.0) + time.perf_counter() - run_start
    return records, seconds, failures


def publish_figures(records, staging, figures_dir):
    """Move the kept runs' figures from `staging` into `figures_dir` (each rename atomic) and
    point the records at them."""
    for part in records.values():
        for record in part:
            record["figures"] = [str(figures_dir / Path(f).name) if Path(f).parent == staging
                                 else f for f in record["figures"]]
    for figure in sorted(staging.iterdir()):
        os.replace(figure, figures_dir / figure.name)


# ## Numbers for the report (all read from the scripts' own run records)
def pct(value):
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.2f}%"


def verdict_in_band(measured, published, band_points):
    gap = 100 * (measured - published)
    if math.isnan(gap):
        return "not measured"
    word = "reproduced" if abs(gap) <= band_points else "not reproduced"
    return f"{word} ({gap:+.1f} points; band ±{band_points})"


def xor_rows(records):
    rows = []
    for record in records:
        study = record["metrics"]["study"]
        arch = "-".join(map(str, (2, *record["config"]["hidden"], 1)))
        share = study.get("share_at_or_before_tutorial", math.nan)
        if study["q1"] <= study["tutorial_epoch"] <= study["q3"]:
            verdict = "reproduced (published epoch inside the middle half of the seeds)"
        elif XOR_BAND[0] <= share <= XOR_BAND[1]:
            verdict = (f"within band (published epoch inside the seeds' "
                       f"{XOR_BAND[0]:.0%}-{XOR_BAND[1]:.0%} range)")
        else:
            verdict = f"not reproduced ({share:.0%} of seeds were as fast: an outlier run)"
        rows.append(f"| {arch} | epoch {study['tutorial_epoch']} | median {study['median']:g} "
                    f"(quartiles {study['q1']:g}-{study['q3']:g}); {study['solved']}/"
                    f"{study['seeds']} reached 100% | {study['seeds']} | {verdict} |")
    return rows


def mnist_rows(records):
    by_model = {}
    for record in records:
        for activation, run in record["metrics"]["runs"].items():
            by_model.setdefault(activation, []).append(run)
    baseline = records[0]["metrics"]["baseline"]["accuracy"]
    rows = []
    linear = by_model.get("linear", [])
    if linear:
        final = [run["val_accuracy"][-1] for run in linear]
        spreads = [run["val_accuracy_spread_points"] for run in linear]
        mean, sd = mean_and_spread(final)
        below = sum(v < baseline for v in final)
        erratic = statistics.fmean(spreads) >= 10
        verdict = ("reproduced (erratic: epochs spread by "
                   f"{statistics.fmean(spreads):.0f} points on average; {below}/{len(final)} "
                   f"final runs below the {pct(baseline)} baseline)"
                   if erratic and below >= len(final) / 2 else
                   "not reproduced (accuracy not erratic or not below the baseline)")
        rows.append(f"| linear `Dense(1)` | low and erratic, below the never-five baseline | "
                    f"{pct(mean)} ± {100 * sd:.2f} | {len(final)} | {verdict} |")
    sigmoid = by_model.get("sigmoid", [])
    if sigmoid:
        final = [run["val_accuracy"][-1] for run in sigmoid]
        mean, sd = mean_and_spread(final)
        dead = sum(abs(v - baseline) < 1e-9 for v in final)
        verdict = verdict_in_band(mean, *MNIST_SIGMOID)
        if dead:
            verdict += f"; {dead} of {len(final)} seeds died at exactly the baseline"
        rows.append(f"| sigmoid `Dense(1, activation=\"sigmoid\")` | about 97% | "
                    f"{pct(mean)} ± {100 * sd:.2f} | {len(final)} | {verdict} |")
    return rows


def cifar_rows(records, model):
    published, band = CIFAR_PUBLISHED[model]
    test = [r["metrics"]["test_accuracy"] for r in records]
    train = [r["metrics"]["train_accuracy"][-1] for r in records]
    mean, sd = mean_and_spread(test)
    train_mean, train_sd = mean_and_spread(train)
    rows = [f"| test accuracy | {pct(published)} | {pct(mean)} ± {100 * sd:.2f} | {len(test)} | "
            f"{verdict_in_band(mean, published, band)} |"]
    if model == "dense":
        rows.insert(0, f"| train accuracy (last epoch) | 51.90% | {pct(train_mean)} ± "
                       f"{100 * train_sd:.2f} | {len(train)} | (not judged) |")
    return rows


def figure_links(records, report_dir, every_run=False):
    """Markdown images of the first run's figures (with `every_run`, also the other runs' study
    figures: the XOR networks)."""
    links = []
    figures = list(records[0]["figures"])
    if every_run:
        figures += [f for r in records[1:] for f in r["figures"] if "_study" in f]
    for figure in figures:
        path = Path(figure)
        try:
            shown = path.resolve().relative_to(report_dir.resolve())
        except ValueError:
            shown = path.resolve()
        links.append(f"![{path.stem}]({shown.as_posix()})")
    return "\n".join(links)


TABLE_HEAD = ("| | published | measured (mean ± sd) | seeds | verdict |\n"
              "|---|---|---|---|---|")


def build_report(records, seconds, failures, args, total_seconds, report_dir):
    first = next(iter(next(iter(records.values())))) if records else {}
    versions = package_versions()
    sources = sorted({r["metrics"].get("data_source", "") for part in records.values()
                      for r in part if r["metrics"].get("data_source")})
    notes = sorted({r["metrics"].get("data_note", "") for part in records.values()
                    for r in part if r["metrics"].get("data_note")})
    lines = ["# Reproduction report", "",
             f"Written by `python reproduce.py{' --quick' if args.quick else ''}` on "
             f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; rerunning with the same "
             "seeds on the same machine gives the same numbers.", "",
             f"- device: {first.get('device', 'n/a')}",
             "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
             "- data: " + ("; ".join(sources) or "n/a"),
             *(f"- data note (CIFAR-10): {note}" for note in notes),
             "- wall time: " + ", ".join(f"{part} {secs:.0f} s" for part, secs in seconds.items())
             + f"; total {total_seconds:.0f} s",
             ""]
    if args.quick:
        lines += [f"**Quick run**: tiny budgets (one epoch on the first {QUICK['train_limit']:,} "
                  f"training and {QUICK['test_limit']:,} test images, {args.seeds} seeds, "
                  f"{args.xor_seeds} XOR networks): a smoke check of the pipeline, not a "
                  "reproduction.", ""]
    if failures:
        lines += ["## Failed runs", ""] + [f"- {failure}" for failure in failures] + [""]
    if "xor" in records:
        lines += ["## XOR (2017 blog): epoch at which accuracy first reaches 100%", "",
                  "| network | published (one unseeded run) | measured over seeds | seeds | "
                  "verdict |", "|---|---|---|---|---|", *xor_rows(records["xor"]), "",
                  figure_links(records["xor"], report_dir, every_run=True), ""]
    if "mnist" in records:
        lines += ["## MNIST \"five or not\" perceptron (ml-class video): final validation "
                  "accuracy", "", TABLE_HEAD, *mnist_rows(records["mnist"]), "",
                  figure_links(records["mnist"], report_dir), ""]
    for part, title in (("cifar_dense", "CIFAR-10 Dense network (Foster, ch. 2)"),
                        ("cifar_cnn", "CIFAR-10 CNN (Foster, ch. 2, notebook 02_03)")):
        if part in records:
            lines += [f"## {title}", "", TABLE_HEAD,
                      *cifar_rows(records[part], part.split("_")[1]), "",
                      figure_links(records[part], report_dir), ""]
    return "\n".join(lines)


# ## Command line
def make_reproduce_parser():
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0]
                                     .removeprefix("Title: "))
    parser.add_argument("--data-dir", type=existing_folder, default=None, metavar="DIR",
                        help="folder with the datasets, passed to the scripts")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    parser.add_argument("--with-cnn", action="store_true",
                        help="also run the CNN follow-up (about 10 min a seed on 2 CPU cores)")
    parser.add_argument("--seeds", type=int_in_range(1, 100), default=None,
                        help=f"seeds of the MNIST and CIFAR runs (default {DEFAULTS['seeds']}; "
                             f"--quick {QUICK['seeds']})")
    parser.add_argument("--xor-seeds", type=int_in_range(2, 100_000), default=None,
                        help=f"networks of each XOR study (default {DEFAULTS['xor_seeds']})")
    parser.add_argument("--cnn-seeds", type=int_in_range(1, 100), default=None,
                        help=f"seeds of the CNN (default {DEFAULTS['cnn_seeds']})")
    parser.add_argument("--quick", action="store_true",
                        help="tiny budgets (1 epoch on 5,000 training and 1,000 test images, 2 "
                             "seeds, 50 XOR networks): a smoke check; writes quick/REPORT.md "
                             "and quick/figures unless told otherwise")
    parser.add_argument("--allow-small-data", action="store_true",
                        help="pass --allow-small-data to the scripts (small dataset copies)")
    parser.add_argument("--report", type=Path, default=None, metavar="PATH",
                        help="where the report goes (default REPORT.md; quick/REPORT.md)")
    parser.add_argument("--figures-dir", type=Path, default=None, metavar="DIR",
                        help="where the figures go (default figures; quick/figures)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    return parser


def main(argv=None):
    parser = make_reproduce_parser()
    args = parser.parse_args(argv)
    budget = QUICK if args.quick else DEFAULTS
    for key in ("seeds", "xor_seeds", "cnn_seeds"):
        if getattr(args, key) is None:
            setattr(args, key, budget[key])
    out = ROOT / "quick" if args.quick else ROOT
    args.report = args.report or out / "REPORT.md"
    args.figures_dir = args.figures_dir or out / "figures"
    check_output_file(parser, "--report", args.report)
    check_output_dir(parser, "--figures-dir", args.figures_dir)

    start = time.perf_counter()
    runs = plan(args)
    # The kept figures land in a staging folder beside figures/ and move in with the report,
    # so that an interrupted run leaves the previous report and its figures as they were.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=args.figures_dir.parent))
    try:
        records, seconds, failures = run_plan(runs, staging, args.quiet)
        total = time.perf_counter() - start
        with interrupts_held():
            publish_figures(records, staging, args.figures_dir.resolve())
            report = build_report(records, seconds, failures, args, total, args.report.parent)
            write_text_atomic(args.report, report + "\n")
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"report: {args.report} ({len(runs) - len(failures)}/{len(runs)} runs, {total:.0f} s)")
    return EXIT_FAILED if failures else EXIT_OK


if __name__ == "__main__":
    sys.exit(run_main(main))
