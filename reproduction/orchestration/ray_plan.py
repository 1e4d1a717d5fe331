"""The plan's runs as Ray tasks (reproduce.py --ray): plan_runner.run_sequentially's twin.

Each run not taken from the cache is a Ray task of a ray_cluster.RaySession, or, for a study
of a script in chunks.CHUNKED_SCRIPTS, one task per chunk of runs; all are submitted at once.
The driver lands each task as it finishes (a whole run's record and arrays where a sequential
run's script leaves them; a chunk's in a folder of its own until chunks.merge joins the study)
and stores it in the cache (a whole run, and each chunk, under its own key; a merged study also
under the sequential run's key). Ctrl-C cancels the outstanding tasks; the finished ones stay in
the cache.
"""

import sys
import time
from pathlib import Path

from reproduction.orchestration import chunks as chunking
from reproduction.orchestration import ray_cluster as cluster
from reproduction.orchestration.plan_runner import FinishedRun, merged_study, run_name
from reproduction.orchestration.run_cache import code_version
from reproduction.plumbing.exits import Interrupted
from reproduction.plumbing.text import counted


def run_on_ray(plan, session, runs_per_chunk=None):
    """Every run of `plan` (a plan_runner.Plan) from the cache or as Ray tasks of `session`;
    ([FinishedRun] in the plan's order, [failure lines])."""
    finished, failures, tasks_done = {}, {}, 0
    keys, pieces, landed = {}, {}, {}  # keys[index, chunk]: (key, code version); chunk None: whole
    tasks = session.tasks()

    def folder_of(index, chunk):
        """(name, folder) of a whole run (chunk None: the plan's workdir) or of one chunk."""
        name = run_name(index, plan.runs[index - 1])
        if chunk is None:
            return name, Path(plan.workdir)
        name = f"{name}_chunk{chunk + 1}"
        return name, Path(plan.workdir) / ".chunks" / name

    def merged(index):
        planned = plan.runs[index - 1]
        parts = [landed[index][chunk] for chunk in range(len(pieces[index]))]
        done = merged_study(index, planned, parts, plan, keys[index, None][0])
        if isinstance(done, str):
            failures[index] = done
            print(f"[{index}/{len(plan.runs)}] {done}", file=sys.stderr)
            return None
        return done

    try:
        for index, planned in enumerate(plan.runs, 1):
            version = code_version(planned.script)  # also checked against what each node ran
            keys[index, None] = plan.key(planned, version=version), version
            stored = plan.cached(keys[index, None][0])
            if stored is not None:
                record, arrays_file = stored
                finished[index] = FinishedRun(index, planned, record, arrays_file, reused=True)
                plan.say(f"[{index}/{len(plan.runs)}] {planned.label}: reused from the cache")
                continue
            split = chunking.chunk_argvs(planned.script, planned.argv, runs_per_chunk)
            if len(split) == 1:
                tasks.submit((index, None), planned.script, planned.argv, folder_of(index, None)[0])
                continue
            pieces[index], landed[index] = split, {}
            for chunk, argv in enumerate(split):
                keys[index, chunk] = plan.key(planned, argv, version), version
                stored = plan.cached(keys[index, chunk][0])
                if stored is not None:
                    landed[index][chunk] = stored
                else:
                    tasks.submit((index, chunk), planned.script, argv, folder_of(index, chunk)[0])
            if landed[index]:
                plan.say(
                    f"[{index}/{len(plan.runs)}] {planned.label}: {len(landed[index])} of "
                    f"{len(split)} chunks reused from the cache"
                )
            if len(landed[index]) == len(split):  # the whole study, from its cached chunks
                done = merged(index)
                if done is not None:
                    done.reused = True
                    finished[index] = done
        if tasks.pending:
            split_into = sum(len(split) for split in pieces.values())
            plan.say(
                f"{counted(len(tasks.pending), 'task')} submitted to Ray ({session.describe()})"
                + (
                    f"; {counted(len(pieces), 'study', 'studies')} split into {split_into} "
                    f"chunks of up to {counted(runs_per_chunk, 'run')}"
                    if pieces
                    else ""
                )
            )
        for (index, chunk), result in tasks.as_finished():
            planned = plan.runs[index - 1]
            what = (
                planned.label
                if chunk is None
                else f"{planned.label}, chunk {chunk + 1}/{len(pieces[index])}"
            )
            key, version = keys[index, chunk]
            problem = result.get("failure") or cluster.problem_with(
                result, version, plan.digests.get(planned.script, {})
            )
            if problem:
                failures.setdefault(index, f"{what}: {problem}")
                print(f"[{index}/{len(plan.runs)}] {what} failed: {problem}", file=sys.stderr)
                continue
            name, folder = folder_of(index, chunk)
            record = cluster.write_outputs(result, folder, name)
            record["plan_seconds"] = result["seconds"]
            arrays_file = folder / record["arrays"]
            if plan.cache is not None:
                plan.cache.store(key, record, arrays_file)
            tasks_done += 1
            plan.say(
                f"[{index}/{len(plan.runs)}] {what}: done on node {result['node'][:8]} in "
                f"{result['seconds']:.0f} s ({time.perf_counter() - plan.start:.0f} s so far)"
            )
            if chunk is None:
                finished[index] = FinishedRun(index, planned, record, arrays_file)
                continue
            landed[index][chunk] = (record, arrays_file)
            if len(landed[index]) == len(pieces[index]) and index not in failures:
                done = merged(index)
                if done is not None:
                    finished[index] = done
    except KeyboardInterrupt:
        cancelled = tasks.cancel_outstanding()
        raise Interrupted(
            f"stopped with {counted(tasks_done, 'Ray task')} finished (kept in the cache) and "
            f"{cancelled} cancelled; the report and its figures are unchanged (they are replaced "
            "only when every run has ended): rerun the same command to go on"
        ) from None
    return (
        [finished[index] for index in sorted(finished)],
        [failures[index] for index in sorted(failures)],
    )
