"""The claims registry (evidence/claims.py) and the verdict rules (evidence/verdicts.py): each
rule's verdicts, including "n too small" and "not comparable", and that the scripts take published
values only from the registry."""

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest

from reproduction.evidence import claims as registry
from reproduction.evidence import verdicts
from reproduction.evidence.claims import CLAIMS, PASSAGES, SOURCES, Claim, claims_for
from reproduction.evidence.statistics import share_interval
from reproduction.evidence.verdicts import (
    Bracket,
    ChanceLevel,
    Compare,
    Near,
    NotJudged,
    Percentile,
    Rate,
    Spread,
    judge,
)

ROOT = Path(__file__).resolve().parent.parent
SETTING = {"epochs": 10, "hidden": [16]}


def claim_with(rule, value=None, unit="%", setting=SETTING):
    return Claim(
        "test.claim",
        "xor",
        "a quote",
        "xor_blog",
        "what it is about",
        "a measure",
        "q",
        rule,
        dict(setting),
        value=value,
        unit=unit,
    )


# ## The rules
@pytest.mark.parametrize(
    "value, verdict",
    [
        (0.50, "typical"),
        (0.115, "unusual"),
        (0.895, "unusual"),
        (0.05, "outside the observed range"),
        (0.99, "outside the observed range"),
    ],
)
def test_percentile_places_the_published_value(value, verdict):
    values = np.linspace(0.10, 0.90, 101)
    result = judge(claim_with(Percentile(), value), values, SETTING)
    assert result["verdict"] == verdict and result["n"] == 101
    assert "percentile" in result["rule"] and "101" in result["measured"]


def test_percentile_counts_runs_that_never_got_there_as_slowest():
    values = np.array([10.0] * 5 + [np.inf] * 15)  # 75% never reached 100%
    result = judge(claim_with(Percentile(), 20, unit="epoch"), values, SETTING)
    assert result["percentile"] == pytest.approx(0.25) and result["verdict"] == "typical"
    assert "never" in result["measured"]


def test_an_accuracy_shows_the_test_sets_sampling_sd_beside_the_spread():
    values = np.random.default_rng(0).normal(0.485, 0.007, 30)
    result = judge(claim_with(Percentile(sampling=True), 0.489), values, SETTING, sampling_n=10_000)
    assert result["sampling_sd"] == pytest.approx(np.sqrt(0.485 * 0.515 / 10_000), rel=0.05)
    assert "sampling sd 0.50 points" in result["detail"]


@pytest.mark.parametrize(
    "count, rule, verdict",
    [
        (90, Rate("e", at_least=0.5), "holds"),
        (10, Rate("e", at_least=0.5), "does not hold"),
        (50, Rate("e", at_least=0.5), "undecided"),
        (40, Rate("e", at_most=2 / 3), "holds"),
        (95, Rate("e", at_most=2 / 3), "does not hold"),
        (62, Rate("e", at_most=2 / 3), "undecided"),
    ],
)
def test_rate_judges_the_share_interval_against_its_bound(count, rule, verdict):
    flags = np.arange(100) < count
    result = judge(claim_with(rule), flags, SETTING)
    assert result["verdict"] == verdict
    assert f"{count} of 100 runs" in result["measured"] and "95% CI" in result["measured"]


@pytest.mark.parametrize(
    "centre, verdict", [(0.10, "holds"), (0.20, "does not hold"), (0.125, "undecided")]
)
def test_near_wants_the_central_runs_within_the_tolerance(centre, verdict):
    values = centre + np.linspace(-0.01, 0.01, 21)
    assert judge(claim_with(Near(tolerance=0.03), 0.10), values, SETTING)["verdict"] == verdict


def test_near_rejects_only_when_the_medians_interval_is_outside():
    # the sample median (0.1305) is just outside 0.10 +- 0.03, its 95% interval is not
    values = 0.1305 + np.linspace(-0.02, 0.02, 21)
    assert judge(claim_with(Near(tolerance=0.03), 0.10), values, SETTING)["verdict"] == "undecided"


def test_spread_judges_its_bootstrap_interval_against_slightly():
    narrow = judge(claim_with(Spread(0.5), unit="epoch"), np.linspace(90, 110, 50), SETTING)
    assert narrow["verdict"] == "holds" and "95% interval" in narrow["detail"]
    wide = judge(claim_with(Spread(0.5), unit="epoch"), np.linspace(20, 300, 50), SETTING)
    assert wide["verdict"] == "does not hold" and "of the median" in wide["detail"]
    # a central 80% spanning exactly half the median: the interval straddles the bound
    edge = judge(claim_with(Spread(0.5), unit="epoch"), np.linspace(68.75, 131.25, 50), SETTING)
    assert (
        edge["relative_spread"] == pytest.approx(0.5, abs=0.01) and edge["verdict"] == "undecided"
    )


def test_compare_uses_the_chance_that_one_study_exceeds_the_other():
    rule = Compare(reference={"hidden": [16]}, event="A is slower than B")
    slower, faster = np.arange(100, 200.0), np.arange(0, 100.0)
    assert judge(claim_with(rule), slower, SETTING, reference=faster)["verdict"] == "holds"
    result = judge(claim_with(rule), faster, SETTING, reference=slower)
    assert result["verdict"] == "does not hold" and result["superiority"] == 0
    same = judge(claim_with(rule), slower, SETTING, reference=slower)
    assert same["verdict"] == "undecided" and same["superiority"] == pytest.approx(0.5)


def test_compare_reads_fewer_and_a_hedge():
    slower, faster = np.arange(100, 200.0), np.arange(0, 100.0)
    fewer = Compare(reference={}, event="A needs fewer epochs", fewer=True)
    assert judge(claim_with(fewer), faster, SETTING, reference=slower)["verdict"] == "holds"
    assert judge(claim_with(fewer), slower, SETTING, reference=faster)["verdict"] == (
        "does not hold"
    )
    # "does not always": A is sometimes slower. True when a quarter of pairs are, false when
    # none is
    hedge = Compare(reference={}, event="A is slower", above=0.0)
    some = np.concatenate([np.arange(0, 75.0), np.arange(150, 175.0)])
    assert judge(claim_with(hedge), some, SETTING, reference=np.arange(100, 125.0))["verdict"] == (
        "holds"
    )
    assert judge(claim_with(hedge), faster, SETTING, reference=slower)["verdict"] == (
        "does not hold"
    )


def test_superiority_matches_counting_every_pair():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 20, 50).astype(float), rng.integers(0, 20, 60).astype(float)
    pairs = (x[:, None] > y[None]).mean() + 0.5 * (x[:, None] == y[None]).mean()
    assert verdicts.superiority(x, y)[0] == pytest.approx(pairs)


def test_not_judged_says_why_and_what_kind():
    result = judge(claim_with(NotJudged("the fit was interrupted")), [0.7] * 20, SETTING)
    assert result["verdict"] == "not judged" and "interrupted" in result["detail"]
    convention = NotJudged("a reading", kind="convention, not judged", share=True)
    result = judge(claim_with(convention), [True] * 3 + [False] * 7, SETTING)
    assert result["verdict"] == "convention, not judged"
    assert result["measured"].startswith("3 of 10 runs = 30.0%")


def test_chance_level_is_arithmetic_on_the_labels():
    rule = ChanceLevel(tolerance=0.005, beside=(("untrained", "untrained"),))
    balanced = [0.1] * 10
    result = judge(claim_with(rule, 0.10), balanced, SETTING, measured={"untrained": [0.098] * 12})
    assert result["verdict"] == "holds" and result["n"] == 0
    assert "a uniform guess among 10 classes: 10.00%" in result["measured"]
    assert "untrained: median 9.80%" in result["detail"]
    skewed = [0.3] + [0.7 / 9] * 9  # always guessing the big class scores 30%
    assert judge(claim_with(rule, 0.10), skewed, SETTING)["verdict"] == "does not hold"


def test_bracket_places_a_value_between_two_epochs():
    rule = Bracket(later="after_4", earlier_words="after 3 epochs", later_words="after 4 epochs")
    after_3, after_4 = np.linspace(0.60, 0.66, 20), np.linspace(0.64, 0.70, 20)
    measured = {"after_4": after_4}

    def verdict(value):
        return judge(claim_with(rule, value), after_3, SETTING, measured=measured)

    assert verdict(0.655)["verdict"] == "typical"
    assert verdict(0.601)["verdict"] == "unusual" and verdict(0.699)["verdict"] == "unusual"
    assert verdict(0.55)["verdict"] == "outside the observed range"
    assert "after 4 epochs" in verdict(0.655)["detail"]


# ## Each rule's operating characteristic: what it says when the claim is exactly true (at the
# bound of what it claims), by formula or by simulation. A true claim must not be rejected by
# the rule's own sampling more than about one time in 40.
def test_rate_rarely_rejects_a_share_exactly_at_its_bound():
    from math import comb

    for n in (10, 30, 100, 200):
        for bound in (0.5, 0.95, 2 / 3):
            rejected_at_least = sum(
                comb(n, k) * bound**k * (1 - bound) ** (n - k)
                for k in range(n + 1)
                if share_interval(k, n)[1] < bound
            )
            rejected_at_most = sum(
                comb(n, k) * bound**k * (1 - bound) ** (n - k)
                for k in range(n + 1)
                if share_interval(k, n)[0] > bound
            )
            assert rejected_at_least <= 0.04 and rejected_at_most <= 0.04, (n, bound)


def simulated(verdict_of, studies=400, seed=0):
    """{verdict: share} over `studies` simulated studies (verdict_of(rng) -> verdict)."""
    rng = np.random.default_rng(seed)
    found = [verdict_of(rng) for _ in range(studies)]
    return {v: found.count(v) / studies for v in set(found)}


def test_percentile_calls_a_draw_like_the_runs_typical_four_times_in_five():
    def verdict(rng):
        values = rng.normal(0, 1, 31)
        return judge(claim_with(Percentile(), values[0]), values[1:], SETTING)["verdict"]

    shares = simulated(verdict, 2000)
    assert shares["typical"] == pytest.approx(0.8, abs=0.03)
    assert shares.get("outside the observed range", 0) == pytest.approx(2 / 31, abs=0.02)


def test_near_rarely_rejects_runs_whose_median_is_at_the_tolerances_edge():
    def verdict(rng):
        values = 0.13 + rng.normal(0, 0.01, 30)  # true median exactly at 0.10 + 0.03
        return judge(claim_with(Near(tolerance=0.03), 0.10), values, SETTING)["verdict"]

    assert simulated(verdict).get("does not hold", 0) <= 0.04


def test_spread_rarely_rejects_a_spread_exactly_at_slightly():
    # normal runs with sd s: the central 80% spans 2 x 1.2816 s; at 50% of a median of 100
    sd = 50 / (2 * 1.2815515655446004)

    def verdict(rng):
        values = 100 + rng.normal(0, sd, 200)
        rule = Spread(0.5, resamples=300)
        return judge(claim_with(rule, unit="epoch"), values, SETTING)["verdict"]

    assert simulated(verdict, 200).get("does not hold", 0) <= 0.05


def test_compare_rarely_rejects_two_settings_exactly_alike():
    rule = Compare(reference={}, event="A is slower")

    def verdict(rng):  # integer epochs, so ties too
        a, b = rng.geometric(0.02, 300).astype(float), rng.geometric(0.02, 300).astype(float)
        return judge(claim_with(rule, unit="epoch"), a, SETTING, reference=b)["verdict"]

    shares = simulated(verdict, 1500)
    assert shares.get("does not hold", 0) <= 0.04 and shares.get("holds", 0) <= 0.04


def test_bracket_calls_a_run_between_the_two_epochs_typical():
    rule = Bracket(later="after_4", earlier_words="3", later_words="4")

    def verdict(rng):
        after_3, after_4 = rng.normal(0.62, 0.02, 10), rng.normal(0.66, 0.02, 10)
        published = rng.normal(0.62, 0.02)  # like a run stopped just after epoch 3
        return judge(claim_with(rule, published), after_3, SETTING, measured={"after_4": after_4})[
            "verdict"
        ]

    assert simulated(verdict).get("typical", 0) >= 0.8


@pytest.mark.parametrize(
    "rule", [Percentile(), Rate("e", at_least=0.5), Near(0.03), Spread(0.5), Compare({}, "e")]
)
def test_below_the_rules_minimum_the_verdict_is_n_too_small(rule):
    result = judge(claim_with(rule, 0.5), [0.4] * 9, SETTING)
    assert (
        result["verdict"] == "n too small"
        and "9 runs; the rule needs at least 10" in result["detail"]
    )


def test_one_run_shows_its_value_and_no_spread():
    result = judge(claim_with(Percentile(), 0.489), [0.4807], SETTING)
    assert result["verdict"] == "n too small" and result["measured"] == "48.07% (1 run)"
    assert "±" not in result["measured"] and "sd" not in result["measured"]


def test_a_run_outside_the_tutorials_setting_is_not_comparable_and_says_why():
    result = judge(
        claim_with(Percentile(), 0.5), np.linspace(0, 1, 50), {"epochs": 3, "hidden": [16]}
    )
    assert result["verdict"] == "not comparable"
    assert "epochs 3 (tutorial: 10)" in result["detail"] and "hidden" not in result["detail"]


# ## The registry
def test_registry_ids_sources_and_numbers_are_well_formed():
    ids = [c.id for c in CLAIMS]
    assert len(ids) == len(set(ids))
    for claim in CLAIMS:
        assert claim.source in SOURCES and claim.tutorial in ("xor", "cifar10", "mnist")
        assert claim.quote and claim.measure and claim.rule.text(claim)
        if isinstance(claim.rule, (Percentile, Near)):
            assert claim.value is not None and claim.unit


def test_every_quote_is_its_sources_words():
    """A quote is a passage of its source (PASSAGES, copied verbatim), or pieces of one in
    order joined by " ... "; every claim has a source and says what it is about."""
    for claim in CLAIMS:
        assert claim.source in SOURCES and claim.about, claim.id
        pieces = claim.quote.split(" ... ")
        assert any(
            re.search(".*".join(map(re.escape, pieces)), passage, re.S)
            for passage in PASSAGES[claim.source]
        ), claim.id


def test_the_issue_lists_claims_are_all_registered():
    quotes = " ".join(c.quote for c in CLAIMS)
    for words in (
        "54th iteration",
        "slightly change",
        "11th Iteration",
        "very quickly",
        "86 iterations",
        "increased the iteration count",
        "does not always yield",
        "without a hassle",
        "51.9%",
        "[1.4390370845794678, 0.48899999260902405]",
        "acc: 0.5139",
        "[1.4405618907928466, 0.484]",
        "still 49.0%",
        "approximately 10%",
        "50% is a good result",
        "around half are correct",
        "range \u20131 to 1",
        "0.7183000028133393",
        "0.654800009727478",
        "a very low accuracy",
        "doesn't seem to improve",
        "large negative and positive numbers",
        "really improves accuracy",
        "anything greater than 0 means that it is a 5",
        "hasn\u2019t just learnt the training data",
    ):
        assert words in quotes, words


def test_a_run_is_judged_only_on_claims_about_its_variant():
    two_layers = {"hidden": [16, 16], "loss": "mean_squared_error"}
    assert [c.id for c in claims_for("xor", two_layers)] == [
        "xor.second_layer",
        "xor.deeper_faster",
    ]
    cnn = [c.id for c in claims_for("cifar10", {"model": "cnn", "block_order": "bn-lrelu"})]
    assert cnn == ["cifar.cnn_later"]


def test_published_numbers_live_only_in_the_registry():
    """No script or common module spells a published figure itself."""
    published = {
        "0.489",
        "0.484",
        "0.519",
        "51.9",
        "0.5139",
        "1.439",
        "1.4406",
        "0.7183",
        "71.83",
        "0.6548",
        "TUTORIAL_EPOCH",
        "PUBLISHED",
        "BOOK_NOTEBOOK",
    }
    sources = [
        *ROOT.glob("*.py"),
        *(ROOT / "reproduction").rglob("*.py"),
        *(ROOT / "bench").glob("*.py"),
    ]
    for path in sources:
        if path.name == "claims.py":
            continue
        code = "\n".join(
            line.split("#")[0]
            for line in path.read_text().splitlines()
            if not line.lstrip().startswith(("#", '"', "'"))
        )
        for number in published:
            assert not re.search(rf"(?<![\w.]){re.escape(number)}(?![\w])", code), (path, number)


def test_a_changed_registry_value_changes_the_xor_report(tmp_path, capsys, monkeypatch):
    import xor_mlp

    changed = tuple(dataclasses.replace(c, value=77) if c.id == "xor.epoch" else c for c in CLAIMS)
    monkeypatch.setattr(registry, "CLAIMS", changed)
    assert (
        xor_mlp.main(
            [
                "--epochs",
                "60",
                "--seeds",
                "12",
                "--figures-dir",
                str(tmp_path),
                "--json",
                str(tmp_path / "run.json"),
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "tutorial: 77" in out and "tutorial: 54" not in out
    record = json.loads((tmp_path / "run.json").read_text())
    verdict = next(v for v in record["metrics"]["verdicts"] if v["id"] == "xor.epoch")
    assert verdict["value"] == 77 and verdict["verdict"] == "not comparable"  # 60 epochs
    assert "epochs 60 (tutorial: 500)" in verdict["detail"]


def committed_text(name):
    """A file as committed (HEAD), not as a run may have rewritten it in the working tree (the
    README's main command writes REPORT.md); the file itself outside a git checkout."""
    import subprocess

    shown = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"HEAD:{name}"], capture_output=True, text=True
    )
    return shown.stdout if shown.returncode == 0 else (ROOT / name).read_text()


def test_the_committed_report_judges_every_claim_and_readme_shows_its_glance():
    """REPORT.md as committed: it names the commit it ran on, no claim is left "n too small" or
    unmeasured, and README.md's claims at a glance are the report's lines, character for
    character."""
    from reproduction.orchestration.report import glance_block

    report = committed_text("REPORT.md")
    assert re.search(r"from commit [0-9a-f]{7,} of this project", report)
    assert "n too small" not in report
    block = glance_block(report)
    assert block is not None
    assert "not measured" not in block
    assert len(re.findall(r"^\| \u201c", block, flags=re.M)) == len(CLAIMS)
    assert glance_block(committed_text("README.md")) == block
