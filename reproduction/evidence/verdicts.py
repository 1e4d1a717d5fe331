"""The rules that judge a tutorial's claim on a study's runs, and the verdicts they give.

A verdict rests on a distribution, never on one run: each rule has a minimum number of runs
("n too small" below it), and a run that is not the tutorial's setting is "not comparable",
naming the settings that differ. Every verdict carries its rule's text, so it is printed with it.
"""

import math
from dataclasses import dataclass

import numpy as np

from reproduction.evidence.statistics import share, share_text, wilson_interval

Z_95 = 1.959963984540054
MIN_RUNS = 10

# The words a verdict can be
TYPICAL, UNUSUAL, OUTSIDE = "typical", "unusual", "outside the observed range"
HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"
TOO_FEW, NOT_COMPARABLE, NOT_JUDGED = "n too small", "not comparable", "not judged"


@dataclass(frozen=True)
class Percentile:
    """Where the published number falls among the runs."""

    central: float = 0.8
    min_n: int = MIN_RUNS
    sampling: bool = False  # an accuracy: show the test set's own sampling sd beside the spread

    def text(self, claim):
        low, high = (1 - self.central) / 2, 1 - (1 - self.central) / 2
        return (
            f"the published value's percentile among the runs: typical inside the central "
            f"{self.central:.0%} ({100 * low:.0f}th-{100 * high:.0f}th percentile), unusual "
            f"in a tail, outside the observed range beyond every run; needs >= "
            f"{self.min_n} runs"
        )


@dataclass(frozen=True)
class Rate:
    """A claim about how often something happens: the share of runs, with its 95% interval."""

    event: str
    at_least: float | None = None
    at_most: float | None = None
    min_n: int = MIN_RUNS

    def text(self, claim):
        bound, side, other = (
            (self.at_least, "at or above", "below")
            if self.at_least is not None
            else (self.at_most, "at or below", "above")
        )
        return (
            f"share of runs in which {self.event}, with its 95% Wilson interval: holds if "
            f"the interval lies {side} {bound:.0%}, does not hold if it lies {other}, "
            f"undecided if it straddles; needs >= {self.min_n} runs"
        )


@dataclass(frozen=True)
class Near:
    """'Approximately X': the runs lie within a tolerance of the published value."""

    tolerance: float
    min_n: int = MIN_RUNS

    def text(self, claim):
        published = format_value(claim.value, claim.unit)
        return (
            f"holds if the central 80% of the runs lies within {published} "
            f"± {format_points(self.tolerance, claim.unit)}; does not hold if the median is "
            f"outside; undecided otherwise; needs >= {self.min_n} runs"
        )


@dataclass(frozen=True)
class Spread:
    """'Slightly changes': the central 80% of the runs spans at most a share of the median."""

    max_relative: float
    min_n: int = MIN_RUNS

    def text(self, claim):
        return (
            f'"slightly": holds if the central 80% of the runs (10th to 90th percentile) '
            f"spans at most {self.max_relative:.0%} of the median; needs >= {self.min_n} runs"
        )


@dataclass(frozen=True)
class Compare:
    """'A is worse than B': the chance that a run of this setting exceeds a run of `reference`
    (the probability of superiority, with a 95% interval), judged against one half."""

    reference: dict
    event: str
    min_n: int = MIN_RUNS

    def text(self, claim):
        return (
            f"the chance that {self.event} (probability of superiority, 95% interval): "
            f"holds if the interval lies above 50%, does not hold if below, undecided if it "
            f"straddles; needs >= {self.min_n} runs of each"
        )


@dataclass(frozen=True)
class NotJudged:
    """A number recorded by a source that cannot be judged (the reason says why)."""

    reason: str
    min_n: int = 0

    def text(self, claim):
        return f"not judged: {self.reason}"


# ## Formatting values by unit
def format_value(value, unit):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "epoch":
        return "never" if not math.isfinite(value) else f"{value:g}"
    if unit == "%":
        return f"{100 * value:.2f}%"
    if unit == "loss":
        return f"{value:.4f}"
    return f"{value:g}"


def format_points(value, unit):
    return f"{100 * value:.2f} points" if unit == "%" else format_value(value, unit)


def ordinal(fraction):
    number = round(100 * fraction)
    suffix = (
        "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    )
    return f"{number}{suffix}"


# ## Comparability
def _same(have, want):
    if isinstance(want, float) and isinstance(have, (int, float)):
        return math.isclose(have, want, rel_tol=1e-9)
    if isinstance(want, (list, tuple)) and isinstance(have, (list, tuple)):
        return list(have) == list(want)
    return have == want


def differing_settings(setting, config):
    """['epochs 3 (tutorial: 10)', ...]: the keys of `setting` the run's config differs in."""

    def shown(key, value):
        if value is None:
            return "all" if key.endswith("_limit") else "none"
        return " ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    return [
        f"{key.replace('_', '-')} {shown(key, config.get(key))} (tutorial: {shown(key, want)})"
        for key, want in setting.items()
        if not _same(config.get(key), want)
    ]


# ## Statistics the rules use
def percentile_with_ties(value, values):
    """Share of `values` below `value`, ties counted half. Infinite values (a run that never
    got there) take part; NaN do not."""
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    return float(((values < value).sum() + 0.5 * (values == value).sum()) / values.size)


def superiority(values, reference):
    """P(X > Y) + P(X = Y) / 2 for X from `values`, Y from `reference`, with the Hanley-McNeil
    95% interval: (estimate, low, high)."""
    x = np.asarray(values, np.float64)
    y = np.sort(np.asarray(reference, np.float64))
    x, y = x[~np.isnan(x)], y[~np.isnan(y)]
    below = np.searchsorted(y, x, side="left")
    ties = np.searchsorted(y, x, side="right") - below
    area = float((below + 0.5 * ties).sum() / (x.size * y.size))
    q1, q2 = area / (2 - area), 2 * area * area / (1 + area)
    variance = (
        area * (1 - area) + (x.size - 1) * (q1 - area**2) + (y.size - 1) * (q2 - area**2)
    ) / (x.size * y.size)
    half = Z_95 * math.sqrt(max(variance, 0.0))
    return area, max(0.0, area - half), min(1.0, area + half)


def _quantile(values, q):
    values = np.sort(np.asarray(values, np.float64))
    return float(np.quantile(values, q, method="inverted_cdf")) if values.size else math.nan


def summary_text(values, unit):
    """'median 96 (10-90%: 35 to 250; range 3 to never), n = 10,000'; one run: its value
    alone (a spread of one run is not a spread)."""
    values = np.asarray(values, np.float64)
    values = values[~np.isnan(values)]
    n = values.size
    if n == 0:
        return "no runs"
    if n == 1:
        return f"{format_value(values[0], unit)} (1 run)"
    if n < 5:
        return ", ".join(format_value(v, unit) for v in values) + f" ({n} runs)"
    q = {
        name: format_value(_quantile(values, p), unit)
        for name, p in (("median", 0.5), ("p10", 0.1), ("p90", 0.9), ("min", 0), ("max", 1))
    }
    return (
        f"median {q['median']} (10-90%: {q['p10']} to {q['p90']}; range {q['min']} to "
        f"{q['max']}), n = {n:,}"
    )


# ## Judging
def judge(claim, values, config, *, reference=None, sampling_n=None):
    """The verdict on `claim` from the per-run `values` of a study with configuration `config`
    (`reference`: the per-run values of the reference study, for Compare; `sampling_n`: the
    test set's size, for an accuracy's sampling sd). A dict: id, verdict, measured (text), rule
    (text), n, and the numbers behind them."""
    rule = claim.rule
    values = np.asarray(values, np.float64) if values is not None else np.zeros(0)
    values = values[~np.isnan(values)]
    n = int(values.size)
    result = {"id": claim.id, "n": n, "rule": rule.text(claim), "value": claim.value}
    measured = share_summary(values) if isinstance(rule, Rate) else summary_text(values, claim.unit)
    differing = differing_settings(claim.setting, config)
    if differing:
        return result | {
            "verdict": NOT_COMPARABLE,
            "measured": measured,
            "detail": "not the tutorial's setting: " + ", ".join(differing),
        }
    if isinstance(rule, NotJudged):
        return result | {"verdict": NOT_JUDGED, "measured": measured, "detail": rule.reason}
    if n < rule.min_n or (
        isinstance(rule, Compare)
        and (reference is None or np.count_nonzero(~np.isnan(reference)) < rule.min_n)
    ):
        have = (
            n
            if not isinstance(rule, Compare) or reference is None
            else min(n, int(np.count_nonzero(~np.isnan(reference))))
        )
        return result | {
            "verdict": TOO_FEW,
            "measured": measured,
            "detail": f"{have} run{'s' * (have != 1)}; the rule needs at least {rule.min_n}",
        }
    judged = RULES[type(rule)](claim, rule, values, reference=reference, sampling_n=sampling_n)
    return result | {"measured": measured} | judged


def _percentile(claim, rule, values, *, sampling_n=None, **_):
    where = percentile_with_ties(claim.value, values)
    low, high = (1 - rule.central) / 2, 1 - (1 - rule.central) / 2
    shown = format_value(claim.value, claim.unit)
    if claim.value < values.min() or claim.value > values.max():
        verdict = OUTSIDE
        detail = f"{shown} is {'below' if claim.value < values.min() else 'above'} every run"
    else:
        verdict = TYPICAL if low <= where <= high else UNUSUAL
        detail = f"{shown} is at the {ordinal(where)} percentile"
        if verdict == UNUSUAL:
            detail += f" ({'low' if where < low else 'high'} tail)"
    judged = {"verdict": verdict, "detail": detail, "percentile": where}
    if rule.sampling and sampling_n:
        finite = values[np.isfinite(values)]
        mean = float(finite.mean())
        sd = float(finite.std(ddof=1))
        sampling_sd = math.sqrt(mean * (1 - mean) / sampling_n)
        judged |= {"sd": sd, "sampling_sd": sampling_sd}
        judged["detail"] += (
            f"; spread over runs sd {100 * sd:.2f} points, the test set's own "
            f"sampling sd {100 * sampling_sd:.2f} points"
        )
    return judged


def share_summary(flags):
    """share_text of the flags that were measured (NaN left out); plain words for 0 or 1 run."""
    flags = np.asarray(flags, np.float64)
    flags = flags[~np.isnan(flags)]
    if flags.size == 0:
        return "no runs"
    if flags.size == 1:
        return f"{'yes' if flags[0] else 'no'} (1 run)"
    return share_text(share(flags.astype(bool)))


def _rate(claim, rule, values, **_):
    count, n = int(values.sum()), values.size
    low, high = wilson_interval(count, n)
    if rule.at_least is not None:
        verdict = HOLDS if low >= rule.at_least else FAILS if high < rule.at_least else UNDECIDED
    else:
        verdict = HOLDS if high <= rule.at_most else FAILS if low > rule.at_most else UNDECIDED
    return {
        "verdict": verdict,
        "detail": f"{100 * count / n:.1f}% of runs",
        "share": count / n,
        "low": low,
        "high": high,
    }


def _near(claim, rule, values, **_):
    p10, median, p90 = (_quantile(values, q) for q in (0.1, 0.5, 0.9))
    lo, hi = claim.value - rule.tolerance, claim.value + rule.tolerance
    verdict = HOLDS if lo <= p10 and p90 <= hi else FAILS if not lo <= median <= hi else UNDECIDED
    return {
        "verdict": verdict,
        "detail": f"central 80% from {format_value(p10, claim.unit)} to "
        f"{format_value(p90, claim.unit)}",
        "p10": p10,
        "median": median,
        "p90": p90,
    }


def _spread(claim, rule, values, **_):
    p10, median, p90 = (_quantile(values, q) for q in (0.1, 0.5, 0.9))
    relative = (p90 - p10) / median if math.isfinite(p90) and median > 0 else math.inf
    verdict = HOLDS if relative <= rule.max_relative else FAILS
    detail = (
        f"the central 80% spans {relative:.0%} of the median"
        if math.isfinite(relative)
        else "more than 10% of the runs never get there"
    )
    return {"verdict": verdict, "detail": detail, "relative_spread": relative}


def _compare(claim, rule, values, *, reference, **_):
    area, low, high = superiority(values, reference)
    verdict = HOLDS if low > 0.5 else FAILS if high < 0.5 else UNDECIDED
    return {
        "verdict": verdict,
        "detail": f"chance {100 * area:.1f}% (95% CI {100 * low:.1f}-"
        f"{100 * high:.1f}%) that {rule.event}; reference "
        f"{summary_text(reference, claim.unit)}",
        "superiority": area,
        "low": low,
        "high": high,
    }


RULES = {Percentile: _percentile, Rate: _rate, Near: _near, Spread: _spread, Compare: _compare}


def verdict_lines(verdict, claim):
    """Printed lines of one verdict: the claim, what was measured, the verdict and its rule."""
    return [
        f"  {claim.id}: {claim.quote}",
        f"    measured: {claim.measure}: {verdict['measured']}",
        f"    verdict: {verdict['verdict']}: {verdict['detail']}",
        f"    rule: {verdict['rule']}",
    ]


def claims_report(verdicts, claims):
    """Printed lines of a run's verdicts. When one reason (not comparable, n too small) stops
    every claim, it is said once and each claim shows what was measured."""
    by_id = {c.id: c for c in claims}
    if not verdicts:
        return []
    reasons = {(v["verdict"], v["detail"]) for v in verdicts}
    if len(reasons) == 1 and next(iter(reasons))[0] in (NOT_COMPARABLE, TOO_FEW):
        verdict, detail = next(iter(reasons))
        lines = [f"Claims (reproduction/evidence/claims.py): {verdict}: {detail}; measured:"]
        for v in verdicts:
            lines.append(f"  {v['id']}: {by_id[v['id']].measure}: {v['measured']}")
        return lines
    lines = [f"Claims (reproduction/evidence/claims.py), judged on {verdicts[0]['n']:,} runs:"]
    for v in verdicts:
        lines += verdict_lines(v, by_id[v["id"]])
    return lines


def judge_all(claims, measured, config, *, sampling_n=None):
    """Verdicts of the `claims` whose quantity this run measured ({quantity: per-run values});
    Compare claims are left to whoever holds both studies (reproduce.py)."""
    return [
        judge(c, measured[c.quantity], config, sampling_n=sampling_n)
        for c in claims
        if c.quantity in measured and not isinstance(c.rule, Compare)
    ]
