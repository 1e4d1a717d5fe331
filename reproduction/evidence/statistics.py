"""Seed studies: what many runs of one experiment say, as numbers, a CSV and a figure.

A single run of these tutorials is chaotic (a rounding difference decides whether the MNIST
sigmoid neuron dies), so a study's result is a distribution: shares with their 95% (Wilson)
intervals, quantiles, and how much of the spread comes from the initial weights and how much
from the data order (where a published value falls among the runs is evidence/verdicts.py's).
"""

import csv
import io
import math

import numpy as np

from reproduction.plumbing.atomic import write_text_atomic
from reproduction.studies.figures import integer_ticks, new_figure

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def wilson_interval(successes, n, z=Z_95):
    """95% Wilson score interval of a share successes / n: (low, high); (nan, nan) for n = 0."""
    if n == 0:
        return math.nan, math.nan
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def share(flags):
    """{'count', 'n', 'share', 'low', 'high'} of a boolean array: a rate with its interval."""
    flags = np.asarray(flags, bool)
    count, n = int(flags.sum()), int(flags.size)
    low, high = wilson_interval(count, n)
    return {"count": count, "n": n, "share": count / n if n else math.nan, "low": low, "high": high}


def share_text(rate):
    """'492 of 1,000 runs = 49.2% (95% CI 46.1-52.3%)' of a share()."""
    return (
        f"{rate['count']:,} of {rate['n']:,} runs = {100 * rate['share']:.1f}% "
        f"(95% CI {100 * rate['low']:.1f}-{100 * rate['high']:.1f}%)"
    )


QUANTILES = {"min": 0.0, "p10": 0.1, "q1": 0.25, "median": 0.5, "q3": 0.75, "p90": 0.9, "max": 1.0}


def distribution(values):
    """n, mean, sample sd, and the QUANTILES of the finite values (NaN where there are none)."""
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    summary = {
        "n": int(values.size),
        "mean": float(values.mean()) if values.size else math.nan,
        "sd": float(values.std(ddof=1)) if values.size > 1 else math.nan,
    }
    for name, q in QUANTILES.items():
        summary[name] = float(np.quantile(values, q)) if values.size else math.nan
    return summary


def distribution_text(summary, scale=100, unit="%", decimals=2):
    """'median 96.61% (10-90%: 95.9-97.1%), mean 96.5% ± 0.52 sd, range ..., n = 812'."""

    def fmt(value):
        return f"{scale * value:.{decimals}f}{unit}"

    if summary["n"] == 0:
        return "n = 0"
    text = (
        f"median {fmt(summary['median'])} (10-90%: {fmt(summary['p10'])} to "
        f"{fmt(summary['p90'])}), mean {fmt(summary['mean'])}"
    )
    if summary["n"] > 1:  # a spread of one run is not a spread
        text += f" ± {scale * summary['sd']:.{decimals}f} sd"
    return text + f", range {fmt(summary['min'])} to {fmt(summary['max'])}, n = {summary['n']}"


def variance_split(values, groups):
    """How much of the spread of `values` comes from the group (the data order shared by a
    group of runs) and how much from within it (each run's initial weights): one-way random
    effects by the method of moments. Needs at least two groups with two runs each.

    Returns {'groups', 'per_group', 'order_var', 'init_var', 'order_share'} (NaN if it cannot
    be estimated)."""
    values, groups = np.asarray(values, np.float64), np.asarray(groups)
    names, index = np.unique(groups, return_inverse=True)
    sizes = np.bincount(index)
    result = {
        "groups": int(len(names)),
        "per_group": float(sizes.mean()) if len(sizes) else 0,
        "order_var": math.nan,
        "init_var": math.nan,
        "order_share": math.nan,
    }
    if len(names) < 2 or sizes.min() < 2:
        return result
    means = np.bincount(index, values) / sizes
    within = float(((values - means[index]) ** 2).sum() / (len(values) - len(names)))
    between = float((sizes * (means - values.mean()) ** 2).sum() / (len(names) - 1))
    # n0: the effective group size for unequal groups (equals the size when all are equal).
    n0 = (len(values) - (sizes**2).sum() / len(values)) / (len(names) - 1)
    order_var = max(0.0, (between - within) / n0)
    total = order_var + within
    result.update(
        order_var=order_var,
        init_var=within,
        order_share=order_var / total if total > 0 else math.nan,
    )
    return result


def variance_split_text(split, what):
    if split["order_var"] == 0 and split["init_var"] == 0:
        return f"{what}: the same in every run (no spread to split)"
    if not math.isfinite(split["order_share"]):
        return (
            f"{what}: init vs data-order split needs >= 2 orders of >= 2 runs "
            f"({split['groups']} orders)"
        )
    return (
        f"{what}: {100 * split['order_share']:.0f}% of the variance from the data order, "
        f"{100 * (1 - split['order_share']):.0f}% from the initial weights "
        f"({split['groups']} orders x {split['per_group']:g} runs; sd "
        f"{100 * math.sqrt(split['order_var']):.2f} vs {100 * math.sqrt(split['init_var']):.2f}"
        " points)"
    )


def sampling_sd(p, n):
    """The test set's own sampling noise of an accuracy p measured on n examples."""
    return math.sqrt(p * (1 - p) / n) if n else math.nan


# ## The per-run table: one row per run, its seeds and its figures


def csv_text(rows, columns):
    """rows: dicts; columns: the keys, in order. Floats as repr (lossless), None/NaN empty."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        cells = []
        for key in columns:
            value = row.get(key)
            if isinstance(value, (float, np.floating)):
                value = "" if not math.isfinite(value) else repr(float(value))
            elif isinstance(value, (bool, np.bool_)):
                value = int(value)
            elif value is None:
                value = ""
            cells.append(value)
        writer.writerow(cells)
    return out.getvalue()


def csv_path_for(json_path):
    """The study's CSV sits beside its JSON record: runs.json -> runs.csv."""
    return json_path.with_suffix(".csv")


def write_runs_csv(path, rows, columns):
    write_text_atomic(path, csv_text(rows, columns))
    return str(path)


# ## The distribution figure


def distribution_figure(
    groups, title, xlabel, *, published=(), bins=40, scale=100, value_range=None
):
    """A histogram of per-run values, one colour per group ({'live runs': values, 'dead
    neuron': values}: the groups stay visibly apart), with vertical lines at `published`
    ((value, label) pairs) and the groups' medians."""
    fig, ax = new_figure(size=(7.0, 4.2))
    finite = [np.asarray(v, np.float64)[np.isfinite(v)] * scale for v in groups.values()]
    every = np.concatenate(finite) if finite else np.zeros(0)
    references = [scale * value for value, _ in published]
    if value_range is None and every.size:
        low, high = min(every.min(), *references), max(every.max(), *references)
        pad = 0.02 * (high - low) or 0.5
        value_range = (low - pad, high + pad)
    edges = np.linspace(*(value_range or (0, 1)), bins + 1)
    colours = ("tab:blue", "tab:red", "tab:green", "tab:purple")
    for (label, values), colour in zip(zip(groups, finite, strict=True), colours, strict=False):
        if values.size:
            ax.hist(
                np.clip(values, edges[0], edges[-1]),
                bins=edges,
                color=colour,
                alpha=0.75,
                label=f"{label} (n = {values.size})",
            )
    for (value, label), style in zip(published, ("--", ":", "-.", "--"), strict=False):
        ax.axvline(scale * value, color="k", ls=style, lw=1.3, label=label)
    ax.set(xlabel=xlabel, ylabel="runs", title=title)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.3)  # room for the legend above the bars
    integer_ticks(ax.yaxis)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig
