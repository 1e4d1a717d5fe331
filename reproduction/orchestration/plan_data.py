"""The datasets a plan reads, made ready before anything trains, and their checksums.

Missing ones are built by make-datasets where the data folder has one (idempotent), else
fetched as Keras does on first use; then each is checked (files read, shapes, counts). The
sha256 of every file a script reads is part of its runs' cache keys: other bytes, other results.
"""

import sys

from reproduction.data.checks import DataError
from reproduction.data.lookup import find_make_datasets
from reproduction.data.registry import DATASETS, build_datasets, preflight
from reproduction.orchestration.run_cache import files_digest
from reproduction.settings.cifar10 import CIFAR10
from reproduction.settings.mnist import MNIST

PLAN_DATASETS = {MNIST.script: "mnist", CIFAR10.script: "cifar10"}  # what the plan's scripts read


def prepare_datasets(runs, data_dir, *, allow_small_data=False, quiet=False):
    """[problem lines] for the datasets the plan's scripts read ([] when all are ready)."""
    names = sorted({PLAN_DATASETS[run.script] for run in runs if run.script in PLAN_DATASETS})
    try:
        missing = [name for name in names if DATASETS[name].find(data_dir) is None]
    except DataError as error:  # $TUTORIALS_DATA_DIR names no folder
        return [str(error)]
    script = find_make_datasets(data_dir) if missing else None
    if script is not None:
        if not quiet:
            print(
                f"building the datasets with {script} (about 30 s, once)",
                file=sys.stderr,
                flush=True,
            )
        ok, message = build_datasets(script.parent)
        if not ok:
            return [message]
    elif missing:  # no builder here: Keras downloads them, as a script would on first use
        problems = []
        for name in missing:
            try:
                DATASETS[name].load(data_dir)
            except DataError as error:  # each missing dataset named once, by its own message
                problems.append(str(error))
        if problems:
            return problems
    return preflight(names, data_dir, allow_small_data=allow_small_data)


def data_digests(runs, data_dir):
    """{script: {file: sha256}} of the data each script of the plan reads."""
    digests = {}
    for run in runs:
        name = PLAN_DATASETS.get(run.script)
        if name is not None and run.script not in digests:
            found = DATASETS[name].find(data_dir)
            digests[run.script] = files_digest(found) if found is not None else {}
    return digests
