"""cifar10_dense.py: the models, seconds-long runs on tiny batch files, outputs and bad inputs.

Tiny CIFAR-10 batch files are written in the real format (conftest.write_batches); the script's
loader is told not to insist on CIFAR-10's 50,000/10,000 counts. The test marked `data` trains
the tutorial's network on the real copy and checks the published accuracy.
"""

import csv
import functools
import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
from conftest import is_png, write_batches

import cifar10_dense
from common import data
from common.backend import keras


@pytest.fixture
def tiny_cifar(tmp_path, monkeypatch):
    """A folder of tiny batches (5 x 8 training, 12 test images) the script will accept."""
    folder = write_batches(tmp_path / "data" / "cifar-10-batches-py", per_batch=8, test=12)
    monkeypatch.setattr(cifar10_dense, "load_cifar10",
                        functools.partial(data.load_cifar10, expected_counts=None))
    return folder.parent


def run(tmp_path, data_dir, *extra):
    record = tmp_path / "run.json"
    argv = ["--data-dir", str(data_dir), "--epochs", "2", "--figures-dir",
            str(tmp_path / "figures"), "--json", str(record), "--quiet", *extra]
    assert cifar10_dense.main(argv) == 0
    return json.loads(record.read_text())


def test_models_are_the_tutorials():
    assert cifar10_dense.build_dense().count_params() == 646_260  # the book's summary
    cnn = cifar10_dense.build_cnn()
    kinds = [type(layer).__name__ for layer in cnn.layers]
    assert kinds.count("Conv2D") == 4 and kinds.count("BatchNormalization") == 5
    assert kinds.count("LeakyReLU") == 5 and kinds.count("Dropout") == 1
    convs = [layer for layer in cnn.layers if type(layer).__name__ == "Conv2D"]
    assert [(c.filters, c.strides, c.padding) for c in convs] == [
        (32, (1, 1), "same"), (32, (2, 2), "same"), (64, (1, 1), "same"), (64, (2, 2), "same")]
    assert cnn.output_shape == (None, 10)


@pytest.mark.parametrize("extra", [(), ("--engine", "fit"), ("--model", "cnn"),
                                   ("--validation-split", "0.25")],
                         ids=["dense", "dense-fit", "cnn", "validation-split"])
def test_tiny_run_writes_figures_and_record(tmp_path, tiny_cifar, capsys, extra):
    record = run(tmp_path, tiny_cifar, *extra)
    out = capsys.readouterr().out
    assert "published" in out and "verdict:" in out
    metrics = record["metrics"]
    assert len(metrics["train_loss"]) == 2 and 0 <= metrics["test_accuracy"] <= 1
    assert np.asarray(metrics["confusion_matrix"]).sum() == 12
    expect_validation = "--validation-split" in extra or "cnn" in extra
    assert len(metrics["val_accuracy"]) == (2 if expect_validation else 0)
    assert record["peak_rss_mb"] > 0 and record["timings_s"]["training"] > 0
    assert len(record["figures"]) == 3
    for figure in record["figures"]:
        assert is_png(figure)


def test_shown_images_follow_the_seed():
    picks = cifar10_dense.shown_image_indices(10, seed=3, total=10_000)
    assert list(picks) == list(cifar10_dense.shown_image_indices(10, seed=3, total=10_000))
    assert len(set(picks)) == 10
    assert list(picks) != list(cifar10_dense.shown_image_indices(10, seed=4, total=10_000))


def test_save_model_round_trips(tmp_path, tiny_cifar):
    path = tmp_path / "out" / "model.keras"
    run(tmp_path, tiny_cifar, "--save-model", str(path))
    loaded = keras.models.load_model(path)
    assert loaded.count_params() == 646_260
    assert [p.name for p in path.parent.iterdir()] == ["model.keras"]  # no temporary left


def test_confusion_matrix_counts():
    matrix = cifar10_dense.confusion_matrix(np.array([0, 0, 1, 9]), np.array([0, 1, 1, 0]))
    assert matrix[0, 0] == 1 and matrix[0, 1] == 1 and matrix[1, 1] == 1 and matrix[9, 0] == 1
    assert matrix.sum() == 4


def test_verdict_uses_the_band():
    assert cifar10_dense.verdict("dense", 0.489 + 0.014)[0]
    assert not cifar10_dense.verdict("dense", 0.489 - 0.016)[0]


@pytest.mark.parametrize("argv, message", [
    (["--save-model", "model.h5"], "must end in .keras"),
    (["--validation-split", "1"], "out of range"),
    (["--batch-size", "0"], "out of range"),
    (["--learning-rate", "nan"], "out of range"),
    (["--model", "resnet"], "invalid choice"),
])
def test_bad_arguments_exit_2_before_loading(argv, message, capsys, monkeypatch):
    monkeypatch.setattr(cifar10_dense, "load_cifar10", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(SystemExit) as stop:
        cifar10_dense.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_save_model_folder_in_the_way(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cifar10_dense, "load_cifar10", lambda *a, **k: pytest.fail("loaded"))
    (tmp_path / "m.keras").mkdir()
    with pytest.raises(SystemExit) as stop:
        cifar10_dense.main(["--save-model", str(tmp_path / "m.keras"),
                            "--figures-dir", str(tmp_path)])
    assert stop.value.code == 2 and "is a folder" in capsys.readouterr().err


def test_no_data_offline_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)

    def offline(name):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(data, "_download", offline)
    (tmp_path / "empty").mkdir()
    code = cifar10_dense.main(["--data-dir", str(tmp_path / "empty"),
                               "--figures-dir", str(tmp_path / "figures")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "looked in" in err[0] and "--data-dir" in err[0]


def test_corrupt_batch_is_one_line_and_exit_2(tmp_path, capsys):
    folder = write_batches(tmp_path / "cifar-10-batches-py")
    (folder / "data_batch_3").write_bytes(b"\x80\x02}q\x00")  # a pickle cut short
    code = cifar10_dense.main(["--data-dir", str(tmp_path), "--figures-dir",
                               str(tmp_path / "figures")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "data_batch_3" in err[0]


def test_usage_error_as_a_process_has_no_traceback(tmp_path):
    finished = subprocess.run(
        [sys.executable, "cifar10_dense.py", "--epochs", "0"], capture_output=True, text=True,
        check=False, cwd=cifar10_dense.__file__.rsplit("/", 1)[0])
    assert finished.returncode == 2
    assert "Traceback" not in finished.stderr and "--epochs" in finished.stderr


@pytest.mark.data
def test_real_cifar10_reproduces_the_tutorial(tmp_path, data_dir):
    """The tutorial's network on the real copy, 10 epochs: within 1.5 points of 48.9%."""
    record = run(tmp_path, data_dir, "--epochs", "10")
    assert abs(record["metrics"]["test_accuracy"] - 0.489) <= 0.015
    assert record["metrics"]["reproduced"]


def test_limits_take_the_first_images(tmp_path, tiny_cifar):
    record = run(tmp_path, tiny_cifar, "--train-limit", "10", "--test-limit", "5")
    assert np.asarray(record["metrics"]["confusion_matrix"]).sum() == 5
    assert record["config"]["train_limit"] == 10 and record["config"]["test_limit"] == 5


# ## Seed studies: --seeds N, --data-seed, the per-run table and the replay of one run


def study(tmp_path, data_dir, *extra):
    record = run(tmp_path, data_dir, "--epochs", "1", *extra)
    csv_rows = list(csv.DictReader(open(record["metrics"]["csv"])))
    return record, csv_rows


def test_study_writes_table_record_and_figure(tmp_path, tiny_cifar, capsys):
    record, rows = study(tmp_path, tiny_cifar, "--seeds", "3", "--seed", "5", "--data-seed", "9")
    out = capsys.readouterr().out
    assert "Seed study: 3 runs" in out and "percentile" in out and "sampling sd" in out
    metrics = record["metrics"]
    assert list(rows[0]) == list(cifar10_dense.CSV_COLUMNS) and len(rows) == 3
    assert [int(r["weight_seed"]) for r in rows] == [5, 6, 7]
    assert [int(r["data_seed"]) for r in rows] == [9, 10, 11]
    assert all("--seed" in r["command"] and "--data-seed" in r["command"] for r in rows)
    summary = metrics["study"]
    assert summary["n"] == 3 and summary["test_accuracy"]["n"] == 3
    assert {"test_loss", "train_accuracy", "published_percentile", "sampling_sd"} <= set(summary)
    assert len(metrics["runs"]) == 3 and metrics["runs"][0]["weight_seed"] == 5
    # the first run's single-run keys stay, for reproduce.py
    assert metrics["test_accuracy"] == metrics["runs"][0]["test_accuracy"]
    assert len(metrics["train_accuracy"]) == 1 and metrics["data_source"]
    assert any(f.endswith("cifar10_dense_study.png") for f in record["figures"])
    assert all(is_png(f) for f in record["figures"]) and len(record["figures"]) == 4


def test_replaying_a_run_gives_the_study_numbers(tmp_path, tiny_cifar):
    """Run 2 trained beside run 1, run 3 alone (the odd one out): each single-run command from
    the table gives that run's figures to the last bit."""
    _, rows = study(tmp_path / "study", tiny_cifar, "--seeds", "3")
    for row in rows[1:]:
        argv = shlex.split(row["command"])[2:]
        replay = run(tmp_path / f"run{row['run']}", tiny_cifar, *argv, "--epochs", "1")
        metrics = replay["metrics"]
        assert repr(metrics["test_accuracy"]) == row["test_accuracy"]
        assert repr(metrics["test_loss"]) == row["test_loss"]
        assert repr(metrics["train_loss"][-1]) == row["train_loss"]
        assert "study" not in metrics


def test_fit_engine_study(tmp_path, tiny_cifar):
    record, rows = study(tmp_path, tiny_cifar, "--engine", "fit", "--seeds", "2")
    assert len(rows) == 2 and record["metrics"]["study"]["n"] == 2
    assert "--engine fit" in rows[0]["command"]


def test_run_seeds_count_up_from_seed_and_data_seed():
    parser = cifar10_dense.make_cifar_parser()
    weights, order = cifar10_dense.run_seeds(parser.parse_args(["--seed", "4", "--seeds", "3"]))
    assert list(weights) == [4, 5, 6] and list(order) == [4, 5, 6]  # --data-seed: --seed
    weights, order = cifar10_dense.run_seeds(parser.parse_args(["--seed", "4", "--seeds", "2",
                                                                "--data-seed", "0"]))
    assert list(weights) == [4, 5] and list(order) == [0, 1]


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "out of range"),
    (["--seeds", "-1"], "out of range"),
    (["--seeds", "2.5"], "not a whole number"),
    (["--data-seed", "-1"], "out of range"),
    (["--data-seed", "nan"], "not a whole number"),
    (["--seed", "2147483647", "--seeds", "2"], "would exceed"),
    (["--data-seed", "2147483646", "--seeds", "3"], "would exceed"),
    (["--column-blocks", "0"], "out of range"),
    (["--engine", "fit", "--column-blocks", "1"], "compiled Dense engine only"),
])
def test_bad_study_flags_exit_2_before_loading(argv, message, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(cifar10_dense, "load_cifar10", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(SystemExit) as stop:
        cifar10_dense.main([*argv, "--figures-dir", str(tmp_path)])
    assert stop.value.code == 2 and message in capsys.readouterr().err
