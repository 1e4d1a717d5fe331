"""Scripts run as their own processes (by the benchmarks and reproduce.py), JSON records read.

A benchmark's run is a separate process so that its peak resident memory is its own (the
benchmarks' rounds and summaries are orchestration/benchmarks.py's); a sequential plan's
consecutive runs of one script share a worker (ScriptWorkers), so their records tell the
worker's peak so far.
"""

import contextlib
import ctypes
import ctypes.util
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from reproduction import ROOT


def run_script(script, argv, workdir, label, end_with_parent=False, workers=None):
    """Run ROOT/script with `argv` plus what run_argv adds (its record and arrays in `workdir`
    as `label`.json and .npz); its record. SystemExit with the last error line if it fails.
    `end_with_parent` (Linux): the script is killed if this process dies first (a Ray worker
    killed mid-task must not leave its script running beside the retry). `workers`: a
    ScriptWorkers whose process for the script runs it (else a process of its own)."""
    if workers is not None:
        return workers.run(script, argv, workdir, label)
    record_path = Path(workdir) / f"{label}.json"
    command = [
        sys.executable,
        str(ROOT / script),
        *run_argv(argv, record_path, Path(workdir) / "figures"),
    ]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_die_with_parent() if end_with_parent else None,
    )
    try:
        _, stderr = process.communicate()
    except KeyboardInterrupt:
        stop_child(process)
        raise
    if process.returncode != 0:
        tail = (stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SystemExit(f"{script} ({label}) failed (exit {process.returncode}): {tail}")
    return json.loads(record_path.read_text())


class ScriptWorkers:
    """The long-lived process (orchestration/script_worker.py) that runs a sequential plan's
    consecutive runs of one script, TensorFlow imported once; a run of another script, or one
    the worker cannot take (another thread set-up), gets a new one. `prepare(script)` starts
    the next script's worker ahead, while this one trains: it imports TensorFlow and the script
    (several seconds, on one core) and then waits for its first run. Use as a context manager:
    the processes end with it."""

    def __init__(self):
        self.script, self.process, self.stderr = None, None, None
        self.spare = None  # (script, process, stderr): a worker started ahead, not yet used

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close_all()

    def run(self, script, argv, workdir, label):
        record_path = Path(workdir) / f"{label}.json"
        request = json.dumps(run_argv(argv, record_path, Path(workdir) / "figures")) + "\n"
        for _ in range(2):  # the second time in a fresh process, if the first asked for one
            answer = self._ask(script, request)
            if not answer.get("restart"):
                break
            self.close()
        if answer.get("code") != 0:
            raise SystemExit(
                f"{script} ({label}) failed (exit {answer.get('code')}): "
                f"{answer.get('error') or '(no output)'}"
            )
        return json.loads(record_path.read_text())

    def _ask(self, script, request):
        """The worker's answer to one request ({"code", "error"} or {"restart"})."""
        if self.script != script or self.process is None or self.process.poll() is not None:
            self._start(script)
        errors_from = self.stderr.seek(0, os.SEEK_END)  # this request's part of the log
        try:
            self.process.stdin.write(request)
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except KeyboardInterrupt:
            stop_child(self.process)
            self.process = None
            raise
        except BrokenPipeError:
            line = ""
        if not line:  # the worker ended without answering (a crash, a signal)
            self.process.wait()
            self.stderr.seek(errors_from)
            tail = (self.stderr.read().strip().splitlines() or ["(no output)"])[-1]
            code = self.process.returncode
            self.close()
            return {"code": code, "error": tail}
        return json.loads(line)

    def prepare(self, script, now=None):
        """Start `script`'s worker now, for a run to come (unless one is running or ready),
        after the run of script `now` about to start (which takes a worker ready for it)."""
        if now is not None and now != self.script and self.spare and self.spare[0] == now:
            self._start(now)
        if script not in (self.script, self.spare and self.spare[0]):
            self._close_spare()
            self.spare = (script, *_start_worker(script))

    def _start(self, script):
        self.close()
        if self.spare is not None and self.spare[0] == script:
            if self.spare[1].poll() is None:  # ready, or still importing
                (self.script, self.process, self.stderr), self.spare = self.spare, None
                return
            self._close_spare()
        self.script = script
        self.process, self.stderr = _start_worker(script)

    def close(self):
        if self.process is not None:
            with contextlib.suppress(BrokenPipeError, OSError):
                self.process.stdin.close()
            self.process.wait()
        if self.stderr is not None:
            self.stderr.close()
        self.script, self.process, self.stderr = None, None, None

    def close_all(self):
        self.close()
        self._close_spare()

    def _close_spare(self):
        if self.spare is not None:
            _, process, stderr = self.spare
            process.kill()  # it has run nothing: nothing of it to keep
            process.wait()
            with contextlib.suppress(BrokenPipeError, OSError):
                process.stdin.close()
            stderr.close()
            self.spare = None


def _start_worker(script):
    """(process, its stderr file) of a new script_worker for `script`."""
    path = os.environ.get("PYTHONPATH", "")
    stderr = tempfile.TemporaryFile("w+")
    return (
        subprocess.Popen(
            # -P: the current folder is not on the path (a reproduction/ there must not shadow
            # the project's)
            [
                sys.executable,
                "-P",
                "-m",
                "reproduction.orchestration.script_worker",
                str(ROOT / script),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            # the project importable from any folder, as a script run by its path finds it
            env=os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), path)))},
        ),
        stderr,
    )


def run_argv(argv, record_path, figures_dir):
    """The arguments run_script gives a script: `argv`, quiet, its record where asked, and no
    views (figures, text, tables: drawn from the record afterwards, orchestration/
    plan_runner.py)."""
    return [
        *argv,
        "--quiet",
        "--json",
        str(record_path),
        "--figures-dir",
        str(figures_dir),
        "--no-figures",
        "--record-only",
    ]


def _die_with_parent():
    """A preexec_fn asking Linux to SIGKILL the child when its parent dies (prctl
    PR_SET_PDEATHSIG); None elsewhere. prctl is looked up here, before the fork, so that the
    child only calls it (no library loading between fork and exec)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    set_parent_death_signal = 1  # PR_SET_PDEATHSIG, linux/prctl.h
    return lambda: prctl(set_parent_death_signal, signal.SIGKILL)


def stop_child(process, grace_s=60):
    """After a Ctrl-C: let the child end as an interrupted run does (exit 130, nothing
    half-written). A terminal's Ctrl-C reaches it already; SIGINT is sent in case it was only
    this process that got one. Killed only if it has not ended after `grace_s` seconds."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C: still wait
    try:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    finally:
        signal.signal(signal.SIGINT, previous)
