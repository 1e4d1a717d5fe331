"""reproduce.py --ray: the plan's runs as Ray tasks (orchestration/ray_cluster.py), on tiny data.

Every Ray instance here is small (2 CPUs in all) and shut down by the end of its test. The
end-to-end tests are marked slow (each runs the quick plan once or twice); the ones that need
Ray are skipped, saying so, where the extra is not installed.
"""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
from conftest import wait_for
from test_reproduce import (
    default_sigint,
    entries,
    masked,
    quick_argv,
    write_quick_plan_datasets,
)

import reproduce
from reproduction.orchestration import ray_cluster as cluster
from reproduction.orchestration import ray_plan
from reproduction.orchestration.plan_runner import Plan, PlannedRun
from reproduction.orchestration.run_cache import RunCache
from reproduction.plumbing.records import read_arrays

ROOT = Path(reproduce.__file__).parent
needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason='Ray is not installed: pip install -e ".[cluster]"',
)


# ## The code a task runs: the driver's, shipped whole
def test_shipped_code_holds_every_module_and_a_worker_imports_nested_ones(tmp_path):
    """ship_code's folder (Ray's working_dir) holds the scripts and every module of every
    sub-package, and a process started there (as a Ray worker is) imports the nested modules
    from it, not from an installed copy."""
    shipped = cluster.ship_code()
    try:
        project = {p.relative_to(ROOT) for p in ROOT.glob("*.py")}
        project |= {p.relative_to(ROOT) for p in (ROOT / cluster.PACKAGE).rglob("*.py")}
        assert {p.relative_to(shipped) for p in shipped.rglob("*.py")} == project
        assert any(len(p.parts) > 2 for p in project)  # there are sub-packages to ship
        code = (
            "import reproduction, reproduction.orchestration.run_cache as m; "
            "print(reproduction.__file__); print(m.__file__)"
        )
        finished = subprocess.run(
            [sys.executable, "-c", code], cwd=shipped, capture_output=True, text=True, check=True
        )
        for line in finished.stdout.split():
            assert Path(line).resolve().is_relative_to(shipped.resolve()), line
    finally:
        import shutil

        shutil.rmtree(shipped, ignore_errors=True)


# ## Without --ray nothing changes; without the extra, --ray is a usage error
def test_without_ray_flag_ray_is_never_imported(tmp_path):
    """The sequential path up to its first check, in a fresh interpreter: no Ray in it."""
    data = write_quick_plan_datasets(tmp_path / "data")
    (data / "mnist.npz").write_bytes(b"not a zip")  # main stops at the data check (exit 2)
    code = textwrap.dedent(f"""
        import sys
        import reproduce
        argv = {quick_argv(data, tmp_path / "out")!r}
        reproduce.plan(reproduce.make_reproduce_parser().parse_args(argv))
        assert reproduce.main(argv) == 2
        loaded = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")
                        or m == "reproduction.orchestration.ray_cluster")
        assert not loaded, loaded
    """)
    finished = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert finished.returncode == 0, finished.stderr[-2000:]


def test_ray_without_the_extra_is_a_usage_error_naming_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails, as without the extra
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as stop:
        reproduce.main(quick_argv(data, out, "--ray"))
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[cluster]"' in err and "usage:" in err
    assert not out.exists()  # nothing run, nothing written


def test_ray_options_need_ray_and_the_flag_takes_an_optional_address(tmp_path, capsys):
    parser = reproduce.make_reproduce_parser()
    assert parser.parse_args([]).ray is None
    assert parser.parse_args(["--ray"]).ray == "local"
    assert parser.parse_args(["--ray", "--quick"]).ray == "local"
    assert parser.parse_args(["--ray", "auto"]).ray == "auto"
    assert parser.parse_args(["--ray", "head:6379"]).ray == "head:6379"
    data = write_quick_plan_datasets(tmp_path / "data")
    for flag in ("--ray-cpus-per-task", "--ray-gpus-per-task"):
        with pytest.raises(SystemExit) as stop:
            reproduce.main(quick_argv(data, tmp_path / "out", flag, "1"))
        assert stop.value.code == 2 and f"{flag} needs --ray" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser.parse_args(["--ray", "--ray-cpus-per-task", "0"])


@needs_ray
def test_a_cluster_that_is_not_there_is_a_usage_error(tmp_path, monkeypatch, capsys):
    import socket

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    assert reproduce.main(quick_argv(data, out, "--ray", f"127.0.0.1:{port}")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("reproduce.py: error: nothing answers at 127.0.0.1:")
    assert "ray start --head" in err[-1]
    assert not out.exists() or not any(out.rglob("*.md"))


@needs_ray
def test_a_task_no_node_can_hold_is_refused_before_anything_runs(tmp_path, capsys):
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    argv = quick_argv(data, out, "--ray", "--ray-cpus-per-task", "64")
    assert reproduce.main(argv) == 2
    assert "no node of the cluster has more than" in capsys.readouterr().err
    assert not any(out.rglob("*.json")) and not list(tmp_path.glob("**/.staging-*"))


# ## A task that fails for its own reasons: not retried, listed in the partial report
@needs_ray
def test_a_failed_script_is_not_retried_and_shows_in_the_partial_report(
    tmp_path, monkeypatch, capsys
):
    data = write_quick_plan_datasets(tmp_path / "data")
    out = tmp_path / "out"
    attempts = tmp_path / "attempts.txt"
    failing = tmp_path / "broken_data.py"  # a script that fails as a data error does (exit 2)
    failing.write_text(
        textwrap.dedent(f"""
        import os, sys
        with open({str(attempts)!r}, "a") as stream:
            stream.write(f"{{os.getpid()}}\\n")
        print("broken_data.py: error: mnist.npz: truncated", file=sys.stderr)
        sys.exit(2)
    """)
    )
    argv = quick_argv(data, out, "--ray", "--xor-seeds", "2")
    xor = [
        run
        for run in reproduce.plan(reproduce.make_reproduce_parser().parse_args(argv))
        if run[2] == "xor_mlp.py"
    ][:1]
    runs = [*xor, PlannedRun("mnist", "MNIST, broken data", str(failing), [])]
    monkeypatch.setattr(reproduce, "plan", lambda args: runs)
    real_version = ray_plan.code_version  # the failing script is outside the project
    monkeypatch.setattr(
        ray_plan,
        "code_version",
        lambda script: "a test script" if script == str(failing) else real_version(script),
    )
    assert reproduce.main(argv) == 1
    assert len(attempts.read_text().splitlines()) == 1  # run once: Ray did not retry it
    partial = (out / "REPORT.partial.md").read_text()
    assert partial.count("mnist.npz: truncated") == 1 and "exit 2" in partial
    assert "This report is partial" in partial and "## XOR" in partial
    assert not (out / "REPORT.md").exists() and list((out / "figures.partial").glob("xor_*"))
    assert len(entries(out / "runs" / "cache")) == 1  # the XOR run is kept for the rerun


# ## End to end on tiny data: the same report as a sequential run
@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Tiny datasets and the report of an uninterrupted sequential quick plan on them."""
    root = tmp_path_factory.mktemp("ray_reference")
    data = write_quick_plan_datasets(root / "data")
    finished = subprocess.run(
        [sys.executable, str(ROOT / "reproduce.py"), *quick_argv(data, root / "sequential")],
        capture_output=True,
        text=True,
        check=False,
        cwd=root,
    )
    assert finished.returncode == 0, finished.stderr[-2000:]
    return data, (root / "sequential" / "REPORT.md").read_text()


def reproduce_command(data, out, *extra):
    return [sys.executable, str(ROOT / "reproduce.py"), *quick_argv(data, out, *extra)]


@needs_ray
@pytest.mark.slow
def test_quick_plan_on_local_ray_equals_the_sequential_report(tmp_path, reference):
    data, expected = reference
    out = tmp_path / "out"
    finished = subprocess.run(
        reproduce_command(data, out, "--ray"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert masked((out / "REPORT.md").read_text()) == masked(expected)
    assert len(list((out / "runs").glob("*.json"))) == 7  # records as a sequential run leaves
    assert not list(tmp_path.glob("**/.staging-*"))
    # the same cache keys: the sequential command reuses every run the Ray one made
    again = subprocess.run(
        reproduce_command(data, out), cwd=tmp_path, capture_output=True, text=True, check=False
    )
    # On failure: stderr names each run reused or run again, and the cache's entries say
    # which (script, arguments) got a second key (seen once in CI, not reproduced since).
    entries_now = [
        json.loads(path.read_text())["argv"]
        for path in (out / "runs" / "cache").glob("*/record.json")
    ]
    assert again.returncode == 0 and "7 finished runs reused" in again.stdout, (
        again.stdout + again.stderr[-3000:] + f"\ncache entries: {entries_now}"
    )


@needs_ray
@pytest.mark.slow
def test_a_two_node_cluster_runs_the_plan_split_and_gives_the_same_report(tmp_path, reference):
    from ray.cluster_utils import Cluster

    data, expected = reference
    out = tmp_path / "out"
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        command = [
            arg
            for arg in reproduce_command(
                data,
                out,
                "--ray",
                cluster.address,
                "--ray-cpus-per-task",
                "1",
                "--ray-chunk-runs",
                "1",
            )
            if arg != "--quiet"
        ]  # the progress lines name each task's node
        finished = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=900
        )
    finally:
        cluster.shutdown()
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert "2 nodes, 2 CPUs" in finished.stderr
    # the 2-run CIFAR study went out as two 1-run tasks, merged into the study's own record
    assert "1 study split into 2 chunks" in finished.stderr
    assert "chunk 2/2: done on node" in finished.stderr
    nodes = {
        line.split(" on node ")[1].split()[0]
        for line in finished.stderr.splitlines()
        if " on node " in line
    }
    assert len(nodes) == 2, finished.stderr[-3000:]
    assert masked((out / "REPORT.md").read_text()) == masked(expected)


# ## Faults: a killed worker is retried; Ctrl-C cancels, and the rerun reuses
def processes_with(marker):
    """{pid: parent pid} of this machine's processes whose command line holds `marker`
    (Linux /proc), leaving reproduce.py itself out."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
            if marker in command and "reproduce.py" not in command:
                found[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
        except (OSError, ValueError, IndexError):
            continue
    return found


def command_of(pid):
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running(pid):
    """Whether process `pid` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@needs_ray
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes in /proc")
def test_a_worker_killed_mid_task_is_retried_and_the_report_is_complete(tmp_path, reference):
    data, expected = reference
    out = tmp_path / "out"
    driver = subprocess.Popen(
        reproduce_command(data, out, "--ray"),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # a script of the plan running (its command line names the test's data folder)
        scripts = wait_for(lambda: processes_with(str(data)), 300)
        assert scripts, "no script started"
        script, worker = next(iter(scripts.items()))
        assert command_of(worker).startswith("ray::"), command_of(worker)  # a Ray worker
        time.sleep(1)  # mid-task: the script is under way
        os.kill(worker, signal.SIGKILL)
        _, err = driver.communicate(timeout=900)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 0, err[-3000:]
    assert wait_for(lambda: not running(script), 10), "the killed worker's script went on"
    assert masked((out / "REPORT.md").read_text()) == masked(expected)


@needs_ray
@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds processes in /proc")
def test_ctrl_c_cancels_the_outstanding_tasks_and_the_rerun_reuses_finished_runs(
    tmp_path, reference
):
    data, expected = reference
    out = tmp_path / "out"
    command = reproduce_command(data, out, "--ray")
    driver = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    cache = out / "runs" / "cache"
    try:
        assert wait_for(lambda: len(entries(cache)) >= 2, 600), "no run finished"
        driver.send_signal(signal.SIGINT)  # Ctrl-C on the driver alone
        _, err = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    kept = len(entries(cache))
    assert driver.returncode == 130, err[-3000:]
    assert "cancelled" in err and "kept in the cache" in err and 2 <= kept < 7, err[-3000:]
    assert not (out / "REPORT.md").exists()
    # every script of a task runs with its record in a "tutorials-run-" folder of its worker
    assert wait_for(lambda: not processes_with("tutorials-run-"), 30), "a cancelled script runs"

    rerun = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{kept} finished runs reused" in rerun.stdout, rerun.stdout
    assert masked((out / "REPORT.md").read_text()) == masked(expected)


# ## A chunk that fails: the driver's bookkeeping, with the tasks run inline (no Ray needed)
class InlineTasks:
    """ray_cluster.RunTasks's interface with each task run here, in turn, by the task body
    Ray would run (cluster.run_in_task); `broken(argv)` tasks fail as a script that exits 1."""

    def __init__(self, broken):
        self.pending, self.submitted, self.broken = {}, [], broken

    def submit(self, index, script, argv, name):
        self.pending[index] = (script, argv, name)
        self.submitted.append(index)

    def as_finished(self):
        while self.pending:
            index = next(iter(self.pending))
            script, argv, name = self.pending.pop(index)
            if self.broken(argv):
                failure = f"{script} ({name}) failed (exit 1): broken"
                yield index, {"failure": failure, "node": "inline"}
            else:
                yield index, cluster.run_in_task(script, argv, name, os.getcwd())

    def cancel_outstanding(self):
        cancelled = len(self.pending)
        self.pending.clear()
        return cancelled


class InlineSession:
    def __init__(self, tasks):
        self.run_tasks = tasks

    def tasks(self):
        return self.run_tasks

    def describe(self):
        return "inline"


def test_a_failed_chunk_fails_its_study_and_the_rerun_runs_only_that_chunk(tmp_path, monkeypatch):
    fake_ray = types.SimpleNamespace(
        get_runtime_context=lambda: types.SimpleNamespace(get_node_id=lambda: "inline-node")
    )
    monkeypatch.setitem(sys.modules, "ray", fake_ray)  # run_in_task asks Ray for its node only
    monkeypatch.chdir(tmp_path)
    data = write_quick_plan_datasets(tmp_path / "data")
    args = reproduce.make_reproduce_parser().parse_args(
        quick_argv(data, tmp_path / "out", "--cifar-runs", "2")
    )
    cifar = [run for run in reproduce.plan(args) if run[2] == "cifar10_dense.py"][:1]
    records = tmp_path / "runs"
    records.mkdir()
    cache = RunCache(records / "cache")

    def second_chunk(argv):
        seeds = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--seed"]
        return seeds[-1:] == ["1"]

    failing = InlineTasks(broken=second_chunk)
    plan = Plan(cifar, records, cache, quiet=True)
    found, failures = ray_plan.run_on_ray(plan, InlineSession(failing), runs_per_chunk=1)
    assert found == [] and failing.submitted == [(1, 0), (1, 1)]
    assert len(failures) == 1 and "chunk 2/2" in failures[0] and "broken" in failures[0]
    assert len(entries(cache.folder)) == 1  # the finished chunk is kept
    chunk_folders = sorted(folder.name for folder in (records / ".chunks").iterdir())
    assert chunk_folders == ["01_cifar_dense_chunk1"]  # none made for the chunk that failed

    working = InlineTasks(broken=lambda argv: False)
    found, failures = ray_plan.run_on_ray(plan, InlineSession(working), runs_per_chunk=1)
    assert failures == [] and working.submitted == [(1, 1)]  # only the chunk that failed
    (study,) = found
    assert len(read_arrays(study.arrays_file)["runs.weight_seeds"]) == 2
    assert [chunk["runs"] for chunk in study.record["chunks"]] == [1, 1]
