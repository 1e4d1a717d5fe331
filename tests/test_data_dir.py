"""Opt-in (marked `data`): the real-data folder has the layout the loaders will read."""

import pytest

EXPECTED = [
    "mnist.npz",
    "fashion-mnist/train-images-idx3-ubyte.gz",
    "fashion-mnist/train-labels-idx1-ubyte.gz",
    "fashion-mnist/t10k-images-idx3-ubyte.gz",
    "fashion-mnist/t10k-labels-idx1-ubyte.gz",
    *(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
    "cifar-10-batches-py/test_batch",
    "cifar-10-batches-py/batches.meta",
]


@pytest.mark.data
@pytest.mark.parametrize("relative", EXPECTED)
def test_dataset_file_present(data_dir, relative):
    path = data_dir / relative
    assert path.is_file(), f"missing {path}: run ../shared/datasets/make-datasets"
    assert path.stat().st_size > 0
