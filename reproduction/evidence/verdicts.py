"""The rules that judge a tutorial's claim on a study's runs, and the verdicts they give.

A verdict rests on a distribution, never on one run: each rule has a minimum number of runs
("n too small" below it), and a run that is not the tutorial's setting is "not comparable",
naming the settings that differ. Every verdict carries its rule's text, so it is printed with it.
"""

import math
from dataclasses import dataclass

import numpy as np

from reproduction.evidence.statistics import (
    median_interval,
    quantile,
    share,
    share_interval,
    share_text,
)

Z_95 = 1.959963984540054
MIN_RUNS = 10

# The words a verdict can be
TYPICAL, UNUSUAL, OUTSIDE = "typical", "unusual", "outside the observed range"
HOLDS, FAILS, UNDECIDED = "holds", "does not hold", "undecided"
TOO_FEW, NOT_COMPARABLE, NOT_JUDGED = "n too small", "not comparable", "not judged"


@dataclass(frozen=True)
class Percentile:
    """Where a published number (one run's) falls among the runs. It describes, never rejects:
    a published value that is one more draw of the same runs is "typical" with probability
    `central`, in a tail otherwise, and beyond every one of n runs with probability 2/(n+1)."""

    central: float = 0.8
    min_n: int = MIN_RUNS
    sampling: bool = False  # an accuracy: show the test set's own sampling sd beside the spread

    def text(self, claim):
        low, high = (1 - self.central) / 2, 1 - (1 - self.central) / 2
        return (
            f"the published value's percentile among the runs: typical inside the central "
            f"{self.central:.0%} ({100 * low:.0f}th-{100 * high:.0f}th percentile), unusual "
            f"in a tail, outside the observed range beyond every run; needs >= "
            f"{self.min_n} runs. A published run like the measured ones is typical "
            f"{self.central:.0%} of the time, beyond all n runs 2/(n+1) of the time"
        )


@dataclass(frozen=True)
class Rate:
    """A claim about how often something happens: the share of runs, with its 95% interval.
    `beside`: ((quantity, words), ...) shown next to it."""

    event: str
    at_least: float | None = None
    at_most: float | None = None
    min_n: int = MIN_RUNS
    beside: tuple = ()

    def text(self, claim):
        bound, side, other = (
            (self.at_least, "at or above", "below")
            if self.at_least is not None
            else (self.at_most, "at or below", "above")
        )
        return (
            f"share of runs in which {self.event}, with its exact 95% (Clopper-Pearson) "
            f"interval: holds if the interval lies {side} {bound:.0%}, does not hold if it "
            f"lies {other}, undecided if it straddles; needs >= {self.min_n} runs. A share "
            f'exactly at {bound:.0%} is called "does not hold" in at most about 2.5% of studies'
        )


@dataclass(frozen=True)
class Near:
    """'About X': the runs' values lie within a tolerance of X."""

    tolerance: float
    min_n: int = MIN_RUNS
    beside: tuple = ()

    def text(self, claim):
        published = format_value(claim.value, claim.unit)
        return (
            f"holds if the central 80% of the runs (10th to 90th percentile) lies within "
            f"{published} ± {format_points(self.tolerance, claim.unit)}; does not hold if the "
            f"95% interval of the median lies outside; undecided otherwise; needs >= "
            f'{self.min_n} runs. Runs whose median is inside are called "does not hold" in '
            "at most about 2.5% of studies"
        )


@dataclass(frozen=True)
class Spread:
    """'Slightly changes': the central 80% of the runs spans at most a share of the median,
    judged with a bootstrap interval of that ratio."""

    max_relative: float
    min_n: int = MIN_RUNS
    resamples: int = 1000

    def text(self, claim):
        return (
            f'"slightly": the central 80% of the runs (10th to 90th percentile) as a share of '
            f"the median, with its 95% bootstrap interval: holds if the interval lies at or "
            f"below {self.max_relative:.0%}, does not hold if above, undecided if it "
            f"straddles; needs >= {self.min_n} runs"
        )


@dataclass(frozen=True)
class Compare:
    """'A is slower (faster) than B': the chance that a run of this setting has a larger
    (with `fewer`, a smaller) value than a run of `reference` (the probability of superiority,
    ties counting half, with a 95% interval), judged against `above` (one half: usually; 0:
    sometimes, as a hedge says)."""

    reference: dict
    event: str
    fewer: bool = False
    above: float = 0.5
    min_n: int = MIN_RUNS

    def text(self, claim):
        return (
            f"the chance that {self.event} (probability of superiority, ties half, 95% "
            f"DeLong interval): holds if the interval lies above {self.above:.0%}, "
            f"does not hold if it lies at or below it, undecided if it straddles; needs >= "
            f'{self.min_n} runs of each. Two settings exactly alike are called "does not '
            'hold" in about 2.5% of studies of hundreds of runs each (3.5% of 10 each)'
        )


@dataclass(frozen=True)
class ChanceLevel:
    """'Random guessing gives X': arithmetic on the test set's labels, not a measurement of
    runs: a uniform guess among k classes is right 1/k of the time on any test set, and always
    guessing the most common class is right as often as that class's share. `beside`: what the
    untrained networks score, shown next to it."""

    tolerance: float
    beside: tuple = ()
    min_n: int = 0

    def text(self, claim):
        return (
            f"arithmetic on the test labels: holds if a uniform random guess (1 in k classes) "
            f"and always guessing the most common class both score within "
            f"{format_points(self.tolerance, claim.unit)} of "
            f"{format_value(claim.value, claim.unit)}"
        )


@dataclass(frozen=True)
class Bracket:
    """A published number from a run that stopped between two epochs: where it falls between
    the runs' values after the earlier (`quantity` of the claim) and the later epoch
    (`later`): typical between the earlier epoch's 10th and the later epoch's 90th percentile."""

    later: str
    earlier_words: str
    later_words: str
    min_n: int = MIN_RUNS

    def text(self, claim):
        return (
            f"the published value against the runs {self.earlier_words} and "
            f"{self.later_words}: typical between the 10th percentile of the first and the 90th "
            f"of the second, unusual elsewhere inside their range, outside the observed range "
            f"beyond every run; needs >= {self.min_n} runs"
        )


@dataclass(frozen=True)
class NotJudged:
    """Words recorded but not judged: `kind` says why (a reading convention, a piece of advice,
    a number that cannot be judged); what was measured about it is shown beside."""

    reason: str
    kind: str = "not judged"
    share: bool = False  # the measured values are per-run flags: shown as a share
    min_n: int = 0

    def text(self, claim):
        return f"{self.kind}: {self.reason}"


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
    """P(X > Y) + P(X = Y) / 2 for X from `values`, Y from `reference`, with its 95% interval
    from DeLong's variance (each run's placement among the other study's runs):
    (estimate, low, high)."""
    x = np.asarray(values, np.float64)
    x = np.sort(x[~np.isnan(x)])
    y = np.sort(np.asarray(reference, np.float64))
    y = y[~np.isnan(y)]

    def placements(a, b):  # per a: the share of b below it, ties half
        below = np.searchsorted(b, a, side="left")
        ties = np.searchsorted(b, a, side="right") - below
        return (below + 0.5 * ties) / b.size

    of_x, of_y = placements(x, y), 1 - placements(y, x)
    area = float(of_x.mean())
    variance = of_x.var(ddof=1) / x.size + of_y.var(ddof=1) / y.size
    half = Z_95 * math.sqrt(max(float(variance), 0.0))
    return area, max(0.0, area - half), min(1.0, area + half)


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
        name: format_value(quantile(values, p), unit)
        for name, p in (("median", 0.5), ("p10", 0.1), ("p90", 0.9), ("min", 0), ("max", 1))
    }
    return (
        f"median {q['median']} (10-90%: {q['p10']} to {q['p90']}; range {q['min']} to "
        f"{q['max']}), n = {n:,}"
    )


# ## Judging
def judge(claim, values, config, *, reference=None, sampling_n=None, measured=None):
    """The verdict on `claim` from the per-run `values` of a study with configuration `config`
    (`reference`: the per-run values of the reference study, for Compare; `sampling_n`: the
    test set's size, for an accuracy's sampling sd; `measured`: every quantity the run measured,
    for what a rule shows beside or reads besides). A dict: id, verdict, measured (text), rule
    (text), n, and the numbers behind them."""
    rule, measured = claim.rule, measured or {}
    values = np.asarray(values, np.float64) if values is not None else np.zeros(0)
    values = values[~np.isnan(values)]
    n = 0 if isinstance(rule, ChanceLevel) else int(values.size)
    result = {"id": claim.id, "n": n, "rule": rule.text(claim), "value": claim.value}
    as_share = isinstance(rule, Rate) or (isinstance(rule, NotJudged) and rule.share)
    shown = share_summary(values) if as_share else summary_text(values, claim.unit)
    if isinstance(rule, ChanceLevel):
        shown = chance_text(values, claim.unit)
    differing = differing_settings(claim.setting, config)
    if differing:
        return result | {
            "verdict": NOT_COMPARABLE,
            "measured": shown,
            "detail": "not the tutorial's setting: " + ", ".join(differing),
        }
    if isinstance(rule, NotJudged):
        return result | {"verdict": rule.kind, "measured": shown, "detail": rule.reason}
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
            "measured": shown,
            "detail": f"{have} run{'s' * (have != 1)}; the rule needs at least {rule.min_n}",
        }
    judged = RULES[type(rule)](
        claim, rule, values, reference=reference, sampling_n=sampling_n, measured=measured
    )
    return result | {"measured": shown} | judged


def beside_text(beside, measured):
    """'; <words>: <share or summary>' for each (quantity, words) of `beside` that was
    measured."""
    parts = []
    for quantity, words in beside:
        values = measured.get(quantity)
        if values is None:
            continue
        values = np.asarray(values, np.float64)
        flags = values[~np.isnan(values)]
        is_share = flags.size and np.isin(flags, (0.0, 1.0)).all()
        parts.append(f"{words}: {share_summary(flags) if is_share else summary_text(flags, '%')}")
    return "".join(f"; {part}" for part in parts)


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


def _rate(claim, rule, values, measured=None, **_):
    count, n = int(values.sum()), values.size
    low, high = share_interval(count, n)
    if rule.at_least is not None:
        verdict = HOLDS if low >= rule.at_least else FAILS if high < rule.at_least else UNDECIDED
    else:
        verdict = HOLDS if high <= rule.at_most else FAILS if low > rule.at_most else UNDECIDED
    return {
        "verdict": verdict,
        "detail": f"{100 * count / n:.1f}% of runs" + beside_text(rule.beside, measured or {}),
        "share": count / n,
        "low": low,
        "high": high,
    }


def _near(claim, rule, values, measured=None, **_):
    p10, median, p90 = (quantile(values, q) for q in (0.1, 0.5, 0.9))
    median_low, median_high = median_interval(values)
    lo, hi = claim.value - rule.tolerance, claim.value + rule.tolerance
    if lo <= p10 and p90 <= hi:
        verdict = HOLDS
    elif median_high < lo or median_low > hi:
        verdict = FAILS
    else:
        verdict = UNDECIDED
    return {
        "verdict": verdict,
        "detail": f"central 80% from {format_value(p10, claim.unit)} to "
        f"{format_value(p90, claim.unit)}" + beside_text(rule.beside, measured or {}),
        "p10": p10,
        "median": median,
        "p90": p90,
    }


def relative_spread(values):
    """(p90 - p10) / median; infinite where the 90th percentile is (runs that never got
    there) or the median is not positive."""
    p10, median, p90 = (quantile(values, q) for q in (0.1, 0.5, 0.9))
    return (p90 - p10) / median if math.isfinite(p90) and median > 0 else math.inf


def bootstrap_interval(values, statistic, resamples, seed=0):
    """95% percentile-bootstrap interval of statistic(values) (a fixed seed: the same runs give
    the same interval)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, np.float64)
    draws = [statistic(values[rng.integers(0, values.size, values.size)]) for _ in range(resamples)]
    return quantile(draws, 0.025), quantile(draws, 0.975)


def _spread(claim, rule, values, **_):
    relative = relative_spread(values)
    low, high = bootstrap_interval(values, relative_spread, rule.resamples)
    bound = rule.max_relative
    verdict = HOLDS if high <= bound else FAILS if low > bound else UNDECIDED
    if not math.isfinite(relative):
        detail = "more than 10% of the runs never get there"
    else:
        upper = (
            f"{high:.0%}" if math.isfinite(high) else "unbounded (some resamples never get there)"
        )
        detail = (
            f"the central 80% spans {relative:.0%} of the median (95% interval {low:.0%}-{upper})"
        )
    return {"verdict": verdict, "detail": detail, "relative_spread": relative}


def _compare(claim, rule, values, *, reference, **_):
    sign = -1.0 if rule.fewer else 1.0
    area, low, high = superiority(sign * np.asarray(values), sign * np.asarray(reference))
    verdict = HOLDS if low > rule.above else FAILS if high <= rule.above else UNDECIDED
    return {
        "verdict": verdict,
        "detail": f"chance {100 * area:.1f}% (95% CI {100 * low:.1f}-"
        f"{100 * high:.1f}%) that {rule.event}; reference "
        f"{summary_text(reference, claim.unit)}",
        "superiority": area,
        "low": low,
        "high": high,
    }


def chance_text(shares, unit):
    """What random guessing scores on a test set whose class shares are `shares`."""
    k = len(shares)
    if not k:
        return "no test labels"
    return (
        f"a uniform guess among {k} classes: {format_value(1 / k, unit)}; always the most "
        f"common class: {format_value(max(shares), unit)} (class shares "
        f"{format_value(min(shares), unit)} to {format_value(max(shares), unit)})"
    )


def _chance_level(claim, rule, shares, measured=None, **_):
    scores = (1 / len(shares), float(max(shares)))
    close = all(abs(score - claim.value) <= rule.tolerance for score in scores)
    return {
        "verdict": HOLDS if close else FAILS,
        "detail": "arithmetic, not a measurement" + beside_text(rule.beside, measured or {}),
        "uniform_guess": scores[0],
        "majority_guess": scores[1],
    }


def _bracket(claim, rule, values, measured=None, **_):
    later = np.asarray(measured[rule.later], np.float64)
    later = later[~np.isnan(later)]
    low, high = sorted((quantile(values, 0.1), quantile(later, 0.9)))  # never an empty range
    everything = np.concatenate([values, later])
    shown = format_value(claim.value, claim.unit)
    earlier_at, later_at = (
        percentile_with_ties(claim.value, values),
        percentile_with_ties(claim.value, later),
    )
    where = (
        f"{shown} is at the {ordinal(earlier_at)} percentile of the runs {rule.earlier_words} "
        f"and the {ordinal(later_at)} of the runs {rule.later_words}"
    )
    if claim.value < everything.min() or claim.value > everything.max():
        side = "below" if claim.value < everything.min() else "above"
        return {"verdict": OUTSIDE, "detail": f"{shown} is {side} every run; " + where}
    verdict = TYPICAL if low <= claim.value <= high else UNUSUAL
    return {
        "verdict": verdict,
        "detail": where + f" (later: {summary_text(later, claim.unit)})",
        "percentile": earlier_at,
        "later_percentile": later_at,
    }


RULES = {
    Percentile: _percentile,
    Rate: _rate,
    Near: _near,
    Spread: _spread,
    Compare: _compare,
    ChanceLevel: _chance_level,
    Bracket: _bracket,
}


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
        judge(c, measured[c.quantity], config, sampling_n=sampling_n, measured=measured)
        for c in claims
        if c.quantity in measured and not isinstance(c.rule, Compare)
    ]
