"""Run records: what was run, on what, how long it took and what it measured.

A record is JSON (settings, versions, machine, data files, timings, and the metrics its views
computed) with the run's arrays beside it as .npz (every run's histories, outputs and final
weights: the results themselves). Views (figures, verdicts, reports) are drawn again from these
two files, so they can change without training anything again.
"""

import datetime
import json
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from reproduction.plumbing.atomic import atomic_path, write_text_atomic
from reproduction.plumbing.provenance import machine_description

PACKAGES = ("tensorflow", "keras", "numpy", "matplotlib")


def package_versions():
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def peak_rss_mb():
    """This process's peak resident memory so far, in MB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1e6 if sys.platform == "darwin" else 1e3), 1)


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _finite_or_none(value):
    """JSON has no NaN or infinity: store them as null so any JSON reader can load the record."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def build_run_record(
    *,
    script,
    config,
    device,
    timings,
    metrics=None,
    figures=(),
    argv=None,
    data_files=None,
    data=None,
):
    """`argv`: the arguments the run was given (default: this process's command line).
    `data_files`: {dataset file (a name relative to the data folder, or its path): sha256 hex}
    of the files the run read (a Dataset's `files`), so a record says which bytes it measured.
    `data`: what the views need to know of the dataset (its source, a note, class names).
    Every record also holds "machine": the CPU (model, cores, vector extensions) and GPUs."""
    record = {
        "script": script,
        "argv": list(sys.argv[1:] if argv is None else argv),
        "config": config,
        "device": device,
        "versions": package_versions(),
        "platform": platform.platform(),
        "machine": machine_description(),
        "data_files": dict(data_files or {}),
        "data": dict(data or {}),
        "finished_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "timings_s": timings,
        "peak_rss_mb": peak_rss_mb(),
        "metrics": dict(metrics or {}),
        "figures": list(figures),
    }
    return plain_record(record)


def plain_record(record):
    """`record` as JSON holds it: numpy scalars and arrays as plain numbers and lists (one
    round-trip through JSON), NaN and infinity as null."""
    return _finite_or_none(json.loads(json.dumps(record, default=_jsonable)))


def write_run_record(path, record):
    write_text_atomic(path, json.dumps(record, indent=2, allow_nan=False) + "\n")


def arrays_path(path):
    """Where the arrays of the record at `path` go: beside it, run.json -> run.npz."""
    return Path(path).with_suffix(".npz")


def write_arrays(path, arrays):
    """{name: array} as an .npz at `path`, atomically."""
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as stream:
        np.savez(stream, **{name: np.asarray(value) for name, value in arrays.items()})


def read_arrays(path):
    """The arrays of an .npz, loaded (a dict: the file is closed)."""
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


def save_run(path, record, arrays=None):
    """A script's --json: the record at `path` and its arrays beside it (arrays_path), each
    written atomically (the arrays first: a record never names arrays that are not there)."""
    if arrays is not None:
        write_arrays(arrays_path(path), arrays)
        record = record | {"arrays": arrays_path(path).name}
    write_run_record(path, record)
    print(f"run record: {path}")
    return record


def save_run_record(path, arrays=None, **fields):
    """save_run of build_run_record(**fields)."""
    return save_run(path, build_run_record(**fields), arrays)
