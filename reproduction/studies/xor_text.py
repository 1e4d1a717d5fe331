"""XOR (xor_mlp.py): the text a run prints, before and after training."""

import numpy as np

from reproduction.evidence.statistics import FEW_FOR_QUANTILES
from reproduction.evidence.verdicts import claims_report
from reproduction.plumbing.text import counted
from reproduction.settings.xor import architecture


def header_text(args, device_line):
    """What a run prints before training: the network, its training, the device."""
    return (
        f"XOR / loyal customers: {architecture(args.hidden)} MLP, {args.loss}, Adam("
        f"learning_rate={args.learning_rate:g}), {counted(args.epochs, 'epoch')}, full batch; "
        f"engine {args.engine}\n{device_line}\n"
    )


def _epoch_text(value, epochs):
    return f"never (>{epochs})" if not np.isfinite(value) else f"{value:g}"


def tutorial_text(claim):
    if claim is None:
        return "tutorial: no published figure for this variant"
    return f"tutorial: {claim.value:g}, a single unseeded run" + (
        f"; {claim.note}" if claim.note else ""
    )


def after_update(first_seed):
    """Where Keras's last-epoch accuracy (measured before that epoch's update) and the trained
    network (the table below) disagree, both, and why."""
    trained = first_seed.get("trained_accuracy")
    if trained is None or trained == first_seed["final_accuracy"]:
        return ""
    return (
        f" (Keras measures an epoch's accuracy before its update); after the last update: "
        f"{100 * trained:.0f}%, as the table shows"
    )


def single_run_report(first_seed, x, y, epochs, claim):
    """A single run's lines: its first epoch at 100% beside the tutorial's, how it ended, and
    the four segments with its outputs."""
    first = first_seed["epoch_to_100"]
    # Keras's epoch-1 accuracy is measured in the forward pass before the first update
    at_start = (
        "; already right before training (epoch 1's accuracy is measured before its update)"
        if first == 1
        else ""
    )
    lines = [
        f"First epoch at 100% accuracy: {_epoch_text(first, epochs):<12} "
        f"({tutorial_text(claim)}{at_start})",
        f"Final loss (epoch {epochs}): {first_seed['final_loss']:.4f}    "
        f"final accuracy: {100 * first_seed['final_accuracy']:.0f}%" + after_update(first_seed),
        "",
        f"{'segment':<22}{'input':<9}{'target':>6}{'output':>9}  prediction",
    ]
    for (name, output), inputs, target in zip(first_seed["outputs"].items(), x, y, strict=True):
        verdict = "right" if (output > 0.5) == bool(target) else "WRONG"
        inputs = str([int(v) for v in inputs])
        lines.append(f"{name:<22}{inputs:<9}{int(target):>6}{output:>9.3f}  {verdict}")
    return "\n".join(lines)


def study_report(summary, config, claim):
    """A study's lines: how many seeds reached 100%, and when."""
    n, epochs = summary["seeds"], config["epochs"]
    lines = [
        f"Convergence study: {n} seeds ({config['seed']}..{config['seed'] + n - 1}), "
        f"{architecture(config['hidden'])}, {config['loss']}, {counted(epochs, 'epoch')}",
        f"  reached 100% accuracy: {summary['solved']}/{n} ({100 * summary['success_rate']:.1f}%;"
        f" 95% CI {100 * summary['success_rate_low']:.1f}-"
        f"{100 * summary['success_rate_high']:.1f}%)",
        f"  epochs to 100%: median {_epoch_text(summary['median'], epochs)}, "
        + (  # quantile ranges only where there are runs enough to have them
            f"quartiles {_epoch_text(summary['q1'], epochs)}-{_epoch_text(summary['q3'], epochs)}"
            f", 10-90% {_epoch_text(summary['p10'], epochs)}-"
            f"{_epoch_text(summary['p90'], epochs)}, "
            if n >= FEW_FOR_QUANTILES
            else ""
        )
        + f"range {_epoch_text(summary['min'], epochs)}-"
        f"{_epoch_text(summary['max_solved'], epochs)} (among seeds that got there)",
        f"  already right before training (100% in epoch 1, measured before its update): "
        f"{summary['right_at_start']}/{n}; counted as epoch 1, the tutorial's meaning of the "
        "first epoch at 100%"
        + (
            f"; accuracy stays at 100% from epoch {_epoch_text(summary['stays_median'], epochs)}"
            " (median)"
            if "stays_median" in summary
            else ""
        ),
        f"  {tutorial_text(claim)}",
    ]
    if "share_at_or_before_tutorial" in summary:
        lines.append(
            f"  seeds at 100% by epoch {summary['tutorial_epoch']}: "
            f"{100 * summary['share_at_or_before_tutorial']:.1f}%"
        )
    return "\n".join(lines)


def report_text(config, x, y, results):
    """What a run prints after training: the first seed, the study, the claims' verdicts."""
    parts = [f"Seed {config['seed']} (the first of the study):"] if results["study"] else []
    claim, epochs = results["claim"], config["epochs"]
    parts.append(single_run_report(results["first_seed"], x, y, epochs, claim) + "\n")
    if results["study"] is not None:
        parts.append(study_report(results["study"], config, claim))
        if results["diverged"].any():
            parts.append(
                f"  {results['diverged'].sum()} seeds diverged (non-finite loss); "
                "counted as not reaching 100%"
            )
        parts.append("")
    claims = claims_report(results["verdicts"], results["claims"])
    return "\n".join(parts + (claims + [""] if claims else []))
