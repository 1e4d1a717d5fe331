"""Run records: what was run, on what, how long it took and what it measured, as JSON."""

import datetime
import json
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path

import numpy as np

from reproduction.plumbing.atomic import write_text_atomic
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
    *, script, config, device, timings, metrics, figures=(), argv=None, data_files=None
):
    """`argv`: the arguments the run was given (default: this process's command line).
    `data_files`: {dataset file (a name relative to the data folder, or its path): sha256 hex}
    of the files the run read (a Dataset's `files`), so a record says which bytes it measured.
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
        "finished_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "timings_s": timings,
        "peak_rss_mb": peak_rss_mb(),
        "metrics": metrics,
        "figures": list(figures),
    }
    return plain_record(record)


def plain_record(record):
    """`record` as JSON holds it: numpy scalars and arrays as plain numbers and lists (one
    round-trip through JSON), NaN and infinity as null."""
    return _finite_or_none(json.loads(json.dumps(record, default=_jsonable)))


def write_run_record(path, record):
    write_text_atomic(path, json.dumps(record, indent=2, allow_nan=False) + "\n")


def save_run_record(path, **fields):
    """A script's --json: build_run_record(**fields), written atomically to `path`, and say so."""
    write_run_record(path, build_run_record(**fields))
    print(f"run record: {path}")
