"""MNIST (mnist.npz) and Fashion-MNIST (the four gzip'd idx files Keras downloads), read without
unpickling and checked; Keras's download only when no local copy is found (data/lookup.py)."""

import gzip
import io
import math
from pathlib import Path

import numpy as np

from reproduction.data.checks import (
    DataError,
    Dataset,
    _aligned_copy,
    _check_counts,
    _checked,
    _memory_checked,
    _names_root,
    _read_hashed,
    _relative_name,
)
from reproduction.data.download import _downloaded
from reproduction.data.lookup import _find_fashion_mnist, find_mnist

MNIST_COUNTS = (60_000, 10_000)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
FASHION_MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
_IDX_MAX_VALUES = 100_000_000  # a header asking for more is corrupt, not a bigger dataset


# How a zip archive (an .npz is one) starts: a local file header, or an empty archive's end.
_ZIP_STARTS = (b"PK\x03\x04", b"PK\x05\x06")


@_memory_checked("MNIST", MNIST_COUNTS, 28 * 28)
def load_mnist_npz(path, expected_counts=MNIST_COUNTS, relative_to=None):
    """MNIST from an .npz with x_train, y_train, x_test, y_test, read without unpickling.
    `relative_to`: the folder Dataset.files names the file relative to (default: its own)."""
    path = Path(path)
    raw, digest = _read_hashed(path)
    if not raw.startswith(_ZIP_STARTS):  # else np.load takes it for a pickle and says so
        raise DataError(
            f"{path}: not an npz archive ("
            f"{'empty file' if not raw else 'no zip header'}; MNIST's mnist.npz "
            "is a zip of .npy arrays)"
        )
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            missing = [key for key in MNIST_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path}: missing arrays {missing} (expected {MNIST_KEYS})")
            arrays = {key: archive[key] for key in MNIST_KEYS}
    except (DataError, MemoryError):
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise DataError(
                f"{path}: holds pickled objects; refused (MNIST is plain uint8 arrays)"
            ) from None
        raise DataError(f"{path}: not a valid .npz ({error})") from None
    except Exception as error:  # truncated, corrupt, not a zip: one error that names the file
        raise DataError(f"{path}: not a valid .npz ({type(error).__name__}: {error})") from None
    del raw  # the arrays are decompressed: the file's bytes are no longer needed
    x_train, y_train = _checked(path, arrays["x_train"], arrays["y_train"], (28, 28))
    x_test, y_test = _checked(path, arrays["x_test"], arrays["y_test"], (28, 28))
    _check_counts(path, len(y_train), len(y_test), expected_counts)
    files = {_relative_name(path, path.parent if relative_to is None else relative_to): digest}
    return Dataset(
        _aligned_copy(x_train), y_train, x_test, y_test, MNIST_CLASSES, str(path), files=files
    )


def read_idx(path):
    """The uint8 array in a gzip'd idx file (the MNIST format: magic 0 0 8 ndim, big-endian
    sizes, then the values); DataError naming the file for anything else."""
    return _read_idx_hashed(path)[0]


def _read_idx_hashed(path):
    """(read_idx's array, the file's sha256 hex), the file read once."""
    path = Path(path)
    raw, digest = _read_hashed(path)
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw), mode="rb") as stream:
            header = stream.read(4)
            if len(header) < 4 or header[:3] != b"\x00\x00\x08" or not 1 <= header[3] <= 4:
                raise DataError(
                    f"{path}: not an idx file of unsigned bytes (header {header.hex() or 'empty'})"
                )
            sizes_bytes = stream.read(4 * header[3])
            if len(sizes_bytes) < 4 * header[3]:
                raise DataError(f"{path}: truncated header")
            shape = tuple(int(v) for v in np.frombuffer(sizes_bytes, ">u4"))
            count = math.prod(shape)  # Python ints: an int64 product can wrap to 0
            if count > _IDX_MAX_VALUES:
                raise DataError(f"{path}: header claims {shape}, too large for this dataset")
            values = stream.read(count)
            if len(values) != count:
                raise DataError(f"{path}: truncated: {len(values)} of {count} values")
            if stream.read(1):
                raise DataError(f"{path}: data beyond the {shape} the header announces")
    except (DataError, MemoryError):
        raise
    except Exception as error:  # not gzip, corrupt stream
        raise DataError(f"{path}: cannot read ({type(error).__name__}: {error})") from None
    return np.frombuffer(values, np.uint8).reshape(shape), digest


@_memory_checked("Fashion-MNIST", MNIST_COUNTS, 28 * 28)
def load_fashion_mnist_folder(folder, expected_counts=MNIST_COUNTS, relative_to=None):
    """Fashion-MNIST from the four idx files in `folder`, checked. `relative_to`: the folder
    Dataset.files names are relative to (see _names_root)."""
    folder = Path(folder)
    root = _names_root(folder, "fashion-mnist", relative_to)
    arrays, files = [], {}
    for name in FASHION_MNIST_FILES:
        array, files[_relative_name(folder / name, root)] = _read_idx_hashed(folder / name)
        arrays.append(array)
    x_train, y_train, x_test, y_test = arrays
    x_train, y_train = _checked(folder / FASHION_MNIST_FILES[0], x_train, y_train, (28, 28))
    x_test, y_test = _checked(folder / FASHION_MNIST_FILES[2], x_test, y_test, (28, 28))
    _check_counts(folder, len(y_train), len(y_test), expected_counts)
    return Dataset(
        _aligned_copy(x_train),
        y_train,
        x_test,
        y_test,
        FASHION_MNIST_CLASSES,
        str(folder),
        files=files,
    )


def load_mnist(data_dir=None, expected_counts=MNIST_COUNTS):
    """MNIST from the first mnist.npz found, else Keras's download (DataError when offline)."""
    path = find_mnist(data_dir)
    if path is not None:
        return load_mnist_npz(path, expected_counts, relative_to=path.parent)
    return _downloaded(
        "mnist", "MNIST", data_dir, "mnist.npz", MNIST_CLASSES, (28, 28), expected_counts
    )


def load_fashion_mnist(data_dir=None, expected_counts=MNIST_COUNTS):
    """Fashion-MNIST from the first folder with its four idx files, else Keras's download."""
    searched, folder = _find_fashion_mnist(data_dir)
    if folder is not None:
        return load_fashion_mnist_folder(folder, expected_counts, relative_to=searched)
    return _downloaded(
        "fashion_mnist",
        "Fashion-MNIST",
        data_dir,
        "fashion-mnist/ with the four idx .gz files",
        FASHION_MNIST_CLASSES,
        (28, 28),
        expected_counts,
    )
