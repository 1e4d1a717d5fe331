"""What every dataset loader shares: its errors, the Dataset it returns, the one read of each
file, and the checks of the arrays (dtype, shapes, labels, counts).

Each file is read once, as bytes, and its SHA-256 is taken from those bytes before they are
parsed: a Dataset's `files` says which bytes a run used, at no second read.
"""

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DataError(Exception):
    """A dataset cannot be found, or a file of it is malformed (the message names the file).
    A usage-like error: the scripts exit with `exit_code` 2."""

    exit_code = 2


class NotEnoughMemory(DataError):
    """The dataset does not fit in the memory left: the run fails (exit code 1), the data is
    fine."""

    exit_code = 1


def _memory_checked(title, counts, image_bytes):
    """Turn a MemoryError while loading into NotEnoughMemory naming the dataset and where it
    was read from (the loader's first argument). Loading holds the images about twice (the
    file's arrays, then the aligned copy), which is what the message says is needed."""
    needed_mb = round(2 * sum(counts) * image_bytes / 1e6)

    def wrap(load):
        @functools.wraps(load)
        def load_checked(source, *args, **kwargs):
            try:
                return load(source, *args, **kwargs)
            except MemoryError:
                raise NotEnoughMemory(
                    f"{source}: not enough memory to load {title} (it needs about {needed_mb} "
                    "MB while loading)"
                ) from None

        return load_checked

    return wrap


@dataclass
class Dataset:
    x_train: np.ndarray  # (N, H, W[, C]) uint8
    y_train: np.ndarray  # (N,) uint8 class indices
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple
    source: str  # where it was read from
    note: str = ""  # what a reader should know about this copy (e.g. a lossy re-encoding)
    # {file name relative to the folder searched (else its path): sha256 hex} of every file read
    files: dict = field(default_factory=dict)

    def head(self, train=None, test=None):
        """The first `train` training and `test` test examples (None: all), as views: a smoke
        run's small slice, without copying."""
        return Dataset(
            self.x_train[:train],
            self.y_train[:train],
            self.x_test[:test],
            self.y_test[:test],
            self.class_names,
            self.source,
            self.note,
            dict(self.files),
        )


def aligned_empty(shape, dtype=np.uint8, alignment=64):
    """An uninitialised array whose data start on an `alignment`-byte boundary.

    TensorFlow can then use the array in place (engines.adam.as_tensor) instead of copying
    it: the training set is held once, not twice.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start : start + size].view(dtype).reshape(shape)


def _aligned_copy(array):
    copy = aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


def _read_hashed(path):
    """(the file's bytes, their sha256 hex): the one read of a dataset file, so its checksum
    costs no second read. DataError naming the file when it cannot be read."""
    try:
        with open(path, "rb") as stream:
            raw = stream.read()
    except OSError as error:
        raise DataError(f"{path}: cannot read: {error.strerror or error}") from None
    return raw, hashlib.sha256(raw).hexdigest()


def _relative_name(path, root):
    """`path` relative to `root` in POSIX form (a key of Dataset.files), else its full path."""
    try:
        return Path(path).relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _names_root(folder, usual_name, relative_to):
    """The folder Dataset.files names are relative to: `relative_to` when given (the folder
    searched), else the parent of a folder with its usual name (so a key reads
    "fashion-mnist/train-images-idx3-ubyte.gz"), else the folder itself."""
    if relative_to is not None:
        return Path(relative_to)
    return folder.parent if folder.name == usual_name else folder


def _checked(source, images, labels, image_shape, classes=10):
    """(images, labels as uint8) after checking dtype, shapes, matching counts and label range;
    DataError naming `source` otherwise."""
    if not (
        isinstance(images, np.ndarray)
        and images.dtype == np.uint8
        and images.shape[1:] == tuple(image_shape)
    ):
        raise DataError(
            f"{source}: images should be uint8 of shape (N, "
            f"{', '.join(map(str, image_shape))}), got "
            f"{getattr(images, 'dtype', type(images).__name__)} "
            f"{getattr(images, 'shape', '')}"
        )
    if not (
        isinstance(labels, np.ndarray)
        and labels.ndim == 1
        and np.issubdtype(labels.dtype, np.integer)
    ):
        raise DataError(
            f"{source}: labels should be a list of integers, got "
            f"{getattr(labels, 'dtype', type(labels).__name__)} "
            f"{getattr(labels, 'shape', '')}"
        )
    if len(labels) != len(images):
        raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
    if labels.size and not (0 <= labels.min() and labels.max() < classes):
        raise DataError(
            f"{source}: labels outside 0-{classes - 1} (found {labels.min()}..{labels.max()})"
        )
    return images, labels.astype(np.uint8)


def _check_counts(source, train_count, test_count, expected_counts):
    if not (train_count and test_count):  # even a small copy needs something to train and test
        raise DataError(f"{source}: {train_count} training and {test_count} test images")
    if expected_counts is not None and (train_count, test_count) != tuple(expected_counts):
        raise DataError(
            f"{source}: {train_count} training and {test_count} test images, "
            f"expected {expected_counts[0]} and {expected_counts[1]}"
        )


def _one_line(text, limit=200):
    """`text` on one line (whitespace runs become one space), cut at `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
