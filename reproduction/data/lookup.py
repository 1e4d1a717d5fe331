"""Where a dataset is found: locally first, downloaded by Keras only as a last resort.

Look-up order for a dataset: an explicit folder (--data-dir), else $TUTORIALS_DATA_DIR; then the
cache Keras already keeps ($KERAS_HOME/datasets or ~/.keras/datasets); only then the
`keras.datasets` download (data/download.py). A user who downloaded once can work offline, and
with nothing found and no network the error says where it looked and how to point at a copy.

Files found locally are never handed to `keras.datasets.*.load_data()`: Keras checks the original
download's checksum and, offline, deletes a file that does not match. They are read by the
loaders of data/cifar10.py and data/mnist.py instead.
"""

import os
from pathlib import Path

from reproduction.data.checks import DataError

DATA_DIR_ENV = "TUTORIALS_DATA_DIR"


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


def find_mnist(data_dir=None):
    """The first mnist.npz in the searched folders, or None."""
    for folder in search_dirs(data_dir):
        if (folder / "mnist.npz").is_file():
            return folder / "mnist.npz"
    return None


def _find_fashion_mnist(data_dir=None):
    """(the folder searched, the folder holding the four idx files), or (None, None)."""
    # Imported here, not above: mnist.py imports this module (its loaders look copies up here).
    from reproduction.data.mnist import FASHION_MNIST_FILES

    for folder in search_dirs(data_dir):
        for candidate in (folder / "fashion-mnist", folder):
            if all((candidate / name).is_file() for name in FASHION_MNIST_FILES):
                return folder, candidate
    return None, None


def find_fashion_mnist(data_dir=None):
    """The first folder holding the four Fashion-MNIST idx files (Keras's fashion-mnist/
    layout, or the files themselves), or None."""
    return _find_fashion_mnist(data_dir)[1]


MAKE_DATASETS = "make-datasets"  # the script that builds the local copies (see docs/data.md)


def find_make_datasets(data_dir=None):
    """The first searched folder's make-datasets script (a Path, as the folder was given), or
    None."""
    for folder in search_dirs(data_dir):
        if (folder / MAKE_DATASETS).is_file():
            return folder / MAKE_DATASETS
    return None
