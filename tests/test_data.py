"""common/data.py: look-up order, the arrays-only unpickler, checks, the offline message.

Default tests write tiny CIFAR-10 batch files in the real format (pickled dicts of bytes keys,
uint8 rows of R, G, B planes); the test marked `data` reads the real copy.
"""

import os
import pickle

import numpy as np
import pytest
from conftest import write_batches

from common import data
from common.data import DataError, find_cifar10, load_cifar10, load_cifar10_batches

TINY = (5 * 4, 6)  # 4 images per training batch, 6 test images


@pytest.fixture
def no_keras_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "empty-keras-home"))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)


def test_reads_tiny_batches_in_keras_layout(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    ds = load_cifar10_batches(folder, expected_counts=TINY)
    assert ds.x_train.shape == (20, 32, 32, 3) and ds.x_test.shape == (6, 32, 32, 3)
    assert ds.x_train.dtype == np.uint8 and ds.y_train.dtype == np.uint8
    # Pixel (row 1, col 2) of image 0 in Keras's layout is R, G, B from the three planes.
    raw = pickle.loads((folder / "data_batch_1").read_bytes())[b"data"][0]
    np.testing.assert_array_equal(ds.x_train[0, 1, 2], raw[[32 + 2, 1024 + 32 + 2, 2048 + 34]])
    assert ds.class_names[0] == "airplane" and len(ds.class_names) == 10


def test_lookup_order(tmp_path, monkeypatch, no_keras_cache):
    explicit = write_batches(tmp_path / "mine" / "cifar-10-batches-py")
    keras_home = tmp_path / "keras"
    keras3 = write_batches(keras_home / "datasets" / "cifar-10-batches-py-target"
                           / "cifar-10-batches-py")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    assert find_cifar10(tmp_path / "mine") == explicit  # explicit first
    monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path / "mine"))
    assert find_cifar10() == explicit  # then the environment variable
    monkeypatch.delenv(data.DATA_DIR_ENV)
    assert find_cifar10() == keras3  # then Keras 3's cache layout
    older = write_batches(tmp_path / "keras2" / "datasets" / "cifar-10-batches-py")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras2"))
    assert find_cifar10() == older  # and the older layout
    assert find_cifar10(tmp_path / "nothing-here") == older  # a bad explicit dir falls through


def test_found_copy_is_used_without_download(tmp_path, monkeypatch, no_keras_cache):
    write_batches(tmp_path / "cifar-10-batches-py")

    def no_download(name):
        raise AssertionError("downloaded although a local copy exists")

    monkeypatch.setattr(data, "_download", no_download)
    assert load_cifar10(tmp_path, expected_counts=TINY).source.endswith("cifar-10-batches-py")


def test_offline_with_nothing_found_says_where_it_looked(tmp_path, monkeypatch, no_keras_cache):
    def offline(name):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_download", offline)
    with pytest.raises(DataError) as error:
        load_cifar10(tmp_path / "nowhere")
    message = str(error.value)
    assert str(tmp_path / "nowhere") in message and "empty-keras-home" in message
    assert "--data-dir" in message and "\n" not in message


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    marker = tmp_path / "pwned"
    evil = {b"data": _RunsCode(marker), b"labels": [0]}
    (folder / "data_batch_3").write_bytes(pickle.dumps(evil, protocol=2))
    with pytest.raises(DataError, match=r"data_batch_3.*refusing to load (posix|os)\.system"):
        load_cifar10_batches(folder, expected_counts=TINY)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage"])
def test_damaged_file_names_the_file(tmp_path, damage):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    path = folder / "test_batch"
    raw = path.read_bytes()
    path.write_bytes({"truncated": raw[: len(raw) // 2], "empty": b"",
                      "garbage": b"not a pickle at all"}[damage])
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10_batches(folder, expected_counts=TINY)


@pytest.mark.parametrize("field, value, message", [
    (b"data", np.zeros((4, 3072), np.float32), "uint8 rows"),
    (b"data", np.zeros((4, 100), np.uint8), "uint8 rows"),
    (b"labels", [0, 1, 2], "4 images but 3 labels"),
    (b"labels", [0, 1, 2, 10], "labels outside 0-9"),
])
def test_wrong_content_is_caught(tmp_path, field, value, message):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    path = folder / "data_batch_2"
    batch = pickle.loads(path.read_bytes())
    batch[field] = value
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match=message):
        load_cifar10_batches(folder, expected_counts=TINY)


def test_an_empty_split_is_caught_even_for_small_copies(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py", test=0)
    with pytest.raises(DataError, match="20 training and 0 test images"):
        load_cifar10_batches(folder, expected_counts=None)


def test_wrong_counts_are_caught(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    with pytest.raises(DataError, match="20 training and 6 test images, expected 50000"):
        load_cifar10_batches(folder)


@pytest.mark.data
def test_real_cifar10(data_dir):
    ds = load_cifar10(data_dir)
    assert ds.x_train.shape == (50_000, 32, 32, 3) and ds.x_test.shape == (10_000, 32, 32, 3)
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
