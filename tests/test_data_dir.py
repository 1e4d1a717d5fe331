"""The data folder as a whole: preflight (each dataset found and its files valid, else one line
saying where it looked and what to do) and build_datasets (running the folder's make-datasets)
on tiny generated data and fake make-datasets scripts; and, opt-in (marked `data`), the real
folder's layout and a preflight of it."""

import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import write_mnist_npz, write_tiny_datasets

from reproduction.data import checks
from reproduction.data.lookup import DATA_DIR_ENV, find_make_datasets
from reproduction.data.mnist import load_mnist
from reproduction.data.registry import DATASETS, build_datasets, preflight

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
ALL = ["mnist", "fashion_mnist", "cifar10"]


def write_script(folder, body, executable=True):
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "make-datasets"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755 if executable else 0o644)
    return script


def test_datasets_by_name():
    assert set(DATASETS) == set(ALL)
    assert DATASETS["cifar10"].title == "CIFAR-10" and DATASETS["mnist"].load is load_mnist
    assert DATASETS["fashion_mnist"].expected_counts == (60_000, 10_000)


def test_preflight_passes_on_valid_copies_reading_each_file_once(
    tiny_data_dir, no_keras_cache, count_opens
):
    folder = tiny_data_dir
    opened = count_opens(folder)
    assert preflight(ALL, folder, allow_small_data=True) == []
    assert sorted(opened) == sorted({*(Path(p).name for p in EXPECTED)} - {"batches.meta"})
    assert preflight([], folder) == []


def test_preflight_checks_counts_unless_small_data_is_allowed(tiny_data_dir, no_keras_cache):
    folder = tiny_data_dir
    problems = preflight(ALL, folder)
    assert [line.split(":")[0] for line in problems] == ["MNIST", "Fashion-MNIST", "CIFAR-10"]
    assert all("expected 60000 and 10000" in line for line in problems[:2])
    assert "expected 50000 and 10000" in problems[2]


@pytest.mark.parametrize("with_script", [True, False])
def test_preflight_names_what_is_missing_where_and_what_to_do(
    tmp_path, no_keras_cache, with_script
):
    folder = tmp_path / "data"
    write_mnist_npz(folder / "mnist.npz")
    if with_script:
        script = write_script(folder, "exit 0\n")
    problems = preflight(ALL, folder, allow_small_data=True)
    assert len(problems) == 2 and all("\n" not in line for line in problems)
    fashion, cifar = problems
    assert fashion.startswith("Fashion-MNIST: not found (looked in ") and cifar.startswith(
        "CIFAR-10: not found"
    )
    assert str(folder) in cifar and "empty-keras-home" in cifar
    if with_script:
        assert cifar.endswith(f"; run {script}")
        assert find_make_datasets(folder) == script
    else:
        assert cifar.endswith(
            "; connect to the network so Keras can download it, or pass "
            "--data-dir a folder holding cifar-10-batches-py/"
        )
        assert find_make_datasets(folder) is None


def test_preflight_names_a_damaged_file(tiny_data_dir, no_keras_cache):
    folder = tiny_data_dir
    (folder / "mnist.npz").write_bytes(b"<html>captive portal</html>")
    (folder / "cifar-10-batches-py" / "data_batch_4").write_bytes(b"")
    mnist, cifar = preflight(["mnist", "cifar10"], folder, allow_small_data=True)
    assert mnist.startswith(f"MNIST: {folder / 'mnist.npz'}: not an npz archive")
    assert mnist.endswith(
        "; delete or replace the copy (Keras downloads a fresh one when none "
        "is found), or pass --data-dir"
    )
    assert cifar.startswith("CIFAR-10: ") and "data_batch_4" in cifar
    write_script(folder, "exit 0\n")
    assert preflight(["mnist"], folder, allow_small_data=True)[0].endswith(
        f"; run {folder / 'make-datasets'} to rebuild it"
    )


def test_preflight_out_of_memory_blames_no_file(tiny_data_dir, monkeypatch, no_keras_cache):
    folder = tiny_data_dir
    write_script(folder, "exit 0\n")

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(checks, "aligned_empty", no_memory)
    [problem] = preflight(["mnist"], folder, allow_small_data=True)
    assert problem.startswith("MNIST: ") and "not enough memory to load MNIST" in problem
    assert "rebuild" not in problem


def test_preflight_with_a_bad_data_dir_variable_is_one_line(tmp_path, monkeypatch, no_keras_cache):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "typo"))
    assert preflight(ALL) == [
        f"MNIST, Fashion-MNIST, CIFAR-10: ${DATA_DIR_ENV}: "
        f"{tmp_path / 'typo'} does not exist (point it at the datasets "
        "folder, or unset it)"
    ]
    with pytest.raises(ValueError, match="unknown datasets"):
        preflight(["mnist", "imagenet"])


def test_build_then_preflight(tmp_path, no_keras_cache):
    source = write_tiny_datasets(tmp_path / "source")
    folder = tmp_path / "data"
    # A stand-in for make-datasets: copies the tiny datasets beside itself, says so on stdout.
    write_script(folder, f'cp -R {source}/. "$(dirname "$0")"\necho "Total time: 0.1s"\n')
    assert len(preflight(ALL, folder, allow_small_data=True)) == 3
    for _ in range(2):  # idempotent, as the script is
        ok, message = build_datasets(folder)
        assert ok and message.startswith(
            f"{folder / 'make-datasets'} built the datasets in {folder} ("
        ), message
        assert preflight(ALL, folder, allow_small_data=True) == []


@pytest.mark.parametrize(
    "body, says",
    [
        (
            'echo "  OK    mnist.npz   11 MB"\necho "  FAIL  cifar-10-batches-py   no archive"\n'
            'echo "Total time: 1.0s"\nexit 1\n',
            "failed (exit code 1): FAIL cifar-10-batches-py no archive",
        ),
        (
            'echo "make-datasets: NOT everything could be had: cifar10." >&2\nexit 2\n',
            "failed (exit code 2): make-datasets: NOT everything could be had: cifar10.",
        ),
        ("exit 3\n", "failed (exit code 3): no output"),
    ],
)
def test_build_failure_is_one_line_saying_why(tmp_path, body, says):
    script = write_script(tmp_path, body)
    ok, message = build_datasets(tmp_path)
    assert not ok and message == f"{script} {says}"


def test_build_without_a_runnable_script(tmp_path):
    assert build_datasets(tmp_path) == (False, f"no make-datasets script in {tmp_path}")
    script = write_script(tmp_path, "exit 0\n", executable=False)
    assert build_datasets(tmp_path) == (False, f"{script} is not executable (chmod +x it)")


def test_build_from_the_current_folder(tmp_path, monkeypatch):
    write_script(tmp_path, "exit 0\n")
    monkeypatch.chdir(tmp_path)  # "make-datasets" alone would be looked up on $PATH
    assert build_datasets(".")[0]


def _is_running(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"  # a zombie has ended


@pytest.mark.skipif(
    not Path("/proc").is_dir() or not shutil.which("sleep"), reason="needs /proc and sleep"
)
def test_build_timeout_ends_the_script_and_what_it_started(tmp_path):
    pid_file = tmp_path / "child.pid"
    script = write_script(tmp_path, f"sleep 60 &\necho $! > {pid_file}\nwait\n")
    start = time.monotonic()
    ok, message = build_datasets(tmp_path, timeout=1)
    assert not ok and message == f"{script} did not finish within 1 s; stopped"
    assert time.monotonic() - start < 30
    child = int(pid_file.read_text())
    for _ in range(50):  # SIGKILL is delivered at once; give the kernel a moment
        if not _is_running(child):
            break
        time.sleep(0.1)
    assert not _is_running(child), "the script's own child was left running"


# ## Opt-in: the real folder


@pytest.mark.data
@pytest.mark.parametrize("relative", EXPECTED)
def test_dataset_file_present(real_data_dir, relative):
    path = real_data_dir / relative
    assert path.is_file(), f"missing {path}: run ../shared/datasets/make-datasets"
    assert path.stat().st_size > 0


@pytest.mark.data
def test_real_folder_passes_preflight(real_data_dir, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert preflight(ALL, real_data_dir) == []
    if (real_data_dir / "make-datasets").is_file():
        assert find_make_datasets(real_data_dir) == real_data_dir / "make-datasets"
        assert os.access(real_data_dir / "make-datasets", os.X_OK)
