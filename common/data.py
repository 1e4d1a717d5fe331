"""Datasets: found locally first, downloaded by Keras only as a last resort, checked before use.

Look-up order for a dataset: an explicit folder (--data-dir), else $TUTORIALS_DATA_DIR; then the
cache Keras already keeps ($KERAS_HOME/datasets or ~/.keras/datasets); only then the
`keras.datasets` download. A user who downloaded once can work offline, and with nothing found
and no network the error says where it looked and how to point at a copy.

Files found locally are never handed to `keras.datasets.*.load_data()`: Keras checks the original
download's checksum and, offline, deletes a file that does not match.

CIFAR-10's "python version" batches are pickles. They are read with an unpickler that can rebuild
only plain containers and NumPy arrays, so a crafted batch file cannot run code.
"""

import functools
import gzip
import importlib
import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DATA_DIR_ENV = "TUTORIALS_DATA_DIR"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
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
                    "MB while loading)") from None

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

    def head(self, train=None, test=None):
        """The first `train` training and `test` test examples (None: all), as views: a smoke
        run's small slice, without copying."""
        return Dataset(self.x_train[:train], self.y_train[:train], self.x_test[:test],
                       self.y_test[:test], self.class_names, self.source, self.note)


def aligned_empty(shape, dtype=np.uint8, alignment=64):
    """An uninitialised array whose data start on an `alignment`-byte boundary.

    TensorFlow can then use the array in place (common.training.as_tensor) instead of copying
    it: the training set is held once, not twice.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    raw = np.empty(size + alignment, np.uint8)
    start = -raw.ctypes.data % alignment
    return raw[start:start + size].view(dtype).reshape(shape)


def keras_cache_dir():
    """Keras's dataset cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def search_dirs(data_dir=None):
    """Folders to look in, in order: the explicit one (or $TUTORIALS_DATA_DIR), then Keras's
    cache."""
    explicit = data_dir or os.environ.get(DATA_DIR_ENV)
    folders = [Path(explicit)] if explicit else []
    return folders + [keras_cache_dir()]


# ## CIFAR-10


def find_cifar10(data_dir=None):
    """The first folder holding CIFAR-10's python batches, or None. In each searched folder:
    the Keras 3 layout, the older layout, or the batches themselves."""
    for folder in search_dirs(data_dir):
        for candidate in (folder / "cifar-10-batches-py-target" / "cifar-10-batches-py",
                          folder / "cifar-10-batches-py",
                          folder):
            if (candidate / "data_batch_1").is_file():
                return candidate
    return None


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
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a CIFAR-10 batch "
                                         "holds only arrays, lists and strings")
        module = {"__builtin__": "builtins"}.get(module, module)  # Python 2's name
        try:  # NumPy 2 renamed numpy.core to numpy._core; old pickles name the former
            found = importlib.import_module(module.replace("numpy.core.", "numpy._core."))
        except ImportError:
            found = importlib.import_module(module)
        return getattr(found, name)


def read_pickle_safely(path):
    """Unpickle `path` allowing only plain containers and NumPy arrays (DataError otherwise)."""
    try:
        with open(path, "rb") as stream:  # unpickled straight from the file: no second copy
            return _ArraysOnlyUnpickler(stream, encoding="bytes").load()
    except OSError as error:
        raise DataError(f"{path}: cannot read: {error.strerror or error}") from None
    except MemoryError:
        raise
    except Exception as error:  # any malformed pickle: truncated, corrupt, not a pickle
        raise DataError(f"{path}: not a valid CIFAR-10 batch ({type(error).__name__}: "
                        f"{error})") from None


def _read_cifar_batch(path):
    """(rows (N, 3072) uint8, labels (N,) uint8, batch label) of one checked batch file."""
    batch = read_pickle_safely(path)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{path}: not a CIFAR-10 batch (expected a dict with data and labels)")
    images, labels = batch[b"data"], batch[b"labels"]
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8 and images.ndim == 2
            and images.shape[1] == 3 * 32 * 32):
        raise DataError(f"{path}: data should be uint8 rows of 3072 values, got "
                        f"{getattr(images, 'dtype', type(images).__name__)} "
                        f"{getattr(images, 'shape', '')}")
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
    return images, labels, str(batch_label)


def _as_images(rows_list):
    """Stack batches of rows (R, G and B planes of 32x32 pixels) into one aligned array in
    Keras's (N, 32, 32, 3) layout, copying each batch once."""
    images = aligned_empty((sum(len(rows) for rows in rows_list), 32, 32, 3))
    start = 0
    for rows in rows_list:
        images[start:start + len(rows)] = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        start += len(rows)
    return images


@_memory_checked("CIFAR-10", CIFAR10_COUNTS, 32 * 32 * 3)
def load_cifar10_batches(folder, expected_counts=CIFAR10_COUNTS):
    """Read data_batch_1..5 and test_batch from `folder`, checked (shapes, dtype, labels,
    counts)."""
    folder = Path(folder)
    parts = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing (a CIFAR-10 folder has data_batch_1..5 and "
                            "test_batch)")
        parts.append(_read_cifar_batch(path))
    _check_counts(folder, sum(len(rows) for rows, _, _ in parts[:5]), len(parts[5][0]),
                  expected_counts)
    x_train = _as_images([rows for rows, _, _ in parts[:5]])
    y_train = np.concatenate([labels for _, labels, _ in parts[:5]])
    x_test, y_test = _as_images([parts[5][0]]), parts[5][1]
    # The copy make-datasets builds says so in its batch labels (its pixels went through JPEG).
    note = ("pixels are a JPEG re-encoding of CIFAR-10 (labels and splits exact), so accuracies "
            "can differ slightly from runs on the original"
            if any("JPEG" in label for _, _, label in parts) else "")
    return Dataset(x_train, y_train, x_test, y_test, CIFAR10_CLASSES, str(folder), note)


def _download(name):
    """(x_train, y_train), (x_test, y_test) from keras.datasets.<name>.load_data()."""
    from common.backend import keras

    return getattr(keras.datasets, name).load_data()


def _downloaded(name, title, data_dir, holding, class_names, image_shape, expected_counts):
    """The Keras download of a dataset found nowhere locally, checked like a local copy;
    DataError with the places searched when it fails (offline)."""
    try:
        (x_train, y_train), (x_test, y_test) = _download(name)
    except MemoryError:
        raise NotEnoughMemory(f"keras download ({name}): not enough memory to load "
                              f"{title}") from None
    except Exception as error:  # Keras raises bare Exceptions for network failures
        looked = ", ".join(str(d) for d in search_dirs(data_dir))
        raise DataError(
            f"{title} not found (looked in {looked}) and the download failed "
            f"({type(error).__name__}); point --data-dir (or ${DATA_DIR_ENV}) at a folder "
            f"holding {holding}") from None
    source = f"keras download ({name})"
    x_train, y_train = _checked(source, x_train, y_train.reshape(-1), image_shape)
    x_test, y_test = _checked(source, x_test, y_test.reshape(-1), image_shape)
    _check_counts(source, len(y_train), len(y_test), expected_counts)
    return Dataset(_aligned_copy(x_train), y_train, x_test, y_test, class_names, source)


def load_cifar10(data_dir=None, expected_counts=CIFAR10_COUNTS):
    """CIFAR-10 from the first local copy found (see the module docstring), else Keras's
    download; DataError with the places searched when neither works."""
    folder = find_cifar10(data_dir)
    if folder is not None:
        return load_cifar10_batches(folder, expected_counts)
    return _downloaded("cifar10", "CIFAR-10", data_dir, "cifar-10-batches-py/", CIFAR10_CLASSES,
                       (32, 32, 3), expected_counts)


def _aligned_copy(array):
    copy = aligned_empty(array.shape, array.dtype)
    copy[...] = array
    return copy


# ## Checks shared by the loaders


def _checked(source, images, labels, image_shape, classes=10):
    """(images, labels as uint8) after checking dtype, shapes, matching counts and label range;
    DataError naming `source` otherwise."""
    if not (isinstance(images, np.ndarray) and images.dtype == np.uint8
            and images.shape[1:] == tuple(image_shape)):
        raise DataError(f"{source}: images should be uint8 of shape (N, "
                        f"{', '.join(map(str, image_shape))}), got "
                        f"{getattr(images, 'dtype', type(images).__name__)} "
                        f"{getattr(images, 'shape', '')}")
    if not (isinstance(labels, np.ndarray) and labels.ndim == 1
            and np.issubdtype(labels.dtype, np.integer)):
        raise DataError(f"{source}: labels should be a list of integers, got "
                        f"{getattr(labels, 'dtype', type(labels).__name__)} "
                        f"{getattr(labels, 'shape', '')}")
    if len(labels) != len(images):
        raise DataError(f"{source}: {len(images)} images but {len(labels)} labels")
    if labels.size and not (0 <= labels.min() and labels.max() < classes):
        raise DataError(f"{source}: labels outside 0-{classes - 1} (found "
                        f"{labels.min()}..{labels.max()})")
    return images, labels.astype(np.uint8)


def _check_counts(source, train_count, test_count, expected_counts):
    if not (train_count and test_count):  # even a small copy needs something to train and test
        raise DataError(f"{source}: {train_count} training and {test_count} test images")
    if expected_counts is not None and (train_count, test_count) != tuple(expected_counts):
        raise DataError(f"{source}: {train_count} training and {test_count} test images, "
                        f"expected {expected_counts[0]} and {expected_counts[1]}")


# ## MNIST (mnist.npz) and Fashion-MNIST (the four idx files Keras downloads)

MNIST_COUNTS = (60_000, 10_000)
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                         "Shirt", "Sneaker", "Bag", "Ankle boot")
FASHION_MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                       "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
_IDX_MAX_VALUES = 100_000_000  # a header asking for more is corrupt, not a bigger dataset


def find_mnist(data_dir=None):
    """The first mnist.npz in the searched folders, or None."""
    for folder in search_dirs(data_dir):
        if (folder / "mnist.npz").is_file():
            return folder / "mnist.npz"
    return None


def find_fashion_mnist(data_dir=None):
    """The first folder holding the four Fashion-MNIST idx files (Keras's fashion-mnist/
    layout, or the files themselves), or None."""
    for folder in search_dirs(data_dir):
        for candidate in (folder / "fashion-mnist", folder):
            if all((candidate / name).is_file() for name in FASHION_MNIST_FILES):
                return candidate
    return None


@_memory_checked("MNIST", MNIST_COUNTS, 28 * 28)
def load_mnist_npz(path, expected_counts=MNIST_COUNTS):
    """MNIST from an .npz with x_train, y_train, x_test, y_test, read without unpickling."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in MNIST_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path}: missing arrays {missing} (expected {MNIST_KEYS})")
            arrays = {key: archive[key] for key in MNIST_KEYS}
    except (DataError, MemoryError):
        raise
    except ValueError as error:
        if "allow_pickle" in str(error):
            raise DataError(f"{path}: holds pickled objects; refused (MNIST is plain uint8 "
                            "arrays)") from None
        raise DataError(f"{path}: not a valid .npz ({error})") from None
    except Exception as error:  # truncated, corrupt, not a zip: one error that names the file
        raise DataError(f"{path}: not a valid .npz ({type(error).__name__}: {error})") from None
    x_train, y_train = _checked(path, arrays["x_train"], arrays["y_train"], (28, 28))
    x_test, y_test = _checked(path, arrays["x_test"], arrays["y_test"], (28, 28))
    _check_counts(path, len(y_train), len(y_test), expected_counts)
    return Dataset(_aligned_copy(x_train), y_train, x_test, y_test, MNIST_CLASSES, str(path))


def read_idx(path):
    """The uint8 array in a gzip'd idx file (the MNIST format: magic 0 0 8 ndim, big-endian
    sizes, then the values); DataError naming the file for anything else."""
    path = Path(path)
    try:
        with gzip.open(path, "rb") as stream:
            header = stream.read(4)
            if len(header) < 4 or header[:3] != b"\x00\x00\x08" or not 1 <= header[3] <= 4:
                raise DataError(f"{path}: not an idx file of unsigned bytes (header "
                                f"{header.hex() or 'empty'})")
            sizes_bytes = stream.read(4 * header[3])
            if len(sizes_bytes) < 4 * header[3]:
                raise DataError(f"{path}: truncated header")
            shape = tuple(int(v) for v in np.frombuffer(sizes_bytes, ">u4"))
            count = int(np.prod(shape, dtype=np.int64))
            if count > _IDX_MAX_VALUES:
                raise DataError(f"{path}: header claims {shape}, too large for this dataset")
            values = stream.read(count)
            if len(values) != count:
                raise DataError(f"{path}: truncated: {len(values)} of {count} values")
            if stream.read(1):
                raise DataError(f"{path}: data beyond the {shape} the header announces")
    except (DataError, MemoryError):
        raise
    except Exception as error:  # not gzip, corrupt stream, unreadable
        raise DataError(f"{path}: cannot read ({type(error).__name__}: {error})") from None
    return np.frombuffer(values, np.uint8).reshape(shape)


@_memory_checked("Fashion-MNIST", MNIST_COUNTS, 28 * 28)
def load_fashion_mnist_folder(folder, expected_counts=MNIST_COUNTS):
    folder = Path(folder)
    x_train, y_train, x_test, y_test = (read_idx(folder / name) for name in FASHION_MNIST_FILES)
    x_train, y_train = _checked(folder / FASHION_MNIST_FILES[0], x_train, y_train, (28, 28))
    x_test, y_test = _checked(folder / FASHION_MNIST_FILES[2], x_test, y_test, (28, 28))
    _check_counts(folder, len(y_train), len(y_test), expected_counts)
    return Dataset(_aligned_copy(x_train), y_train, x_test, y_test, FASHION_MNIST_CLASSES,
                   str(folder))


def load_mnist(data_dir=None, expected_counts=MNIST_COUNTS):
    """MNIST from the first mnist.npz found, else Keras's download (DataError when offline)."""
    path = find_mnist(data_dir)
    if path is not None:
        return load_mnist_npz(path, expected_counts)
    return _downloaded("mnist", "MNIST", data_dir, "mnist.npz", MNIST_CLASSES, (28, 28),
                       expected_counts)


def load_fashion_mnist(data_dir=None, expected_counts=MNIST_COUNTS):
    """Fashion-MNIST from the first folder with its four idx files, else Keras's download."""
    folder = find_fashion_mnist(data_dir)
    if folder is not None:
        return load_fashion_mnist_folder(folder, expected_counts)
    return _downloaded("fashion_mnist", "Fashion-MNIST", data_dir,
                       "fashion-mnist/ with the four idx .gz files", FASHION_MNIST_CLASSES,
                       (28, 28), expected_counts)
