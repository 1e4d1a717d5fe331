"""reproduce.py end to end on tiny data written by the test: the report's tables, numbers and
figures; plus the verdict rules."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import is_png, wait_for, write_tiny_datasets

import reproduce
from reproduction.evidence.claims import CLAIMS
from reproduction.orchestration import plan_runner, report_tables
from reproduction.orchestration.chunks import study_size
from reproduction.orchestration.plan_data import prepare_datasets
from reproduction.plumbing.records import read_arrays
from reproduction.plumbing.text import counted

ROOT = Path(reproduce.__file__).parent


@pytest.mark.slow
def test_quick_pipeline_on_tiny_data_writes_a_report(tmp_path):
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    report = out / "REPORT.md"
    finished = subprocess.run(
        [
            sys.executable,
            str(ROOT / "reproduce.py"),
            "--quick",
            "--allow-small-data",
            "--data-dir",
            str(data),
            "--xor-seeds",
            "3",
            "--mnist-runs",
            "4",
            "--mnist-normalized-runs",
            "2",
            "--cifar-runs",
            "2",
            "--report",
            str(report),
            "--figures-dir",
            str(out / "figures"),
            "--records-dir",
            str(out / "runs"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    text = report.read_text()
    for heading in ("## XOR", "## MNIST", "## CIFAR-10"):
        assert heading in text
    assert "JPEG re-encoding" not in text  # the tiny batches are not the shared copy
    rows = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    xor = [row for row in rows if row.startswith("| 2-")]
    mnist = [row for row in rows if row.startswith(("| linear, ", "| sigmoid, "))]
    cifar = [row for row in rows if row.startswith("| dense")]
    assert len(xor) == 4 and "binary cross-entropy" in xor[3] and "| 3 |" in xor[0]
    assert len(mnist) == 4 and "| 4 |" in mnist[0] and "pixels / 255 | 2 |" in mnist[3]
    assert len(cifar) == 1 and "| 2 |" in cifar[0]
    for row in rows:  # shares within 0-100%; differences (a train-test gap) within +-100 points
        for number in re.findall(r"(?<!\d)(-?\d+\.\d+)%", row):  # "43.9-100.0%": a range
            assert -100 <= float(number) <= 100, row
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) >= 4 * 2 + 2 * 5 + 4
    for link in links:
        assert is_png(report.parent / link)
    # the per-run tables are kept beside the records, one per study
    tables = sorted((out / "runs").glob("*.csv"))
    assert len(tables) == 4 + 2 + 1
    assert all(f"`{table.relative_to(out).as_posix()}`" in text for table in tables)
    assert not list(out.glob(".staging-*"))
    # the report opens with the claims table: every registry claim, one row each
    claims_at = text.index("## The tutorials' claims")
    assert claims_at < text.index("## XOR")
    for claim in CLAIMS:
        assert claim.quote.replace("|", "\\|") in text
    assert "not comparable" in text and "R1:" in text and "S1:" in text
    assert "sha256" in text and "CPU:" in text


def test_shares_carry_their_interval_and_spreads_their_deciles():
    assert report_tables.rate(0, 0) == "n/a"
    assert report_tables.rate(514, 1000) == "51.4% (48.3-54.5)"  # exact (Clopper-Pearson)
    summary = {"n": 30, "median": 0.5, "p10": 0.25, "p90": 0.75, "min": 0.1, "max": 0.9}
    assert report_tables.spread(summary) == "median 50.00% (10-90%: 25.00% to 75.00%)"
    # a handful of runs has no 10-90% range: its range and n instead
    few = summary | {"n": 3}
    assert report_tables.spread(few) == "median 50.00% (range 10.00% to 90.00%; 3 runs)"
    assert report_tables.spread({"n": 0}) == "n/a"


# ## Before anything trains: datasets built, found and checked
def write_quick_plan_datasets(folder):
    """What the quick plan reads: tiny CIFAR-10 batches and a tiny mnist.npz (40 and 20)."""
    return write_tiny_datasets(folder, mnist=(40, 20), fashion=None)


def quick_argv(data, out, *extra):
    return [
        "--quick",
        "--allow-small-data",
        "--data-dir",
        str(data),
        "--xor-seeds",
        "3",
        "--mnist-runs",
        "4",
        "--mnist-normalized-runs",
        "2",
        "--cifar-runs",
        "2",
        "--report",
        str(out / "REPORT.md"),
        "--figures-dir",
        str(out / "figures"),
        "--records-dir",
        str(out / "runs"),
        "--quiet",
        *extra,
    ]


def fake_make_datasets(folder, body):
    script = folder / "make-datasets"
    script.write_text("#!/bin/sh\n" + body + "\n")
    script.chmod(0o755)


def test_missing_datasets_are_built_by_make_datasets_then_checked(tmp_path, capsys):
    """A fresh machine: ../shared/datasets holds only make-datasets. The plan builds them."""
    built = write_quick_plan_datasets(tmp_path / "built")
    data = tmp_path / "shared"
    data.mkdir()
    fake_make_datasets(data, f'cp -r "{built}"/* "$(dirname "$0")"/')
    problems = prepare_datasets(
        reproduce.plan(reproduce.make_reproduce_parser().parse_args(quick_argv(data, tmp_path))),
        data,
        allow_small_data=True,
        quiet=True,
    )
    assert problems == [] and (data / "mnist.npz").is_file()


@pytest.mark.parametrize("case", ["builder fails", "broken file"])
def test_preflight_stops_the_plan_with_exit_2_and_writes_nothing(tmp_path, capsys, case):
    data = tmp_path / "shared"
    data.mkdir()
    if case == "builder fails":
        fake_make_datasets(data, "echo 'FAIL: no network' >&2; exit 1")
    else:
        write_quick_plan_datasets(data)
        (data / "mnist.npz").write_bytes(b"not a zip at all")
    out = tmp_path / "out"
    assert reproduce.main(quick_argv(data, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err and all(line.startswith("reproduce.py: error: ") for line in err)
    assert (
        ("make-datasets" in err[0])
        if case == "builder fails"
        else ("MNIST" in err[0] and "npz" in err[0])
    )
    assert not out.exists() or not any(out.iterdir())  # nothing run, nothing written
    assert not list(tmp_path.glob("**/.staging-*"))


@pytest.mark.slow
def test_a_failed_run_leaves_the_last_complete_report_alone(tmp_path, capsys, monkeypatch):
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    (out / "REPORT.md").write_text("the last complete report\n")
    real = plan_runner.run_script

    def cifar_fails(script, argv, *args, **kwargs):
        if script == "cifar10_dense.py":
            raise SystemExit("cifar10_dense.py (07_cifar_dense) failed (exit 1): broken")
        return real(script, argv, *args, **kwargs)

    monkeypatch.setattr(plan_runner, "run_script", cifar_fails)
    assert reproduce.main(quick_argv(data, out)) == 1
    assert (out / "REPORT.md").read_text() == "the last complete report\n"
    assert not (out / "figures").exists()
    partial = (out / "REPORT.partial.md").read_text()
    assert partial.count("failed (exit 1): broken") == 1 and "This report is partial" in partial
    assert "CIFAR-10 Dense, 2 runs" in partial and "## XOR" in partial
    assert list((out / "figures.partial").glob("xor_*.png"))
    assert "REPORT.md and" in capsys.readouterr().out


def test_counts_say_one_seed_not_one_seeds():
    assert counted(1, "seed") == "1 seed" and counted(10_000, "seed") == "10,000 seeds"


# ## Nothing finished is lost: a rerun after Ctrl-C or kill -9 reuses the finished runs
def masked(report):
    """The report without what changes from one run to the next: the command, date and commit
    it names, and wall times."""
    report = re.sub(r"Written by `[^`]*` on .*? of this project", "Written by ...", report)
    return re.sub(r"- wall time.*", "- wall time", report)


@pytest.fixture(scope="module")
def resume_data(tmp_path_factory):
    """Tiny datasets and the report of an uninterrupted quick plan on them."""
    root = tmp_path_factory.mktemp("resume")
    data = write_quick_plan_datasets(root / "data")
    finished = subprocess.run(
        [sys.executable, str(ROOT / "reproduce.py"), *quick_argv(data, root / "reference")],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return data, (root / "reference" / "REPORT.md").read_text()


@pytest.mark.slow
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_a_rerun_after_an_interruption_reuses_finished_runs(tmp_path, resume_data, signal_name):
    data, reference = resume_data
    out = tmp_path / "out"
    command = [sys.executable, str(ROOT / "reproduce.py"), *quick_argv(data, out)]
    # its own process group: kill -9 of the job takes its running script too, as a crash would
    process = subprocess.Popen(
        command,
        cwd=tmp_path,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    cache = out / "runs" / "cache"
    wait_for(lambda: len(entries(cache)) >= 3, 120)
    os.killpg(process.pid, getattr(signal, signal_name))
    _, err = process.communicate(timeout=120)
    kept = len(entries(cache))
    assert 3 <= kept < 7, err[-2000:]
    if signal_name == "SIGINT":
        assert process.returncode == 130 and "kept in the cache" in err
    else:
        assert process.returncode == -signal.SIGKILL
    assert not (out / "REPORT.md").exists()

    start = time.monotonic()
    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"{kept} finished runs reused" in rerun.stdout, rerun.stdout
    assert masked((out / "REPORT.md").read_text()) == masked(reference)
    print(f"{signal_name}: {kept} of 7 runs reused; rerun {time.monotonic() - start:.1f} s")


@pytest.mark.slow
def test_fresh_runs_everything_again_and_a_code_change_invalidates(tmp_path, monkeypatch):
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    argv = quick_argv(data, out, "--xor-seeds", "2")
    runs = [
        run
        for run in reproduce.plan(reproduce.make_reproduce_parser().parse_args(argv))
        if run[2] == "xor_mlp.py"
    ][:1]
    monkeypatch.setattr(reproduce, "plan", lambda args: runs)
    monkeypatch.setattr(reproduce, "prepare_datasets", lambda *a, **k: [])
    calls = []
    real = plan_runner.run_script
    monkeypatch.setattr(
        plan_runner, "run_script", lambda *a, **k: calls.append(a[0]) or real(*a, **k)
    )
    assert reproduce.main(argv) == 0 and len(calls) == 1
    assert reproduce.main(argv) == 0 and len(calls) == 1  # reused
    assert reproduce.main([*argv, "--fresh"]) == 0 and len(calls) == 2
    monkeypatch.setattr(plan_runner, "code_version", lambda script: "another version")
    assert reproduce.main(argv) == 0 and len(calls) == 3


def entries(cache):
    return [p for p in cache.iterdir() if not p.name.startswith(".")] if cache.is_dir() else []


def write_project(folder, modules):
    """A tiny project: {relative path: text} written under `folder`."""
    for name, text in modules.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)


def test_code_version_follows_the_scripts_imports(tmp_path):
    from reproduction.orchestration.run_cache import code_version, imported_files

    files = {p.relative_to(ROOT).as_posix() for p in imported_files(ROOT / "xor_mlp.py")}
    assert {"xor_mlp.py", "reproduction/engines/xor_networks.py"} <= files
    assert "reproduction/settings/xor.py" in files and "reproduction/__init__.py" in files
    assert "reproduce.py" not in files and "reproduction/engines/dense_networks.py" not in files
    # the views (figures, verdicts, tables, the report) are not what computes a run
    assert not [
        f for f in files if f.startswith(("reproduction/studies/", "reproduction/evidence/"))
    ]
    project = tmp_path / "project"
    modules = {
        "run.py": "from pkg.a import f\n",
        "pkg/__init__.py": "",
        "pkg/a.py": "import pkg.b\n",
        "pkg/b.py": "X = 1\n",
        "pkg/c.py": "Y = 1\n",
    }
    write_project(project, modules)
    before = code_version("run.py", project)
    (project / "pkg" / "c.py").write_text("Y = 2\n")  # not imported: same version
    assert code_version("run.py", project) == before
    (project / "pkg" / "b.py").write_text("X = 2\n")  # imported through a.py
    assert code_version("run.py", project) != before


# Every way a script can reach a module of a sub-package: the module's edit must change the
# script's code version (else the cache would hand back runs of the old code).
IMPORT_FORMS = {
    "from pkg.sub import mod": "from pkg.sub import mod\n",
    "from pkg.sub.mod import name": "from pkg.sub.mod import name\n",
    "import pkg.sub.mod": "import pkg.sub.mod\n",
    "from pkg import sub (then sub.mod through sub/__init__)": "from pkg import sub\n",
    "a lazy import in a function": "def f():\n    from pkg.sub import mod\n",
    "a relative import in the package": "from pkg.sub import rel\n",
}


@pytest.mark.parametrize("form", IMPORT_FORMS)
def test_code_version_follows_every_import_form_into_subpackages(tmp_path, form):
    from reproduction.orchestration.run_cache import code_version

    project = tmp_path / "project"
    modules = {
        "run.py": IMPORT_FORMS[form],
        "pkg/__init__.py": "",
        "pkg/sub/__init__.py": "from pkg.sub import mod\n" if "__init__" in form else "",
        "pkg/sub/mod.py": "name = 1\n",
        "pkg/sub/rel.py": "from . import mod\n",
        "pkg/other.py": "unused = 1\n",
    }
    write_project(project, modules)
    before = code_version("run.py", project)
    (project / "pkg" / "other.py").write_text("unused = 2\n")
    assert code_version("run.py", project) == before  # a module nothing imports
    (project / "pkg" / "sub" / "mod.py").write_text("name = 2\n")
    assert code_version("run.py", project) != before, form


def default_sigint():
    """In the child before exec: SIGINT's default action. A shell starts background jobs with
    SIGINT ignored, the ignore is inherited, and Python then installs no Ctrl-C handler: the
    test's Ctrl-C would do nothing when the suite runs in the background."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_study_size_reads_seeds_as_the_script_does():
    assert study_size([]) == 1
    assert study_size(["--data-dir", "d", "--seeds", "2", "--quiet"]) == 2
    assert study_size(["--seeds", "3", "--seed", "7", "--seeds", "5"]) == 5  # the last
    assert study_size(["--seeds=4"]) == 4
    assert study_size(["--seed", "7", "--data-seed", "3"]) == 1  # not an abbreviation


# ## Results are data: figures, verdicts and the report are drawn from the cached runs
def in_process(script, argv, workdir, label, **_):
    """plan_runner.run_script's twin that runs the script's main in this process (TensorFlow
    loads once: a plan on tiny data takes seconds)."""
    import json
    import runpy

    from reproduction.orchestration.script_runs import run_argv

    record_path = Path(workdir) / f"{label}.json"
    main = runpy.run_path(str(ROOT / script))["main"]
    assert main(run_argv(argv, record_path, Path(workdir) / "figures")) == 0
    return json.loads(record_path.read_text())


def edited_views(monkeypatch):
    """Edit two views as a change to the code would: a verdict rule's words and the XOR study
    figure's title; the titles the figure was drawn with, as they are drawn."""
    from reproduction.evidence import verdicts
    from reproduction.studies import xor_figures

    monkeypatch.setattr(verdicts.Percentile, "text", lambda self, claim: "an edited rule")
    titles = []
    real_plot_study = xor_figures.plot_study

    def plot_study(epochs_to_100, summary, epochs, title, path):
        titles.append(title)
        return real_plot_study(epochs_to_100, summary, epochs, title + " (edited)", path)

    monkeypatch.setattr(xor_figures, "plot_study", plot_study)
    return titles


def no_training(*args, **kwargs):
    raise AssertionError("--render ran a script")


def plan_then_render(monkeypatch, argv, out):
    """Runs the plan (its scripts in this process), then --render with edited views and no
    training. Returns the first report, the run tables, the figures drawn, the edited views'
    titles and the rendered report."""
    monkeypatch.setattr(plan_runner, "run_script", in_process)
    assert reproduce.main(argv) == 0
    first = (out / "REPORT.md").read_text()
    tables = {path.name: path.read_text() for path in (out / "runs").glob("*.csv")}
    drawn = sorted(path.name for path in (out / "figures").iterdir())
    monkeypatch.setattr(plan_runner, "run_script", no_training)
    titles = edited_views(monkeypatch)
    for figure in (out / "figures").iterdir():
        figure.unlink()
    assert reproduce.main([*argv, "--render"]) == 0
    return first, tables, drawn, titles, (out / "REPORT.md").read_text()


def test_render_redraws_from_the_cache_without_training(tmp_path, monkeypatch):
    """After a plan, --render draws the report, its figures and the per-run tables again from
    the cached runs alone: no script runs, and an edited view (a verdict rule's words, a
    figure's title) shows in them. A run missing from the cache is a failure, not a run."""
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    argv = quick_argv(data, out)
    xor = [run for run in reproduce.plan(reproduce.make_reproduce_parser().parse_args(argv))][:1]
    monkeypatch.setattr(reproduce, "plan", lambda args: xor)  # one XOR study: seconds
    first, tables, _, titles, report = plan_then_render(monkeypatch, argv, out)
    assert "an edited rule" in report and "an edited rule" not in first
    assert titles and is_png(out / "figures" / "xor_2-16-1_study.png")
    assert len(list((out / "figures").iterdir())) == 3  # every figure drawn again
    # beside the report: the study summary a plain run places itself in (studies/placement.py)
    studies = json.loads((out / "STUDIES.json").read_text())["studies"]
    assert [(s["tutorial"], s["n"]) for s in studies] == [("xor", 3)]
    assert {path.name: path.read_text() for path in (out / "runs").glob("*.csv")} == tables
    # a plan the cache cannot serve (other arguments): nothing trains, the run is named, exit 1
    other = [xor[0]._replace(argv=[*xor[0].argv, "--epochs", "400"])]
    monkeypatch.setattr(reproduce, "plan", lambda args: other)
    assert reproduce.main([*argv, "--render"]) == 1
    assert f"{xor[0].label}: not in the cache" in (out / "REPORT.partial.md").read_text()


@pytest.mark.slow
def test_render_redraws_the_whole_quick_plan_from_the_cache(tmp_path, monkeypatch):
    """The same for every tutorial of the quick plan: its scripts run (in this process) once,
    then --render draws everything again without them."""
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    argv = quick_argv(data, out)
    first, tables, drawn, titles, report = plan_then_render(monkeypatch, argv, out)
    assert "an edited rule" in report and "an edited rule" not in first
    assert masked(report.replace("an edited rule", "")) != masked(first)  # the rule's words only
    assert len(titles) == 4 and sorted(p.name for p in (out / "figures").iterdir()) == drawn
    assert {path.name: path.read_text() for path in (out / "runs").glob("*.csv")} == tables
    assert reproduce.main([*argv, "--render", "--cifar-runs", "3"]) == 1
    partial = (out / "REPORT.partial.md").read_text()
    assert "CIFAR-10 Dense, 3 runs: not in the cache" in partial


def test_a_view_is_not_part_of_a_runs_code_version(tmp_path):
    """Editing a figure, a verdict rule, the report's wording, a message, a flag's help, a
    docstring or a script's printing keeps every cached run; editing an engine, the script's
    tutorial code, its main(), its imports or the run's set-up does not
    (run_cache.code_version on a copy of the project)."""
    import shutil

    from reproduction.orchestration.run_cache import code_version

    copy = tmp_path / "project"
    shutil.copytree(ROOT / "reproduction", copy / "reproduction")
    scripts = ("xor_mlp.py", "mnist_perceptron.py", "cifar10_dense.py")
    for script in scripts:
        shutil.copy2(ROOT / script, copy / script)

    def versions():
        return [code_version(script, copy) for script in scripts]

    def edit(path, old, new):
        text = path.read_text()
        assert old in text, (path, old)
        path.write_text(text.replace(old, new, 1))

    before = versions()
    for module in (
        "studies/figures.py",
        "studies/xor.py",
        "evidence/verdicts.py",
        "evidence/claims.py",
        "orchestration/report.py",
        "settings/options.py",
        "settings/shared.py",
        "plumbing/exits.py",
    ):
        with open(copy / "reproduction" / module, "a") as stream:
            stream.write("\nEDITED = 1  # code, not only a comment\n")
    with open(copy / "reproduction" / "engines" / "adam.py", "a") as stream:
        stream.write("\n# a comment\n")
    edit(copy / "reproduction" / "engines" / "adam.py", '"""', '"""A docstring edited. ')
    for script in scripts:  # main()'s printing and the early-parse block word, not compute
        edit(copy / script, "def main(argv=None):\n", "def main(argv=None):\n    print('hi')\n")
        edit(copy / script, "    parse()\n", "    parse()  # early\n    print('parsed')\n")
    assert versions() == before
    for computes in ("engines/adam.py", "plumbing/script_run.py", "data/cifar10.py"):
        with open(copy / "reproduction" / computes, "a") as stream:
            stream.write("\nEDITED = 2\n")
        after = versions()
        changed = [a != b for a, b in zip(after, before, strict=True)]
        assert changed == ([False, True, True] if "data" in computes else [True] * 3), computes
        before = after
    for change in (
        ("\n\n\ndef main(", "\n\n\nEDITED = 3\n\n\ndef main("),  # the tutorial's code
        ("def main(argv=None):\n", "def main(argv=None):\n    EDITED = 4\n"),  # main() computes
        ("\nimport sys\n", "\nimport sys\nimport os as sys_os\n"),  # what a name is bound to
    ):
        for script in scripts:
            edit(copy / script, *change)
            after = versions()
            assert [a != b for a, b in zip(after, before, strict=True)] == [
                s == script for s in scripts
            ], change
            before = after


def test_a_runs_cache_key_holds_the_settings_it_computes_with_not_its_outputs():
    """The key reads the arguments as the script does: a setting's default or a resolution
    (the engine, the data seed, the CNN's block order) counts as if given; where outputs go, what
    is printed and where the data is read from do not (settings.tutorials.result_settings)."""
    from reproduction.orchestration.run_cache import run_key
    from reproduction.settings.tutorials import result_settings

    def key(script, *argv):
        return run_key(script, result_settings(script, argv), "code", {})

    cnn = ("--model", "cnn", "--seeds", "3")
    assert key("cifar10_dense.py", *cnn) == key(
        "cifar10_dense.py", *cnn, "--block-order", "lrelu-bn", "--engine", "compiled",
        "--data-seed", "0", "--epochs", "10", "--json", "x.json", "--no-figures", "--quiet",
        "--figures-dir", "elsewhere", "--data-dir", str(ROOT),
    )  # fmt: skip
    assert key("cifar10_dense.py", *cnn) != key("cifar10_dense.py", *cnn, "--data-seed", "1")
    assert key("cifar10_dense.py", *cnn) != key("cifar10_dense.py", *cnn, "--engine", "fit")
    assert key("xor_mlp.py") == key("xor_mlp.py", "--hidden", "16", "--epochs", "500")
    assert key("xor_mlp.py") != key("xor_mlp.py", "--hidden", "16", "16")
    assert key("mnist_perceptron.py") != key("mnist_perceptron.py", "--normalize")
    # and the machine: another CPU or TensorFlow computes other numbers
    settings = result_settings("xor_mlp.py", [])

    def on(cpu, tf):
        return run_key("xor_mlp.py", settings, "code", {}, {"cpu": cpu, "packages": {"tf": tf}})

    assert on("A", "1") != on("B", "1") and on("A", "1") != on("A", "2")
    # every setting that is not a result's is an output's, a message's or the data's place
    from reproduction.settings.tutorials import PARSE

    outputs = {o.key for tutorial, _ in PARSE.values() for o in tutorial.options if not o.result}
    assert outputs == {
        "figures_dir", "no_figures", "json", "quiet", "save_model", "tensorboard", "data_dir",
        "allow_small_data", "summary", "record_only",
    }  # fmt: skip


def test_the_driver_and_the_views_never_import_tensorflow():
    """reproduce.py plans, renders and reports without TensorFlow (its scripts load it, each in
    its own process): every module of the driver and the views, imported in a fresh process."""
    modules = [
        f"reproduction.{package}.{path.stem}"
        for package in ("orchestration", "studies", "evidence", "settings")
        for path in sorted((ROOT / "reproduction" / package).glob("*.py"))
        if path.stem not in ("__init__", "ray_cluster")  # (Ray's: test_ray.py)
    ]
    code = (
        "import importlib, sys\n"
        "import reproduce\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'ray') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert len(modules) > 20


def test_the_report_names_the_commit_it_came_from(tmp_path):
    from reproduction.orchestration.report import source_commit

    assert source_commit(tmp_path) == "an unknown commit (not a git checkout)"

    def git(*args):
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "a.py").write_text("x = 1\n")
    git("add", "a.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    named = source_commit(tmp_path)
    assert re.fullmatch(r"commit [0-9a-f]{7,}", named)
    (tmp_path / "untracked.txt").write_text("kept out\n")
    assert source_commit(tmp_path) == named  # an untracked file is not the code
    (tmp_path / "REPORT.md").write_text("a report\n")
    git("add", "REPORT.md")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "report")
    named = source_commit(tmp_path)
    (tmp_path / "REPORT.md").write_text("the report written again\n")
    assert source_commit(tmp_path) == named  # nor are the report's outputs
    (tmp_path / "a.py").write_text("x = 2\n")
    assert source_commit(tmp_path) == named + ", with uncommitted changes"


def test_a_cnn_study_is_kept_run_by_run_and_resumes_at_its_next_run(tmp_path, monkeypatch):
    """A sequential plan runs a CNN study one run at a time, each kept in the cache as it ends:
    after a run is lost (here: deleted from the cache, as if the plan had stopped during it),
    the rerun trains only that run and merges the study as before."""
    from reproduction.orchestration import chunks
    from reproduction.orchestration.run_cache import RunCache
    from reproduction.settings.cifar10 import CIFAR10

    data = write_tiny_datasets(tmp_path / "data", cifar=(8, 12), mnist=None, fashion=None)
    argv = CIFAR10.argv(
        model="cnn", seeds=3, engine="compiled", epochs=1, data_dir=data, allow_small_data=True
    )
    assert chunks.kept_run_by_run(CIFAR10.script, argv)
    assert not chunks.kept_run_by_run(CIFAR10.script, CIFAR10.argv(seeds=3))  # Dense: whole
    trained = []

    def counting(script, run_argv, workdir, label, **kwargs):
        trained.append(label)
        return in_process(script, run_argv, workdir, label, **kwargs)

    monkeypatch.setattr(plan_runner, "run_script", counting)
    cache = RunCache(tmp_path / "cache")
    planned = plan_runner.PlannedRun("cifar_cnn", "CNN, 3 runs", CIFAR10.script, argv)

    def run_plan():
        work = tmp_path / f"work{len(trained)}"
        plan = plan_runner.Plan([planned], work, cache, {}, quiet=True)
        finished, failures = plan_runner.run_sequentially(plan)
        assert not failures
        return finished[0]

    first = run_plan()
    assert trained == ["01_cifar_cnn_run1", "01_cifar_cnn_run2", "01_cifar_cnn_run3"]
    plan = plan_runner.Plan([planned], tmp_path, cache, {})
    version = plan_runner.code_version(CIFAR10.script)
    split = chunks.chunk_argvs(CIFAR10.script, argv, 1)
    import shutil

    shutil.rmtree(cache.folder / plan.key(planned, version=version))  # the whole study
    shutil.rmtree(cache.folder / plan.key(planned, split[1], version))  # and its second run
    again = run_plan()
    assert trained[3:] == ["01_cifar_cnn_run2"]
    ours, theirs = (read_arrays(run.arrays_file) for run in (again, first))
    assert ours["runs.weight_seeds"].tolist() == [0, 1, 2]
    for name in ("runs.loss", "runs.val_accuracy", "runs.test_outputs"):
        np.testing.assert_array_equal(ours[name], theirs[name])


def test_every_missing_dataset_is_named_once(tmp_path, capsys, monkeypatch):
    """No builder and no download: the plan stops with one line per missing dataset, each
    naming it once, and exit 2."""
    from reproduction.data import download

    def no_network(name):
        raise Exception("URL fetch failure on https://example: None -- no network (test)")

    monkeypatch.setattr(download, "_download", no_network)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.keras/datasets either
    monkeypatch.delenv("TUTORIALS_DATA_DIR", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert reproduce.main(quick_argv(empty, tmp_path / "out")) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(err) == 2
    assert [line.count("CIFAR-10") for line in err] == [1, 0]
    assert [line.count("MNIST") for line in err] == [0, 1]


def test_a_scripts_runs_share_one_worker_and_give_their_own_processs_results(tmp_path):
    """A sequential plan's consecutive runs of a script share one process (TensorFlow imported
    once): each run's arrays are bit for bit those of a process of its own; a failed run fails
    alone; a run needing another thread set-up gets a fresh process (its record says the
    threads it had)."""
    from reproduction.orchestration.script_runs import ScriptWorkers, run_script

    xor = [["--seeds", "3", "--epochs", "30"], ["--seeds", "2", "--epochs", "40", "--hidden", "8"]]
    own = [
        read_arrays(
            tmp_path / "own" / run_script("xor_mlp.py", argv, tmp_path / "own", f"x{i}")["arrays"]
        )
        for i, argv in enumerate(xor)
    ]
    data = write_tiny_datasets(tmp_path / "data", cifar=None, mnist=(40, 20), fashion=None)
    mnist = ["--data-dir", str(data), "--allow-small-data", "--epochs", "2"]
    with ScriptWorkers() as workers:
        shared = []
        for i, argv in enumerate(xor):
            record = run_script("xor_mlp.py", argv, tmp_path / "shared", f"x{i}", workers=workers)
            shared.append(read_arrays(tmp_path / "shared" / record["arrays"]))
        first = workers.process.pid
        with pytest.raises(SystemExit, match=r"\(bad\) failed \(exit 2\): .*--learning-rate"):
            run_script("xor_mlp.py", ["--learning-rate", "1e30"], tmp_path, "bad", workers=workers)
        run_script("xor_mlp.py", xor[0], tmp_path / "after", "x0", workers=workers)
        assert workers.process.pid == first  # the failed run ended alone
        threads = [
            run_script("mnist_perceptron.py", [*mnist, *extra], tmp_path, f"m{i}", workers=workers)[
                "config"
            ]["threads"]
            for i, extra in enumerate([["--engine", "compiled"], ["--seeds", "2"]])
        ]
        assert workers.process.pid != first
    for mine, theirs in zip(shared, own, strict=True):
        for name in mine:
            if "seconds" not in name:
                np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
    assert threads[0]["intra_op"] == 1 and threads[1]["intra_op"] != 1  # "tiny", then "stacked"


TOY_SCRIPT = """
import argparse, json, os, time
time.sleep(0.5)  # as TensorFlow's import, in short
IMPORTED = time.time()


def parse(argv, check_outputs=True):
    parser = argparse.ArgumentParser()
    for flag in ("--json", "--figures-dir"):
        parser.add_argument(flag)
    for flag in ("--quiet", "--no-figures", "--record-only"):
        parser.add_argument(flag, action="store_true")
    args = parser.parse_args(argv)
    args.engine, args.device, args.deterministic = "compiled", "cpu", False
    return parser, args


def workload(args):
    return "toy"


def main(argv):
    args = parse(argv)[1]
    record = {"pid": os.getpid(), "imported": IMPORTED, "arrays": "none.npz"}
    with open(args.json, "w") as stream:
        json.dump(record, stream)
    return 0
"""


def test_the_next_scripts_worker_is_started_ahead_and_used(tmp_path):
    """ScriptWorkers.prepare: the next script's worker imports its script while this run goes
    on, and its run uses that process; a worker ready for the run about to start is kept."""
    from reproduction.orchestration.script_runs import ScriptWorkers, run_script

    first, second, third = (tmp_path / f"{name}.py" for name in ("first", "second", "third"))
    for script in (first, second, third):
        script.write_text(TOY_SCRIPT)
    with ScriptWorkers() as workers:
        workers.prepare(second, now=first)  # no worker yet for `first`: it starts with its run
        ahead = workers.spare[1].pid
        run_script(first, [], tmp_path, "a", workers=workers)  # 0.5 s: `second` imports too
        requested = time.time()
        record = run_script(second, [], tmp_path, "b", workers=workers)
        assert record["pid"] == ahead and workers.spare is None
        assert record["imported"] < requested  # imported while `first` ran, not on its request
        workers.prepare(third)
        ready = workers.spare[1].pid
        workers.prepare(first, now=third)  # `third` takes its ready worker; `first` is ahead
        assert workers.process.pid == ready and workers.spare[0] == first
        assert run_script(third, [], tmp_path, "c", workers=workers)["pid"] == ready
        spare = workers.spare[1]
    assert spare.poll() is not None  # an unused worker ends with the plan


DRAWING = """
import os, sys, time
from types import SimpleNamespace
from reproduction.orchestration import drawing
def draw(job):
    time.sleep(0.3)  # as a figure takes: each process takes a job
    return job, os.getpid(), os.nice(0)
drawing.draw = draw  # forked: the children draw with it
runs = [SimpleNamespace(name=str(i), record={"config": {"seeds": 2}}, arrays_file=i)
        for i in range(int(sys.argv[1]))]
with drawing.Drawing("figures", "runs") as views:
    for run in runs[:2]:  # two runs finish: their views are drawn while the plan goes on
        views.add(run)
    waited = 0
    while waited < 300 and not all(pending.ready() for pending in views.pending.values()):
        time.sleep(0.1)  # (at nice 19 on a busy machine a process may wait for a core)
        waited += 1
    first = {key: pending.ready() for key, pending in views.pending.items()}
    done = views.views(runs)
drawn = [view for _, view in done]  # (job, pid, niceness) of each
print(all(first.values()), [job[1] for job, _, _ in drawn])
print(len({pid for _, pid, _ in drawn} - {os.getpid()}), min(nice for *_, nice in drawn))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or os.cpu_count() < 2, reason="needs fork, 2 cores")
def test_views_are_drawn_in_the_background_as_runs_finish_in_the_plans_order():
    """reproduce.py draws each run's views as soon as it is finished, in two forked processes
    at the lowest priority (the CPU time training leaves); each view in its run's place."""
    done = subprocess.run(
        [sys.executable, "-c", DRAWING, "5"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    ready, arrays = done.stdout.splitlines()[0].split(" ", 1)
    assert ready == "True" and arrays == str(list(range(5)))
    children, nice = map(int, done.stdout.splitlines()[1].split())
    assert children == 2 and nice == 19
