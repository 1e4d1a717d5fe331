"""Every dataset by the name keras.datasets gives it: how it is looked up, loaded and checked, a
preflight check of the local copies, and building them with the data folder's make-datasets."""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reproduction.data.checks import DataError, NotEnoughMemory, _one_line
from reproduction.data.cifar10 import (
    CIFAR10_BATCHES,
    CIFAR10_COUNTS,
    check_cifar10_batches,
    load_cifar10,
)
from reproduction.data.lookup import (
    MAKE_DATASETS,
    find_cifar10,
    find_fashion_mnist,
    find_make_datasets,
    find_mnist,
    search_dirs,
)
from reproduction.data.mnist import (
    FASHION_MNIST_FILES,
    MNIST_COUNTS,
    load_fashion_mnist,
    load_fashion_mnist_folder,
    load_mnist,
    load_mnist_npz,
)


def _discard(load):
    """A check from a loader: load, keep nothing (DataError when the copy is not valid)."""

    def check(source, expected_counts):
        load(source, expected_counts)

    return check


@dataclass(frozen=True)
class DatasetInfo:
    """What the project knows about one dataset, by the name keras.datasets gives it."""

    title: str  # for messages: "CIFAR-10"
    holding: str  # what a data folder holds for it, for messages
    expected_counts: tuple  # (train, test) of the real dataset
    load: Callable  # load(data_dir=None, expected_counts=...) -> Dataset (local, else download)
    find: Callable  # find(data_dir=None) -> the local copy's Path, or None
    check: Callable  # check(found copy, expected_counts) -> None; DataError when not valid
    cache_files: tuple  # the files a Keras download leaves, relative to Keras's cache


DATASETS = {
    "mnist": DatasetInfo(
        "MNIST",
        "mnist.npz",
        MNIST_COUNTS,
        load_mnist,
        find_mnist,
        _discard(load_mnist_npz),
        ("mnist.npz",),
    ),
    "fashion_mnist": DatasetInfo(
        "Fashion-MNIST",
        "fashion-mnist/ with the four idx .gz files",
        MNIST_COUNTS,
        load_fashion_mnist,
        find_fashion_mnist,
        _discard(load_fashion_mnist_folder),
        tuple(f"fashion-mnist/{name}" for name in FASHION_MNIST_FILES),
    ),
    "cifar10": DatasetInfo(
        "CIFAR-10",
        "cifar-10-batches-py/",
        CIFAR10_COUNTS,
        load_cifar10,
        find_cifar10,
        check_cifar10_batches,
        tuple(f"cifar-10-batches-py-target/cifar-10-batches-py/{name}" for name in CIFAR10_BATCHES),
    ),
}


def preflight(names, data_dir=None, *, allow_small_data=False):
    """[one line per problem] with the datasets `names` (keys of DATASETS; ValueError for
    others): [] when each is found locally and its files read and check (shapes, dtypes,
    labels and, unless `allow_small_data`, the real counts). Each line names the dataset, where
    it looked and what to do. A dataset found nowhere is a problem even though Keras might
    download it: the caller decides whether to go on. Reads every file once (CIFAR-10 one
    batch at a time); prints nothing."""
    unknown = [name for name in names if name not in DATASETS]
    if unknown:
        raise ValueError(f"unknown datasets {unknown} (known: {', '.join(sorted(DATASETS))})")
    titles = ", ".join(DATASETS[name].title for name in names)
    try:
        folders = search_dirs(data_dir)
        script = find_make_datasets(data_dir)
    except DataError as error:  # $TUTORIALS_DATA_DIR names no folder: one line says so
        return [f"{titles}: {error}"] if names else []
    looked = ", ".join(map(str, folders))
    problems = []
    for name in names:
        info = DATASETS[name]
        found = info.find(data_dir)
        if found is None:
            remedy = (
                f"run {script}"
                if script
                else "connect to the network so Keras can download it, or pass --data-dir a "
                f"folder holding {info.holding}"
            )
            problems.append(f"{info.title}: not found (looked in {looked}); {remedy}")
            continue
        try:
            info.check(found, None if allow_small_data else info.expected_counts)
        except NotEnoughMemory as error:  # the copy may be fine: nothing to rebuild
            problems.append(f"{info.title}: {_one_line(error, 300)}")
        except DataError as error:
            remedy = (
                f"run {script} to rebuild it"
                if script
                else "delete or replace the copy (Keras downloads a fresh one when none is "
                "found), or pass --data-dir"
            )
            problems.append(f"{info.title}: {_one_line(error, 300)}; {remedy}")
        except MemoryError:
            problems.append(f"{info.title}: {found}: not enough memory to check it")
    return problems


def build_datasets(folder, timeout=600):
    """Run `folder`/make-datasets (which builds every dataset into its own folder and is
    idempotent: a copy already built and verified is kept), output captured, for at most
    `timeout` seconds. (ok, one line saying what happened). Prints nothing; a run cut short
    (timeout, Ctrl-C) has its whole process group ended."""
    script = Path(folder) / MAKE_DATASETS
    if not script.is_file():
        return False, f"no {MAKE_DATASETS} script in {folder}"
    if not os.access(script, os.X_OK):
        return False, f"{script} is not executable (chmod +x it)"
    start = time.monotonic()
    try:
        # Its own session, so that a timeout or Ctrl-C ends the Python it starts too; an
        # absolute path, so that a script in "." is not looked up on $PATH.
        process = subprocess.Popen(
            [str(script.absolute())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as error:
        return False, f"{script}: cannot run it ({type(error).__name__}: {error})"
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except BaseException as stopped:
        _end_group(process)
        if isinstance(stopped, subprocess.TimeoutExpired):
            return False, f"{script} did not finish within {timeout:g} s; stopped"
        raise
    seconds = time.monotonic() - start
    if process.returncode != 0:
        return False, _one_line(
            f"{script} failed (exit code {process.returncode}): {_failure_detail(stdout, stderr)}",
            300,
        )
    return True, f"{script} built the datasets in {folder} ({seconds:.0f} s)"


def _end_group(process):
    """Kill `process`'s whole group (its own session) and collect it."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:  # already gone
        pass
    process.communicate()


def _failure_detail(stdout, stderr):
    """What a failed make-datasets said: its FAIL / MISSING summary lines, else its last line
    on stderr, else on stdout."""
    summary = [
        line.strip() for line in stdout.splitlines() if line.strip().startswith(("FAIL", "MISSING"))
    ]
    if summary:
        return "; ".join(" ".join(line.split()) for line in summary)
    for text in (stderr, stdout):
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            return lines[-1]
    return "no output"
