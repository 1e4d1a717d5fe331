"""REPORT.md: the claims table (every claim of the registry with the verdict its study gave),
the findings beyond the claims, where the numbers come from, and per tutorial the distributions
with their figures; all read from the runs' records (the per-tutorial tables are
orchestration/report_tables.py's).
"""

import datetime
import math
import subprocess
from pathlib import Path

from reproduction.evidence.claims import CLAIMS, SOURCE_NAMES, SOURCES
from reproduction.evidence.statistics import QUANTILE_DEFINITION
from reproduction.evidence.verdicts import NOT_COMPARABLE, Compare, differing_settings, judge
from reproduction.orchestration.report_tables import (
    CIFAR_HEAD,
    MNIST_HEAD,
    XOR_HEAD,
    cifar_rows,
    findings,
    mnist_notes,
    mnist_rows,
    xor_rows,
)
from reproduction.plumbing.provenance import cpu_text
from reproduction.plumbing.records import package_versions


# ## The claims table: every claim of the registry, with the verdict its study gave
def cross_study_verdicts(records):
    """Verdicts of the claims that compare two studies (verdicts.Compare): judged here,
    where both studies' records are, with the same judge as the scripts."""
    every = [r for part in records.values() for r in part]
    verdicts = {}
    for claim in CLAIMS:
        if not isinstance(claim.rule, Compare):
            continue
        record, values = _claim_values(every, claim.setting, claim.quantity)
        _, reference = _claim_values(every, claim.rule.reference, claim.quantity)
        if record is not None and reference is not None:
            verdicts[claim.id] = judge(claim, values, record["config"], reference=reference)
    return verdicts


def _claim_values(records, setting, quantity):
    """(record, its per-run values of `quantity`) of the first record run in `setting`; a
    value stored as null (JSON has no infinity) is a run that never got there."""
    for record in records:
        values = record["metrics"].get("claim_values", {}).get(quantity)
        if values is not None and not differing_settings(setting, record["config"]):
            return record, [math.inf if v is None else v for v in values]
    return None, None


def gathered_verdicts(records):
    """{claim id: verdict}: each claim's verdict from the record that measured it in the
    tutorial's setting (else the first record that measured it at all)."""
    verdicts = {}
    for part in records.values():
        for record in part:
            for verdict in record["metrics"].get("verdicts", []):
                held = verdicts.get(verdict["id"])
                if held is None or (
                    held["verdict"] == NOT_COMPARABLE and verdict["verdict"] != NOT_COMPARABLE
                ):
                    verdicts[verdict["id"]] = verdict
    return verdicts | cross_study_verdicts(records)


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


GLANCE_START, GLANCE_END = "<!-- claims at a glance -->", "<!-- end of the claims at a glance -->"


def glance_table(records):
    """The verdicts alone, one line per claim, between GLANCE_START and GLANCE_END: README.md
    shows the same lines (tests/test_reproduce.py checks that they match the committed
    report)."""
    verdicts = gathered_verdicts(records)
    lines = [
        GLANCE_START,
        "| the tutorial's words | about | source | verdict | runs |",
        "|---|---|---|---|---|",
    ]
    for claim in CLAIMS:
        verdict = verdicts.get(claim.id)
        judged = f"**{verdict['verdict']}**" if verdict else "not measured"
        runs = f"{verdict['n']:,}" if verdict and verdict["n"] else "-"
        lines.append(
            f"| \u201c{_cell(claim.quote)}\u201d | {_cell(claim.about)} | "
            f"{SOURCE_NAMES[claim.source]} | {judged} | {runs} |"
        )
    return [*lines, GLANCE_END]


def glance_block(text):
    """The lines between GLANCE_START and GLANCE_END in `text` (a report or README.md), or
    None if it has none."""
    if GLANCE_START not in text or GLANCE_END not in text:
        return None
    return text[text.index(GLANCE_START) : text.index(GLANCE_END) + len(GLANCE_END)]


def claims_table(records, with_cnn):
    """The claims table (one row per registry claim) and, under it, the rules and sources the
    rows refer to by number."""
    verdicts = gathered_verdicts(records)
    rules, sources = {}, {}
    lines = [
        "| the tutorial's words | about | source | measured (n: runs) | verdict | rule |",
        "|---|---|---|---|---|---|",
    ]
    for claim in CLAIMS:
        verdict = verdicts.get(claim.id)
        rule = rules.setdefault(claim.rule.text(claim), len(rules) + 1)
        source = sources.setdefault(claim.source, len(sources) + 1)
        if verdict is None:
            measured = "-"
            judged = (
                "not in this run (add `--with-cnn`)"
                if claim.id.startswith("cifar.cnn") and not with_cnn
                else "not measured by this run"
            )
        else:
            measured = f"{_cell(claim.measure)}: {_cell(verdict['measured'])}"
            judged = f"**{verdict['verdict']}**: {_cell(verdict['detail'])}"
        lines.append(
            f"| \u201c{_cell(claim.quote)}\u201d | {_cell(claim.about)} | "
            f"{SOURCE_NAMES[claim.source]} [S{source}] | {measured} | {judged} | R{rule} |"
        )
    lines += ["", "Rules (`reproduction/evidence/verdicts.py`):", ""]
    lines += [f"- R{number}: {text}" for text, number in rules.items()]
    lines += ["", "Sources:", ""]
    lines += [f"- S{number}: {SOURCES[key]}" for key, number in sources.items()]
    return lines


def provenance_lines(records):
    """The machine and the dataset files (sha256) behind the records."""
    every = [r for part in records.values() for r in part]
    # a study split into Ray chunks ran on each chunk's machine
    machines = [
        m
        for r in every
        for m in [r.get("machine")] + [c["machine"] for c in r.get("chunks", [])]
        if m
    ]
    cpus = sorted({cpu_text(machine["cpu"]) for machine in machines})
    gpus = sorted({g for machine in machines for g in machine.get("gpus", [])})
    files = {}
    for record in every:
        files |= record.get("data_files") or {}
    lines = [
        f"- CPU: {'; '.join(cpus) or 'n/a'}"
        + (f"; GPU: {', '.join(gpus)}" if gpus else "; no GPU used")
    ]
    lines += [f"- data file `{name}`: sha256 `{digest}`" for name, digest in sorted(files.items())]
    return lines


def figure_links(records, report_dir):
    """Markdown images of every figure of the part's records, study figures first."""
    figures = [f for r in records for f in r["figures"]]
    figures.sort(key=lambda f: "_study" not in f)
    links = []
    for figure in figures:
        path = Path(figure)
        try:
            shown = path.resolve().relative_to(report_dir.resolve())
        except ValueError:
            shown = path.resolve()
        links.append(f"![{path.stem}]({shown.as_posix()})")
    return "\n".join(links)


def csv_links(records, report_dir):
    paths = [r["metrics"]["csv"] for r in records if r["metrics"].get("csv")]
    shown = []
    for path in paths:
        try:
            shown.append(Path(path).resolve().relative_to(report_dir.resolve()).as_posix())
        except ValueError:
            shown.append(str(Path(path).resolve()))
    return (
        (
            "Per-run tables (one row per run, with its seeds and a command that replays it "
            "alone; written by this run, not committed): " + ", ".join(f"`{p}`" for p in shown)
        )
        if shown
        else ""
    )


CODE_FILES = ":(glob)**/*.py", "pyproject.toml"


def source_commit(root=None):
    """'commit 1a2b3c4' of the project's checkout ('..., with uncommitted changes' when a
    tracked Python file or pyproject.toml differs from it: the code; the report's own outputs
    and the docs do not count), or what stands in for it outside a git checkout."""
    from reproduction import ROOT

    def git(*args):
        return subprocess.run(
            ["git", "-C", str(root or ROOT), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        commit = git("rev-parse", "--short", "HEAD")
        changed = git("status", "--porcelain", "--untracked-files=no", "--", *CODE_FILES)
    except (OSError, subprocess.CalledProcessError):
        return "an unknown commit (not a git checkout)"
    return f"commit {commit}" + (", with uncommitted changes" if changed else "")


def studies_summary(records, report_path):
    """STUDIES.json's text (studies/placement.py): every study of `records` with its settings,
    data files' sha256 and distribution, and the commit, date and CPU, for a plain run to place
    itself in."""
    from reproduction.studies.placement import study_entries, summary_json

    every = [r for part in records.values() for r in part]
    cpus = sorted({cpu_text(r["machine"]["cpu"]) for r in every if r.get("machine")})
    return summary_json(
        study_entries(every),
        written_utc=f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
        commit=source_commit(),
        cpu="; ".join(cpus) or "n/a",
        report=Path(report_path).name,
    )


def build_report(
    records,
    seconds,
    failures,
    total_seconds,
    report_dir,
    *,
    quick=None,
    with_cnn,
    command="python reproduce.py",
):
    """REPORT.md's text from the runs' `records` ({part: [records]}), the seconds each part took,
    the failed runs' lines and the whole time; `quick`: the quick plan's budgets (None: not a
    quick run); `with_cnn`: the plan ran the CNN; `command`: the command that wrote it."""
    first = next(iter(next(iter(records.values())))) if records else {}
    versions = package_versions()
    sources = sorted(
        {
            r["metrics"].get("data_source", "")
            for part in records.values()
            for r in part
            if r["metrics"].get("data_source")
        }
    )
    notes = sorted(
        {
            r["metrics"].get("data_note", "")
            for part in records.values()
            for r in part
            if r["metrics"].get("data_note")
        }
    )
    lines = [
        "# Reproduction report",
        "",
        f"Written by `{command}` on {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC "
        f"from {source_commit()} of this project. Every tutorial is a "
        "seed study: a single run of these tutorials is chaotic (whether the MNIST sigmoid "
        "neuron dies is decided by float rounding, and one seed's result changes from one "
        "CPU to another), so the results are distributions over many runs, each with its n. "
        "Rerunning on the same machine gives the same numbers; on another CPU single runs "
        "differ and the distributions agree within their intervals.",
        "",
    ]
    if quick:
        lines += [
            f"**Quick run**: tiny budgets (one epoch on the first {quick['train_limit']:,} "
            f"training and {quick['test_limit']:,} test images, {quick['mnist_runs']} MNIST "
            f"and {quick['cifar_runs']} CIFAR runs, {quick['xor_seeds']} XOR networks): a smoke "
            "check of the pipeline, not a reproduction.",
            "",
        ]
    if failures:
        lines += [
            "## Failed runs",
            "",
            f"This report is partial: {len(failures)} of the runs failed, so it was "
            "written beside the last complete report, which it does not replace.",
            "",
        ]
        lines += [f"- {failure}" for failure in failures] + [""]
    lines += [
        "## The tutorials' claims",
        "",
        "Every claim of the registry (`reproduction/evidence/claims.py`): the tutorial's words, "
        "where they are, what this run measured (n: runs), the verdict and the rule that gave it.",
        "",
        "At a glance (README.md shows these lines):",
        "",
        *glance_table(records),
        "",
        "In full:",
        "",
        *claims_table(records, with_cnn),
        "",
    ]
    found = findings(records)
    if found:
        lines += ["## Findings beyond the claims", "", *found, ""]
    lines += [
        "## Where these numbers come from",
        "",
        f"- device: {first.get('device', 'n/a')}; platform: {first.get('platform', 'n/a')}",
        *provenance_lines(records),
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()),
        "- data: " + ("; ".join(sources) or "n/a"),
        *(f"- data note (CIFAR-10): {note}" for note in notes),
        "- wall time of the runs, each as long as it took when it ran (a run reused from the "
        "cache too): "
        + ", ".join(f"{part} {secs:.0f} s" for part, secs in seconds.items())
        + f"; this command took {total_seconds:.0f} s in all",
        "- intervals: 95%, exact (Clopper-Pearson) for shares; 10-90%: the central 80% of the "
        "runs; quantiles: " + QUANTILE_DEFINITION,
        "- single runs can change from one CPU to another (rounding decides them); the "
        "distributions are what repeats",
        "",
    ]
    if "xor" in records:
        lines += [
            "## XOR (2017 blog): epoch at which accuracy first reaches 100%",
            "",
            "Each seed is one run of the tutorial's `model.fit(X, y, epochs=500)` from its "
            "own initial weights (full batch: no data order).",
            "",
            XOR_HEAD,
            *xor_rows(records["xor"]),
            "",
            csv_links(records["xor"], report_dir),
            "",
            figure_links(records["xor"], report_dir),
            "",
        ]
    if "mnist" in records:
        lines += [
            '## MNIST "five or not" perceptron (ml-class video): final validation accuracy',
            "",
            "The video gives no accuracy figure. Each run has its own initial weights; "
            "the runs of a study share its data orders ("
            + ", ".join(
                f"{r['metrics']['study'][a]['data_orders']} orders for "
                f"{r['metrics']['study'][a]['n']:,} runs"
                for r in records["mnist"]
                for a in ("sigmoid",)
                if a in r["metrics"]["study"]
            )
            + "), so the spread can be split between order and weights. Validation is the "
            "test set, as in the tutorial.",
            "",
            MNIST_HEAD,
            *(row for r in records["mnist"] for row in mnist_rows(r)),
            "",
            *(note for r in records["mnist"] for note in mnist_notes(r)),
            "",
            csv_links(records["mnist"], report_dir),
            "",
            figure_links(records["mnist"], report_dir),
            "",
        ]
    cifar = [r for part in ("cifar_dense", "cifar_cnn") for r in records.get(part, [])]
    if cifar:
        lines += [
            "## CIFAR-10 (Foster, ch. 2): the Dense network"
            + (" and the CNN" if records.get("cifar_cnn") else ""),
            "",
            "Each run has its own initial weights and its own data order. The published "
            "values are the registry's (blog and book notebook for the Dense network; for "
            "the CNN, the notebook version whose block order the run used).",
            "",
            CIFAR_HEAD,
            *cifar_rows(cifar),
            "",
            csv_links(cifar, report_dir),
            "",
            figure_links(cifar, report_dir),
            "",
        ]
    return "\n".join(lines)
