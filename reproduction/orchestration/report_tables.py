"""The report's per-tutorial tables and findings, each line read from the runs' records.

XOR: the first epoch at 100% accuracy per network and loss; MNIST: each neuron's dead share,
final accuracies and the paired difference; CIFAR-10: each network's test accuracy beside the
published one. orchestration/report.py puts them together with the claims table.
"""

import math

from reproduction.evidence.claims import SOURCE_NAMES, claims_for, published_values
from reproduction.evidence.statistics import FEW_FOR_QUANTILES, share_interval


# ## Numbers for the report (all read from the scripts' own run records)
def pct(value, decimals=2):
    return "n/a" if value is None or math.isnan(value) else f"{100 * value:.{decimals}f}%"


def rate(count, n):
    """'51.4% (48.3-54.5)' : a share with its exact 95% (Clopper-Pearson) interval."""
    if not n:
        return "n/a"
    low, high = share_interval(count, n)
    return f"{100 * count / n:.1f}% ({100 * low:.1f}-{100 * high:.1f})"


def spread(summary, decimals=2):
    """'median 96.6% (10-90%: 95.1-97.2%)' from a statistics.distribution dict."""
    if not summary or not summary.get("n"):
        return "n/a"
    if summary["n"] < FEW_FOR_QUANTILES:  # too few runs for a 10-90% range
        return (
            f"median {pct(summary['median'], decimals)} (range {pct(summary['min'], decimals)} "
            f"to {pct(summary['max'], decimals)}; {summary['n']} runs)"
        )
    return (
        f"median {pct(summary['median'], decimals)} (10-90%: "
        f"{pct(summary['p10'], decimals)} to {pct(summary['p90'], decimals)})"
    )


def epoch_text(value):
    return "never" if value is None or not math.isfinite(value) else f"{value:g}"


def xor_rows(records):
    rows = []
    for record in records:
        study, config = record["metrics"]["study"], record["config"]
        arch = "-".join(map(str, (2, *config["hidden"], 1)))
        loss = "binary cross-entropy" if config.get("loss") == "binary_crossentropy" else "MSE"
        published = study.get("tutorial_epoch")
        share = study.get("share_at_or_before_tutorial")
        deciles = (
            f"; 10-90%: {epoch_text(study['p10'])}-{epoch_text(study['p90'])}"
            if "p10" in study
            else ""
        )
        rows.append(
            f"| {arch}, {loss} | {'epoch ' + str(published) if published else '- (no number)'} "
            f"| {study['seeds']:,} | {rate(study['solved'], study['seeds'])} | median "
            f"{epoch_text(study['median'])} (quartiles {epoch_text(study['q1'])}-"
            f"{epoch_text(study['q3'])}{deciles}) | "
            f"{pct(share, 1) + ' of seeds' if share is not None else '-'} |"
        )
    return rows


XOR_HEAD = (
    "| network, loss | published (one unseeded run) | seeds | reached 100% (95% CI) | "
    "first epoch at 100% | at 100% by the published epoch |\n|---|---|---|---|---|---|"
)


def mnist_rows(record):
    study, config = record["metrics"]["study"], record["config"]
    pixels = "pixels / 255" if config.get("normalize") else "raw pixels"
    rows = []
    for activation in ("linear", "sigmoid"):
        if activation not in study:
            continue
        s = study[activation]
        dead = s["dead"]
        rows.append(
            f"| {activation}, {pixels} | {s['n']:,} | {rate(dead['count'], dead['n'])} | "
            f"{spread(s['live_final_accuracy'])} | {spread(s['final_accuracy'])} | "
            f"{rate(s['below_baseline']['count'], s['below_baseline']['n'])} | "
            f"{pct(s['epoch_spread_points']['median'], 1).rstrip('%')} points |"
        )
    return rows


MNIST_HEAD = (
    "| neuron | runs | dead: one class for every test image, weights stopped (95% CI) | "
    "final accuracy, live runs | final accuracy, all runs | below the never-five baseline "
    "(95% CI) | median spread over the epochs |\n|---|---|---|---|---|---|---|"
)


def mnist_notes(record):
    study = record["metrics"]["study"]
    pixels = "pixels / 255" if record["config"].get("normalize") else "raw pixels"
    notes = []
    if "paired" in study:
        paired = study["paired"]
        better = paired["sigmoid_better"]
        notes.append(
            f"- {pixels}, paired (same weights, same order): sigmoid minus linear "
            f"final accuracy median {100 * paired['difference']['median']:+.2f} points "
            f"(10-90%: {100 * paired['difference']['p10']:+.2f} to "
            f"{100 * paired['difference']['p90']:+.2f}); the sigmoid is better in "
            f"{rate(better['count'], better['n'])} of runs."
        )
    for activation in ("linear", "sigmoid"):
        split = study.get(activation, {}).get("variance_split")
        if split and split.get("order_share") is not None:
            notes.append(
                f"- {pixels}, {activation}: of the final accuracy's variance, "
                f"{100 * split['order_share']:.0f}% comes from the data order and "
                f"{100 * (1 - split['order_share']):.0f}% from the initial weights "
                f"({split['groups']} orders of {split['per_group']:g} runs)."
            )
    return notes


def cifar_rows(records):
    rows = []
    for record in records:
        metrics, config = record["metrics"], record["config"]
        study = metrics.get("study")
        claims = claims_for("cifar10", config)
        published = ", ".join(
            [
                f"{pct(value, 2)} ({source})"
                for value, source in published_values(claims, "test_accuracy")
            ]
            + [  # a run that stopped early: its number is not a 10-epoch one
                f"{pct(c.value, 2)} ({SOURCE_NAMES[c.source]}: {c.about})"
                for c in claims
                if c.published_run and c.quantity.startswith("test_accuracy_after_epoch")
            ]
        )
        name = config.get("model", "dense") + (
            f" ({config['block_order']})" if config.get("model") == "cnn" else ""
        )
        if study:
            test, train = study["test_accuracy"], study["train_accuracy"]
            cells = (
                f"{test['n']} | {pct(test['mean'])}"
                + (f" ± {100 * test['sd']:.2f}" if test["n"] > 1 else "")
                + f" | {pct(test['min'])} to {pct(test['max'])} | "
                f"± {100 * study['sampling_sd']:.2f} | {pct(train['mean'])}"
            )
        else:  # one run: no spread to show
            cells = (
                f"1 | {pct(metrics['test_accuracy'])} | - | - | "
                f"{pct(metrics['train_accuracy'][-1])}"
            )
        rows.append(f"| {name} | {published or '-'} | {cells} |")
    return rows


CIFAR_HEAD = (
    "| network | published test accuracy | runs | test accuracy, mean ± sd | range | "
    "test set's own sampling sd | train accuracy (last epoch), mean |\n"
    "|---|---|---|---|---|---|---|"
)


def findings(records):
    """What the studies found beyond the tutorials' claims, as measured (from the records)."""
    lines = []
    for record in records.get("mnist", []):
        sigmoid = record["metrics"]["study"].get("sigmoid")
        if sigmoid:
            pixels = (
                'pixels / 255 (the tutorial\'s "data preparation" lever)'
                if record["config"].get("normalize")
                else "raw pixels"
            )
            dead = sigmoid["dead"]
            why = (
                " (every test image read as one class and the training loss the same float "
                "over the last epochs: the weights stopped, as a saturated float32 sigmoid's "
                "gradient is exactly zero)"
                if dead["count"]
                else ""
            )
            lines.append(
                f"- MNIST sigmoid neuron on {pixels}: {rate(dead['count'], dead['n'])} "
                f"of {dead['n']:,} runs die{why}; live runs end at "
                f"{spread(sigmoid['live_final_accuracy'])}."
            )
    for record in records.get("xor", []):
        study = record["metrics"]["study"]
        if study.get("right_at_start"):
            arch = "-".join(map(str, (2, *record["config"]["hidden"], 1)))
            loss = "" if record["config"]["loss"] == "mean_squared_error" else ", BCE"
            lines.append(
                f"- XOR {arch}{loss}: {study['right_at_start']:,} of {study['seeds']:,} "
                "networks were already right before training (100% in epoch 1, whose "
                "accuracy Keras measures before the update); they count as epoch 1."
            )
    for record in records.get("cifar_dense", []):
        study = record["metrics"].get("study")
        if study:
            lines.append(
                f"- CIFAR-10 Dense: over {study['n']} runs the test accuracy's sd is "
                f"{100 * study['test_accuracy']['sd']:.2f} points; the test set's own "
                f"sampling noise (sqrt(p(1-p)/n)) is {100 * study['sampling_sd']:.2f} "
                "points: a single run's accuracy cannot be read more finely than that."
            )
    return lines
