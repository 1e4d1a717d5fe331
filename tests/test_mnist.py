"""mnist_perceptron.py: metrics against plain NumPy, seconds-long runs on tiny files in the real
formats (mnist.npz, Fashion-MNIST idx), outputs and bad inputs."""

import csv
import functools
import json
import shlex

import numpy as np
import pytest
from conftest import is_png, write_fashion_mnist, write_mnist_npz

import mnist_perceptron
from common import data


@pytest.fixture
def tiny_data(tmp_path, monkeypatch):
    """A folder with a tiny mnist.npz and Fashion-MNIST files the script will accept."""
    folder = tmp_path / "data"
    rng = np.random.default_rng(0)
    labels = np.tile(np.arange(10, dtype=np.uint8), 8)  # every class, so fives exist
    write_mnist_npz(folder / "mnist.npz", train=80, test=40, y_train=labels,
                    y_test=rng.permutation(labels[:40]))
    write_fashion_mnist(folder / "fashion-mnist", train=40, test=20)
    for name, loader in (("mnist", data.load_mnist), ("fashion_mnist", data.load_fashion_mnist)):
        monkeypatch.setitem(mnist_perceptron.LOADERS, name,
                            functools.partial(loader, expected_counts=None))
    return folder


def run(tmp_path, data_dir, *extra):
    record = tmp_path / "run.json"
    argv = ["--data-dir", str(data_dir), "--epochs", "2", "--figures-dir",
            str(tmp_path / "figures"), "--json", str(record), *extra]
    assert mnist_perceptron.main(argv) == 0
    return json.loads(record.read_text())


def numpy_reference(outputs, truth, threshold):
    """The same metrics written out the long way, as a check."""
    tp = fp = fn = tn = 0
    for output, actual in zip(outputs, truth, strict=True):
        said = output > threshold
        tp += said and actual
        fp += said and not actual
        fn += (not said) and actual
        tn += (not said) and not actual
    return tp, fp, fn, tn


@pytest.mark.parametrize("threshold", [0.0, 0.5])
def test_binary_metrics_match_a_plain_count(threshold):
    rng = np.random.default_rng(1)
    outputs = rng.normal(0.3, 1.0, 500)
    truth = rng.random(500) < 0.1
    m = mnist_perceptron.binary_metrics(outputs, truth, threshold)
    tp, fp, fn, tn = numpy_reference(outputs, truth, threshold)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (tp, fp, fn, tn)
    assert m["accuracy"] == pytest.approx((tp + tn) / 500)
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))


def test_baseline_is_the_share_of_other_classes():
    truth = np.array([1] * 892 + [0] * 9108)
    m = mnist_perceptron.baseline_metrics(truth)
    assert m["accuracy"] == pytest.approx(0.9108) and m["recall"] == 0
    assert np.isnan(m["precision"])


def test_model_is_the_tutorials():
    model = mnist_perceptron.build_model()
    assert model.count_params() == 785 and model.output_shape == (None, 1)
    assert mnist_perceptron.build_model("sigmoid").layers[-1].activation.__name__ == "sigmoid"


def test_grid_has_both_classes_and_follows_the_seed():
    truth = np.arange(1000) % 11 == 0
    picks = mnist_perceptron.prediction_grid_indices(truth, seed=2, count=32)
    assert len(set(picks)) == 32 and truth[picks].sum() == 16
    assert list(picks) == list(mnist_perceptron.prediction_grid_indices(truth, 2, 32))


def test_compare_run_on_tiny_mnist(tmp_path, tiny_data, capsys):
    record = run(tmp_path, tiny_data, "--compare")
    out = capsys.readouterr().out
    assert "linear val accuracy" in out and "sigmoid val accuracy" in out
    assert "(the tutorial's reading)" in out and "(the baseline)" in out
    runs = record["metrics"]["runs"]
    assert set(runs) == {"linear", "sigmoid"}
    for metrics in runs.values():
        assert len(metrics["val_accuracy"]) == 2
    # a sigmoid's output is always above 0: the tutorial's reading at 0 is shown for the linear
    assert len(runs["linear"]["readings"]) == 2 and len(runs["sigmoid"]["readings"]) == 1
    assert "sigmoid, output > 0 " not in out
    assert record["metrics"]["baseline"]["accuracy"] == pytest.approx(36 / 40)
    assert len(record["figures"]) == 4 and all(is_png(f) for f in record["figures"])


@pytest.mark.parametrize("extra", [("--engine", "fit"), ("--normalize", "--activation",
                                                          "sigmoid"),
                                   ("--validation-split", "0.25")],
                         ids=["fit", "normalize-sigmoid", "validation-split"])
def test_single_runs(tmp_path, tiny_data, extra):
    record = run(tmp_path, tiny_data, *extra)
    (metrics,) = record["metrics"]["runs"].values()
    assert len(metrics["val_accuracy"]) == 2
    assert all(0 <= r["accuracy"] <= 1 for r in metrics["readings"])


def test_fashion_mnist_exercise(tmp_path, tiny_data, capsys):
    record = run(tmp_path, tiny_data, "--dataset", "fashion_mnist", "--target-class", "9")
    assert record["metrics"]["target"] == "Ankle boot"
    out = capsys.readouterr().out
    assert "'Ankle boot' vs the rest" in out and "classes: 0 T-shirt/top, 1 Trouser" in out
    assert all("fashion_mnist_class9" in f for f in record["figures"])


def test_study_on_tiny_mnist(tmp_path, tiny_data, capsys):
    record = run(tmp_path, tiny_data, "--compare", "--seeds", "6", "--data-orders", "2")
    out = capsys.readouterr().out
    study = record["metrics"]["study"]
    for activation in ("linear", "sigmoid"):
        summary = study[activation]
        assert summary["n"] == 6 and summary["data_orders"] == 2
        assert summary["dead"]["n"] == 6 and 0 <= summary["dead"]["low"] <= summary["dead"][
            "share"] <= summary["dead"]["high"] <= 1
        assert summary["final_accuracy"]["n"] == 6
        assert f"{activation} neuron, 6 runs:" in out
    assert study["paired"]["sigmoid_better"]["n"] == 6
    assert "dead neuron (every test image read as the same class)" in out
    assert "the sigmoid is better in" in out and "from the data order" in out
    rows = list(csv.DictReader(open(record["metrics"]["csv"])))
    assert len(rows) == 12 and {r["activation"] for r in rows} == {"linear", "sigmoid"}
    assert list(rows[0])[:4] == ["run", "activation", "weight_seed", "data_seed"]
    assert {"dead", "final_val_accuracy", "precision", "recall", "val_accuracy_2",
            "replay"} <= set(rows[0])
    # 6 runs in 2 orders: weight seeds 0..5, data seeds 0,0,0,1,1,1
    assert [(r["weight_seed"], r["data_seed"]) for r in rows[:6]] == [
        ("0", "0"), ("1", "0"), ("2", "0"), ("3", "1"), ("4", "1"), ("5", "1")]
    assert [f for f in record["figures"] if f.endswith("_study.png")]
    assert all(is_png(f) for f in record["figures"])


def test_a_study_run_replays_alone_from_its_printed_command(tmp_path, tiny_data):
    record = run(tmp_path / "study", tiny_data, "--activation", "sigmoid", "--seeds", "5",
                 "--data-orders", "2", "--seed", "3")
    row = list(csv.DictReader(open(record["metrics"]["csv"])))[4]
    command = shlex.split(row["replay"])
    assert command[:2] == ["python", "mnist_perceptron.py"] and "--seeds" not in command
    assert ["--seed", "7", "--data-seed", "4"] == command[command.index("--seed"):][:4]
    replay = run(tmp_path / "replay", tiny_data, *command[2:])
    alone = replay["metrics"]["runs"]["sigmoid"]
    assert alone["val_accuracy"] == [float(row["val_accuracy_1"]), float(row["val_accuracy_2"])]
    assert alone["readings"][0]["tp"] == int(row["tp"]) and alone["dead"] == bool(int(
        row["dead"]))


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "0"], "out of range"),
    (["--seeds", "-1"], "out of range"),
    (["--seeds", "20001"], "out of range"),
    (["--seeds", "ten"], "not a whole number"),
    (["--data-seed", "-1"], "out of range"),
    (["--data-orders", "0"], "out of range"),
    (["--engine", "stacked"], "invalid choice"),
    (["--target-class", "10"], "out of range"),
    (["--learning-rate", "0"], "out of range"),
    (["--validation-split", "0.95"], "out of range"),
    (["--dataset", "cifar10"], "invalid choice"),
])
def test_bad_arguments_exit_2_before_loading(argv, message, capsys, monkeypatch):
    monkeypatch.setitem(mnist_perceptron.LOADERS, "mnist", lambda *a: pytest.fail("loaded"))
    with pytest.raises(SystemExit) as stop:
        mnist_perceptron.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_pickled_npz_is_one_line_and_exit_2(tmp_path, capsys):
    write_mnist_npz(tmp_path / "mnist.npz", y_test=np.array([object()] * 6, dtype=object))
    code = mnist_perceptron.main(["--data-dir", str(tmp_path), "--figures-dir",
                                  str(tmp_path / "figures")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pickled" in err[0]


@pytest.mark.data
def test_real_mnist_study_tells_the_tutorials_story(tmp_path, data_dir):
    # One run's fate is decided by rounding; 40 runs are not.
    study = run(tmp_path, data_dir, "--compare", "--epochs", "10", "--seeds", "40",
                "--data-orders", "4")["metrics"]["study"]
    assert study["sigmoid"]["live_final_accuracy"]["median"] > 0.95  # the fix works...
    assert study["sigmoid"]["dead"]["count"] > 0  # ...when the neuron does not die
    assert study["linear"]["below_baseline"]["share"] > 0.5
    assert study["paired"]["sigmoid_better"]["share"] > 0.5
