"""Ray for reproduce.py --ray: the session (a local Ray instance or a cluster) and the tasks.

Everything that calls Ray is here and in orchestration/ray_plan.py, imported only when --ray is
given (Ray is an optional extra: pip install -e ".[cluster]"). Ray itself is imported inside
the functions, so that importing this module without Ray installed still works and --ray can
then be refused as a usage error.

A task runs one planned run (or one chunk of a CIFAR-10 study's runs: orchestration/chunks.py)
exactly as a sequential run does, through script_runs.run_script: the script in its own process
on the worker, writing its record and arrays into a temporary folder there. The task returns
them to the driver, which writes them where a sequential run would have (write_outputs) and
keeps the run in the run cache under the same key.

Faults: a worker process that dies in the middle of a task (killed, node lost) is a system
failure, which Ray retries (TASK_RETRIES); a script that exits non-zero (usage, data, a NaN
loss) is an ordinary result, returned as {"failure": text}, so Ray never retries it; Ctrl-C on
the driver cancels every outstanding task (RunTasks.cancel_outstanding).
"""

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from reproduction import ROOT
from reproduction.orchestration.run_cache import code_version
from reproduction.orchestration.script_runs import run_script
from reproduction.plumbing.records import write_run_record

PACKAGE = "reproduction"  # the project's package, shipped whole beside the scripts
LOCAL = "local"  # --ray without an address: start a Ray instance on this machine
INSTALL_EXTRA = 'pip install -e ".[cluster]"'
# Ray's retries of a task whose worker died (system failures only: a script's own failure is
# returned as a value, not raised, so it is never retried).
TASK_RETRIES = 3
POLL_SECONDS = 0.5  # how often the driver wakes while it waits (so Ctrl-C is seen at once)


class ClusterError(Exception):
    """Ray missing, or no cluster to join, or no node able to run a task: a usage error."""


def import_ray():
    """The ray module; ClusterError naming the extra if it is not installed."""
    try:
        import ray
    except ImportError as error:
        raise ClusterError(
            f"--ray needs Ray, the optional extra 'cluster': {INSTALL_EXTRA} ({error})"
        ) from None
    return ray


def ship_code(root=ROOT):
    """A temporary folder holding the project's code alone (the scripts and the package with
    every sub-package), which Ray uploads as the tasks' working_dir: every node runs the
    driver's code, and neither data, outputs, the venv nor .git travel. The caller removes it."""
    folder = Path(tempfile.mkdtemp(prefix="tutorials-code-"))
    for path in sorted(root.glob("*.py")) + sorted((root / PACKAGE).rglob("*.py")):
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    return folder


class RaySession:
    """A connection to Ray (started here, or joined) and the resources each task declares."""

    def __init__(self, address, cpus_per_task, gpus_per_task, quiet=False):
        self.ray = import_ray()
        self.address = address
        self.cpus_per_task, self.gpus_per_task = cpus_per_task, gpus_per_task
        check_reachable(address)
        self.code = ship_code()
        runtime_env = {"working_dir": str(self.code)}
        # Ray's own INFO lines are not this run's progress; its warnings (such as its notice
        # about token authentication) show unless --quiet.
        level = logging.ERROR if quiet else logging.WARNING
        try:
            if address == LOCAL:
                # address="local" starts a new instance even where RAY_ADDRESS names a cluster
                self.ray.init(
                    address="local",
                    include_dashboard=False,
                    runtime_env=runtime_env,
                    logging_level=level,
                )
            else:
                self.ray.init(address=address, runtime_env=runtime_env, logging_level=level)
        except KeyboardInterrupt:  # a Ctrl-C while Ray starts: leave no Ray processes behind
            self.close()
            raise
        except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError...
            self._remove_code()
            where = "a local Ray instance" if address == LOCAL else f"the Ray cluster at {address}"
            raise ClusterError(
                f"could not start or join {where}: {first_line(error)} (start "
                "one with `ray start --head`, or give --ray alone for a local "
                "one)"
            ) from None
        try:
            self._check_feasible()
        except ClusterError:
            self.close()
            raise

    def _check_feasible(self):
        """A task no node can hold would wait forever: refuse the run instead."""
        nodes = [node["Resources"] for node in self.ray.nodes() if node.get("Alive")]
        most_cpus = max((node.get("CPU", 0) for node in nodes), default=0)
        most_gpus = max((node.get("GPU", 0) for node in nodes), default=0)
        if self.cpus_per_task > most_cpus:
            raise ClusterError(
                f"each task asks for {self.cpus_per_task:g} CPUs "
                "(--ray-cpus-per-task) but no node of the cluster has more than "
                f"{most_cpus:g}"
            )
        if self.gpus_per_task > most_gpus:
            raise ClusterError(
                f"each task asks for {self.gpus_per_task:g} GPU (--device gpu, "
                "--ray-gpus-per-task) but "
                + (
                    f"no node has more than {most_gpus:g}"
                    if most_gpus
                    else "the cluster has no GPU"
                )
            )

    def describe(self):
        """'2 nodes, 4 CPUs, no GPU; each task 2 CPUs' (for the progress lines)."""
        nodes = [node for node in self.ray.nodes() if node.get("Alive")]
        total = self.ray.cluster_resources()
        gpus = total.get("GPU", 0)
        return (
            f"{len(nodes)} node{'s' * (len(nodes) != 1)}, {total.get('CPU', 0):g} CPUs, "
            + (f"{gpus:g} GPUs" if gpus else "no GPU")
            + f"; each task "
            f"{self.cpus_per_task:g} CPUs"
            + (f" and {self.gpus_per_task:g} GPU" if self.gpus_per_task else "")
        )

    def tasks(self):
        return RunTasks(self)

    def close(self):
        """Disconnect (and stop the Ray instance if this session started it)."""
        with contextlib.suppress(Exception):
            self.ray.shutdown()
        self._remove_code()

    def _remove_code(self):
        shutil.rmtree(self.code, ignore_errors=True)


class RunTasks:
    """The plan's runs submitted as Ray tasks, collected as they finish."""

    def __init__(self, session):
        self.session = session
        self.ray = session.ray
        self.pending = {}  # ObjectRef -> the run's index in the plan

    def submit(self, index, script, argv, name):
        task = self.ray.remote(run_in_task).options(
            num_cpus=self.session.cpus_per_task,
            num_gpus=self.session.gpus_per_task,
            max_retries=TASK_RETRIES,
            retry_exceptions=False,
            name=f"{name} {script}",
        )
        self.pending[task.remote(script, list(argv), name, os.getcwd())] = index

    def as_finished(self):
        """(index, result) of each task as it finishes, in the order they finish. A task that
        Ray gave up on (its worker died more than TASK_RETRIES times, its node was lost, the
        task itself raised) comes back as {"failure": text}."""
        while self.pending:
            done, _ = self.ray.wait(list(self.pending), num_returns=1, timeout=POLL_SECONDS)
            for ref in done:
                index = self.pending.pop(ref)
                try:
                    result = self.ray.get(ref)
                except self.ray.exceptions.RayError as error:
                    result = {"failure": f"the Ray task failed: {first_line(error)}"}
                yield index, result

    def cancel_outstanding(self):
        """Cancel every task not yet finished (force: a running one's worker is killed, and its
        script with it); how many there were."""
        count = len(self.pending)
        for ref in self.pending:
            with contextlib.suppress(Exception):
                self.ray.cancel(ref, force=True)
        self.pending.clear()
        return count


def check_reachable(address, timeout_s=5):
    """For a HOST:PORT address: ClusterError at once if nothing listens there (ray.init would
    retry for minutes before giving up)."""
    if address in (LOCAL, "auto") or "://" in address or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as error:
        raise ClusterError(
            f"nothing answers at {address} ({error}): start the cluster's head "
            "there first (`ray start --head`)"
        ) from None


def first_line(error):
    """The first non-empty line of an exception's text (Ray's run to many lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


# ## On the worker
@contextlib.contextmanager
def working_directory(folder):
    """Run the block in `folder` if this node has it (so that a relative --data-dir means what
    it means on the driver), else where the worker is."""
    before = os.getcwd()
    if folder and Path(folder).is_dir():
        os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def run_in_task(script, argv, name, driver_cwd):
    """The body of one Ray task: run `script` as a sequential run does and return what the
    driver needs to land it: {"record", "arrays" (the .npz's bytes), "seconds", "code_version",
    "node"}, or {"failure", "node"} if the script failed (a value, not an exception: Ray must
    not retry it)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    with (
        tempfile.TemporaryDirectory(prefix="tutorials-run-") as folder,
        working_directory(driver_cwd),
    ):
        start = time.perf_counter()
        try:
            record = run_script(script, argv, folder, name, end_with_parent=True)
        except SystemExit as error:
            return {"failure": str(error), "node": node}
        return {
            "record": record,
            "arrays": (Path(folder) / record["arrays"]).read_bytes(),
            "seconds": time.perf_counter() - start,
            "code_version": code_version(script),
            "node": node,
        }


# ## Back on the driver
def problem_with(result, code, data_digests):
    """Why a returned run cannot be used as this driver's run (None if it can): the node ran
    other code than the driver's, or read other data bytes than the driver checked."""
    if result["code_version"] != code:
        return (
            f"node {result['node'][:8]} ran other code than this driver's (code version "
            f"{result['code_version'][:12]}, here {code[:12]})"
        )
    expected = set(data_digests.values())
    for file, digest in sorted(result["record"].get("data_files", {}).items()):
        if expected and digest not in expected:
            return (
                f"node {result['node'][:8]} read other data than this driver checked "
                f"({file}: sha256 {digest[:12]}): give every node the same datasets"
            )
    return None


def write_outputs(result, folder, name):
    """Write a task's record and arrays into `folder` (as `name`.json and .npz, where a
    sequential run's script leaves them); its record."""
    record = result["record"] | {"arrays": f"{name}.npz"}
    Path(folder).mkdir(parents=True, exist_ok=True)
    (Path(folder) / f"{name}.npz").write_bytes(result["arrays"])
    write_run_record(Path(folder) / f"{name}.json", record)
    return record
