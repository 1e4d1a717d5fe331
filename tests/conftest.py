"""Shared test set-up: the opt-in real-data tests, the tiny datasets every other test reads
(fixtures tiny_cifar_dir, tiny_mnist_dir, tiny_data_dir; writers write_tiny_datasets,
write_batches, write_mnist_npz, ...), and 'no tests' never failing a run."""

import builtins
import json
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "TUTORIALS_DATA_DIR"


def pytest_addoption(parser):
    parser.addoption(
        "--data-dir",
        default=os.environ.get(DATA_ENV),
        help=f"folder with the real datasets; turns on tests marked 'data' (default: ${DATA_ENV})",
    )


def committed_outputs():
    """{path: sha256} of what the repository shows: the committed report and its figures."""
    import hashlib

    paths = [ROOT / "REPORT.md", *sorted((ROOT / "figures").glob("*"))]
    return {
        path.relative_to(ROOT).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in paths
        if path.is_file()
    }


@pytest.fixture(scope="session", autouse=True)
def committed_outputs_untouched():
    """No test (and no script a test runs with its defaults) writes over the committed report
    or its figures: they are the same after the suite as before it."""
    before = committed_outputs()
    yield
    assert committed_outputs() == before, "a test changed REPORT.md or figures/"


def pytest_collection_modifyitems(config, items):
    data_dir = config.getoption("--data-dir")
    if data_dir and Path(data_dir).is_dir():
        return
    skip = pytest.mark.skip(reason=f"needs the real datasets: pytest --data-dir=DIR or {DATA_ENV}")
    for item in items:
        if "data" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def real_data_dir(request):
    """The folder with the real datasets, for tests marked `data` (skipped without it)."""
    return Path(request.config.getoption("--data-dir"))


# ## Tiny datasets in the real formats, written per test: the data every other test reads


@pytest.fixture
def tiny_cifar_dir(tmp_path):
    """A --data-dir holding tiny CIFAR-10 batches: 5 x 8 training and 12 test images."""
    return write_tiny_datasets(tmp_path / "data", mnist=None, fashion=None)


@pytest.fixture
def tiny_mnist_dir(tmp_path):
    """A --data-dir holding a tiny mnist.npz (80 training, 40 test images, every class in
    both, so fives exist) and tiny Fashion-MNIST files (40 and 20)."""
    return write_tiny_datasets(tmp_path / "data", cifar=None)


@pytest.fixture
def tiny_data_dir(tmp_path):
    """A --data-dir holding all three tiny datasets (as tiny_cifar_dir and tiny_mnist_dir)."""
    return write_tiny_datasets(tmp_path / "data")


@pytest.fixture
def no_keras_cache(tmp_path, monkeypatch):
    """No dataset outside the test's own folders: an empty Keras cache and no
    TUTORIALS_DATA_DIR."""
    from reproduction.data.lookup import DATA_DIR_ENV

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras-home"))
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)


@pytest.fixture
def count_opens(monkeypatch):
    """count_opens(folder) -> the list, filled as the test runs, of the names of files under
    `folder` opened through open() (as test_faults.py counts a run's reads of the data)."""

    def start(folder):
        opened = []
        real_open = builtins.open

        def counting_open(file, *args, **kwargs):
            if isinstance(file, (str, Path)) and Path(file).is_relative_to(folder):
                opened.append(Path(file).name)
            return real_open(file, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", counting_open)
        return opened

    return start


def pytest_sessionfinish(session, exitstatus):
    # A selection that happens to contain no tests (say, only data tests without data) is not
    # a failure.
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK


def recorded_run(main, folder, data_dir, *extra):
    """A script's main(argv) on `data_dir` for 2 epochs (unless `extra` says otherwise), its
    figures and JSON record in `folder`: exit 0 asserted, the record returned."""
    record = folder / "run.json"
    argv = ["--data-dir", str(data_dir), "--epochs", "2", "--figures-dir", str(folder / "figures")]
    assert main([*argv, "--json", str(record), *extra]) == 0
    return json.loads(record.read_text())


def wait_for(condition, seconds, step=0.2):
    """condition()'s first true value within `seconds` (polled every `step`), else its last."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(step)
    return condition()


def is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def write_batches(folder, per_batch=4, test=6, seed=0):
    """CIFAR-10 python batches as the authors' format has them, with few images."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in [(f"data_batch_{i}", per_batch) for i in range(1, 6)] + [("test_batch", test)]:
        batch = {
            b"batch_label": name.encode(),
            b"filenames": [b"x.png"] * n,
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, n)],
        }
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
        write_idx(folder / f"{split}-images-idx3-ubyte.gz", rng.integers(0, 256, (count, 28, 28)))
        write_idx(folder / f"{split}-labels-idx1-ubyte.gz", rng.integers(0, 10, count))
    return folder


def write_mnist_npz(path, train=12, test=6, seed=0, **overrides):
    """An mnist.npz with Keras's keys and dtypes, few images; `overrides` replace arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, train).astype(np.uint8),
        "x_test": rng.integers(0, 256, (test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, test).astype(np.uint8),
    }
    arrays.update(overrides)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def write_tiny_datasets(folder, cifar=(8, 12), mnist=(80, 40), fashion=(40, 20)):
    """The three datasets in the layout make-datasets builds, with few images: CIFAR-10
    batches of (images per training batch, test images), mnist.npz and Fashion-MNIST of
    (training, test) images; None leaves a dataset out. MNIST's labels run through every class
    in order, its test labels shuffled."""
    if cifar:
        write_batches(folder / "cifar-10-batches-py", per_batch=cifar[0], test=cifar[1])
    if mnist:
        train, test = mnist
        labels = np.resize(np.arange(10, dtype=np.uint8), train)
        test_labels = np.random.default_rng(0).permutation(labels[:test])
        write_mnist_npz(
            folder / "mnist.npz", train=train, test=test, y_train=labels, y_test=test_labels
        )
    if fashion:
        write_fashion_mnist(folder / "fashion-mnist", train=fashion[0], test=fashion[1])
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_tensorboard_scalars(log_dir):
    """{(run folder relative to log_dir, tag): [(step, value), ...]} of the scalars in the
    TensorBoard event files under `log_dir`, read back with TensorFlow alone. A tag counts as
    a scalar as TensorBoard decides it: a simple_value, or rank-0 tensors whose metadata names
    the scalars plugin."""
    from reproduction.plumbing.backend import tf

    values, plugins = {}, {}
    for path in sorted(Path(log_dir).rglob("events.out.tfevents.*")):
        folder = path.parent.relative_to(log_dir).as_posix()
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                key = (folder, value.tag)
                if value.HasField("tensor"):  # TF 2: a tensor; the metadata says what it is
                    plugins.setdefault(key, value.metadata.plugin_data.plugin_name)
                    number = tf.make_ndarray(value.tensor)
                    number = float(number) if number.shape == () else None
                else:
                    plugins.setdefault(key, "scalars")
                    number = value.simple_value
                values.setdefault(key, []).append((event.step, number))
    return {key: steps for key, steps in values.items() if plugins[key] == "scalars"}
