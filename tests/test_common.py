"""common/: atomic writes, figures, run records, flag checks, progress lines."""

import argparse
import io
import json
import math
import os

import numpy as np
import pytest
from conftest import is_png

from common.atomic import atomic_path, write_text_atomic
from common.cli import check_output_paths, float_in_range, int_in_range, make_parser
from common.figures import new_figure, plt, save_figure
from common.progress import Progress
from common.records import build_run_record, write_run_record


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
        script="x.py", argv=["--seed", "0"], config={"seed": 0}, device="CPU",
        timings={"training": 1.5},
        metrics={"median": np.float32(96.0), "never": float("nan"), "curve": np.arange(3),
                 "inf": math.inf})
    path = tmp_path / "r.json"
    write_run_record(path, record)
    loaded = json.loads(path.read_text())
    assert loaded["argv"] == ["--seed", "0"]
    assert loaded["metrics"] == {"median": 96.0, "never": None, "curve": [0, 1, 2], "inf": None}
    assert set(loaded["versions"]) >= {"python", "tensorflow", "keras", "numpy", "matplotlib"}
    assert loaded["versions"]["keras"].startswith("3.")


@pytest.mark.parametrize("text", ["0", "-1", "abc", "1.5", "1001"])
def test_int_in_range_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        int_in_range(1, 1000)(text)


@pytest.mark.parametrize("text", ["0", "-1e-3", "nan", "inf", "-inf", "x", "2e6"])
def test_float_in_range_rejects(text):
    with pytest.raises(argparse.ArgumentTypeError):
        float_in_range(0, 1e6)(text)


def test_number_types_accept():
    assert int_in_range(1, 10)("10") == 10
    assert float_in_range(0, 1)("1e-3") == 1e-3


def _parse(tmp_path, *extra):
    parser = make_parser("test", epochs=5)
    return parser, parser.parse_args(["--figures-dir", str(tmp_path / "figs"), *extra])


def test_output_paths_created_when_fine(tmp_path):
    parser, args = _parse(tmp_path, "--json", str(tmp_path / "rec.json"))
    check_output_paths(parser, args)
    assert (tmp_path / "figs").is_dir()


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
