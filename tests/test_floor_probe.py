"""bench/floor_probe.py: it runs, and its hand-written kernels compute what they stand for."""

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).resolve().parent.parent / "bench" / "floor_probe.py"


@pytest.mark.slow
def test_the_floor_probe_runs_and_its_kernels_compute_the_steps():
    """Short: parts 2 to 4 always print; 1, 5 and 6 print or say why they were skipped (no
    gcc or AVX2); the hand-written kernels agree with numpy, and an MNIST neuron computed among
    others with itself alone, before they are timed (else the probe exits 1)."""
    done = subprocess.run(
        [sys.executable, str(PROBE), "--steps", "10"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()

    def printed(start):
        return any(line.startswith(start) for line in lines)

    assert printed("2. a += b on 2.4 MB") and printed("2. a += b on 64 MB")
    assert printed("3. one network") and sum("fused Adam" in line for line in lines) == 1
    assert printed("4. the CIFAR-10 Dense study's own graph")
    assert sum("side by side" in line for line in lines) == 2
    assert printed("1. FMA peak of a core") or printed("1. FMA peak: skipped")
    if printed("5., 6. hand-written kernels: skipped"):
        return
    assert printed("5. prototype fused kernel") and printed("6. MNIST study products")
    assert sum(" vs " in line for line in lines) == 4, done.stdout


def test_a_kernel_that_fails_its_check_is_exit_1_in_one_line(monkeypatch, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("floor_probe", PROBE)
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)

    def wrong(*args):
        raise probe.KernelCheckFailed("the prototype kernel disagrees with numpy (max error 1)")

    monkeypatch.setattr(probe, "compiled_kernels", lambda folder: ("peak", "library"))
    monkeypatch.setattr(probe, "fma_peak", lambda program, copies: [1.0] * copies)
    monkeypatch.setattr(probe, "stream_rates", lambda megabytes, copies: [1.0] * copies)
    monkeypatch.setattr(probe, "tensorflow_step_ms", lambda steps: {})
    # part 4's graphs each in a process of its own: not what this test is about
    monkeypatch.setattr(probe, "in_processes", lambda code, copies: [1.0] * copies)
    monkeypatch.setattr(probe, "fused_step_ms", wrong)
    assert probe.main(["--steps", "10"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "error: the prototype kernel disagrees" in err[0]
