"""Every numeric flag of every entry point (the three scripts, reproduce.py, the benchmarks) is
a range type (plumbing.cli.int_in_range / float_in_range, whose own tests in test_common.py reject
NaN, infinities and text) with bounds that rule out zero (where zero means nothing), negative
and absurdly large values, enforced with argparse's usage line and exit code 2; and output paths
that cannot be written are caught before anything runs."""

import importlib.util
import inspect
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_batches, write_mnist_npz

import cifar10_dense
import mnist_perceptron
import reproduce
import xor_mlp
from reproduction.orchestration import plan_runner
from reproduction.plumbing import script_run
from reproduction.plumbing.cli import existing_folder, keras_file, ray_address
from reproduction.settings.cifar10 import CIFAR10
from reproduction.settings.mnist import MNIST
from reproduction.settings.xor import XOR

ROOT = Path(xor_mlp.__file__).parent
ZERO_MEANS_SOMETHING = {
    "--seed",
    "--data-seed",
    "--validation-split",
    "--target-class",
    "--ray-gpus-per-task",
}  # 0 GPUs: a CPU task


def bench_parser(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_bench_parser


PARSERS = {
    "xor_mlp.py": XOR.parser,
    "cifar10_dense.py": CIFAR10.parser,
    "mnist_perceptron.py": MNIST.parser,
    "reproduce.py": reproduce.make_reproduce_parser,
    **{
        f"bench/{name}.py": bench_parser(name)
        for name in ("xor_bench", "cifar10_bench", "mnist_bench", "ray_bench", "floor_probe")
    },
}


RANGE_TYPES = {"int_in_range.<locals>.parse": "integer", "float_in_range.<locals>.parse": "number"}
PATH_TYPES = {Path, existing_folder, keras_file}
TEXT_TYPES = {ray_address}  # checked text that is not a number (its own test: test_common.py)


def numeric_flags(make):
    """[(flag, the range type's declared bounds, default)] of every flag of the parser that takes
    a number; fails if a flag taking a value is neither a choice, a path nor a range type (a
    bare int/float would accept NaN or negatives, no type at all any text)."""
    flags = []
    for action in make()._actions:
        if (
            action.nargs == 0
            or action.choices is not None
            or action.type in PATH_TYPES
            or action.type in TEXT_TYPES
        ):
            continue  # switches, --help, choices; paths: test_unwritable_outputs_... below
        kind = RANGE_TYPES.get(getattr(action.type, "__qualname__", None))
        assert kind and action.type.__module__ == "reproduction.plumbing.cli", (
            f"{action.option_strings}: takes a value of type {action.type!r}; a number must use "
            "reproduction.plumbing.cli.int_in_range / float_in_range"
        )
        bounds = inspect.getclosurevars(action.type).nonlocals
        flags.append((action.option_strings[-1], {"kind": kind, **bounds}, action.default))
    return flags


def just_outside(bounds):
    """The value just below the low end and just above the high end of a range type."""
    low, high = bounds["low"], bounds["high"]
    if bounds["kind"] == "integer":
        return str(low - 1), str(high + 1)
    below = math.nextafter(low, -math.inf) if bounds["low_inclusive"] else low
    return repr(float(below)), repr(math.nextafter(high, math.inf))


@pytest.mark.parametrize("script", PARSERS)
def test_every_numeric_flag_has_sane_bounds_that_argparse_enforces(script, capsys):
    """One walk over the parser's flags: each number has a range type (else numeric_flags
    fails), bounds that rule out negatives, zero where zero means nothing and absurdly large
    values, and argparse rejects the value just outside each end with its usage line and exit
    code 2. What the range types reject inside a parse (NaN, inf, text) is test_common.py's."""
    flags = numeric_flags(PARSERS[script])
    assert flags, f"{script}: no numeric flags found"
    for flag, bounds, _ in flags:
        assert bounds["low"] >= 0, (flag, bounds)
        zero_accepted = bounds["low"] == 0 and (
            bounds["kind"] == "integer" or bounds["low_inclusive"]
        )
        assert zero_accepted == (flag in ZERO_MEANS_SOMETHING), (flag, bounds)
        assert bounds["high"] < (1e12 if bounds["kind"] == "integer" else 1e30), (flag, bounds)
        for value in just_outside(bounds):
            with pytest.raises(SystemExit) as stop:
                PARSERS[script]().parse_args([flag, value])
            err = capsys.readouterr().err
            assert stop.value.code == 2, (flag, value)
            assert err.startswith("usage:") and f"argument {flag}" in err, err


@pytest.mark.parametrize("script", PARSERS)
def test_defaults_and_typical_values_parse(script):
    parser = PARSERS[script]()
    for flag, _, default in numeric_flags(PARSERS[script]):
        value = default[0] if isinstance(default, list) else default
        if value is not None:
            parser.parse_args([flag, str(value)])


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--hidden", *["4"] * 33], "at most 32"),
        (["--hidden", "4096", "--seeds", "100000"], "must fit in memory"),
        (["--seeds", "100000", "--epochs", "1000"], "per-epoch histories"),
    ],
)
def test_xor_runs_too_big_for_memory_are_usage_errors(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        xor_mlp.main([*argv, "--figures-dir", str(tmp_path)])
    assert stop.value.code == 2 and message in capsys.readouterr().err


def blocked_paths(tmp_path, wants):
    """Paths a `wants` ("file" or "folder") flag cannot use: a file where a folder is expected,
    a folder where a file is expected, a path under a file, and (when not root, who may write
    anywhere) a path in a read-only folder."""
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    a_folder = tmp_path / "a-folder"
    a_folder.mkdir(exist_ok=True)
    read_only = tmp_path / "read-only"
    read_only.mkdir(exist_ok=True)
    read_only.chmod(0o500)
    paths = [a_file / "under", (a_file if wants == "folder" else a_folder)]
    if os.geteuid() != 0:
        paths.append(read_only / "out")
    return paths


def entry_point(script, monkeypatch):
    """The script's main, with everything that would start real work made to fail the test."""

    def work_started(*args, **kwargs):
        pytest.fail("work started despite an unwritable output")

    if script.startswith("bench/"):
        make = bench_parser(Path(script).stem)
        module = make.__globals__
        for name in ("run_script", "select_device_or_exit"):
            if name in module:
                monkeypatch.setitem(module, name, work_started)
        return module["main"]
    module = {
        "xor_mlp.py": xor_mlp,
        "cifar10_dense.py": cifar10_dense,
        "mnist_perceptron.py": mnist_perceptron,
        "reproduce.py": reproduce,
    }[script]
    if module is reproduce:
        monkeypatch.setattr(plan_runner, "run_sequentially", work_started)
    else:
        monkeypatch.setattr(script_run, "select_device_or_exit", work_started)
    return module.main


@pytest.mark.parametrize(
    "script, flag, wants",
    [
        ("xor_mlp.py", "--figures-dir", "folder"),
        ("xor_mlp.py", "--json", "file"),
        ("cifar10_dense.py", "--figures-dir", "folder"),
        ("cifar10_dense.py", "--json", "file"),
        ("cifar10_dense.py", "--save-model", "file"),
        ("cifar10_dense.py", "--tensorboard", "folder"),
        ("mnist_perceptron.py", "--figures-dir", "folder"),
        ("mnist_perceptron.py", "--json", "file"),
        ("mnist_perceptron.py", "--save-model", "file"),
        ("mnist_perceptron.py", "--tensorboard", "folder"),
        ("reproduce.py", "--figures-dir", "folder"),
        ("reproduce.py", "--report", "file"),
        ("bench/xor_bench.py", "--json", "file"),
        ("bench/cifar10_bench.py", "--json", "file"),
        ("bench/mnist_bench.py", "--json", "file"),
    ],
)
def test_unwritable_outputs_are_usage_errors_before_any_work(
    script, flag, wants, tmp_path, capsys, monkeypatch
):
    main = entry_point(script, monkeypatch)
    for path in blocked_paths(tmp_path, wants):
        if flag == "--save-model":
            path = path.with_name(path.name + ".keras")
            if path.parent == tmp_path:
                path.mkdir(exist_ok=True)  # a folder named like the model file
        argv = [flag, str(path)]
        if flag != "--figures-dir" and not script.startswith("bench/"):
            argv += ["--figures-dir", str(tmp_path / "figures")]
        with pytest.raises(SystemExit) as stop:
            main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert stop.value.code == 2 and err[0].startswith("usage:"), (path, err)
        assert ": error: " in err[-1] and flag in err[-1], (path, err)


@pytest.mark.parametrize(
    "script",
    [
        "cifar10_dense.py",
        "mnist_perceptron.py",
        "reproduce.py",
        "bench/cifar10_bench.py",
        "bench/mnist_bench.py",
    ],
)
def test_data_dir_must_be_an_existing_folder(script, tmp_path, capsys):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    for path, message in ((tmp_path / "typo", "does not exist"), (a_file, "is not a folder")):
        with pytest.raises(SystemExit) as stop:
            PARSERS[script]().parse_args(["--data-dir", str(path)])
        err = capsys.readouterr().err
        assert stop.value.code == 2 and "argument --data-dir" in err and message in err


@pytest.mark.parametrize("script", ["cifar10_dense.py", "mnist_perceptron.py"])
def test_validation_split_holding_out_nothing_is_a_usage_error(
    script, tmp_path, capsys, monkeypatch
):
    write_batches(tmp_path / "cifar-10-batches-py")  # 20 training images
    write_mnist_npz(tmp_path / "mnist.npz", train=20)
    module = {"cifar10_dense.py": cifar10_dense, "mnist_perceptron.py": mnist_perceptron}[script]
    monkeypatch.setattr(module, "train", lambda *a: pytest.fail("training started"))
    with pytest.raises(SystemExit) as stop:
        module.main(
            [
                "--data-dir",
                str(tmp_path),
                "--allow-small-data",
                "--validation-split",
                "0.04",
                "--figures-dir",
                str(tmp_path / "figures"),
            ]
        )
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "--validation-split 0.04 of 20 training images" in err


@pytest.mark.parametrize("script", ["xor_mlp.py", "mnist_perceptron.py", "cifar10_dense.py"])
def test_help_and_usage_errors_come_before_tensorflow_loads(script):
    """--help and a usage error are answered from the settings alone: TensorFlow (5-8 s to
    import) and NumPy are never imported (python -X importtime lists every import)."""
    for argv, code in ((["--help"], 0), (["--epochs", "0"], 2)):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", str(ROOT / script), *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == code, done.stderr[-500:]
        imported = {line.split("|")[-1].strip() for line in done.stderr.splitlines() if "|" in line}
        assert not {m for m in imported if m.split(".")[0] in ("tensorflow", "keras", "numpy")}
    assert "usage:" in done.stderr and "--epochs" in done.stderr.splitlines()[-1]
