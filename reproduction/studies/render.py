"""Views of a run: what every tutorial's study module returns, and the one way to draw them.

A tutorial's study module (studies/xor.py, cifar10.py, mnist.py) has the same skeleton: per-run
measures and a study's summary, the registry's verdicts, the per-run table, the figures and the
text a script prints, all from the run's record and arrays, through its `render(record, arrays,
figures_dir, csv_path) -> View`.
"""

import importlib
from dataclasses import dataclass

from reproduction.settings.cifar10 import CIFAR10
from reproduction.settings.mnist import MNIST
from reproduction.settings.xor import XOR
from reproduction.studies.tables import write_runs_csv

# script -> its study module
STUDIES = {
    tutorial.script: f"reproduction.studies.{tutorial.name}" for tutorial in (XOR, CIFAR10, MNIST)
}


@dataclass
class View:
    text: str  # what the script prints after training
    metrics: dict  # the record's metrics: the first run's figures, a study's summary, verdicts
    figures: list  # the figures written (paths)


def write_csv(csv_path, rows, columns):
    """{"csv": path} after writing the per-run table there; {} when no path is given."""
    if csv_path is None:
        return {}
    return {"csv": write_runs_csv(csv_path, rows, columns)}


def render(record, arrays, figures_dir=None, csv_path=None):
    """The View of the run `record` (with its `arrays`), by its script's study module."""
    study = importlib.import_module(STUDIES[record["script"]])
    return study.render(record, arrays, figures_dir, csv_path)
