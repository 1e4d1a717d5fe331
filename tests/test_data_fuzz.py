"""Property-based checks of every loader: damaged files always end in the project's DataError
naming the file, never another exception, never code run, never a hang."""

import pickle

import numpy as np
import pytest
from conftest import write_batches, write_fashion_mnist, write_mnist_npz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.data import DataError, load_cifar10_batches, load_fashion_mnist_folder, load_mnist_npz

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def damaged(raw, data):
    """A damaged copy of `raw`: cut short, bits flipped, emptied, or replaced by garbage."""
    kind = data.draw(st.sampled_from(["truncate", "flip", "empty", "garbage"]))
    if kind == "truncate":
        return raw[:data.draw(st.integers(0, max(len(raw) - 1, 0)))]
    if kind == "flip":
        out = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            position = data.draw(st.integers(0, len(out) - 1))
            out[position] ^= 1 << data.draw(st.integers(0, 7))
        return bytes(out)
    if kind == "empty":
        return b""
    return data.draw(st.binary(min_size=1, max_size=2000))


def loads_or_data_error(load, path):
    """The loader either succeeds (a flip may leave a file valid) or raises DataError that
    names the file; anything else fails the test."""
    try:
        load()
    except DataError as error:
        assert str(path.name) in str(error) or str(path.parent) in str(error)


@FUZZ
@given(data=st.data())
def test_cifar_batches(tmp_path_factory, data):
    folder = write_batches(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py")
    target = folder / data.draw(st.sampled_from(["data_batch_2", "test_batch"]))
    target.write_bytes(damaged(target.read_bytes(), data))
    loads_or_data_error(lambda: load_cifar10_batches(folder, expected_counts=None), target)


@FUZZ
@given(data=st.data())
def test_mnist_npz(tmp_path_factory, data):
    path = write_mnist_npz(tmp_path_factory.mktemp("mnist") / "mnist.npz")
    path.write_bytes(damaged(path.read_bytes(), data))
    loads_or_data_error(lambda: load_mnist_npz(path, expected_counts=None), path)


@FUZZ
@given(data=st.data())
def test_fashion_mnist_idx(tmp_path_factory, data):
    folder = write_fashion_mnist(tmp_path_factory.mktemp("fashion") / "fashion-mnist")
    target = folder / data.draw(st.sampled_from(sorted(p.name for p in folder.iterdir())))
    target.write_bytes(damaged(target.read_bytes(), data))
    loads_or_data_error(lambda: load_fashion_mnist_folder(folder, expected_counts=None), target)


@pytest.mark.parametrize("field, value", [
    (b"data", np.zeros((4, 3072), np.float32)),  # wrong dtype
    (b"data", np.zeros((4, 3071), np.uint8)),  # wrong shape
    (b"labels", [0, 1, 2]),  # fewer labels than images
    (b"labels", [0, 1, 2, 10]),  # out of range
])
def test_wrong_shape_dtype_and_labels_in_a_valid_pickle(tmp_path, field, value):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    path = folder / "data_batch_1"
    batch = pickle.loads(path.read_bytes(), encoding="bytes")
    batch[field] = value
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match="data_batch_1"):
        load_cifar10_batches(folder, expected_counts=None)
