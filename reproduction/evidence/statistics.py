"""Seed studies: what many runs of one experiment say, as numbers (the per-run CSV is
studies/tables.py's, the figure studies/figures.distribution_figure's).

A single run of these tutorials is chaotic (a rounding difference decides whether the MNIST
sigmoid neuron dies), so a study's result is a distribution: shares with their 95% (Wilson)
intervals, quantiles, and how much of the spread comes from the initial weights and how much
from the data order (where a published value falls among the runs is evidence/verdicts.py's).
"""

import math

import numpy as np

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
