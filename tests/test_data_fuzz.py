"""Property-based checks of every loader: damaged files, and well-formed files holding arrays of
the wrong shape, dtype or labels, always end in the project's DataError naming the file (or, when
what they hold happens to be valid, in checked uint8 arrays), never another exception, never code
run, never a hang (each example has a deadline; a header announcing a huge array is refused
before anything is read)."""

import datetime
import gzip
import hashlib
import importlib
import os
import pickle

import numpy as np
import pytest
from conftest import write_batches, write_fashion_mnist, write_idx, write_mnist_npz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reproduction.data.checks import DataError
from reproduction.data.cifar10 import load_cifar10_batches
from reproduction.data.mnist import load_fashion_mnist_folder, load_mnist_npz

FUZZ = settings(
    max_examples=60,
    deadline=datetime.timedelta(seconds=10),
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def damaged(raw, data):
    """A damaged copy of `raw`: cut short, bits flipped, emptied, or replaced by garbage."""
    kind = data.draw(st.sampled_from(["truncate", "flip", "empty", "garbage"]))
    if kind == "truncate":
        return raw[: data.draw(st.integers(0, max(len(raw) - 1, 0)))]
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
    """The loader either succeeds (a flip may leave a file valid) with checked arrays and the
    damaged file's own checksum in `files`, or raises DataError that names the file; anything
    else fails the test."""
    try:
        dataset = load()
    except DataError as error:
        assert str(path.name) in str(error) or str(path.parent) in str(error)
        return
    for images, labels in ((dataset.x_train, dataset.y_train), (dataset.x_test, dataset.y_test)):
        assert images.dtype == np.uint8 and labels.dtype == np.uint8
        assert images.shape[1:] in ((28, 28), (32, 32, 3)) and len(images) == len(labels) > 0
        assert labels.max() <= 9
    assert hashlib.sha256(path.read_bytes()).hexdigest() in dataset.files.values()


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


# ## Well-formed files with one thing wrong: each check of the loaders, property-tested

NOT_UINT8 = [np.int8, np.uint16, np.int32, np.int64, np.float32, np.float64, np.bool_]
SPOILS = ["image dtype", "image shape", "label dtype", "label shape", "label range", "count"]


def spoiled(spoil, image_shape, data):
    """(images, labels) for a few examples, valid except for `spoil`, drawn from `data`."""
    count = data.draw(st.integers(1, 4))
    images = data.draw(hnp.arrays(np.uint8, (count, *image_shape)))
    labels = np.arange(count, dtype=np.int64) % 10
    if spoil == "image dtype":
        images = images.astype(data.draw(st.sampled_from(NOT_UINT8)))
    elif spoil == "image shape":
        wrong = data.draw(
            st.sampled_from(
                [image_shape[:-1], (*image_shape, 1), (), (image_shape[0] - 1, *image_shape[1:])]
            )
        )
        images = np.zeros((count, *wrong), np.uint8)
    elif spoil == "label dtype":
        labels = labels.astype(data.draw(st.sampled_from([np.float32, np.float64, np.bool_])))
    elif spoil == "label shape":
        labels = data.draw(
            st.sampled_from([labels.reshape(-1, 1), np.stack([labels] * 2, 1), np.array(labels[0])])
        )
    elif spoil == "label range":
        labels[data.draw(st.integers(0, count - 1))] = data.draw(
            st.sampled_from([-1, 10, 255, 256, 2**40])
        )
    else:
        labels = np.arange(count + data.draw(st.sampled_from([-1, 1, 5])), dtype=np.int64) % 10
    return images, labels


@FUZZ
@given(
    spoil=st.sampled_from(SPOILS + ["missing array"]),
    split=st.sampled_from(["train", "test"]),
    data=st.data(),
)
def test_mnist_npz_with_one_thing_wrong(tmp_path_factory, spoil, split, data):
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    arrays = {
        "x_train": np.zeros((3, 28, 28), np.uint8),
        "y_train": np.arange(3),
        "x_test": np.zeros((2, 28, 28), np.uint8),
        "y_test": np.arange(2),
    }
    if spoil == "missing array":
        del arrays[data.draw(st.sampled_from(sorted(arrays)))]
    else:
        arrays[f"x_{split}"], arrays[f"y_{split}"] = spoiled(spoil, (28, 28), data)
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="mnist.npz"):
        load_mnist_npz(path, expected_counts=None)


@FUZZ
@given(
    spoil=st.sampled_from(SPOILS + ["not a dict", "labels not numbers"]),
    batch=st.sampled_from(["data_batch_4", "test_batch"]),
    as_list=st.booleans(),
    data=st.data(),
)
def test_cifar_batch_with_one_thing_wrong(tmp_path_factory, spoil, batch, as_list, data):
    folder = write_batches(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py")
    if spoil == "not a dict":
        content = data.draw(st.sampled_from([[1, 2], "data", np.zeros(3), {b"data": None}]))
    elif spoil == "labels not numbers":
        content = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [b"cat", b"dog"]}
    else:
        images, labels = spoiled(spoil, (3, 32, 32), data)  # rows: R, G and B planes
        rows = images.reshape(len(images), -1) if images.ndim == 4 else images
        content = {b"data": rows, b"labels": labels.tolist() if as_list else labels}
    (folder / batch).write_bytes(pickle.dumps(content, protocol=2))
    with pytest.raises(DataError, match=batch):
        load_cifar10_batches(folder, expected_counts=None)


@FUZZ
@given(
    spoil=st.sampled_from(["image shape", "label shape", "label range", "count"]),
    split=st.sampled_from(["train", "t10k"]),
    data=st.data(),
)
def test_fashion_idx_with_one_thing_wrong(tmp_path_factory, spoil, split, data):
    folder = write_fashion_mnist(tmp_path_factory.mktemp("fashion") / "fashion-mnist")
    images, labels = spoiled(spoil, (28, 28), data)
    if spoil == "label range":  # idx holds bytes: the out-of-range labels it can hold
        labels = np.where(labels > 9, 10 + labels % 246, labels % 256)
    write_idx(folder / f"{split}-images-idx3-ubyte.gz", images)
    write_idx(folder / f"{split}-labels-idx1-ubyte.gz", labels.astype(np.uint8))
    with pytest.raises(DataError, match=f"{split}-(images|labels)|fashion-mnist"):
        load_fashion_mnist_folder(folder, expected_counts=None)


@FUZZ
@given(
    type_code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
    dims=st.lists(st.one_of(st.integers(0, 30), st.just(2**31)), min_size=0, max_size=5),
    extra=st.integers(-20, 20),
    data=st.data(),
)
def test_fashion_idx_with_wrong_type_shape_or_length(
    tmp_path_factory, type_code, dims, extra, data
):
    folder = write_fashion_mnist(tmp_path_factory.mktemp("fashion") / "fashion-mnist")
    target = folder / data.draw(st.sampled_from(sorted(p.name for p in folder.iterdir())))
    announced = int(np.prod(dims, dtype=np.int64)) if dims else 1
    length = max(0, min(announced, 5000) + extra)
    payload = (
        bytes([0, 0, type_code, len(dims)]) + np.array(dims, ">u4").tobytes() + os.urandom(length)
    )
    with gzip.open(target, "wb") as stream:
        stream.write(payload)
    loads_or_data_error(lambda: load_fashion_mnist_folder(folder, expected_counts=None), target)


def test_idx_sizes_whose_product_wraps_int64_are_refused(tmp_path):
    """Found by the property above: three sizes of 2^31 multiply to 2^93, which an int64
    product wraps to 0, so an empty payload looked complete."""
    folder = write_fashion_mnist(tmp_path / "fashion-mnist")
    target = folder / "t10k-images-idx3-ubyte.gz"
    with gzip.open(target, "wb") as stream:
        stream.write(bytes([0, 0, 8, 3]) + np.array([2**31] * 3, ">u4").tobytes())
    with pytest.raises(DataError, match="too large"):
        load_fashion_mnist_folder(folder, expected_counts=None)


DANGEROUS = [
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("builtins", "exec"),
    ("subprocess", "check_call"),
    ("builtins", "__import__"),
]


@FUZZ
@given(target=st.sampled_from(DANGEROUS), where=st.sampled_from(["data", "labels", "extra"]))
def test_crafted_cifar_pickles_never_run_code(tmp_path_factory, target, where):
    folder = write_batches(tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py")
    marker = folder / "ran"
    module, name = target
    argument = {
        "system": f"touch {marker}",
        "check_call": ["touch", str(marker)],
        "eval": f"open({str(marker)!r}, 'w')",
        "exec": f"open({str(marker)!r}, 'w')",
        "__import__": "this",
    }[name]

    class Payload:
        def __reduce__(self):
            return getattr(importlib.import_module(module), name), (argument,)

    batch = {b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 3]}
    batch[{"data": b"data", "labels": b"labels", "extra": b"filenames"}[where]] = Payload()
    (folder / "data_batch_3").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(DataError, match="data_batch_3.*refusing to load"):
        load_cifar10_batches(folder, expected_counts=None)
    assert not marker.exists()
