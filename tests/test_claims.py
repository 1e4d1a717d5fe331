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
from reproduction.evidence.claims import CLAIMS, SOURCES, Claim, claims_for
from reproduction.evidence.verdicts import Compare, Near, NotJudged, Percentile, Rate, Spread, judge

ROOT = Path(__file__).resolve().parent.parent
SETTING = {"epochs": 10, "hidden": [16]}


def claim_with(rule, value=None, unit="%", setting=SETTING):
    return Claim(
        "test.claim",
        "xor",
        "a quote",
        "xor_blog",
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
def test_rate_judges_the_wilson_interval_against_its_bound(count, rule, verdict):
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


def test_spread_reads_slightly_as_a_narrow_central_80_percent():
    assert (
        judge(claim_with(Spread(0.5), unit="epoch"), np.linspace(90, 110, 50), SETTING)["verdict"]
        == "holds"
    )
    wide = judge(claim_with(Spread(0.5), unit="epoch"), np.linspace(20, 300, 50), SETTING)
    assert wide["verdict"] == "does not hold" and "of the median" in wide["detail"]


def test_compare_uses_the_chance_that_one_study_exceeds_the_other():
    rule = Compare(reference={"hidden": [16]}, event="A is slower than B")
    slower, faster = np.arange(100, 200.0), np.arange(0, 100.0)
    assert judge(claim_with(rule), slower, SETTING, reference=faster)["verdict"] == "holds"
    result = judge(claim_with(rule), faster, SETTING, reference=slower)
    assert result["verdict"] == "does not hold" and result["superiority"] == 0
    same = judge(claim_with(rule), slower, SETTING, reference=slower)
    assert same["verdict"] == "undecided" and same["superiority"] == pytest.approx(0.5)


def test_superiority_matches_counting_every_pair():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 20, 50).astype(float), rng.integers(0, 20, 60).astype(float)
    pairs = (x[:, None] > y[None]).mean() + 0.5 * (x[:, None] == y[None]).mean()
    assert verdicts.superiority(x, y)[0] == pytest.approx(pairs)


def test_not_judged_says_why():
    result = judge(claim_with(NotJudged("the fit was interrupted")), [0.7] * 20, SETTING)
    assert result["verdict"] == "not judged" and "interrupted" in result["detail"]


@pytest.mark.parametrize("rule", [Percentile(), Rate("e", at_least=0.5), Near(0.03), Spread(0.5)])
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


def test_the_issue_lists_claims_are_all_registered():
    quotes = " ".join(c.quote for c in CLAIMS)
    for words in (
        "54",
        "55th",
        "slightly change",
        "11",
        "86",
        "does not always yield",
        "without a hassle",
        "51.9%",
        "[1.439, 0.489]",
        "0.5139",
        "[1.4405618907928466, 0.484]",
        "approximately 10%",
        "around half are correct",
        "0.7183000028133393",
        "a very low accuracy",
        "doesn't seem to improve",
        "large negative and positive numbers",
        "really improves accuracy",
        "anything greater than 0 means that it is a 5",
    ):
        assert words in quotes, words


def test_a_run_is_judged_only_on_claims_about_its_variant():
    two_layers = {"hidden": [16, 16], "loss": "mean_squared_error"}
    assert [c.id for c in claims_for("xor", two_layers)] == ["xor.second_layer"]
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
