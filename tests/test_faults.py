"""Faults met the way they happen: a loss that becomes NaN or infinite inside the real training
engines, memory that runs out while loading (a real MemoryError under an address-space limit),
and a dataset read once per run, never twice."""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import write_idx, write_mnist_npz

import cifar10_dense
import mnist_perceptron
import xor_mlp
from reproduction.data import cifar10
from reproduction.engines import neurons as stacked_neuron

ROOT = Path(__file__).resolve().parent.parent


def outputs_of(tmp_path):
    return ["--figures-dir", str(tmp_path / "figures"), "--json", str(tmp_path / "run.json")]


def assert_failed_without_outputs(code, capsys, tmp_path, *phrases):
    """Exit 1 with one error line, the last on stderr (training's progress lines, which go to
    stderr too, may come before it), and no output written."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error:" in line]
    assert code == 1 and errors == err[-1:], err
    assert all(phrase in err[-1] for phrase in phrases), err[-1]
    assert not (tmp_path / "run.json").exists()
    assert not (tmp_path / "figures").exists() or not list((tmp_path / "figures").iterdir())


# ## Non-finite losses, from weights that overflow inside the real engines


def with_infinite_output_kernel(build):
    def build_poisoned(*args, **kwargs):
        model = build(*args, **kwargs)
        kernel = model.layers[-1 if model.layers[-1].weights else -2].kernel
        kernel.assign(np.full(kernel.shape, np.inf, "float32"))
        return model

    return build_poisoned


@pytest.mark.parametrize("engine", ["compiled", "fit"])
def test_cifar_non_finite_loss_is_exit_1_naming_the_epoch(
    engine, tiny_data_dir, tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(
        cifar10_dense, "build_dense", with_infinite_output_kernel(cifar10_dense.build_dense)
    )
    code = cifar10_dense.main(
        [
            "--data-dir",
            str(tiny_data_dir),
            "--allow-small-data",
            "--epochs",
            "3",
            "--engine",
            engine,
            *outputs_of(tmp_path),
        ]
    )
    assert_failed_without_outputs(
        code, capsys, tmp_path, "the loss became nan in epoch 1", "no figures written"
    )


@pytest.mark.parametrize("engine", ["compiled", "fit"])
def test_mnist_non_finite_loss_is_exit_1_naming_the_epoch(
    engine, tiny_data_dir, tmp_path, capsys, monkeypatch
):
    initial_weights = stacked_neuron.initial_weights

    def infinite_weights(seeds, features):
        kernels, biases = initial_weights(seeds, features)
        return np.full_like(kernels, np.inf), biases

    # both engines start from these initial weights
    monkeypatch.setattr(stacked_neuron, "initial_weights", infinite_weights)
    code = mnist_perceptron.main(
        [
            "--data-dir",
            str(tiny_data_dir),
            "--allow-small-data",
            "--compare",
            "--epochs",
            "3",
            "--engine",
            engine,
            *outputs_of(tmp_path),
        ]
    )
    assert_failed_without_outputs(
        code, capsys, tmp_path, "the linear neuron's loss became", "in epoch 1"
    )


@pytest.mark.parametrize("engine", ["compiled", "fit"])
def test_xor_non_finite_loss_is_exit_1_naming_the_epoch(engine, tmp_path, capsys, monkeypatch):
    real_stack = xor_mlp.glorot_uniform_stack

    def infinite_first_kernel(sizes, seeds):
        params = real_stack(sizes, seeds)
        params[0][:] = np.inf
        return params

    monkeypatch.setattr(xor_mlp, "glorot_uniform_stack", infinite_first_kernel)
    code = xor_mlp.main(["--epochs", "5", "--engine", engine, "--quiet", *outputs_of(tmp_path)])
    assert_failed_without_outputs(code, capsys, tmp_path, "the loss became nan in epoch 1")


# ## Memory running out while loading


def address_space_limited(loader, path, headroom_mb=20):
    """Run `loader(path, expected_counts=None)` in a Python process allowed only `headroom_mb`
    more address space than it has after importing; what it raised (class name, message)."""
    module = "cifar10" if loader == "load_cifar10_batches" else "mnist"
    code = f"""
import resource, sys
from reproduction.data import {module} as data
with open("/proc/self/status") as status:
    size = [int(l.split()[1]) for l in status if l.startswith("VmSize")][0] * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + {headroom_mb} * 2**20, resource.RLIM_INFINITY))
try:
    data.{loader}(sys.argv[1], expected_counts=None)
    print("loaded")
except Exception as error:
    print(type(error).__name__, error)
"""
    finished = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in finished.stderr, finished.stderr
    return finished.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
@pytest.mark.parametrize(
    "loader", ["load_mnist_npz", "load_fashion_mnist_folder", "load_cifar10_batches"]
)
def test_data_too_big_for_memory_is_not_enough_memory(loader, tmp_path):
    # Zeros compress to almost nothing on disk and take their full size in memory.
    if loader == "load_mnist_npz":
        path = tmp_path / "mnist.npz"
        np.savez_compressed(
            path,
            x_train=np.zeros((60_000, 28, 28), np.uint8),
            y_train=np.zeros(60_000, np.uint8),
            x_test=np.zeros((10_000, 28, 28), np.uint8),
            y_test=np.zeros(10_000, np.uint8),
        )
    elif loader == "load_fashion_mnist_folder":
        path = tmp_path
        for split, count in (("train", 60_000), ("t10k", 10_000)):
            write_idx(path / f"{split}-images-idx3-ubyte.gz", np.zeros((count, 28, 28)))
            write_idx(path / f"{split}-labels-idx1-ubyte.gz", np.zeros(count))
    else:
        path = tmp_path
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            (path / name).write_bytes(
                pickle.dumps(
                    {b"data": np.zeros((2_000, 3072), np.uint8), b"labels": [0] * 2_000}, protocol=2
                )
            )
    said = address_space_limited(loader, path)
    assert said.startswith("NotEnoughMemory ") and "not enough memory to load" in said, said
    assert str(path) in said


def test_script_out_of_memory_while_loading_is_exit_1_and_one_line(
    tiny_data_dir, tmp_path, capsys, monkeypatch
):
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(cifar10, "aligned_empty", no_memory)
    code = cifar10_dense.main(
        ["--data-dir", str(tiny_data_dir), "--allow-small-data", *outputs_of(tmp_path)]
    )
    assert_failed_without_outputs(code, capsys, tmp_path, "not enough memory to load CIFAR-10")


def test_script_out_of_memory_in_training_is_exit_1_and_one_line(tmp_path):
    """As a process: MemoryError anywhere after loading ends in run_main's one line."""
    code = (
        "import sys, mnist_perceptron as m\n"
        "def no_memory(*args, **kwargs):\n    raise MemoryError\n"
        "m.train = no_memory\n"
        "from reproduction.plumbing.exits import run_main\n"
        "sys.exit(run_main(m.main, sys.argv[1:]))\n"
    )
    folder = tmp_path / "data"
    write_mnist_npz(folder / "mnist.npz", train=20, test=10)
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "--data-dir",
            str(folder),
            "--allow-small-data",
            *outputs_of(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 1 and "Traceback" not in finished.stderr
    assert (
        finished.stderr.strip()
        .splitlines()[-1]
        .endswith(
            "error: out of memory (MemoryError); try a smaller run (fewer seeds, --train-limit, "
            "--engine compiled); nothing was written (figures, records and models are written when "
            "a run finishes)"
        )
    )
    assert not (tmp_path / "run.json").exists()


# ## Each dataset file read once per run


@pytest.mark.parametrize(
    "script, argv",
    [
        ("cifar10_dense.py", []),
        ("mnist_perceptron.py", ["--compare"]),
        ("mnist_perceptron.py", ["--compare", "--dataset", "fashion_mnist"]),
    ],
)
def test_each_data_file_is_read_once(script, argv, tiny_data_dir, tmp_path, count_opens):
    opened = count_opens(tiny_data_dir)
    main = {"cifar10_dense.py": cifar10_dense.main, "mnist_perceptron.py": mnist_perceptron.main}
    assert (
        main[script](
            [
                "--data-dir",
                str(tiny_data_dir),
                "--allow-small-data",
                "--epochs",
                "1",
                "--quiet",
                "--engine",
                "compiled",
                *argv,
                *outputs_of(tmp_path),
            ]
        )
        == 0
    )
    assert opened, "the counter saw no data file: it would not notice a second read"
    assert sorted(opened) == sorted(set(opened)), opened
    expected = {
        "cifar10_dense.py": 6,
        "mnist_perceptron.py": 1 if "fashion_mnist" not in argv else 4,
    }[script]
    assert len(opened) == expected, opened
