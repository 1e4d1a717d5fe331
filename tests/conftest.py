"""Shared test set-up: the opt-in real-data tests, and 'no tests' never failing a run."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

DATA_ENV = "TUTORIALS_DATA_DIR"


def pytest_addoption(parser):
    parser.addoption("--data-dir", default=os.environ.get(DATA_ENV),
                     help=f"folder with the real datasets; turns on tests marked 'data' "
                          f"(default: ${DATA_ENV})")


def pytest_collection_modifyitems(config, items):
    data_dir = config.getoption("--data-dir")
    if data_dir and Path(data_dir).is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the real datasets: pytest --data-dir=DIR or {DATA_ENV}")
    for item in items:
        if "data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def data_dir(request):
    return Path(request.config.getoption("--data-dir"))


def pytest_sessionfinish(session, exitstatus):
    # A selection that happens to contain no tests (say, only data tests without data) is not
    # a failure.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def write_batches(folder, per_batch=4, test=6, seed=0):
    """CIFAR-10 python batches as the authors' format has them, with few images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        batch = {b"batch_label": name.encode(), b"filenames": [b"x.png"] * n,
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    return folder


def write_idx(path, array):
    """A gzip'd idx file of unsigned bytes, as the MNIST and Fashion-MNIST files are."""
    import gzip

    array = np.asarray(array, np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as stream:
        stream.write(header + array.tobytes())
    return path


def write_fashion_mnist(folder, train=12, test=6, seed=0):
    """The four Fashion-MNIST idx files Keras downloads, with few images."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train), ("t10k", test)):
        write_idx(folder / f"{split}-images-idx3-ubyte.gz",
                  rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    return folder


def write_mnist_npz(path, train=12, test=6, seed=0, **overrides):
    """An mnist.npz with Keras's keys and dtypes, few images; `overrides` replace arrays."""
    rng = np.random.default_rng(seed)
    arrays = {"x_train": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
              "y_train": rng.integers(0, 10, train).astype(np.uint8),
              "x_test": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
              "y_test": rng.integers(0, 10, test).astype(np.uint8)}
    arrays.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path
