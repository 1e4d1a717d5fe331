"""CIFAR-10: the "python version" batches, read safely and checked; Keras's download only when
no local copy is found (data/lookup.py).

CIFAR-10's "python version" batches are pickles. They are read with an unpickler that can rebuild
only plain containers and NumPy arrays, so a crafted batch file cannot run code.
"""

import importlib
import io
import pickle
from pathlib import Path

import numpy as np

from reproduction.data.checks import (
    DataError,
    Dataset,
    _check_counts,
    _checked,
    _memory_checked,
    _names_root,
    _read_hashed,
    _relative_name,
    aligned_empty,
)
from reproduction.data.download import _downloaded
from reproduction.data.lookup import _find_cifar10

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR10_COUNTS = (50_000, 10_000)  # train, test


CIFAR10_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Rebuilds dicts, lists, strings, numbers and NumPy arrays; refuses every other global.

    These are the globals a CIFAR batch pickle (Python 2 cPickle or Python 3) needs to rebuild
    its arrays; none of them can run arbitrary code.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # Python 3 pickles of bytes at protocol 2
        ("__builtin__", "bytes"),  # ... and of empty bytes (an empty array's data)
        ("builtins", "bytes"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: a CIFAR-10 batch "
                "holds only arrays, lists and strings"
            )
        module = {"__builtin__": "builtins"}.get(module, module)  # Python 2's name
        try:  # NumPy 2 renamed numpy.core to numpy._core; old pickles name the former
            found = importlib.import_module(module.replace("numpy.core.", "numpy._core."))
        except ImportError:
            found = importlib.import_module(module)
        return getattr(found, name)


def unpickle_safely(raw, source):
    """Unpickle the bytes `raw` allowing only plain containers and NumPy arrays (DataError
    naming `source` otherwise)."""
    try:
        return _ArraysOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except MemoryError:
        raise
    except Exception as error:  # any malformed pickle: truncated, corrupt, not a pickle
        raise DataError(
            f"{source}: not a valid CIFAR-10 batch ({type(error).__name__}: {error})"
        ) from None


def read_pickle_safely(path):
    """Unpickle `path` allowing only plain containers and NumPy arrays (DataError otherwise)."""
    return unpickle_safely(_read_hashed(path)[0], path)


def _read_cifar_batch(path):
    """(rows (N, 3072) uint8, labels (N,) uint8, batch label, the file's sha256 hex) of one
    checked batch file."""
    raw, digest = _read_hashed(path)
    batch = unpickle_safely(raw, path)
    del raw  # only one file's bytes alive at a time (a real batch is about 30 MB)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with data and labels)")
    images, labels = batch[b"data"], batch[b"labels"]
    if not (
        isinstance(images, np.ndarray)
        and images.dtype == np.uint8
        and images.ndim == 2
        and images.shape[1] == 3 * 32 * 32
    ):
        raise DataError(
            f"{path}: data should be uint8 rows of 3072 values, got "
            f"{getattr(images, 'dtype', type(images).__name__)} "
            f"{getattr(images, 'shape', '')}"
        )
    try:  # no dtype forced: float or text labels must fail the check below, not be cast
        labels = np.asarray(labels)
    except (TypeError, ValueError):
        raise DataError(f"{path}: labels are not a list of integers") from None
    if labels.size == 0:  # an empty list reads as float64; the count check speaks for it
        labels = labels.astype(np.int64)
    # Counts and label range: the checks every loader shares (rows viewed as planes, no copy).
    _, labels = _checked(path, images.reshape(-1, 3, 32, 32), labels, (3, 32, 32))
    batch_label = batch.get(b"batch_label", b"")
    if isinstance(batch_label, bytes):
        batch_label = batch_label.decode("latin-1")
    return images, labels, str(batch_label), digest


def _as_images(rows_list):
    """Stack batches of rows (R, G and B planes of 32x32 pixels) into one aligned array in
    Keras's (N, 32, 32, 3) layout, copying each batch once."""
    images = aligned_empty((sum(len(rows) for rows in rows_list), 32, 32, 3))
    start = 0
    for rows in rows_list:
        images[start : start + len(rows)] = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        start += len(rows)
    return images


def _cifar_batch_paths(folder):
    """The six batch files of `folder`; DataError naming the first one missing."""
    paths = [folder / name for name in CIFAR10_BATCHES]
    for path in paths:
        if not path.is_file():
            raise DataError(
                f"{path}: missing (a CIFAR-10 folder has data_batch_1..5 and test_batch)"
            )
    return paths


@_memory_checked("CIFAR-10", CIFAR10_COUNTS, 32 * 32 * 3)
def load_cifar10_batches(folder, expected_counts=CIFAR10_COUNTS, relative_to=None):
    """Read data_batch_1..5 and test_batch from `folder`, checked (shapes, dtype, labels,
    counts). `relative_to`: the folder Dataset.files names are relative to (see
    _names_root)."""
    folder = Path(folder)
    root = _names_root(folder, "cifar-10-batches-py", relative_to)
    parts, files = [], {}
    for path in _cifar_batch_paths(folder):
        rows, labels, batch_label, digest = _read_cifar_batch(path)
        parts.append((rows, labels, batch_label))
        files[_relative_name(path, root)] = digest
    _check_counts(
        folder, sum(len(rows) for rows, _, _ in parts[:5]), len(parts[5][0]), expected_counts
    )
    x_train = _as_images([rows for rows, _, _ in parts[:5]])
    y_train = np.concatenate([labels for _, labels, _ in parts[:5]])
    x_test, y_test = _as_images([parts[5][0]]), parts[5][1]
    # The copy make-datasets builds says so in its batch labels (its pixels went through JPEG).
    note = (
        "pixels are a JPEG re-encoding of CIFAR-10 (labels and splits exact), so accuracies "
        "can differ slightly from runs on the original"
        if any("JPEG" in label for _, _, label in parts)
        else ""
    )
    return Dataset(x_train, y_train, x_test, y_test, CIFAR10_CLASSES, str(folder), note, files)


def check_cifar10_batches(folder, expected_counts=CIFAR10_COUNTS):
    """Read and check every batch of `folder` as load_cifar10_batches does, one batch at a
    time and without building the dataset's arrays (a preflight: about one batch's memory);
    DataError naming the file otherwise."""
    folder = Path(folder)
    counts = [len(_read_cifar_batch(path)[0]) for path in _cifar_batch_paths(folder)]
    _check_counts(folder, sum(counts[:5]), counts[5], expected_counts)


def load_cifar10(data_dir=None, expected_counts=CIFAR10_COUNTS):
    """CIFAR-10 from the first local copy found (see data/lookup.py's docstring), else Keras's
    download; DataError with the places searched when neither works."""
    searched, folder = _find_cifar10(data_dir)
    if folder is not None:
        return load_cifar10_batches(folder, expected_counts, relative_to=searched)
    return _downloaded(
        "cifar10",
        "CIFAR-10",
        data_dir,
        "cifar-10-batches-py/",
        CIFAR10_CLASSES,
        (32, 32, 3),
        expected_counts,
    )
