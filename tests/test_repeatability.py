"""The same seed gives the same printed numbers, the same JSON run record (up to timings) and the
same figures, for each script: each runs twice on tiny data with the same arguments and the two
runs are compared. A different seed must change the numbers, so the comparison can fail."""

import json
import re

import pytest

import cifar10_dense
import mnist_perceptron
import xor_mlp

# What may differ between two runs of the same seed: how long things took (also in Keras's own
# epoch lines: "1563/1563 - 5s - 3ms/step"), memory, the date.
TIMED = re.compile(r"\d+(\.\d+)? ?(s|ms|us|MB)(/step)?\b")
VOLATILE_RECORD_KEYS = ("timings_s", "peak_rss_mb", "finished_utc")


RUNS = {
    "xor_mlp.py": (xor_mlp.main, ["--epochs", "60", "--seeds", "4"]),
    "cifar10_dense.py": (
        cifar10_dense.main,
        ["--epochs", "2", "--data-dir", "{data}", "--allow-small-data"],
    ),
    "cifar10_dense.py --engine fit": (
        cifar10_dense.main,
        ["--epochs", "2", "--engine", "fit", "--data-dir", "{data}", "--allow-small-data"],
    ),
    "mnist_perceptron.py --compare": (
        mnist_perceptron.main,
        ["--epochs", "2", "--compare", "--data-dir", "{data}", "--allow-small-data"],
    ),
    "mnist_perceptron.py fashion_mnist": (
        mnist_perceptron.main,
        [
            "--epochs",
            "2",
            "--dataset",
            "fashion_mnist",
            "--target-class",
            "9",
            "--data-dir",
            "{data}",
            "--allow-small-data",
        ],
    ),
}


def run_once(main, argv, out, capsys):
    """(stdout with timings masked, record without its timings, {figure name: bytes})."""
    assert (
        main([*argv, "--figures-dir", str(out / "figures"), "--json", str(out / "run.json")]) == 0
    )
    printed = TIMED.sub("<timed>", capsys.readouterr().out)
    record = json.loads((out / "run.json").read_text())
    for key in VOLATILE_RECORD_KEYS:
        record.pop(key)
    runs = record["metrics"].get("runs")
    for row in runs if isinstance(runs, list) else []:  # a study's per-run rows: their times
        row.pop("train_seconds", None)
    figures = {path.name: path.read_bytes() for path in (out / "figures").iterdir()}
    return printed, record, figures


@pytest.mark.slow
@pytest.mark.parametrize("name", RUNS)
def test_same_seed_same_output_record_and_figures(name, tiny_data_dir, tmp_path, capsys):
    main, argv = RUNS[name]
    argv = [a.format(data=tiny_data_dir) for a in argv]
    first = run_once(main, [*argv, "--seed", "3"], tmp_path, capsys)
    second = run_once(main, [*argv, "--seed", "3"], tmp_path, capsys)
    assert first[0] == second[0]  # printed numbers
    assert first[1] == second[1]  # the JSON record
    assert first[2].keys() == second[2].keys() and len(first[2]) >= 2
    for figure in first[2]:
        assert first[2][figure] == second[2][figure], figure
    other = run_once(main, [*argv, "--seed", "4"], tmp_path, capsys)
    assert other[1]["metrics"] != first[1]["metrics"]  # the seed matters: the test can fail
