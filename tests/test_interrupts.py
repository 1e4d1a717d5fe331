"""Ctrl-C (SIGINT): every entry point stops with exit code 130 and one line saying what was kept;
no half-written or temporary file is left, and reproduce.py leaves the previous report as it
was. The in-process tests pin down the pieces (atomic writes, run_main); the process tests send
a real SIGINT to each script in the middle of training."""

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_tiny_datasets

from reproduction.plumbing import atomic, exits

ROOT = Path(__file__).resolve().parent.parent


# ## Atomic writes and run_main, in process


@pytest.fixture(autouse=True)
def ctrl_c_raises():
    """Python's own SIGINT handler, even when the tests run with SIGINT ignored (a CI job in
    the background); whatever was there is put back afterwards."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def test_interrupted_writer_leaves_no_file(tmp_path):
    target = tmp_path / "figure.png"
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"half a figure")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_the_rename_is_held_until_the_file_is_whole(tmp_path, monkeypatch):
    real_replace = os.replace

    def replace_with_ctrl_c(source, destination):
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the rename is in progress
        time.sleep(0.05)
        real_replace(source, destination)

    monkeypatch.setattr(atomic.os, "replace", replace_with_ctrl_c)
    target = tmp_path / "record.json"
    with pytest.raises(KeyboardInterrupt):
        atomic.write_text_atomic(target, "{}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]  # whole, no temporary left
    assert target.read_text() == "{}\n" and str(target) in atomic.written_files()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_interrupts_held_defers_and_then_raises():
    done = []
    with pytest.raises(KeyboardInterrupt), atomic.interrupts_held():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        done.append("the block ran to its end")
    assert done


def test_run_main_turns_ctrl_c_into_130_and_says_what_was_kept(tmp_path, capsys):
    def main(argv):
        atomic.write_text_atomic(tmp_path / "first.png", "x")
        raise KeyboardInterrupt

    assert exits.run_main(main) == 130  # (it then ignores a second Ctrl-C; the fixture resets)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted; kept, complete: " in err[0]
    assert str(tmp_path / "first.png") in err[0]


def test_run_main_out_of_memory_is_exit_1_and_one_line(capsys):
    def main(argv):
        raise MemoryError

    assert exits.run_main(main) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: out of memory (MemoryError)" in err[0]


def test_run_main_treats_tensorflow_running_out_of_memory_alike(capsys):
    class ResourceExhaustedError(Exception):  # named as tf.errors names it
        pass

    def main(argv):
        raise ResourceExhaustedError("OOM when allocating tensor")

    assert exits.run_main(main) == 1
    assert "out of memory (ResourceExhaustedError)" in capsys.readouterr().err


def test_run_main_lets_other_errors_through():
    def main(argv):
        raise ValueError("a bug, not a condition to report")

    with pytest.raises(ValueError):
        exits.run_main(main)


# ## Real SIGINTs to real processes


def write_long_training_datasets(folder):
    """CIFAR batches and an mnist.npz large enough that 1,000 epochs take a while."""
    return write_tiny_datasets(folder, cifar=(100, 20), mnist=(3000, 40), fashion=None)


def start(argv, cwd):
    """A process group of its own (so a test can signal it as a terminal would), with SIGINT's
    default action even when the tests run with SIGINT ignored (in the background)."""
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def wait_for(stream, marker, timeout=120):
    """Read lines until one contains `marker`; the lines read."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if marker in line:
            return lines
    pytest.fail(f"never saw {marker!r}; got {lines[-5:]}")


def leftovers(folder):
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.name.startswith(".") or p.suffix == ".tmp"
    )


SCRIPTS = {  # script: (its arguments, a line on stdout just before training)
    "xor_mlp.py": (["--seeds", "20000", "--epochs", "2000"], "device:"),
    "cifar10_dense.py": (["--epochs", "1000", "--save-model", "{out}/model.keras"], "data:"),
    "mnist_perceptron.py": (["--compare", "--epochs", "1000"], "data:"),
}


@pytest.mark.slow
def test_sigint_mid_training_exits_130_and_writes_nothing(tmp_path):
    data = write_long_training_datasets(tmp_path / "data")
    started = {}
    for script, (argv, marker) in SCRIPTS.items():
        out = tmp_path / script.removesuffix(".py")
        out.mkdir()
        command = [
            str(ROOT / script),
            *[a.format(out=out) for a in argv],
            "--figures-dir",
            str(out / "figures"),
            "--json",
            str(out / "run.json"),
        ]
        if script != "xor_mlp.py":
            command += ["--data-dir", str(data), "--allow-small-data"]
        started[script] = (start(command, tmp_path), out, marker)
    for process, _, marker in started.values():
        wait_for(process.stdout, marker)
        time.sleep(1.0)  # into the training loop
        os.killpg(process.pid, signal.SIGINT)
    for script, (process, out, _) in started.items():
        _, err = process.communicate(timeout=120)
        lines = err.strip().splitlines()
        assert process.returncode == 130, (script, err[-2000:])
        assert "Traceback" not in err, err
        assert lines[-1] == (
            f"{script}: interrupted; nothing was written (figures, records "
            "and models are written when a run finishes)"
        )
        assert not (out / "run.json").exists() and not (out / "model.keras").exists()
        assert not (out / "figures").exists() and leftovers(out) == []  # not even a folder


@pytest.mark.slow
def test_sigint_to_reproduce_leaves_the_previous_report_and_no_process(tmp_path):
    data = write_long_training_datasets(tmp_path / "data")
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    (out / "REPORT.md").write_text("the previous report\n")
    (out / "figures" / "xor_2-16-1_boundary.png").write_bytes(b"the previous figure")
    process = start(
        [
            str(ROOT / "reproduce.py"),
            "--quick",
            "--allow-small-data",
            "--data-dir",
            str(data),
            "--xor-seeds",
            "2",
            "--report",
            str(out / "REPORT.md"),
            "--figures-dir",
            str(out / "figures"),
            "--records-dir",
            str(out / "runs"),
        ],
        tmp_path,
    )
    wait_for(process.stderr, "[3/")  # two XOR runs have written their figures (staged)
    os.killpg(process.pid, signal.SIGINT)  # as a terminal's Ctrl-C: reproduce and its child
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    # XOR runs of 2 seeds take well under a second, so the signal may land in a later run
    last = err.strip().splitlines()[-1]
    stopped = re.match(r"reproduce\.py: interrupted; stopped in run (\d+)/7 ", last)
    assert stopped and int(stopped[1]) >= 3, last
    finished = int(stopped[1]) - 1
    assert f"; {finished} finished runs kept in the cache: rerun the same command to go on" in last
    assert (out / "REPORT.md").read_text() == "the previous report\n"
    assert [p.name for p in (out / "figures").iterdir()] == ["xor_2-16-1_boundary.png"]
    assert (out / "figures" / "xor_2-16-1_boundary.png").read_bytes() == b"the previous figure"
    assert leftovers(out) == [] and not list(out.glob(".staging-*"))
    # records move in with the report; the finished runs are kept in the run cache
    assert [p.name for p in (out / "runs").iterdir()] == ["cache"]
    cached = [p for p in (out / "runs" / "cache").iterdir() if not p.name.startswith(".")]
    assert len(cached) == finished
    with pytest.raises(ProcessLookupError):  # no child left running in its process group
        os.killpg(process.pid, 0)
