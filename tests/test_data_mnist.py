"""data/mnist.py for MNIST (mnist.npz, no pickles) and Fashion-MNIST (gzip'd idx files)."""

import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from conftest import write_fashion_mnist, write_idx, write_mnist_npz

from reproduction.data import download
from reproduction.data.checks import DataError
from reproduction.data.lookup import DATA_DIR_ENV
from reproduction.data.mnist import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    load_fashion_mnist,
    load_fashion_mnist_folder,
    load_mnist,
    load_mnist_npz,
    read_idx,
)


def test_reads_tiny_mnist_npz(tmp_path):
    ds = load_mnist_npz(write_mnist_npz(tmp_path / "mnist.npz"), expected_counts=(12, 6))
    assert ds.x_train.shape == (12, 28, 28) and ds.x_test.shape == (6, 28, 28)
    assert ds.y_train.dtype == np.uint8 and ds.class_names[5] == "5"
    assert ds.x_train.ctypes.data % 64 == 0  # shared with TensorFlow without a copy


class _Marker:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_npz_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "mnist.npz"
    write_mnist_npz(path, y_train=np.array([_Marker(marker)] * 12, dtype=object))
    with pytest.raises(DataError, match="pickled objects"):
        load_mnist_npz(path, expected_counts=None)
    assert not marker.exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"x_train": np.zeros((12, 28, 28), np.float32)}, "uint8"),
        ({"x_test": np.zeros((6, 28, 27), np.uint8)}, "shape"),
        ({"y_train": np.full(12, 10, np.uint8)}, "labels outside 0-9"),
        ({"y_test": np.zeros(5, np.uint8)}, "6 images but 5 labels"),
        ({"y_test": np.zeros((6, 1), np.uint8)}, "list of integers"),
    ],
)
def test_wrong_npz_content_is_caught(tmp_path, overrides, message):
    path = write_mnist_npz(tmp_path / "mnist.npz", **overrides)
    with pytest.raises(DataError, match=message) as error:
        load_mnist_npz(path, expected_counts=None)
    assert str(path) in str(error.value)


def test_missing_key_and_counts(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=np.zeros((1, 28, 28), np.uint8))
    with pytest.raises(DataError, match="missing arrays"):
        load_mnist_npz(path)
    with pytest.raises(DataError, match="expected 60000 and 10000"):
        load_mnist_npz(write_mnist_npz(tmp_path / "small.npz"))


@pytest.mark.parametrize("damage", ["truncate", "empty", "garbage"])
def test_damaged_npz_names_the_file(tmp_path, damage):
    path = write_mnist_npz(tmp_path / "mnist.npz")
    raw = path.read_bytes()
    path.write_bytes(
        {"truncate": raw[: len(raw) // 2], "empty": b"", "garbage": b"not a zip file at all" * 10}[
            damage
        ]
    )
    with pytest.raises(DataError) as error:
        load_mnist_npz(path, expected_counts=None)
    assert str(path) in str(error.value)


def test_reads_tiny_fashion_mnist(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    ds = load_fashion_mnist_folder(folder, expected_counts=(12, 6))
    assert ds.x_train.shape == (12, 28, 28) and ds.y_test.shape == (6,)
    assert ds.class_names == FASHION_MNIST_CLASSES and ds.class_names[9] == "Ankle boot"


def test_idx_round_trip(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "a.gz", array)), array)


def _gz(path, payload):
    with gzip.open(path, "wb") as stream:
        stream.write(payload)
    return path


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "header empty"),
        (b"\x00\x00\x0d\x01" + b"\x00\x00\x00\x01" + b"\x00" * 4, "unsigned bytes"),  # floats
        (b"\x00\x00\x08\x01\x00\x00", "truncated header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x05" + b"\x01\x02", "truncated: 2 of 5"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x02" + b"\x01\x02\x03", "beyond"),
        (b"\x00\x00\x08\x03" + b"\xff\xff\xff\xff" * 3, "too large"),
    ],
)
def test_bad_idx_names_the_file(tmp_path, payload, message):
    path = _gz(tmp_path / "x.gz", payload)
    with pytest.raises(DataError, match=message) as error:
        read_idx(path)
    assert str(path) in str(error.value)


def test_not_gzip_is_a_data_error(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(path)


def test_fashion_labels_checked(tmp_path):
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.full(6, 12))
    with pytest.raises(DataError, match="labels outside"):
        load_fashion_mnist_folder(folder, expected_counts=None)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.zeros(4))
    with pytest.raises(DataError, match="6 images but 4 labels"):
        load_fashion_mnist_folder(folder, expected_counts=None)


def test_lookup_order(tmp_path, monkeypatch, no_keras_cache):
    cache = tmp_path / "empty-keras-home" / "datasets"
    write_mnist_npz(cache / "mnist.npz", seed=1)
    write_fashion_mnist(cache / "fashion-mnist", seed=1)
    assert load_mnist(expected_counts=None).source == str(cache / "mnist.npz")
    assert load_fashion_mnist(expected_counts=None).source == str(cache / "fashion-mnist")
    explicit = tmp_path / "mine"
    write_mnist_npz(explicit / "mnist.npz")
    write_fashion_mnist(explicit)  # the files directly in the folder also count
    assert load_mnist(explicit, expected_counts=None).source == str(explicit / "mnist.npz")
    assert load_fashion_mnist(explicit, expected_counts=None).source == str(explicit)
    monkeypatch.setenv(DATA_DIR_ENV, str(explicit))
    assert load_mnist(expected_counts=None).source == str(explicit / "mnist.npz")


@pytest.mark.parametrize(
    "loader, holding", [(load_mnist, "mnist.npz"), (load_fashion_mnist, "fashion-mnist/")]
)
def test_offline_with_nothing_found(tmp_path, monkeypatch, no_keras_cache, loader, holding):
    def offline(name):
        raise Exception("URL fetch failure")

    monkeypatch.setattr(download, "_download", offline)
    with pytest.raises(DataError) as error:
        loader(tmp_path / "nowhere")
    message = str(error.value)
    assert "looked in" in message and holding in message and "\n" not in message


def test_download_is_checked_too(tmp_path, monkeypatch, no_keras_cache):
    def bad_download(name):
        images = np.zeros((3, 28, 28), np.uint8)
        return (images, np.array([0, 1, 11])), (images, np.zeros(3))

    monkeypatch.setattr(download, "_download", bad_download)
    with pytest.raises(DataError, match="keras download"):
        load_mnist(tmp_path / "nowhere", expected_counts=None)


# ## Checksums of the files read, each file opened once


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_mnist_files_hold_the_npz_sha256_read_once(tmp_path, count_opens, no_keras_cache):
    path = write_mnist_npz(tmp_path / "mnist.npz")
    opened = count_opens(tmp_path)
    ds = load_mnist(tmp_path, expected_counts=None)
    assert ds.files == {"mnist.npz": sha256_of(path)} and opened == ["mnist.npz"]
    assert ds.head(3, 2).files == ds.files
    assert load_mnist_npz(path, expected_counts=None).files == ds.files


@pytest.mark.parametrize("layout", ["fashion-mnist", "."])
def test_fashion_files_hold_each_idx_sha256_read_once(
    tmp_path, count_opens, no_keras_cache, layout
):
    folder = write_fashion_mnist(tmp_path / layout)
    opened = count_opens(tmp_path)
    ds = load_fashion_mnist(tmp_path, expected_counts=None)
    prefix = "" if layout == "." else f"{layout}/"
    assert ds.files == {f"{prefix}{name}": sha256_of(folder / name) for name in FASHION_MNIST_FILES}
    assert sorted(opened) == sorted(FASHION_MNIST_FILES)
    assert ds.head(1, 1).files == ds.files


def test_downloaded_files_are_hashed_from_the_keras_cache(tmp_path, monkeypatch, no_keras_cache):
    cache = tmp_path / "empty-keras-home" / "datasets"

    def keras_download(name):  # as Keras does: the file lands in its cache, arrays come back
        path = write_mnist_npz(cache / "mnist.npz")
        with np.load(path) as archive:
            return (archive["x_train"], archive["y_train"]), (archive["x_test"], archive["y_test"])

    monkeypatch.setattr(download, "_download", keras_download)
    ds = load_mnist(tmp_path / "nowhere", expected_counts=None)
    assert ds.source == "keras download (mnist)"
    assert ds.files == {"mnist.npz": sha256_of(cache / "mnist.npz")}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a zip file at all" * 10,
        pickle.dumps({"x_train": [1, 2, 3]}),
        b"\x93NUMPY" + b"\x00" * 100,
    ],
)
def test_a_file_that_is_no_archive_says_so(tmp_path, content):
    path = tmp_path / "mnist.npz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not an npz archive") as error:
        load_mnist_npz(path, expected_counts=None)
    assert str(path) in str(error.value) and "pickled" not in str(error.value)


@pytest.mark.data
def test_real_mnist_and_fashion_mnist(real_data_dir):
    mnist = load_mnist(real_data_dir)
    assert mnist.files == {"mnist.npz": sha256_of(real_data_dir / "mnist.npz")}
    assert mnist.x_train.shape == (60_000, 28, 28) and mnist.x_test.shape == (10_000, 28, 28)
    assert abs(np.mean(mnist.y_test == 5) - 0.0892) < 1e-4  # 892 fives in the test set
    fashion = load_fashion_mnist(real_data_dir)
    assert np.bincount(fashion.y_train).tolist() == [6000] * 10
    assert sorted(fashion.files) == sorted(f"fashion-mnist/{name}" for name in FASHION_MNIST_FILES)
