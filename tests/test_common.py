"""common/: atomic writes, figures, run records, flag checks, progress lines."""

import argparse
import io
import json
import math
import os

import numpy as np
import pytest
from conftest import is_png

from reproduction.plumbing.atomic import atomic_path, write_text_atomic
from reproduction.plumbing.cli import check_output_paths, float_in_range, int_in_range
from reproduction.plumbing.progress import Progress
from reproduction.plumbing.records import build_run_record, write_run_record
from reproduction.settings.mnist import MNIST
from reproduction.settings.xor import XOR
from reproduction.studies.figures import (
    epoch_curves_figure,
    epochs_text,
    image_predictions_figure,
    new_figure,
    plt,
    save_figure,
)


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("died mid-write")
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left behind
    assert target.stat().st_mode & 0o044  # readable by others, like any file the user makes


def test_save_figure_writes_png_and_closes(tmp_path):
    fig, ax = new_figure()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "f.png")
    assert is_png(path)
    assert plt.get_fignums() == []
    assert 1_000 < os.path.getsize(path) < 200_000


def test_save_figure_failure_leaves_nothing(tmp_path, monkeypatch):
    fig, _ = new_figure()

    def broken_savefig(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(fig, "savefig", broken_savefig)
    with pytest.raises(OSError):
        save_figure(fig, tmp_path / "f.png")
    assert os.listdir(tmp_path) == []
    assert plt.get_fignums() == []


def test_run_record_is_strict_json(tmp_path):
    record = build_run_record(
        script="x.py",
        argv=["--seed", "0"],
        config={"seed": 0},
        device="CPU",
        timings={"training": 1.5},
        metrics={
            "median": np.float32(96.0),
            "never": float("nan"),
            "curve": np.arange(3),
            "inf": math.inf,
        },
    )
    path = tmp_path / "r.json"
    write_run_record(path, record)
    loaded = json.loads(path.read_text())
    assert loaded["argv"] == ["--seed", "0"]
    assert loaded["metrics"] == {"median": 96.0, "never": None, "curve": [0, 1, 2], "inf": None}
    assert set(loaded["versions"]) >= {"python", "tensorflow", "keras", "numpy", "matplotlib"}
    assert loaded["versions"]["keras"].startswith("3.")


# The range types every numeric flag uses (test_flags.py checks that each flag does, and its
# bounds): what no bounds let through.
@pytest.mark.parametrize(
    "text", ["0", "-1", "abc", "1.5", "1001", "nan", "inf", "1e30", "1000000000000", ""]
)
def test_int_in_range_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        int_in_range(1, 1000)(text)


@pytest.mark.parametrize(
    "text", ["0", "-1", "-1e-3", "nan", "-nan", "inf", "-inf", "x", "2e6", "1e30", ""]
)
def test_float_in_range_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        float_in_range(0, 1e6)(text)


@pytest.mark.parametrize("text", ["-1e-9", "-1", "nan", "inf", "0.95"])
def test_float_in_range_with_zero_allowed_still_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        float_in_range(0, 0.9, low_inclusive=True)(text)


def test_number_types_accept():
    assert int_in_range(1, 10)("10") == 10 and int_in_range(0, 9)("0") == 0
    assert float_in_range(0, 1)("1e-3") == 1e-3 and float_in_range(0, 1)("1") == 1.0
    assert float_in_range(0, 0.9, low_inclusive=True)("0") == 0.0


def _parse(tmp_path, *extra):
    parser = XOR.parser()
    return parser, parser.parse_args(["--figures-dir", str(tmp_path / "figs"), *extra])


def test_output_paths_checked_without_leaving_folders(tmp_path):
    parser, args = _parse(tmp_path, "--json", str(tmp_path / "rec" / "rec.json"))
    args.figures_dir = tmp_path / "new" / "figs"
    check_output_paths(parser, args)
    # the folders made for the check are gone: a run that stops before its first output
    # leaves no empty folder (atomic_path makes them when it writes)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["figures-is-file", "figures-under-file", "json-is-dir"])
def test_output_paths_rejected(tmp_path, case, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    argv = {
        "figures-is-file": ["--figures-dir", str(blocker)],
        "figures-under-file": ["--figures-dir", str(blocker / "figs")],
        "json-is-dir": ["--json", str(tmp_path)],
    }[case]
    parser, args = _parse(tmp_path, *argv)
    with pytest.raises(SystemExit) as exit_info:
        check_output_paths(parser, args)
    assert exit_info.value.code == 2
    assert ": error: --" in capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into a read-only folder")
def test_read_only_figures_dir_rejected(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    parser, args = _parse(tmp_path)
    args.figures_dir = folder
    with pytest.raises(SystemExit):
        check_output_paths(parser, args)


def test_progress_off_terminal_prints_sparse_lines():
    stream = io.StringIO()
    progress = Progress(10, "networks", stream=stream, every_s=3600)
    for done in range(1, 11):
        progress.update(done)
    assert stream.getvalue().splitlines() == [stream.getvalue().splitlines()[-1]]
    assert stream.getvalue().startswith("networks: 10/10 (100%)")
    quiet = io.StringIO()
    Progress(3, "x", stream=quiet, enabled=False).update(3)
    assert quiet.getvalue() == ""


def test_run_with_the_tutorials_settings_keeps_the_plain_name():
    values = MNIST.defaults | {"seed": 7, "seeds": 30, "engine": "compiled"}
    assert MNIST.file_suffix(values) == ""  # seeds and engines are not settings of a figure


def test_every_changed_setting_names_itself_in_order():
    values = MNIST.defaults | {
        "normalize": True,
        "epochs": 3,
        "learning_rate": 0.01,
        "batch_size": 64,
        "validation_split": 0.1,
        "engine": "fit",
        "train_limit": 1_000_000,
        "seed": 5,
    }
    assert MNIST.file_suffix(values) == ("_normalized_epochs3_lr0.01_batch64_val0.1_train1000000")


def test_epochs_are_counted_in_words():
    assert (epochs_text(1), epochs_text(2)) == ("1 epoch", "2 epochs")


def test_epoch_curves_tick_whole_epochs_only():
    fig = epoch_curves_figure(
        {"loss": {"train": [1.0, 0.6, 0.5]}, "accuracy": {"train": [0.2, 0.4, 0.5]}}, "three epochs"
    )
    fig.canvas.draw()
    for ax in fig.axes:
        low, high = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if low <= t <= high]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
    plt.close(fig)


def test_long_class_names_fit_their_panels():
    """Fashion-MNIST's 'not Ankle boot' captions: no caption runs into another caption or
    into another panel's image."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 28, 28), dtype=np.uint8)
    predicted, actual = rng.integers(0, 2, 32), rng.integers(0, 2, 32)
    fig = image_predictions_figure(
        images,
        predicted,
        actual,
        ("not Ankle boot", "Ankle boot"),
        "Fashion-MNIST, 'Ankle boot' vs the rest",
        columns=8,
        cmap="gray",
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.images]
    captions = [ax.title.get_window_extent(renderer) for ax in axes]
    pictures = [ax.images[0].get_window_extent(renderer) for ax in axes]
    for index, caption in enumerate(captions):
        for other in range(len(axes)):
            if other != index:
                assert not caption.overlaps(captions[other]), (index, other)
                assert not caption.overlaps(pictures[other]), (index, other)
    plt.close(fig)


def test_ray_address_accepts_addresses_and_refuses_typos():
    from reproduction.plumbing.cli import ray_address

    for good in ("local", "auto", "10.0.0.1:6379", "head:6379", "ray://head:10001", "[::1]:6379"):
        assert ray_address(good) == good
    for bad in ("", "head", "head:", ":6379", "head:port", "head:0", "head:70000"):
        with pytest.raises(argparse.ArgumentTypeError):
            ray_address(bad)
