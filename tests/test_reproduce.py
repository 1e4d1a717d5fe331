"""reproduce.py end to end on tiny data written by the test: the report's tables, numbers and
figures; plus the verdict rules."""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import is_png, write_batches, write_mnist_npz

import reproduce

ROOT = Path(reproduce.__file__).parent


def test_quick_pipeline_on_tiny_data_writes_a_report(tmp_path):
    data = tmp_path / "data"
    write_batches(data / "cifar-10-batches-py", per_batch=8, test=12)
    labels = np.tile(np.arange(10, dtype=np.uint8), 4)
    write_mnist_npz(data / "mnist.npz", train=40, test=20, y_train=labels, y_test=labels[:20])
    report = tmp_path / "out" / "REPORT.md"
    finished = subprocess.run(
        [sys.executable, str(ROOT / "reproduce.py"), "--quick", "--allow-small-data",
         "--data-dir", str(data), "--seeds", "1", "--xor-seeds", "2", "--report", str(report),
         "--figures-dir", str(tmp_path / "out" / "figures"), "--quiet"],
        capture_output=True, text=True, check=False, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr[-2000:]
    text = report.read_text()
    for heading in ("## XOR", "## MNIST", "## CIFAR-10 Dense network"):
        assert heading in text
    assert "JPEG re-encoding" not in text  # the tiny batches are not the shared copy
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) >= 3 + 2 + 2 + 3  # three XOR networks, two neurons, two CIFAR rows, heads
    for row in rows:
        for number in re.findall(r"(-?\d+\.\d+)%", row):
            assert 0 <= float(number) <= 100
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 3 + 4 + 3
    for link in links:
        assert is_png(report.parent / link)


def test_xor_verdicts_follow_the_band():
    def record(q1, q3, share, epoch=54):
        return {"config": {"hidden": [16]},
                "metrics": {"study": {"tutorial_epoch": epoch, "q1": q1, "q3": q3, "median": 90,
                                      "solved": 10, "seeds": 10,
                                      "share_at_or_before_tutorial": share}}}

    inside, band, outlier = reproduce.xor_rows([record(50, 60, 0.3), record(58, 154, 0.23),
                                                record(58, 154, 0.05)])
    assert "| reproduced" in inside and "within band" in band and "not reproduced" in outlier


def test_in_band_verdict():
    assert reproduce.verdict_in_band(0.49, 0.489, 1.5).startswith("reproduced")
    assert reproduce.verdict_in_band(0.46, 0.489, 1.5).startswith("not reproduced")
