"""Where a single run falls among the project's studies.

reproduce.py writes STUDIES.json beside REPORT.md: per study, the settings it ran with, the
sha256 of its data files, its n and the distribution of its headline number (XOR: the first
epoch at 100% accuracy; MNIST: each neuron's test accuracy and its dead share; CIFAR-10: the
test accuracy), with the commit, date and CPU of the run. A plain script run reads the committed
one and prints a line placing its number among the study's runs, or says why it cannot be
compared (another setting, other data bytes, no study of that variant).
"""

import json
import math

import numpy as np

from reproduction import ROOT
from reproduction.evidence.verdicts import ordinal
from reproduction.settings.mnist import MNIST

SUMMARY_NAME = "STUDIES.json"
# Per tutorial: the settings that pick the study (variant) and those that must match for a run
# to be compared with it (the rest: where outputs go, the seed, the engine, do not)
VARIANT = {"xor": ("hidden", "loss"), "mnist": ("normalize",), "cifar10": ("model", "block_order")}
IMAGE_TRAINING = ("learning_rate", "batch_size", "epochs", "validation_split")
IMAGE_COUNTS = ("train_images", "test_images")
MATCHED = {
    "xor": ("learning_rate", "epochs"),
    "mnist": ("dataset", "target_class", *IMAGE_TRAINING, *IMAGE_COUNTS),
    "cifar10": (*IMAGE_TRAINING, *IMAGE_COUNTS),
}
SCRIPTS = {"xor_mlp.py": "xor", "mnist_perceptron.py": "mnist", "cifar10_dense.py": "cifar10"}
# The headline number of each tutorial's study: (claim quantity, words, unit); MNIST's per neuron
HEADLINE = {
    "xor": ("epoch_to_100", "first epoch at 100% accuracy", "epoch"),
    "mnist": ("{activation}_test_accuracy", "test accuracy", "%"),
    "cifar10": ("test_accuracy", "test accuracy", "%"),
}


# ## Writing: reproduce.py, from the records of its studies
def study_entries(records):
    """[entry] for every study record (several runs) of a plan: its tutorial, variant and
    matched settings, data files' sha256, and per headline quantity its n and values."""
    entries = []
    for record in records:
        tutorial = SCRIPTS.get(record.get("script"))
        values = record.get("metrics", {}).get("claim_values", {})
        if tutorial is None or record["config"].get("seeds", 1) < 2:
            continue
        config = record["config"]
        quantity, _, _ = HEADLINE[tutorial]
        keys = [quantity.format(activation=a) for a in ("linear", "sigmoid")]
        distributions = {
            key: value_counts(values[key]) for key in dict.fromkeys(keys) if key in values
        }
        dead = {
            a: float(np.mean(values[f"{a}_dead"]))
            for a in ("linear", "sigmoid")
            if f"{a}_dead" in values
        }
        entries.append(
            {
                "tutorial": tutorial,
                "variant": {k: config.get(k) for k in VARIANT[tutorial]},
                "settings": {k: config.get(k) for k in MATCHED[tutorial]},
                "data_files": record.get("data_files", {}),
                "n": int(config["seeds"]),
                "values": distributions,
                **({"dead_share": dead} if dead else {}),
            }
        )
    return entries


def value_counts(values):
    """[[value, count], ...] of sorted values (None: a run that never got there, last)."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    pairs = []
    for value in finite:
        if pairs and pairs[-1][0] == value:
            pairs[-1][1] += 1
        else:
            pairs.append([value, 1])
    never = len(values) - len(finite)
    return pairs + ([[None, never]] if never else [])


def summary_json(entries, *, written_utc, commit, cpu, report):
    """The summary's text: its header, then one study a line (a diff shows which changed)."""
    header = {"report": report, "written_utc": written_utc, "commit": commit, "cpu": cpu}
    studies = ",\n".join(json.dumps(entry) for entry in entries)
    return json.dumps(header)[:-1] + f', "studies": [\n{studies}\n]}}'


# ## Reading: a plain run
def load_summary(path=None):
    """The committed STUDIES.json (None if there is none or it cannot be read)."""
    path = path or ROOT / SUMMARY_NAME
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def placement_line(tutorial, config, data_files, value, *, activation=None, summary=None):
    """One line placing a single run's headline `value` among the study of its variant in
    `summary` (default: the committed STUDIES.json), or saying why it cannot be placed; None
    when there is no summary at all."""
    summary = load_summary() if summary is None else summary
    if not summary:
        return None
    quantity, words, unit = HEADLINE[tutorial]
    quantity = quantity.format(activation=activation)
    variant = {k: config.get(k) for k in VARIANT[tutorial]}
    study = next(
        (
            s
            for s in summary["studies"]
            if s["tutorial"] == tutorial and s["variant"] == variant and quantity in s["values"]
        ),
        None,
    )
    what = "this network" if tutorial == "xor" else f"the {activation} neuron" * bool(activation)
    if study is None:
        return f"no study of {what or 'this model'} in {SUMMARY_NAME} to place this run in"
    differing = [
        f"{key.replace('_', '-')} {config.get(key)} (study: {wanted})"
        for key, wanted in study["settings"].items()
        if config.get(key) != wanted
    ]
    source = f"{summary['report']} of {summary['written_utc'][:10]}, {summary['commit']}"
    if differing:
        return (
            f"not comparable with the study of {study['n']:,} runs ({source}): this run has "
            + ", ".join(differing)
        )
    if data_files and study["data_files"] and data_files != study["data_files"]:
        return (
            f"not comparable with the study of {study['n']:,} runs ({source}): its data files' "
            "sha256 differ from the study's"
        )
    share = percentile_among(value, study["values"][quantity])
    shown = shown_value(value, unit)
    runs = "seeds" if tutorial == "xor" else "runs"
    return (
        f"{words} {shown} is at the {ordinal(share)} percentile of {study['n']:,} "
        f"{runs} of {what or 'this model'} ({source}, {summary['cpu']})"
    )


def percentile_among(value, counts):
    """Share of the study's runs below `value`, ties counted half (None, NaN or inf: never)."""
    value = math.inf if value is None or math.isnan(value) else value
    below = same = total = 0
    for v, count in counts:
        v = math.inf if v is None else v
        total += count
        below += count * (v < value)
        same += count * (v == value)
    return (below + same / 2) / total if total else math.nan


def shown_value(value, unit):
    if value is None or not math.isfinite(value):  # (NaN too: a run that never got there)
        return "never"
    return f"{value:g}" if unit == "epoch" else f"{100 * value:.2f}%"


def dead_advice(config, summary=None):
    """For a dead MNIST neuron: how often runs of its study die, and what the tutorial's own
    lever (pixels / 255) does to that, with the command; None without a summary."""
    summary = load_summary() if summary is None else summary
    if not summary:
        return None
    shares = {
        s["variant"]["normalize"]: (s["dead_share"].get("sigmoid"), s["n"])
        for s in summary["studies"]
        if s["tutorial"] == "mnist" and "dead_share" in s
    }
    raw, normalized = shares.get(False), shares.get(True)
    if raw is None or raw[0] is None:
        return None
    text = f"in the study, {100 * raw[0]:.1f}% of {raw[1]:,} sigmoid runs on raw pixels die"
    if normalized and normalized[0] is not None:
        text += f"; on pixels / 255, {100 * normalized[0]:.1f}% of {normalized[1]:,}"
    levers = config | {"activation": "sigmoid", "normalize": True, "compare": False}
    return (
        f"{text}. Try another --seed, or the tutorial's data preparation: "
        f"{MNIST.replay(levers) if config else 'python mnist_perceptron.py --normalize'}"
    )
