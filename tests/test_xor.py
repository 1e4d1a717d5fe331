"""xor_mlp.py: the printed report, the convergence study, figures, run record, bad inputs."""

import csv
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import is_png

import xor_mlp
from reproduction.engines.glorot import glorot_uniform_stack
from reproduction.engines.runs import Runs
from reproduction.engines.xor_networks import train as train_stacked
from reproduction.plumbing import script_run
from reproduction.plumbing.backend import tf
from reproduction.plumbing.exits import run_main as run_script_main
from reproduction.settings.options import ENGINES
from reproduction.settings.xor import LOSSES, parse
from reproduction.studies import xor as xor_study
from reproduction.studies import xor_figures
from reproduction.studies.figures import plt
from reproduction.studies.xor import epochs_to_full_accuracy

ROOT = Path(__file__).resolve().parent.parent


def run_main(tmp_path, capsys, *argv):
    """xor_mlp.py's main with `argv`, on the compiled engine unless argv names one (a plain
    run's model.fit is the fidelity tests' business: test_stacked.py)."""
    engine = [] if "--engine" in argv else ["--engine", "compiled"]
    code = xor_mlp.main(
        [
            "--figures-dir",
            str(tmp_path / "figs"),
            "--json",
            str(tmp_path / "run.json"),
            "--quiet",
            *engine,
            *argv,
        ]
    )
    out = capsys.readouterr().out
    return code, out, json.loads((tmp_path / "run.json").read_text())


def test_default_report_numbers(tmp_path, capsys):
    code, out, record = run_main(tmp_path, capsys, "--epochs", "150")
    assert code == 0
    # Independent recomputation of the same run.
    run = train_stacked(xor_mlp.X, xor_mlp.Y, glorot_uniform_stack([2, 16, 1], [0]), epochs=150)
    expected_first = int(epochs_to_full_accuracy(run.accuracy)[0])
    assert re.search(rf"First epoch at 100% accuracy: {expected_first}\s+\(tutorial: 54", out)
    assert record["metrics"]["epoch_to_100"] == expected_first
    assert f"Final loss (epoch 150): {run.loss[0, -1]:.4f}" in out
    assert record["metrics"]["final_loss"] == pytest.approx(run.loss[0, -1])
    # The table: four segments with targets and outputs, as in the record.
    for name, target in zip(xor_study.SEGMENTS, xor_mlp.Y.astype(int), strict=True):
        output = record["metrics"]["outputs"][name]
        assert re.search(rf"{name}\s+\[\d, \d\]\s+{target}\s+{output:.3f}", out)
    assert record["config"]["epochs"] == 150 and record["config"]["hidden"] == [16]
    assert record["argv"][-2:] == ["--epochs", "150"]
    assert record["timings_s"]["training"] > 0
    for figure in record["figures"]:
        assert is_png(figure)
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "xor_2-16-1_epochs150_boundary.png",
        "xor_2-16-1_epochs150_history.png",
    ]


@pytest.mark.parametrize(
    "argv, tutorial",
    [
        (["--hidden", "16", "16"], "tutorial: 11"),
        (["--hidden", "32"], "tutorial: 86"),
        (["--loss", "binary_crossentropy"], "tutorial: no published figure"),
    ],
)
def test_tweaks_show_their_tutorial_figure(tmp_path, capsys, argv, tutorial):
    code, out, record = run_main(tmp_path, capsys, "--epochs", "20", *argv)
    assert code == 0 and tutorial in out
    assert record["config"]["loss"] in LOSSES


def test_study_summary_matches_per_seed_epochs(tmp_path, capsys):
    code, out, record = run_main(
        tmp_path, capsys, "--seeds", "40", "--epochs", "150", "--seed", "100"
    )
    assert code == 0
    epochs = np.array([np.nan if e is None else e for e in record["metrics"]["epochs_to_100"]])
    assert len(epochs) == 40
    solved = np.sort(epochs[~np.isnan(epochs)])
    assert f"reached 100% accuracy: {len(solved)}/40" in out
    # Median with never-solved seeds counted as slowest: between the 20th and 21st of 40 sorted
    # values (linear interpolation, the project's one quantile definition)
    ordered = np.concatenate([solved, np.full(40 - len(solved), np.inf)])
    middle = (ordered[19] + ordered[20]) / 2
    median = "never (>150)" if np.isinf(middle) else f"{middle:g}"
    assert f"epochs to 100%: median {median}," in out
    assert "seeds (100..139)" in out
    assert is_png(tmp_path / "figs" / "xor_2-16-1_epochs150_study.png")
    # Network 0 of the study is the single run with the same seed.
    single = train_stacked(
        xor_mlp.X, xor_mlp.Y, glorot_uniform_stack([2, 16, 1], [100]), epochs=150
    )
    assert record["metrics"]["first_seed"]["final_loss"] == pytest.approx(single.loss[0, -1])


def test_study_writes_a_per_seed_csv_beside_the_record(tmp_path, capsys):
    code, out, record = run_main(
        tmp_path, capsys, "--seeds", "20", "--epochs", "60", "--seed", "5", "--hidden", "8"
    )
    assert code == 0
    csv_path = tmp_path / "run.csv"
    assert record["metrics"]["csv"] == str(csv_path)
    assert f"per-run table: {csv_path}" in out
    with csv_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == list(xor_study.CSV_COLUMNS)
    assert len(rows) == 20 and [int(r["seed"]) for r in rows] == list(range(5, 25))
    # The table agrees with the record: epochs to 100% (empty = never), the first seed's figures.
    epochs = [None if r["epoch_to_100"] == "" else int(r["epoch_to_100"]) for r in rows]
    assert epochs == record["metrics"]["epochs_to_100"]
    first = record["metrics"]["first_seed"]
    assert float(rows[0]["final_loss"]) == pytest.approx(first["final_loss"], rel=1e-6)
    assert float(rows[0]["final_accuracy"]) == first["final_accuracy"]
    assert [float(rows[0][f"output_{a:g}{b:g}"]) for a, b in xor_mlp.X] == pytest.approx(
        list(first["outputs"].values()), abs=1e-5
    )
    assert all(r["diverged"] == "0" for r in rows)
    assert (
        rows[3]["replay"] == "python xor_mlp.py --seed 8 --hidden 8 --epochs 60 --engine compiled"
    )
    study = record["metrics"]["study"]
    for key in (
        "seeds",
        "solved",
        "success_rate",
        "median",
        "q1",
        "q3",
        "min",
        "max_solved",
        "tutorial_epoch",
        "p10",
        "p90",
        "success_rate_low",
        "success_rate_high",
    ):
        assert key in study
    assert study["success_rate_low"] <= study["success_rate"] <= study["success_rate_high"]


def test_single_run_writes_no_csv(tmp_path, capsys):
    code, out, record = run_main(tmp_path, capsys, "--epochs", "5")
    assert code == 0 and "csv" not in record["metrics"] and "per-run table" not in out
    assert not (tmp_path / "run.csv").exists()


def test_engine_names_and_both_engines_return_runs():
    # a plain run is the tutorial's model.fit; a study the compiled engine, unless told
    assert parse([])[1].engine == "fit" and parse(["--seeds", "2"])[1].engine == "compiled"
    assert set(ENGINES) == {"compiled", "fit"}
    argv = ["--epochs", "30", "--seeds", "2", "--seed", "3", "--quiet"]
    runs = {engine: xor_mlp.train(parse(["--engine", engine, *argv])[1]) for engine in ENGINES}
    for result in runs.values():
        assert isinstance(result, Runs) and result.data_seeds is None
        assert result.weight_seeds.tolist() == [3, 4]
        assert result.loss.shape == result.accuracy.shape == (2, 30)
        assert result.train_seconds > 0
    np.testing.assert_allclose(runs["compiled"].loss, runs["fit"].loss, rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(runs["compiled"].accuracy, runs["fit"].accuracy)


@pytest.mark.parametrize("old_name", ["stacked", "keras"])
def test_old_engine_names_are_usage_errors(old_name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        xor_mlp.main(["--engine", old_name])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_summarize_study_censors_unsolved_seeds():
    summary = xor_study.study_summary(np.array([10.0, 20.0, np.nan, 40.0]), tutorial_epoch=20)
    assert summary["solved"] == 3 and summary["success_rate"] == 0.75
    # sorted 10, 20, 40, never: linear interpolation, infinite next to a seed that never got there
    assert (summary["p10"], summary["p90"]) == (13, np.inf)
    assert (summary["success_rate_low"], summary["success_rate_high"]) == pytest.approx(
        (0.1941, 0.9937), abs=1e-4
    )  # exact (Clopper-Pearson) for 3 of 4
    assert (summary["q1"], summary["median"], summary["q3"]) == (17.5, 30, np.inf)
    assert summary["min"] == 10 and summary["max_solved"] == 40
    assert summary["share_at_or_before_tutorial"] == 0.5
    mostly_unsolved = xor_study.study_summary(np.array([5.0, np.nan, np.nan]), None)
    assert (
        np.isinf(mostly_unsolved["median"]) and "share_at_or_before_tutorial" not in mostly_unsolved
    )


BAD_ARGS = {
    "hidden 0": ["--hidden", "0"],
    "epochs -1": ["--epochs", "-1"],
    "seeds 0": ["--seeds", "0"],
    "learning rate nan": ["--learning-rate", "nan"],
    "seeds x epochs too big": ["--seeds", "100000", "--epochs", "100000"],
    "figures dir is a file": ["--figures-dir", "{file}"],
    "figures dir under a file": ["--figures-dir", "{file}/figs"],
}


@pytest.mark.parametrize("case", BAD_ARGS)
def test_bad_input_is_a_usage_error_before_training(tmp_path, capsys, monkeypatch, case):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    argv = [a.format(file=blocker) for a in BAD_ARGS[case]]
    if "--figures-dir" not in argv:
        argv += ["--figures-dir", str(tmp_path / "figs")]

    def no_training(*args, **kwargs):
        raise AssertionError("training started despite bad input")

    monkeypatch.setattr(xor_mlp, "train", no_training)
    with pytest.raises(SystemExit) as exit_info:
        xor_mlp.main(argv)
    assert exit_info.value.code == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert err_lines[0].startswith("usage:") and ": error: " in err_lines[-1]
    assert not (tmp_path / "figs").exists()


@pytest.mark.skipif(bool(tf.config.list_physical_devices("GPU")), reason="a GPU is present")
@pytest.mark.parametrize(
    "argv, message",
    [
        (["--device", "gpu"], "--device gpu: TensorFlow sees no GPU"),
        (["--hidden", "0"], "argument --hidden: 0 is out of range"),
    ],
)
def test_bad_input_from_the_shell_exits_2_without_traceback(tmp_path, argv, message):
    result = subprocess.run(
        [sys.executable, "xor_mlp.py", "--figures-dir", str(tmp_path), *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(f"xor_mlp.py: error: {message}")
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_a_network_right_before_training_is_named(tmp_path, capsys):
    """Keras's epoch-1 accuracy is measured before the first update: at 100% there, the
    network was already right; the run says so and the study counts such seeds."""
    seeds = np.arange(300)
    run = train_stacked(xor_mlp.X, xor_mlp.Y, glorot_uniform_stack([2, 16, 1], seeds), epochs=2)
    right = seeds[epochs_to_full_accuracy(run.accuracy) == 1]
    assert len(right), "no seed in 300 starts right: pick a wider range"
    code, out, _ = run_main(tmp_path, capsys, "--epochs", "20", "--seed", str(right[0]))
    assert code == 0 and "already right before training" in out
    code, out, record = run_main(tmp_path, capsys, "--epochs", "20", "--seeds", "300")
    assert record["metrics"]["study"]["right_at_start"] == len(right)


def test_a_quick_experiment_never_overwrites_the_tutorials_figures(tmp_path, capsys, monkeypatch):
    titles = []
    real_plot_boundary = xor_figures.plot_boundary

    def plot_boundary(params, x, y, title, path):
        titles.append(title)
        return real_plot_boundary(params, x, y, title, path)

    monkeypatch.setattr(xor_figures, "plot_boundary", plot_boundary)
    code, _, _ = run_main(tmp_path, capsys)  # the tutorial's settings: 500 epochs
    assert code == 0
    code, out, _ = run_main(
        tmp_path, capsys, "--epochs", "1", "--learning-rate", "0.01", "--seed", "3"
    )  # seeds are not in the name
    assert code == 0
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "xor_2-16-1_boundary.png",
        "xor_2-16-1_epochs1_lr0.01_boundary.png",
        "xor_2-16-1_epochs1_lr0.01_history.png",
        "xor_2-16-1_history.png",
    ]
    assert titles[-1] == "2-16-1 MLP after 1 epoch (seed 3)" and "1 epoch, full batch" in out


def captured_figures(monkeypatch):
    """The XOR figures, kept open instead of saved."""
    figures = []

    def keep(fig, path):
        figures.append(fig)
        return str(path)

    monkeypatch.setattr(xor_figures, "save_figure", keep)
    return figures


def whole_epoch_ticks(ax):
    low, high = ax.get_xlim()
    ticks = [t for t in ax.get_xticks() if low <= t <= high]
    return bool(ticks) and all(float(t).is_integer() for t in ticks)


def test_per_epoch_axes_tick_whole_epochs(tmp_path, monkeypatch):
    figures = captured_figures(monkeypatch)
    xor_figures.plot_history(
        np.array([0.3, 0.25, 0.2]),
        np.array([0.5, 0.75, 1.0]),
        3.0,
        None,
        "three epochs",
        tmp_path / "history.png",
    )
    xor_figures.plot_study(
        np.array([2.0, 3.0, np.nan]),
        xor_study.study_summary(np.array([2.0, 3.0, np.nan]), None),
        3,
        "three epochs",
        tmp_path / "study.png",
    )
    history, study = figures
    for fig in figures:
        fig.canvas.draw()
    assert whole_epoch_ticks(history.axes[0])
    assert all(whole_epoch_ticks(ax) for ax in study.axes)
    for fig in figures:
        plt.close(fig)


@pytest.fixture
def sigint_restored():
    """run_main ignores a second Ctrl-C once it has caught one: put the handler back."""
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


def nan_loss_runs(args, initial, workers=1):
    params = glorot_uniform_stack([2, *args.hidden, 1], [args.seed])
    loss = np.full((1, args.epochs), 0.25, np.float32)
    loss[0, -1] = np.nan
    return Runs(
        weight_seeds=np.array([args.seed]),
        data_seeds=None,
        loss=loss,
        accuracy=np.full((1, args.epochs), 0.5, np.float32),
        params=params,
        train_seconds=0.0,
    )


def interrupted_training(args, initial, workers=1):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "train, code",
    [(interrupted_training, 130), (nan_loss_runs, 1)],
    ids=["ctrl-c in training", "loss not finite"],
)
def test_a_run_stopped_before_its_first_figure_leaves_no_folder(
    tmp_path, capsys, monkeypatch, sigint_restored, train, code
):
    monkeypatch.setattr(xor_mlp, "train", train)
    figures_dir = tmp_path / "new" / "figures"
    assert (
        run_script_main(
            xor_mlp.main,
            [
                "--epochs",
                "5",
                "--figures-dir",
                str(figures_dir),
                "--json",
                str(tmp_path / "runs" / "run.json"),
            ],
        )
        == code
    )
    assert list(tmp_path.iterdir()) == []  # neither the figures' folders nor the record's
    err = capsys.readouterr().err
    assert ("nothing was written" if code == 130 else "no figures written") in err


def test_ctrl_c_after_the_last_output_says_what_was_kept(
    tmp_path, capsys, monkeypatch, sigint_restored
):
    real_save_run = script_run.save_run

    def save_then_ctrl_c(*args, **kwargs):
        real_save_run(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(script_run, "save_run", save_then_ctrl_c)
    figures_dir, record = tmp_path / "figs", tmp_path / "run.json"
    assert (
        run_script_main(
            xor_mlp.main,
            [
                *("--epochs", "20", "--engine", "compiled", "--quiet"),
                *("--figures-dir", str(figures_dir), "--json", str(record)),
            ],
        )
        == 130
    )
    (line,) = capsys.readouterr().err.strip().splitlines()
    kept = [
        figures_dir / "xor_2-16-1_epochs20_boundary.png",
        figures_dir / "xor_2-16-1_epochs20_history.png",
        record,
    ]
    assert ": interrupted; kept, complete: " in line
    assert all(str(path) in line and path.exists() for path in kept)


def test_a_scripts_figures_go_to_the_untracked_outputs_folder(tmp_path, monkeypatch, capsys):
    """A plain run's figures land in outputs/figures (git-ignored), never in the committed
    figures/ that README.md and REPORT.md show."""
    monkeypatch.chdir(tmp_path)
    assert xor_mlp.main(["--epochs", "5", "--quiet"]) == 0
    written = sorted(p.name for p in (tmp_path / "outputs" / "figures").iterdir())
    assert written == ["xor_2-16-1_epochs5_boundary.png", "xor_2-16-1_epochs5_history.png"]
    assert "outputs/figures/xor_2-16-1_epochs5_boundary.png" in capsys.readouterr().out
    ignored = (Path(xor_mlp.__file__).parent / ".gitignore").read_text().split()
    assert "outputs/" in ignored


def test_save_model_keeps_the_trained_network_and_summary_prints_keras_s(tmp_path, capsys):
    """--save-model: the first network, compiled as the tutorial compiles it; loaded, it
    predicts the four outputs the run's table shows. --summary: Keras's model.summary()."""
    from reproduction.plumbing.backend import keras

    path = tmp_path / "xor.keras"
    argv = ["--epochs", "30", "--engine", "compiled", "--figures-dir", str(tmp_path / "f")]
    assert (
        xor_mlp.main(
            [*argv, "--save-model", str(path), "--summary", "--json", str(tmp_path / "r.json")]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "Total params: 65" in out and f"model: {path}" in out
    model = keras.models.load_model(path)
    assert model.loss == "mean_squared_error"
    record = json.loads((tmp_path / "r.json").read_text())
    table = [record["metrics"]["outputs"][name] for name in xor_study.SEGMENTS]
    np.testing.assert_allclose(model.predict(xor_mlp.X, verbose=0)[:, 0], table, atol=1e-6)
