"""mnist_perceptron.py: metrics against plain NumPy, seconds-long runs on tiny files in the real
formats (mnist.npz, Fashion-MNIST idx), outputs and bad inputs."""

import csv
import functools
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import is_png, read_tensorboard_scalars, recorded_run, write_mnist_npz

import mnist_perceptron
from reproduction.data.mnist import load_fashion_mnist, load_mnist
from reproduction.evidence.statistics import share
from reproduction.plumbing.backend import keras
from reproduction.plumbing.records import read_arrays
from reproduction.studies import mnist as mnist_study
from reproduction.studies import mnist_figures, mnist_text
from reproduction.studies.figures import plt


@pytest.fixture
def accepted_tiny_mnist_dir(tiny_mnist_dir, monkeypatch):
    """conftest's tiny_mnist_dir (mnist.npz and Fashion-MNIST files with few images), which the
    script accepts without --allow-small-data: its loaders do not insist on the real counts."""
    for name, loader in (("mnist", load_mnist), ("fashion_mnist", load_fashion_mnist)):
        monkeypatch.setitem(
            mnist_perceptron.LOADERS, name, functools.partial(loader, expected_counts=None)
        )
    return tiny_mnist_dir


def run(tmp_path, data_dir, *extra):
    """mnist_perceptron.py on the compiled engine unless `extra` names one."""
    engine = () if "--engine" in extra else ("--engine", "compiled")
    return recorded_run(mnist_perceptron.main, tmp_path, data_dir, *engine, *extra)


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
    m = mnist_study.binary_metrics(outputs, truth, threshold)
    tp, fp, fn, tn = numpy_reference(outputs, truth, threshold)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (tp, fp, fn, tn)
    assert m["accuracy"] == pytest.approx((tp + tn) / 500)
    assert m["precision"] == pytest.approx(tp / (tp + fp))
    assert m["recall"] == pytest.approx(tp / (tp + fn))


def test_baseline_is_the_share_of_other_classes():
    truth = np.array([1] * 892 + [0] * 9108)
    m = mnist_study.baseline_metrics(truth)
    assert m["accuracy"] == pytest.approx(0.9108) and m["recall"] == 0
    assert np.isnan(m["precision"])


def fake_runs(outputs, val_accuracy=None, loss=None):
    """A Runs-like object of per-run test outputs (and validation accuracies and training
    losses by epoch)."""
    from types import SimpleNamespace

    outputs = np.asarray(outputs, np.float32)
    val_accuracy = np.zeros((len(outputs), 3)) if val_accuracy is None else val_accuracy
    val_accuracy = np.asarray(val_accuracy, np.float32)
    return SimpleNamespace(
        test_outputs=outputs,
        loss=np.ones(val_accuracy.shape) if loss is None else np.asarray(loss, np.float32),
        accuracy=val_accuracy,
        val_accuracy=val_accuracy,
        val_loss=np.ones(val_accuracy.shape),
        weight_seeds=np.arange(len(outputs)),
        data_seeds=np.arange(len(outputs)),
    )


def test_a_dead_run_is_at_the_baseline_in_correct_images_not_below_it():
    truth = np.arange(10_000) < 892  # 892 fives: never-five gets 9,108 right, "0.9108"
    assert float(np.float32(9108 / 10_000)) < 9108 / 10_000  # 0.91079998 in float64: "below"
    dead = np.full(10_000, 0.3)  # every image read as not-five
    one_wrong = np.where(np.arange(10_000) == 0, 0.3, np.where(truth, 0.9, 0.1))
    worse = dead.copy()
    worse[9_999] = 0.9  # one non-five called a five: 9,107 right
    metrics = mnist_study.run_metrics(fake_runs([dead, one_wrong, worse]), truth)
    assert metrics["correct"].tolist() == [9108, 9999, 9107]
    assert metrics["at_baseline"].tolist() == [True, False, False]
    assert metrics["below_baseline"].tolist() == [False, False, True]


def test_dead_means_stopped_weights_not_merely_one_class_predicted():
    """A dead neuron reads every test image as one class and its training loss is the same
    float over its last epochs (zero gradient); one still moving only predicts one class, and a
    one-epoch run cannot show that its weights stopped."""
    truth = np.arange(100) < 9
    one_class = np.full(100, 0.2)
    live = np.where(truth, 0.9, 0.1)
    loss = [[0.2, 0.09, 0.09], [0.2, 0.15, 0.12], [0.2, 0.1, 0.1]]
    metrics = mnist_study.run_metrics(fake_runs([one_class, one_class, live], loss=loss), truth)
    assert metrics["one_class"].tolist() == [True, True, False]
    assert metrics["dead"].tolist() == [True, False, False]
    short = fake_runs([one_class], val_accuracy=[[0.91]], loss=[[0.09]])
    first = mnist_study.first_run_metrics("sigmoid", short, truth)
    assert first["one_class"] and not first["dead"]
    lines = "\n".join(mnist_text.run_lines("sigmoid", first, "5"))
    assert "predicts one class" in lines and "one epoch cannot show" in lines
    assert "neuron died" not in lines


def test_a_clear_upward_trend_needs_a_rise_beyond_the_runs_own_ups_and_downs():
    flat_noisy = [0.5, 0.8, 0.3, 0.7, 0.4, 0.6, 0.5, 0.7, 0.3, 0.6]
    rising = [0.50, 0.52, 0.55, 0.56, 0.58, 0.61, 0.62, 0.65, 0.66, 0.69]
    jumpy_rise = [0.3, 0.9, 0.2, 0.8, 0.4, 0.9, 0.3, 0.8, 0.5, 0.9]  # last beats first, no trend
    falling = rising[::-1]
    trend = mnist_study.clear_upward_trend([flat_noisy, rising, jumpy_rise, falling])
    assert trend.tolist() == [False, True, False, False]


def test_large_outputs_means_far_beyond_0_and_1_not_one_stray_output():
    far = np.concatenate([np.full(50, -5.0), np.full(50, 7.0), np.full(900, 0.5)])
    stray = np.concatenate([[-0.01, 1.01], np.full(998, 0.5)])
    one_sided = np.concatenate([np.full(100, 7.0), np.full(900, 0.5)])
    assert mnist_study.outputs_far_outside([far, stray, one_sided]).tolist() == [
        True,
        False,
        False,
    ]


def test_model_is_the_tutorials():
    model = mnist_perceptron.build_model()
    assert model.count_params() == 785 and model.output_shape == (None, 1)
    assert mnist_perceptron.build_model("sigmoid").layers[-1].activation.__name__ == "sigmoid"


def test_grid_has_both_classes_and_follows_the_seed():
    truth = np.arange(1000) % 11 == 0
    picks = mnist_perceptron.picture(truth, seed=2, count=32)
    assert len(set(picks)) == 32 and truth[picks].sum() == 16
    assert list(picks) == list(mnist_perceptron.picture(truth, 2, 32))


def test_compare_run_on_tiny_mnist(tmp_path, accepted_tiny_mnist_dir, capsys):
    record = run(tmp_path, accepted_tiny_mnist_dir, "--compare")
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


@pytest.mark.parametrize(
    "extra",
    [
        ("--engine", "fit"),
        ("--normalize", "--activation", "sigmoid"),
        ("--validation-split", "0.25"),
    ],
    ids=["fit", "normalize-sigmoid", "validation-split"],
)
def test_single_runs(tmp_path, accepted_tiny_mnist_dir, extra):
    record = run(tmp_path, accepted_tiny_mnist_dir, *extra)
    (metrics,) = record["metrics"]["runs"].values()
    assert len(metrics["val_accuracy"]) == 2
    assert all(0 <= r["accuracy"] <= 1 for r in metrics["readings"])
    # the weight image's never-lit pixels come from the images the neuron trained on
    trained_on = 60 if "--validation-split" in extra else 80
    images = load_mnist(accepted_tiny_mnist_dir, expected_counts=None).x_train[:trained_on]
    lit = read_arrays(tmp_path / "run.npz")["data.lit_share"]
    np.testing.assert_array_equal(
        lit, np.count_nonzero(images.reshape(trained_on, -1), 0) / trained_on
    )
    # settings other than the tutorial's name themselves (run() adds --epochs 2); the engine
    # does not: both compute the same experiment
    suffix = {
        "--engine": "_epochs2_linear_",
        "--normalize": "_normalized_epochs2_",
        "--validation-split": "_epochs2_val0.25_",
    }[extra[0]]
    assert record["figures"] and all(f"/mnist_class5{suffix}" in f for f in record["figures"])


@pytest.mark.parametrize(
    "extra, saved",
    [
        ((), {"linear": "model.keras"}),
        (("--engine", "fit", "--activation", "sigmoid"), {"sigmoid": "model.keras"}),
        (
            ("--compare", "--seeds", "3"),
            {"linear": "model_linear.keras", "sigmoid": "model_sigmoid.keras"},
        ),
    ],
    ids=["compiled", "fit", "compare-study"],
)
def test_saved_models_are_compiled_and_evaluate_as_the_run(
    tmp_path, accepted_tiny_mnist_dir, extra, saved
):
    """Every engine saves the tutorial's compiled neuron (--compare: both, a study: its first
    run); loaded, model.evaluate on the test set gives the run's last validation loss and
    accuracy (validation is the test set, as in the tutorial)."""
    record = run(
        tmp_path,
        accepted_tiny_mnist_dir,
        *extra,
        "--save-model",
        str(tmp_path / "out" / "model.keras"),
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(saved.values())
    tiny = load_mnist(accepted_tiny_mnist_dir, expected_counts=None)
    for activation, name in saved.items():
        loaded = keras.models.load_model(tmp_path / "out" / name)
        assert loaded.layers[-1].activation.__name__ == activation
        assert loaded.loss == "mse" and type(loaded.optimizer).__name__ == "Adam"
        loss, accuracy = loaded.evaluate(
            tiny.x_test, (tiny.y_test == 5).astype("float32"), verbose=0
        )
        first_run = record["metrics"]["runs"][activation]
        assert accuracy == pytest.approx(first_run["val_accuracy"][-1], abs=1e-6)
        assert loss == pytest.approx(first_run["val_loss"][-1], rel=1e-5)


@pytest.mark.parametrize("engine", ["compiled", "fit"])
def test_tensorboard_logs_hold_each_neurons_epochs(tmp_path, accepted_tiny_mnist_dir, engine):
    """--tensorboard writes one folder per neuron with the tags of Keras's TensorBoard
    callback, holding the run's per-epoch figures, for either engine."""
    log_dir = tmp_path / "tb"
    record = run(
        tmp_path,
        accepted_tiny_mnist_dir,
        "--compare",
        "--engine",
        engine,
        "--tensorboard",
        str(log_dir),
    )
    scalars = read_tensorboard_scalars(log_dir)
    assert set(scalars) == {
        (f"{activation}/{folder}", tag)
        for activation in ("linear", "sigmoid")
        for folder, tag in (
            ("train", "epoch_loss"),
            ("train", "epoch_accuracy"),
            ("train", "epoch_learning_rate"),
            ("validation", "epoch_loss"),
            ("validation", "epoch_accuracy"),
        )
    }
    for activation, first_run in record["metrics"]["runs"].items():
        for (folder, tag), expected in [
            (("train", "epoch_loss"), first_run["train_loss"]),
            (("train", "epoch_accuracy"), first_run["train_accuracy"]),
            (("train", "epoch_learning_rate"), [1e-3, 1e-3]),
            (("validation", "epoch_loss"), first_run["val_loss"]),
            (("validation", "epoch_accuracy"), first_run["val_accuracy"]),
        ]:
            steps, values = zip(*scalars[f"{activation}/{folder}", tag], strict=True)
            assert steps == (0, 1)  # Keras's callback: step = epoch - 1
            assert values == pytest.approx(expected, abs=1e-5), (activation, folder, tag)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tb")] == []


def test_fashion_mnist_exercise(tmp_path, accepted_tiny_mnist_dir, capsys, monkeypatch):
    titles = {}
    real_save_figure = mnist_figures.save_figure

    def save_figure(fig, path):
        titles[Path(path).name] = fig.get_suptitle()
        return real_save_figure(fig, path)

    monkeypatch.setattr(mnist_figures, "save_figure", save_figure)
    record = run(
        tmp_path, accepted_tiny_mnist_dir, "--dataset", "fashion_mnist", "--target-class", "9"
    )
    assert record["metrics"]["target"] == "Ankle boot"
    out = capsys.readouterr().out
    assert "'Ankle boot' vs the rest" in out and "classes: 0 T-shirt/top, 1 Trouser" in out
    assert all("fashion_mnist_class9" in f for f in record["figures"])
    # every figure's title names the dataset and the task
    assert len(titles) == 3 and all(
        "Fashion-MNIST, 'Ankle boot' vs the rest" in title for title in titles.values()
    )
    assert titles["fashion_mnist_class9_epochs2_linear_predictions.png"].startswith(
        "Fashion-MNIST, 'Ankle boot' vs the rest: the linear neuron"
    )


def framed_training_images(count=200, border=3):
    """Training images whose `border` outer pixels are 0 in every image; one pixel just inside
    is lit in a single image (0.5% of them), every other inner pixel in all."""
    rng = np.random.default_rng(4)
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, border:-border, border:-border] = rng.integers(
        1, 256, (count, 28 - 2 * border, 28 - 2 * border)
    )
    images[1:, border, border] = 0
    frame = np.ones((28, 28), bool)
    frame[border:-border, border:-border] = False
    return images, frame


def inner_limit(kernel, frame):
    """The colour limit from the inner pixels alone (without the barely lit one)."""
    well_lit = ~frame
    well_lit[3, 3] = False  # lit in 1 of 200 images: below MIN_LIT_SHARE, clipped
    return np.percentile(np.abs(kernel[well_lit]), 99)


def framed_kernel(frame):
    """Small learnt weights inside; large random ones on the frame and the rarely lit pixel."""
    rng = np.random.default_rng(5)
    kernel = rng.normal(0, 0.01, (28, 28))
    kernel[frame] = rng.choice([-1, 1], frame.sum()) * rng.uniform(5, 10, frame.sum())
    kernel[3, 3] = 50.0
    return kernel.reshape(784, 1), kernel


def lit_share(images):
    """Per pixel, the share of the images in which it is lit (as a run's arrays keep it)."""
    return np.count_nonzero(images.reshape(len(images), -1), axis=0) / len(images)


def test_weight_colour_scale_comes_from_the_pixels_training_moves():
    images, frame = framed_training_images()
    column, kernel = framed_kernel(frame)
    never_lit, limit = mnist_figures.weight_colour_scale(column, lit_share(images), (28, 28))
    assert np.array_equal(never_lit, frame)
    assert limit == pytest.approx(inner_limit(kernel, frame))
    assert limit < 0.05  # not the frame's 5-10, nor the barely trained pixel's 50


def test_weight_image_greys_out_rarely_lit_pixels_and_scales_to_the_rest():
    """The frame (never lit) and the pixel lit in 1 of 200 images are grey, not the strongest
    colours; the scale comes from the trained pixels."""
    images, frame = framed_training_images()
    column, kernel = framed_kernel(frame)
    fig = mnist_figures.weights_figure({"linear neuron": column}, lit_share(images), (28, 28), "t")
    (image,) = fig.axes[0].images
    limit = inner_limit(kernel, frame)
    assert image.get_clim() == pytest.approx((-limit, limit))
    rarely_lit = frame.copy()
    rarely_lit[3, 3] = True
    assert np.array_equal(np.ma.getmaskarray(image.get_array()), rarely_lit)
    plt.close(fig)


def test_study_on_tiny_mnist(tmp_path, accepted_tiny_mnist_dir, capsys):
    record = run(
        tmp_path, accepted_tiny_mnist_dir, "--compare", "--seeds", "6", "--data-orders", "2"
    )
    out = capsys.readouterr().out
    study = record["metrics"]["study"]
    for activation in ("linear", "sigmoid"):
        summary = study[activation]
        assert summary["n"] == 6 and summary["data_orders"] == 2
        assert (
            summary["dead"]["n"] == 6
            and 0
            <= summary["dead"]["low"]
            <= summary["dead"]["share"]
            <= summary["dead"]["high"]
            <= 1
        )
        assert summary["final_accuracy"]["n"] == 6
        assert f"{activation} neuron, 6 runs:" in out
    assert study["paired"]["sigmoid_better"]["n"] == 6
    assert "dead neuron (every test image read as one class, weights stopped)" in out
    assert "the sigmoid is better in" in out and "from the data order" in out
    rows = list(csv.DictReader(open(record["metrics"]["csv"])))
    assert len(rows) == 12 and {r["activation"] for r in rows} == {"linear", "sigmoid"}
    assert list(rows[0])[:4] == ["run", "activation", "weight_seed", "data_seed"]
    assert {"dead", "final_val_accuracy", "precision", "recall", "val_accuracy_2", "replay"} <= set(
        rows[0]
    )
    # 6 runs in 2 orders: weight seeds 0..5, data seeds 0,0,0,1,1,1
    assert [(r["weight_seed"], r["data_seed"]) for r in rows[:6]] == [
        ("0", "0"),
        ("1", "0"),
        ("2", "0"),
        ("3", "1"),
        ("4", "1"),
        ("5", "1"),
    ]
    assert [f for f in record["figures"] if f.endswith("_study.png")]
    assert all(is_png(f) for f in record["figures"])
    # tiny data: every claim is "not comparable", each naming the image counts
    assert record["metrics"]["verdicts"] and all(
        v["verdict"] == "not comparable" and "train-images" in v["detail"]
        for v in record["metrics"]["verdicts"]
    )
    assert len(record["metrics"]["claim_values"]["sigmoid_improves"]) == 6


def test_a_study_run_replays_alone_from_its_printed_command(tmp_path, accepted_tiny_mnist_dir):
    record = run(
        tmp_path / "study",
        accepted_tiny_mnist_dir,
        "--activation",
        "sigmoid",
        "--seeds",
        "5",
        "--data-orders",
        "2",
        "--seed",
        "3",
    )
    row = list(csv.DictReader(open(record["metrics"]["csv"])))[4]
    command = shlex.split(row["replay"])
    assert command[:2] == ["python", "mnist_perceptron.py"] and "--seeds" not in command
    assert ["--seed", "7", "--data-seed", "4"] == command[command.index("--seed") :][:4]
    replay = run(tmp_path / "replay", accepted_tiny_mnist_dir, *command[2:])
    alone = replay["metrics"]["runs"]["sigmoid"]
    assert alone["val_accuracy"] == [float(row["val_accuracy_1"]), float(row["val_accuracy_2"])]
    assert alone["readings"][0]["tp"] == int(row["tp"]) and alone["dead"] == bool(int(row["dead"]))


@pytest.mark.parametrize(
    "argv, message",
    [
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
    ],
)
def test_bad_arguments_exit_2_before_loading(argv, message, capsys, monkeypatch):
    monkeypatch.setitem(mnist_perceptron.LOADERS, "mnist", lambda *a: pytest.fail("loaded"))
    with pytest.raises(SystemExit) as stop:
        mnist_perceptron.main(argv)
    assert stop.value.code == 2 and message in capsys.readouterr().err


def test_pickled_npz_is_one_line_and_exit_2(tmp_path, capsys):
    write_mnist_npz(tmp_path / "mnist.npz", y_test=np.array([object()] * 6, dtype=object))
    code = mnist_perceptron.main(
        ["--data-dir", str(tmp_path), "--figures-dir", str(tmp_path / "figures")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "pickled" in err[0]


@pytest.mark.data
def test_real_mnist_study_tells_the_tutorials_story(tmp_path, real_data_dir):
    # One run's fate is decided by rounding; 40 runs are not.
    record = run(
        tmp_path,
        real_data_dir,
        "--compare",
        "--epochs",
        "10",
        "--seeds",
        "40",
        "--data-orders",
        "4",
    )
    study = record["metrics"]["study"]
    assert study["sigmoid"]["live_final_accuracy"]["median"] > 0.95  # the fix works...
    assert study["sigmoid"]["dead"]["count"] > 0  # ...when the neuron does not die
    assert study["linear"]["below_baseline"]["share"] > 0.5
    assert study["paired"]["sigmoid_better"]["share"] > 0.5
    verdicts = {v["id"]: v for v in record["metrics"]["verdicts"]}
    assert (
        verdicts["mnist.linear_low"]["verdict"] == "holds"
        and verdicts["mnist.linear_low"]["n"] == 40
    )
    # "really improves": only runs above the baseline count, so the dead ones never do
    improves, dead = verdicts["mnist.sigmoid_improves"], study["sigmoid"]["dead"]
    assert 0 < improves["share"] <= 1 - dead["share"] < 1
    assert record["data_files"]["mnist.npz"] and record["machine"]["cpu"]["model"]
    # Two disjoint halves of the study (weights 0-19 on orders 0-1, 20-39 on orders 2-3)
    # agree within their 95% intervals: the distribution repeats where single runs do not.
    rows = [
        r for r in csv.DictReader(open(record["metrics"]["csv"])) if r["activation"] == "sigmoid"
    ]
    halves = [
        share([r["dead"] == "1" for r in rows[:20]]),
        share([r["dead"] == "1" for r in rows[20:]]),
    ]
    assert halves[0]["low"] <= halves[1]["high"] and halves[1]["low"] <= halves[0]["high"]
