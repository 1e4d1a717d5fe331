"""XOR (xor_mlp.py): what a run or a seed study shows, drawn from its record and arrays.

Per network: the first epoch at 100% accuracy, how it ended, its outputs on the four segments;
for a study, the distribution of the first epoch at 100% (never-solved seeds count as slowest),
the registry's verdicts and the per-seed table. `render(record, arrays)` is the one view of a
run (studies/render.py): the script calls it after training, reproduce.py on cached runs, so a
change here never retrains anything. The printed text is xor_text.py's, the figures
xor_figures.py's.
"""

import numpy as np

from reproduction.engines.runs import Runs
from reproduction.evidence.claims import claims_for
from reproduction.evidence.statistics import quantile, share_interval
from reproduction.evidence.verdicts import judge_all
from reproduction.settings.xor import XOR
from reproduction.studies.placement import placement_line
from reproduction.studies.render import View, write_csv

# First input: age (0 = old, 1 = young); second: income (0 = middle, 1 = high).
SEGMENTS = ("Old, middle income", "Young, middle income", "Old, high income", "Young, high income")


# ## Per network: forward pass and the first epoch at 100% (NumPy: views import no TensorFlow)
def mlp_forward(params, x):
    """NumPy forward pass: relu hidden layers, sigmoid output, of one network or of a stack
    (each array with a leading run axis). For figures and tables, not for training."""
    h = np.asarray(x, dtype=np.float32)
    n_layers = len(params) // 2
    for layer in range(n_layers):
        z = h @ params[2 * layer] + params[2 * layer + 1]
        # the sigmoid as 0.5 (1 + tanh(z / 2)): the same function, with no exp to overflow
        h = np.maximum(z, 0) if layer < n_layers - 1 else 0.5 * (1 + np.tanh(z / 2))
    return h


def stacked_outputs(params, x):
    """Each network's outputs on the four segments: (N, 4)."""
    return mlp_forward(params, x)[..., 0]


def epochs_to_full_accuracy(accuracy):
    """First epoch (1-based, as Keras prints it) whose accuracy is 100%, per network; NaN where
    a network never got there."""
    solved = accuracy >= 1.0
    first = solved.argmax(axis=1) + 1.0
    return np.where(solved.any(axis=1), first, np.nan)


def epochs_staying_at_full_accuracy(accuracy):
    """Epoch (1-based) from which accuracy stays at 100% to the end, per network; NaN where it
    is not at 100% at the end."""
    below = accuracy < 1.0
    last_below = np.where(below.any(axis=1), accuracy.shape[1] - below[:, ::-1].argmax(axis=1), 0)
    return np.where(below[:, -1], np.nan, last_below + 1.0)


# ## A study's summary
def study_summary(epochs_to_100, tutorial_epoch, stays_from=None):
    """Success rate and quantiles of epochs-to-100% over all seeds. A seed that never reached
    100% counts as slower than every seed that did (censored), so quantiles can be 'never'.
    A network at 100% in epoch 1 was right before training: Keras's epoch-1 accuracy is that of
    the forward pass before the first update (counted apart as right_at_start)."""
    n = len(epochs_to_100)
    solved = ~np.isnan(epochs_to_100)
    censored = np.where(solved, epochs_to_100, np.inf)

    def at(q):  # 'never' (infinite) where the quantile reaches the seeds that never got there
        return quantile(censored, q)

    low, high = share_interval(int(solved.sum()), n)
    summary = {
        "seeds": n,
        "solved": int(solved.sum()),
        "success_rate": float(solved.mean()),
        "success_rate_low": low,  # exact 95% (Clopper-Pearson) interval of the success rate
        "success_rate_high": high,
        "median": at(0.5),
        "q1": at(0.25),
        "q3": at(0.75),
        "p10": at(0.1),
        "p90": at(0.9),
        "min": float(np.nanmin(epochs_to_100)) if solved.any() else np.inf,
        "max_solved": float(np.nanmax(epochs_to_100)) if solved.any() else np.inf,
        "tutorial_epoch": tutorial_epoch,
        "right_at_start": int((epochs_to_100 == 1).sum()),
    }
    if stays_from is not None:
        stays = np.where(np.isnan(stays_from), np.inf, stays_from)
        summary["stays_median"] = quantile(stays, 0.5)
    if tutorial_epoch is not None:
        # Share of seeds at least as fast as the tutorial's run: how lucky was it?
        summary["share_at_or_before_tutorial"] = float((censored <= tutorial_epoch).mean())
    return summary


def first_seed(params, loss, accuracy, x, y):
    """What a single run shows: its first epoch at 100%, final loss and accuracy (Keras's, of
    the last epoch: measured before that epoch's update), the trained network's accuracy and
    its outputs on the four segments."""
    outputs = mlp_forward(params, x).reshape(-1)
    return {
        "epoch_to_100": epochs_to_full_accuracy(accuracy[None])[0],
        "final_loss": float(loss[-1]),
        "final_accuracy": float(accuracy[-1]),
        "trained_accuracy": float(((outputs > 0.5) == np.asarray(y, bool)).mean()),
        "outputs": {name: float(o) for name, o in zip(SEGMENTS, outputs, strict=True)},
    }


def claim_values(epochs_to_100):
    """{quantity: per-seed values} the registry's XOR claims are judged on (never: infinite)."""
    return {
        "epoch_to_100": np.where(np.isnan(epochs_to_100), np.inf, epochs_to_100),
        "reached_100": ~np.isnan(epochs_to_100),
    }


def published_claim(config):
    """The registry's claim of an epoch-to-100% for this variant, or None (none published)."""
    return next(
        (
            c
            for c in claims_for("xor", config)
            if c.quantity == "epoch_to_100" and c.value is not None
        ),
        None,
    )


# ## The per-seed table
CSV_COLUMNS = (
    "seed",
    "epoch_to_100",
    "final_loss",
    "final_accuracy",
    "diverged",
    "min_loss",
    *(f"output_{a}{b}" for a, b in ((0, 0), (1, 0), (0, 1), (1, 1))),
    "replay",
)


def csv_rows(config, runs, x, epochs_to_100, diverged):
    """One row per network of the study: its seed, when it reached 100%, how it ended, and the
    command that trains it alone."""
    with np.errstate(over="ignore", invalid="ignore"):
        outputs = stacked_outputs(runs.params, x)
        min_loss = (
            np.nanmin(np.where(np.isfinite(runs.loss), runs.loss, np.nan), axis=1)
            if runs.loss.shape[1]
            else np.full(len(runs), np.nan)
        )
    rows = []
    for index, seed in enumerate(runs.weight_seeds):
        epoch = epochs_to_100[index]
        row = {
            "seed": int(seed),
            "epoch_to_100": None if np.isnan(epoch) else int(epoch),
            "final_loss": float(runs.loss[index, -1]),
            "final_accuracy": float(runs.accuracy[index, -1]),
            "diverged": bool(diverged[index]),
            "min_loss": float(min_loss[index]),
            "replay": XOR.replay(config | {"seed": int(seed)}),
        }
        row |= {f"output_{a:g}{b:g}": float(outputs[index, k]) for k, (a, b) in enumerate(x)}
        rows.append(row)
    return rows


# ## The view
def summarize(config, runs, x, y):
    """Everything the run shows, computed once: the first network's figures, the study (several
    seeds) and the registry's verdicts."""
    claims, claim = claims_for("xor", config), published_claim(config)
    diverged = ~np.isfinite(runs.loss).all(axis=1)
    epochs_to_100 = epochs_to_full_accuracy(runs.accuracy)
    first = first_seed(runs.run(0), runs.loss[0], runs.accuracy[0], x, y)
    study = None
    if len(runs) > 1:
        study = study_summary(
            epochs_to_100,
            claim.value if claim else None,
            epochs_staying_at_full_accuracy(runs.accuracy),
        )
        study["diverged"] = int(diverged.sum())
    return {
        "claims": claims,
        "claim": claim,
        "diverged": diverged,
        "epochs_to_100": epochs_to_100,
        "first_seed": first,
        "study": study,
        "verdicts": judge_all(claims, claim_values(epochs_to_100), config),
    }


def record_metrics(results):
    """The record's metrics: the first network as a single run shows it, the verdicts, and a
    study's summary, per-seed epochs to 100% and claim values."""
    if results["study"] is None:
        return results["first_seed"] | {"verdicts": results["verdicts"]}
    return {
        "first_seed": results["first_seed"],
        "study": results["study"],
        "epochs_to_100": results["epochs_to_100"].tolist(),
        "verdicts": results["verdicts"],
        "claim_values": claim_values(results["epochs_to_100"]),
    }


def render(record, arrays, figures_dir=None, csv_path=None):
    """The view of an XOR run from its record and arrays: figures into `figures_dir` and the
    study's per-seed CSV at `csv_path`, where given."""
    from reproduction.studies import xor_figures, xor_text  # (matplotlib only when drawing)

    config = record["config"]
    runs, x, y = Runs.from_arrays(arrays, "runs."), arrays["data.x"], arrays["data.y"]
    results = summarize(config, runs, x, y)
    figures = []
    if figures_dir is not None:
        figures = xor_figures.save_figures(config, runs, x, y, results, figures_dir)
    metrics = record_metrics(results)
    if results["study"] is not None:
        rows = csv_rows(config, runs, x, results["epochs_to_100"], results["diverged"])
        metrics |= write_csv(csv_path, rows, CSV_COLUMNS)
    text = xor_text.report_text(config, x, y, results)
    if results["study"] is None:  # a single run: where it falls among the committed study's
        placed = placement_line(
            "xor", config, record.get("data_files"), results["first_seed"]["epoch_to_100"]
        )
        text += f"\n{placed}" if placed else ""
    return View(text, metrics, figures)
