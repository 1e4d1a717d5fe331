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
    out = tmp_path / "out"
    report = out / "REPORT.md"
    finished = subprocess.run(
        [sys.executable, str(ROOT / "reproduce.py"), "--quick", "--allow-small-data",
         "--data-dir", str(data), "--xor-seeds", "3", "--mnist-runs", "4",
         "--mnist-normalized-runs", "2", "--cifar-runs", "2", "--report", str(report),
         "--figures-dir", str(out / "figures"), "--records-dir", str(out / "runs"), "--quiet"],
        capture_output=True, text=True, check=False, cwd=tmp_path)
    assert finished.returncode == 0, finished.stderr[-2000:]
    text = report.read_text()
    for heading in ("## XOR", "## MNIST", "## CIFAR-10"):
        assert heading in text
    assert "JPEG re-encoding" not in text  # the tiny batches are not the shared copy
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    xor = [row for row in rows if row.startswith("| 2-")]
    mnist = [row for row in rows if row.startswith(("| linear", "| sigmoid"))]
    cifar = [row for row in rows if row.startswith("| dense")]
    assert len(xor) == 4 and "binary cross-entropy" in xor[3] and "| 3 |" in xor[0]
    assert len(mnist) == 4 and "| 4 |" in mnist[0] and "pixels / 255 | 2 |" in mnist[3]
    assert len(cifar) == 1 and "| 2 |" in cifar[0]
    for row in rows:
        for number in re.findall(r"(-?\d+\.\d+)%", row):
            assert 0 <= float(number) <= 100
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 4 * 2 + 2 * 5 + 4
    for link in links:
        assert is_png(report.parent / link)
    # the per-run tables are kept beside the records, one per study
    tables = sorted((out / "runs").glob("*.csv"))
    assert len(tables) == 4 + 2 + 1
    assert all(f"`{table.relative_to(out).as_posix()}`" in text for table in tables)
    assert not list(out.glob(".staging-*"))


def test_shares_carry_their_interval_and_spreads_their_deciles():
    assert reproduce.rate(0, 0) == "n/a"
    assert reproduce.rate(514, 1000) == "51.4% (48.3-54.5)"
    summary = {"n": 3, "median": 0.5, "p10": 0.25, "p90": 0.75}
    assert reproduce.spread(summary) == "median 50.00% (10-90%: 25.00% to 75.00%)"
    assert reproduce.spread({"n": 0}) == "n/a"
