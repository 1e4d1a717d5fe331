"""A single run placed among the committed study of its variant (studies/placement.py): the
percentile line, and each case in which it cannot be compared."""

import json

import numpy as np
import pytest

from reproduction.studies import placement

XOR_STUDY = {
    "script": "xor_mlp.py",
    "config": {"seeds": 4, "hidden": [16], "loss": "mean_squared_error", "learning_rate": 0.001,
               "epochs": 500},
    "data_files": {},
    "metrics": {"claim_values": {"epoch_to_100": [30.0, 70.0, 70.0, None]}},
}  # fmt: skip
MNIST_STUDY = {
    "script": "mnist_perceptron.py",
    "config": {"seeds": 4, "normalize": False, "dataset": "mnist", "target_class": 5,
               "learning_rate": 0.001, "batch_size": 32, "epochs": 10, "validation_split": 0.0,
               "train_images": 60000, "test_images": 10000},
    "data_files": {"mnist.npz": "ab12"},
    "metrics": {"claim_values": {"sigmoid_test_accuracy": [0.9108, 0.9108, 0.96, 0.97],
                                 "sigmoid_dead": [True, True, False, False],
                                 "linear_test_accuracy": [0.5, 0.6, 0.7, 0.8],
                                 "linear_dead": [False] * 4}},
}  # fmt: skip


def summary_of(*records):
    text = placement.summary_json(
        placement.study_entries(list(records)),
        written_utc="2026-12-07 10:00 UTC",
        commit="commit abc1234",
        cpu="a CPU",
        report="REPORT.md",
    )
    return json.loads(text)


def test_a_run_is_placed_among_its_studys_runs_ties_half():
    summary = summary_of(XOR_STUDY, MNIST_STUDY)
    config = dict(XOR_STUDY["config"], seeds=1)
    line = placement.placement_line("xor", config, {}, 70.0, summary=summary)
    # below 70: one seed; at 70: two (half each): (1 + 1) / 4 = 50%
    assert line.startswith("first epoch at 100% accuracy 70 is at the 50th percentile of 4 seeds")
    assert "REPORT.md of 2026-12-07, commit abc1234, a CPU" in line
    never = placement.placement_line("xor", config, {}, np.nan, summary=summary)
    assert "never is at the 88th percentile" in never  # after all three that got there


def test_a_run_that_differs_from_the_study_is_not_comparable_and_says_how():
    summary = summary_of(XOR_STUDY, MNIST_STUDY)
    config = dict(XOR_STUDY["config"], seeds=1, epochs=69)
    line = placement.placement_line("xor", config, {}, np.nan, summary=summary)
    assert line.startswith("not comparable with the study of 4 runs")
    assert "epochs 69 (study: 500)" in line
    mnist = dict(MNIST_STUDY["config"], seeds=1)
    other_bytes = placement.placement_line(
        "mnist", mnist, {"mnist.npz": "ffff"}, 0.95, activation="sigmoid", summary=summary
    )
    assert "data files' sha256 differ" in other_bytes
    same = placement.placement_line(
        "mnist", mnist, {"mnist.npz": "ab12"}, 0.9108, activation="sigmoid", summary=summary
    )
    assert "test accuracy 91.08% is at the 25th percentile of 4 runs of the sigmoid neuron" in same
    wider = dict(XOR_STUDY["config"], seeds=1, hidden=[32])
    assert placement.placement_line("xor", wider, {}, 40.0, summary=summary).startswith(
        "no study of this network"
    )
    assert placement.placement_line("xor", config, {}, 40.0, summary={}) is None


def test_a_dead_neuron_is_told_how_often_runs_die_and_what_to_try():
    normalized = json.loads(json.dumps(MNIST_STUDY))
    normalized["config"]["normalize"] = True
    normalized["metrics"]["claim_values"]["sigmoid_dead"] = [False] * 4
    advice = placement.dead_advice({}, summary=summary_of(MNIST_STUDY, normalized))
    assert advice.startswith("in the study, 50.0% of 4 sigmoid runs on raw pixels die")
    assert "on pixels / 255, 0.0% of 4" in advice and "--normalize" in advice


@pytest.mark.parametrize("values", [[1.0, 1.0, 2.0, None], [0.5, 0.25]])
def test_value_counts_keep_every_run(values):
    counts = placement.value_counts(values)
    assert sum(count for _, count in counts) == len(values)
