"""data/ (lookup, cifar10, checks, download): look-up order, the arrays-only unpickler, checks,
the offline message.

Default tests write tiny CIFAR-10 batch files in the real format (pickled dicts of bytes keys,
uint8 rows of R, G, B planes); the test marked `data` reads the real copy.
"""

import hashlib
import os
import pickle
import socket
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from conftest import write_batches

from reproduction.data import download as download_module
from reproduction.data.checks import DataError
from reproduction.data.cifar10 import check_cifar10_batches, load_cifar10, load_cifar10_batches
from reproduction.data.download import download_failure_reason
from reproduction.data.lookup import DATA_DIR_ENV, find_cifar10

TINY = (5 * 4, 6)  # 4 images per training batch, 6 test images


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
    keras3 = write_batches(
        keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    )
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    assert find_cifar10(tmp_path / "mine") == explicit  # explicit first
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "mine"))
    assert find_cifar10() == explicit  # then the environment variable
    monkeypatch.delenv(DATA_DIR_ENV)
    assert find_cifar10() == keras3  # then Keras 3's cache layout
    older = write_batches(tmp_path / "keras2" / "datasets" / "cifar-10-batches-py")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras2"))
    assert find_cifar10() == older  # and the older layout
    assert find_cifar10(tmp_path / "nothing-here") == older  # a bad explicit dir falls through


def test_found_copy_is_used_without_download(tmp_path, monkeypatch, no_keras_cache):
    write_batches(tmp_path / "cifar-10-batches-py")

    def no_download(name):
        raise AssertionError("downloaded although a local copy exists")

    monkeypatch.setattr(download_module, "_download", no_download)
    assert load_cifar10(tmp_path, expected_counts=TINY).source.endswith("cifar-10-batches-py")


def test_offline_with_nothing_found_says_where_it_looked(tmp_path, monkeypatch, no_keras_cache):
    def offline(name):
        raise Exception("URL fetch failure: [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download_module, "_download", offline)
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
    path.write_bytes(
        {"truncated": raw[: len(raw) // 2], "empty": b"", "garbage": b"not a pickle at all"}[damage]
    )
    with pytest.raises(DataError, match="test_batch"):
        load_cifar10_batches(folder, expected_counts=TINY)


@pytest.mark.parametrize(
    "field, value, message",
    [
        (b"data", np.zeros((4, 3072), np.float32), "uint8 rows"),
        (b"data", np.zeros((4, 100), np.uint8), "uint8 rows"),
        (b"labels", [0, 1, 2], "4 images but 3 labels"),
        (b"labels", [0, 1, 2, 10], "labels outside 0-9"),
    ],
)
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


# ## Checksums of the files read, each file opened once


def sha256_of(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_files_are_the_sha256_of_each_batch_read_once(tmp_path, count_opens, no_keras_cache):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    opened = count_opens(tmp_path)
    ds = load_cifar10(tmp_path, expected_counts=TINY)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    assert ds.files == {f"cifar-10-batches-py/{name}": sha256_of(folder / name) for name in names}
    assert sorted(opened) == sorted(names)  # each once: hashed from the bytes parsed
    assert ds.head(2, 3).files == ds.files
    assert load_cifar10_batches(folder, expected_counts=TINY).files == ds.files  # direct call


def test_files_are_named_relative_to_the_folder_searched(tmp_path, monkeypatch, no_keras_cache):
    keras_home = tmp_path / "keras"
    write_batches(keras_home / "datasets" / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    ds = load_cifar10(expected_counts=TINY)
    assert "cifar-10-batches-py-target/cifar-10-batches-py/test_batch" in ds.files
    bare = write_batches(tmp_path / "just-batches")  # the batches directly in --data-dir
    assert "test_batch" in load_cifar10(bare, expected_counts=TINY).files
    assert str(bare / "test_batch") not in load_cifar10(bare, expected_counts=TINY).files


def test_preflight_check_reads_without_building(tmp_path):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    check_cifar10_batches(folder, expected_counts=TINY)
    with pytest.raises(DataError, match="expected 50000"):
        check_cifar10_batches(folder)
    (folder / "data_batch_5").write_bytes(b"garbage")
    with pytest.raises(DataError, match="data_batch_5"):
        check_cifar10_batches(folder, expected_counts=None)


# ## A failed download says why; a bad $TUTORIALS_DATA_DIR is a usage error


def _name_resolution_failure(name):
    """What Keras raises offline: a bare Exception, raised while handling urllib's URLError."""
    try:
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))
    except urllib.error.URLError as error:
        message = f"URL fetch failure on https://example/{name}: {error.errno} -- {error.reason}"
        raise Exception(message)  # noqa: B904 (as Keras does: only the context is kept)


def _refused(name):
    raise ConnectionRefusedError(111, "Connection refused")


def _not_found_on_server(name):
    try:
        raise urllib.error.HTTPError("https://example/x", 404, "Not Found", {}, None)
    except urllib.error.HTTPError as error:
        message = f"URL fetch failure on https://example/x: {error.code} -- {error.msg}"
        raise Exception(message)  # noqa: B904 (as Keras does: only the context is kept)


def _corrupted(name):
    raise ValueError("Incomplete or corrupted file detected.\nThe sha256 does not match")


@pytest.mark.parametrize(
    "download, says",
    [
        (
            _name_resolution_failure,
            "(no network: gaierror: [Errno -3] Temporary failure in name resolution)",
        ),
        (_refused, "(no network: ConnectionRefusedError: [Errno 111] Connection refused)"),
        (_not_found_on_server, "(the server answered HTTP 404 Not Found)"),
        (
            _corrupted,
            "(ValueError: Incomplete or corrupted file detected. The sha256 does not match)",
        ),
    ],
)
def test_failed_download_says_why(tmp_path, monkeypatch, no_keras_cache, download, says):
    monkeypatch.setattr(download_module, "_download", download)
    with pytest.raises(DataError) as error:
        load_cifar10(tmp_path / "nowhere")
    message = str(error.value)
    assert says in message and "\n" not in message, message
    assert "(Exception)" not in message


def test_keras_message_alone_still_reads_as_no_network():
    error = Exception(
        "URL fetch failure on https://x/mnist.npz: None -- [Errno 101] Network is unreachable"
    )
    assert download_failure_reason(error) == ("no network: [Errno 101] Network is unreachable")
    assert len(download_failure_reason(Exception("x" * 1000))) <= 200


@pytest.mark.parametrize(
    "make, says",
    [(lambda path: None, "does not exist"), (lambda path: path.write_text("x"), "is not a folder")],
)
def test_data_dir_variable_naming_no_folder_is_a_usage_error(
    tmp_path, monkeypatch, no_keras_cache, make, says
):
    def no_download(name):
        raise AssertionError("searched past a bad $TUTORIALS_DATA_DIR and downloaded")

    monkeypatch.setattr(download_module, "_download", no_download)
    write_batches(tmp_path / "empty-keras-home" / "datasets" / "cifar-10-batches-py")
    wrong = tmp_path / "typo"
    make(wrong)
    monkeypatch.setenv(DATA_DIR_ENV, str(wrong))
    with pytest.raises(DataError) as error:  # not read from Keras's cache behind its back
        load_cifar10(expected_counts=TINY)
    assert error.value.exit_code == 2
    assert f"${DATA_DIR_ENV}: {wrong} {says}" in str(error.value)
    # An explicit folder (--data-dir, checked by argparse) takes the variable's place.
    assert load_cifar10(tmp_path / "empty-keras-home" / "datasets", expected_counts=TINY).files
    monkeypatch.setenv(DATA_DIR_ENV, "")  # set but empty: not used, as before
    assert load_cifar10(expected_counts=TINY).files


@pytest.mark.data
def test_real_cifar10(real_data_dir):
    ds = load_cifar10(real_data_dir)
    assert ds.x_train.shape == (50_000, 32, 32, 3) and ds.x_test.shape == (10_000, 32, 32, 3)
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.files["cifar-10-batches-py/test_batch"] == sha256_of(
        real_data_dir / "cifar-10-batches-py" / "test_batch"
    )
    assert len(ds.files) == 6
