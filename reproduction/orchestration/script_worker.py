"""A tutorial script's runs, one after another, in one long-lived process: the worker a
sequential plan keeps for consecutive runs of one script (script_runs.ScriptWorkers), so that
TensorFlow is imported once, not once a run.

`python -m reproduction.orchestration.script_worker SCRIPT` reads one JSON line per run from
stdin (the run's full argument list, as `python SCRIPT ARGS` would get it) and answers each with
one JSON line: {"code": exit code, "error": the run's last stderr line}. The script's own
printing is dropped (a plan's scripts write their results to --json). A run whose set-up (its
thread pools: the script's workload(args), the engine, the device; op determinism) differs
from the one this process already has is answered {"restart": true} and the worker ends:
those are fixed once made, and a run's arithmetic must be its own process's (the fidelity test
in tests/test_reproduce.py). A run's record then tells the peak memory of the process so far.
"""

import contextlib
import io
import json
import os
import runpy
import sys
from pathlib import Path

from reproduction.plumbing.exits import EXIT_INTERRUPTED, run_main


class _Tee(io.TextIOBase):
    """Writes to `stream` and keeps a copy (the run's last error line is its answer's)."""

    def __init__(self, stream):
        self.stream, self.copy = stream, io.StringIO()

    def write(self, text):
        self.copy.write(text)
        return self.stream.write(text)

    def flush(self):
        self.stream.flush()


def setup(module, args):
    """What a run sets up once per process and cannot undo: TensorFlow's thread pools (the
    script's workload, the engine, the device) and op determinism."""
    return (module["workload"](args), args.engine, args.device, args.deterministic)


def serve(script, requests, answers):
    """Run `script`'s main() on each argument list read from `requests`, answering on
    `answers`; returns when the requests end, a run is interrupted or needs a fresh process.
    The script (and TensorFlow with it) is imported before the first request is read, so that
    a worker started ahead of its first run (ScriptWorkers.prepare) is ready when it comes."""
    module, workload = runpy.run_path(str(script), run_name="script_worker"), None
    for line in requests:
        argv = json.loads(line)
        try:
            wanted = setup(module, module["parse"](argv, check_outputs=False)[1])
        except SystemExit:  # a usage error: the run below answers it
            wanted = workload
        if workload is not None and wanted != workload:
            answers.write(json.dumps({"restart": True}) + "\n")
            answers.flush()
            return 0
        workload = workload if wanted is None else wanted
        err = _Tee(sys.stderr)
        with contextlib.redirect_stderr(err):
            try:
                code = run_main(module["main"], argv)
            except SystemExit as stop:  # a usage error: argparse exits
                code = stop.code if isinstance(stop.code, int) else 1
        lines = err.copy.getvalue().strip().splitlines()
        answers.write(json.dumps({"code": code, "error": lines[-1] if lines else ""}) + "\n")
        answers.flush()
        if code == EXIT_INTERRUPTED:
            return code
    return 0


def main():
    script = Path(sys.argv[1])
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w")  # the answers' own channel
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the scripts' printing
    sys.argv[0] = str(script)  # run_main names the script in its lines
    try:
        return serve(script, sys.stdin, answers)
    except KeyboardInterrupt:  # between runs
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
