"""Datasets: found locally first, downloaded by Keras only as a last resort, checked before use.

Look-up order for a dataset: an explicit folder (--data-dir), else $TUTORIALS_DATA_DIR; then the
cache Keras already keeps ($KERAS_HOME/datasets or ~/.keras/datasets); only then the
`keras.datasets` download. A user who downloaded once can work offline, and with nothing found
and no network the error says where it looked and how to point at a copy.

Files found locally are never handed to `keras.datasets.*.load_data()`: Keras checks the original
download's checksum and, offline, deletes a file that does not match.

CIFAR-10's "python version" batches are pickles. They are read with an unpickler that can rebuild
only plain containers and NumPy arrays, so a crafted batch file cannot run code.

Each file is read once, as bytes, and its SHA-256 is taken from those bytes before they are
parsed: a Dataset's `files` says which bytes a run used, at no second read.
"""

import functools
import gzip
import hashlib
import importlib
import io
import math
import os
import pickle
import re
import signal
import subprocess
import time
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "TUTORIALS_DATA_DIR"
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

    TensorFlow can then use the array in place (engines.keras_model.as_tensor) instead of copying
    it: the training set is held once, not twice.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start : start + size].view(dtype).reshape(shape)


def keras_cache_dir():
    """Keras's dataset cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def search_dirs(data_dir=None):
    """Folders to look in, in order: the explicit one (or $TUTORIALS_DATA_DIR), then Keras's
    cache. DataError (exit code 2, as a bad --data-dir) when $TUTORIALS_DATA_DIR is used and
    is not a folder: a typo there is reported, not searched past and then downloaded."""
    explicit = data_dir
    if not explicit and os.environ.get(DATA_DIR_ENV):
        explicit = Path(os.environ[DATA_DIR_ENV])
        if not explicit.is_dir():
            raise DataError(
                f"${DATA_DIR_ENV}: {explicit} "
                f"{'is not a folder' if explicit.exists() else 'does not exist'} "
                f"(point it at the datasets folder, or unset it)"
            )
    folders = [Path(explicit)] if explicit else []
    return folders + [keras_cache_dir()]


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


# ## CIFAR-10


def _find_cifar10(data_dir=None):
    """(the folder searched, the folder holding the batches), or (None, None)."""
    for folder in search_dirs(data_dir):
        for candidate in (
            folder / "cifar-10-batches-py-target" / "cifar-10-batches-py",
            folder / "cifar-10-batches-py",
            folder,
        ):
            if (candidate / "data_batch_1").is_file():
                return folder, candidate
    return None, None


def find_cifar10(data_dir=None):
    """The first folder holding CIFAR-10's python batches, or None. In each searched folder:
    the Keras 3 layout, the older layout, or the batches themselves."""
    return _find_cifar10(data_dir)[1]


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


CIFAR10_BATCHES = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch")


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


def _download(name):
    """(x_train, y_train), (x_test, y_test) from keras.datasets.<name>.load_data()."""
    from reproduction.plumbing.backend import keras

    return getattr(keras.datasets, name).load_data()


def _one_line(text, limit=200):
    """`text` on one line (whitespace runs become one space), cut at `limit` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _causes(error):
    """`error` and the exceptions it was raised from or while handling, outermost first."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


# Keras turns urllib's errors into Exception("URL fetch failure on URL: CODE -- REASON").
_KERAS_FETCH_FAILURE = re.compile(r"URL fetch failure on \S+: (\S+) -- (.*)", re.DOTALL)


def download_failure_reason(error):
    """Why a Keras download failed, in a few words on one line: "no network: <class>:
    <message>" when no connection could be made, "the server answered HTTP <code> <reason>"
    when it refused, else the exception's class and message."""
    for cause in _causes(error):
        if isinstance(cause, urllib.error.HTTPError):  # a URLError too: checked first
            return _one_line(f"the server answered HTTP {cause.code} {cause.msg}")
        if isinstance(cause, urllib.error.URLError):
            reason = cause.reason  # often the socket error itself (name resolution, refused)
            if isinstance(reason, BaseException):
                return _one_line(f"no network: {type(reason).__name__}: {reason}")
            return _one_line(f"no network: {type(cause).__name__}: {reason}")
        if isinstance(cause, (ConnectionError, TimeoutError)):
            return _one_line(f"no network: {type(cause).__name__}: {cause}")
    fetch_failure = _KERAS_FETCH_FAILURE.search(str(error))
    if fetch_failure:  # the urllib error itself was not kept: read Keras's message
        code, reason = fetch_failure.groups()
        if code.isdigit():
            return _one_line(f"the server answered HTTP {code} {reason}")
        return _one_line(f"no network: {reason}")
    if "URL fetch failure" in str(error):
        return _one_line(f"no network: {type(error).__name__}: {error}")
    return _one_line(f"{type(error).__name__}: {error}")


def _hash_file(path):
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _downloaded_files(name):
    """{name relative to Keras's cache: sha256 hex} of the files a Keras download of `name`
    left in the cache (those that are there). Keras read them, not this module, so these are
    hashed by a second read: the one place that costs one, once per download."""
    cache = keras_cache_dir()
    files = {}
    for relative in DATASETS[name].cache_files:
        if (cache / relative).is_file():
            files[relative] = _hash_file(cache / relative)
    return files


def _downloaded(name, title, data_dir, holding, class_names, image_shape, expected_counts):
    """The Keras download of a dataset found nowhere locally, checked like a local copy;
    DataError with the places searched and why the download failed (offline, say)."""
    try:
        (x_train, y_train), (x_test, y_test) = _download(name)
    except MemoryError:
        raise NotEnoughMemory(
            f"keras download ({name}): not enough memory to load {title}"
        ) from None
    except Exception as error:  # Keras raises bare Exceptions for network failures
        looked = ", ".join(str(d) for d in search_dirs(data_dir))
        raise DataError(
            f"{title} not found (looked in {looked}) and the download failed "
            f"({download_failure_reason(error)}); point --data-dir (or ${DATA_DIR_ENV}) at a "
            f"folder holding {holding}"
        ) from None
    source = f"keras download ({name})"
    x_train, y_train = _checked(source, x_train, y_train.reshape(-1), image_shape)
    x_test, y_test = _checked(source, x_test, y_test.reshape(-1), image_shape)
    _check_counts(source, len(y_train), len(y_test), expected_counts)
    try:
        files = _downloaded_files(name)
    except OSError:  # the arrays are fine; a cache file that cannot be reread only goes unnamed
        files = {}
    return Dataset(
        _aligned_copy(x_train), y_train, x_test, y_test, class_names, source, files=files
    )


def load_cifar10(data_dir=None, expected_counts=CIFAR10_COUNTS):
    """CIFAR-10 from the first local copy found (see the module docstring), else Keras's
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


def _aligned_copy(array):
    copy = aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


# ## Checks shared by the loaders


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


# ## MNIST (mnist.npz) and Fashion-MNIST (the four idx files Keras downloads)

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


def find_mnist(data_dir=None):
    """The first mnist.npz in the searched folders, or None."""
    for folder in search_dirs(data_dir):
        if (folder / "mnist.npz").is_file():
            return folder / "mnist.npz"
    return None


def _find_fashion_mnist(data_dir=None):
    """(the folder searched, the folder holding the four idx files), or (None, None)."""
    for folder in search_dirs(data_dir):
        for candidate in (folder / "fashion-mnist", folder):
            if all((candidate / name).is_file() for name in FASHION_MNIST_FILES):
                return folder, candidate
    return None, None


def find_fashion_mnist(data_dir=None):
    """The first folder holding the four Fashion-MNIST idx files (Keras's fashion-mnist/
    layout, or the files themselves), or None."""
    return _find_fashion_mnist(data_dir)[1]


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


# ## Every dataset by name: look-ups, a preflight check, and building the local copies


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

MAKE_DATASETS = "make-datasets"  # the script that builds the local copies (see README, Data)


def find_make_datasets(data_dir=None):
    """The first searched folder's make-datasets script (a Path, as the folder was given), or
    None."""
    for folder in search_dirs(data_dir):
        if (folder / MAKE_DATASETS).is_file():
            return folder / MAKE_DATASETS
    return None


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
