"""Seed studies: what many runs of one experiment say, as numbers (the per-run CSV is
studies/tables.py's, the figure studies/figures.distribution_figure's).

A single run of these tutorials is chaotic (a rounding difference decides whether the MNIST
sigmoid neuron dies), so a study's result is a distribution: shares with their exact 95%
(Clopper-Pearson) intervals, quantiles, and how much of the spread comes from the initial
weights and how much from the data order (where a published value falls among the runs is
evidence/verdicts.py's).
"""

import math

import numpy as np

Z_95 = 1.959963984540054  # two-sided 95% normal quantile


def share_interval(successes, n, confidence=0.95):
    """The exact (Clopper-Pearson) interval of a share successes / n: (low, high); (nan, nan)
    for n = 0. Exact: a share's true value lies below `low` (above `high`) with probability at
    most (1 - confidence) / 2 for every n, so a rule judging it against a bound rejects a share
    exactly at the bound at most 2.5% of the time (Wilson's interval can reach 8% at n = 10)."""
    if n == 0:
        return math.nan, math.nan
    tail = (1 - confidence) / 2
    ks = np.arange(n + 1)
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    log_choose = log_factorial[n] - log_factorial - log_factorial[::-1]

    def pmf(p):
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.exp(log_choose + ks * np.log(p) + (n - ks) * np.log1p(-p))

    def bisect(below_target):  # the p in (0, 1) where below_target(p) turns False
        low, high = 0.0, 1.0
        for _ in range(60):
            middle = (low + high) / 2
            low, high = (middle, high) if below_target(middle) else (low, middle)
        return (low + high) / 2

    # lower: P(X >= k) rises with p to `tail`; upper: P(X <= k) falls with p to `tail`
    lower = 0.0 if successes == 0 else bisect(lambda p: pmf(p)[successes:].sum() < tail)
    upper = 1.0 if successes == n else bisect(lambda p: pmf(p)[: successes + 1].sum() > tail)
    return lower, upper


def share(flags):
    """{'count', 'n', 'share', 'low', 'high'} of a boolean array: a rate with its interval."""
    flags = np.asarray(flags, bool)
    count, n = int(flags.sum()), int(flags.size)
    low, high = share_interval(count, n)
    return {"count": count, "n": n, "share": count / n if n else math.nan, "low": low, "high": high}


def share_text(rate):
    """'492 of 1,000 runs = 49.2% (95% CI 46.1-52.3%)' of a share()."""
    return (
        f"{rate['count']:,} of {rate['n']:,} runs = {100 * rate['share']:.1f}% "
        f"(95% CI {100 * rate['low']:.1f}-{100 * rate['high']:.1f}%)"
    )


# The one quantile definition of every number the project reports (tables, ranges, verdicts):
# linear interpolation between order statistics, NumPy's default (Hyndman & Fan's type 7).
QUANTILE_DEFINITION = "linear interpolation between order statistics (Hyndman & Fan type 7)"


def quantile(values, q):
    """The q-quantile of `values` (QUANTILE_DEFINITION; NaN left out, NaN for none). Infinite
    values take part (a run that never got there): between a value and infinity the quantile
    is infinite, at an order statistic it is that statistic."""
    values = np.sort(np.asarray(values, np.float64).reshape(-1))
    values = values[~np.isnan(values)]
    if not values.size:
        return math.nan
    position = (values.size - 1) * q
    low, high = math.floor(position), math.ceil(position)
    if low == high or values[low] == values[high]:
        return float(values[low])
    if not math.isfinite(values[low]):  # -inf below: the quantile is -inf
        return float(values[low])
    if not math.isfinite(values[high]):
        return math.inf
    return float(values[low] + (position - low) * (values[high] - values[low]))


def median_interval(values, confidence=0.95):
    """Distribution-free interval of the median: the order statistics x(j) and x(n+1-j) (1-based)
    with the largest j for which P(Binomial(n, 1/2) <= j - 1) <= (1 - confidence) / 2, so that
    each side misses the true median at most that often; the whole range for very few values."""
    values = np.sort(np.asarray(values, np.float64))
    n = values.size
    if n == 0:
        return math.nan, math.nan
    tail, cumulative, j = (1 - confidence) / 2, 0.0, 0
    while j < n // 2:
        cumulative += math.comb(n, j) / 2**n  # P(Binomial(n, 1/2) <= j)
        if cumulative > tail:
            break
        j += 1
    low = max(j - 1, 0)  # x(j), 0-based; j = 0: no order statistic qualifies, the minimum
    return float(values[low]), float(values[n - 1 - low])


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
        summary[name] = quantile(values, q)
    return summary


FEW_FOR_QUANTILES = 10  # below this many runs, no quantile ranges are printed


def distribution_text(summary, scale=100, unit="%", decimals=2):
    """'median 96.61% (10-90%: 95.9-97.1%), mean 96.5% ± 0.52 sd, range ..., n = 812'."""

    def fmt(value):
        return f"{scale * value:.{decimals}f}{unit}"

    if summary["n"] == 0:
        return "n = 0"
    if summary["n"] < FEW_FOR_QUANTILES:  # a 10-90% range of a handful of runs says nothing
        spread = f" ± {scale * summary['sd']:.{decimals}f} sd" if summary["n"] > 1 else ""
        return (
            f"mean {fmt(summary['mean'])}{spread}, range {fmt(summary['min'])} to "
            f"{fmt(summary['max'])}, n = {summary['n']}"
        )
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
