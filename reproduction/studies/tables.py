"""The per-run table of a seed study: one row per run, its seeds and its figures, as a CSV
beside the study's JSON record."""

import csv
import io
import math

import numpy as np

from reproduction.plumbing.atomic import write_text_atomic


def csv_text(rows, columns):
    """rows: dicts; columns: the keys, in order. Floats as repr (lossless), None/NaN empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for key in columns:
            value = row.get(key)
            if isinstance(value, (float, np.floating)):
                value = "" if not math.isfinite(value) else repr(float(value))
            elif isinstance(value, (bool, np.bool_)):
                value = int(value)
            elif value is None:
                value = ""
            cells.append(value)
        writer.writerow(cells)
    return out.getvalue()


def csv_path_for(json_path):
    """The study's CSV sits beside its JSON record: runs.json -> runs.csv."""
    return json_path.with_suffix(".csv")


def write_runs_csv(path, rows, columns):
    write_text_atomic(path, csv_text(rows, columns))
    return str(path)
