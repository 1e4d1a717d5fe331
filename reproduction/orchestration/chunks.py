"""A CIFAR-10 study split into chunks of runs (reproduce.py --ray: each chunk a task of its own),
and the chunks' results merged back into the study's.

Each chunk gives its runs the weight and data seeds they have in the whole study, its engine,
and the compiled Dense engine the study's one column block per network, so every run is the
study's own, bit for bit on the same kind of CPU. The merged study is the chunks' arrays joined
run after run, with the study's settings: its views are drawn from it as from an unsplit run.
"""

import argparse

import numpy as np

from reproduction.plumbing.cli import config_of
from reproduction.plumbing.records import plain_record, read_arrays, write_arrays
from reproduction.settings.cifar10 import CIFAR10, parse
from reproduction.settings.options import COMPILED

CHUNKED_SCRIPTS = (CIFAR10.script,)  # the scripts whose studies --ray splits
# A run's own arrays besides its Runs ("runs.*"): joined run after run, as the Runs are
PER_RUN_DATA = ("data.picture_indices", "data.untrained_test_accuracy")
SUMMED = ("runs.train_seconds", "runs.compile_seconds", "runs.extra.train_cpu_seconds")


def study_size(argv):
    """--seeds of a planned run's argv (the last one given; 1 if none), read with argparse as
    the script reads it, without importing the script (and TensorFlow with it)."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--seeds", type=int, default=1)
    return parser.parse_known_args(argv)[0].seeds


def kept_run_by_run(script, argv):
    """Whether a sequential plan runs the study `argv` of `script` one run at a time, each kept
    in the cache as it ends: the CNN's (about 10 minutes a run on 2 cores), so that an
    interrupted study resumes at its next run, not at its first."""
    if script != CIFAR10.script or study_size(argv) == 1:
        return False
    return parse(argv, check_outputs=False)[1].model == "cnn"


def chunk_argvs(script, argv, runs_per_chunk):
    """The study `argv` of `script` as the argvs of chunks of at most `runs_per_chunk`
    consecutive runs ([argv]: not split, as every study that fits in one chunk)."""
    if not runs_per_chunk or script not in CHUNKED_SCRIPTS or study_size(argv) <= runs_per_chunk:
        return [list(argv)]
    _, args = parse(argv, check_outputs=False)
    blocks = (
        ["--column-blocks", "1"]
        if args.engine == COMPILED and args.model == "dense" and args.column_blocks is None
        else []
    )
    return [
        [
            *argv,
            "--engine",
            args.engine,
            "--seeds",
            str(min(runs_per_chunk, args.seeds - first)),
            "--seed",
            str(args.seed + first),
            "--data-seed",
            str(args.data_seed + first),
            *blocks,
        ]
        for first in range(0, args.seeds, runs_per_chunk)
    ]


def merge(argv, parts, arrays_file):
    """The study `argv`'s record from its chunks' (record, arrays file) `parts` (in chunk_argvs'
    order), its arrays written to `arrays_file`; ValueError if the runs do not add up."""
    from reproduction.orchestration.script_runs import run_argv

    records = [record for record, _ in parts]
    chunks = [read_arrays(file) for _, file in parts]
    first = records[0]
    full_argv = run_argv(argv, arrays_file.with_suffix(".json"), arrays_file.parent / "figures")
    _, args = parse(full_argv, check_outputs=False)
    joined = sum(len(chunk["runs.weight_seeds"]) for chunk in chunks)
    if joined != args.seeds:
        raise ValueError(f"the chunks hold {joined} runs; the study has {args.seeds}")
    arrays = {}
    for name, value in chunks[0].items():
        if name in SUMMED:
            arrays[name] = np.asarray(sum(chunk[name] for chunk in chunks))
        elif (name.startswith("runs.") and np.ndim(value)) or name in PER_RUN_DATA:
            arrays[name] = np.concatenate([chunk[name] for chunk in chunks])
        else:  # the same in every chunk (the test labels, a setting) or the first run's own
            arrays[name] = value
    write_arrays(arrays_file, arrays)
    kept = ("threads", "train_images", "test_images", "networks_side_by_side", "column_blocks")
    config = config_of(args) | {key: first["config"][key] for key in kept}

    def total(key):
        values = [record["timings_s"].get(key) for record in records]
        return None if None in values else sum(values)

    timings = first["timings_s"] | {
        key: total(key) for key in ("training", "compile", "training_cpu", "total")
    }
    timings["training_per_run"] = timings["training"] / joined
    return plain_record(
        first
        | {
            "argv": full_argv,
            "config": config,
            "finished_utc": max(record["finished_utc"] for record in records),
            "timings_s": timings,
            "peak_rss_mb": max(record["peak_rss_mb"] for record in records),
            "arrays": arrays_file.name,
            "plan_seconds": sum(record.get("plan_seconds", 0.0) for record in records),
            "chunks": [
                {
                    "argv": record["argv"],
                    "machine": record["machine"],
                    "runs": len(chunk["runs.weight_seeds"]),
                }
                for record, chunk in zip(records, chunks, strict=True)
            ],
        }
    )
