"""XOR (xor_mlp.py): what a run or a seed study shows, drawn from its record.

`render(record, arrays)` is the one view of a run: the text the script prints after training,
the record's metrics (with the registry's verdicts), the figures (the first seed's decision
boundary and history; a study's distribution of the first epoch at 100%) and the per-seed CSV.
The script calls it after training; reproduce.py calls it on cached records, so a change here
never retrains anything.
"""

from types import SimpleNamespace

import numpy as np

from reproduction.engines.runs import Runs
from reproduction.evidence.claims import claims_for
from reproduction.evidence.statistics import wilson_interval
from reproduction.evidence.verdicts import claims_report, judge_all
from reproduction.settings.xor import XOR, architecture
from reproduction.studies.figures import (
    epochs_text,
    integer_ticks,
    new_figure,
    save_figure,
)
from reproduction.studies.render import View, write_csv

# First input: age (0 = old, 1 = young); second: income (0 = middle, 1 = high).
SEGMENTS = ("Old, middle income", "Young, middle income", "Old, high income", "Young, high income")


# ## Per network: forward pass and the first epoch at 100% (NumPy: views import no TensorFlow)
def mlp_forward(params, x):
    """NumPy forward pass of one network (params without the stacking axis): relu hidden
    layers, sigmoid output. For figures and tables, not for training."""
    h = np.asarray(x, dtype=np.float32)
    n_layers = len(params) // 2
    for layer in range(n_layers):
        z = h @ params[2 * layer] + params[2 * layer + 1].reshape(-1)
        h = np.maximum(z, 0) if layer < n_layers - 1 else 1 / (1 + np.exp(-z))
    return h


def network(params, index):
    """The weights of network `index` out of a stack."""
    return [p[index] for p in params]


def stacked_outputs(params, x):
    """Each network's outputs on the four segments: (N, 4)."""
    h = np.broadcast_to(np.asarray(x, np.float32), (params[0].shape[0], len(x), 2))
    n_layers = len(params) // 2
    for layer in range(n_layers):
        z = h @ params[2 * layer] + params[2 * layer + 1]
        h = np.maximum(z, 0) if layer < n_layers - 1 else 1 / (1 + np.exp(-z))
    return h[..., 0]


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
def summarize_study(epochs_to_100, tutorial_epoch, stays_from=None):
    """Success rate and quantiles of epochs-to-100% over all seeds. A seed that never reached
    100% counts as slower than every seed that did (censored), so quantiles can be 'never'.
    A network at 100% in epoch 1 was right before training: Keras's epoch-1 accuracy is that of
    the forward pass before the first update (counted apart as right_at_start)."""
    n = len(epochs_to_100)
    solved = ~np.isnan(epochs_to_100)
    censored = np.where(solved, epochs_to_100, np.inf)

    def quantile(q):  # an observed epoch (no interpolation), or inf for 'never'
        return float(np.quantile(censored, q, method="inverted_cdf"))

    low, high = wilson_interval(int(solved.sum()), n)
    summary = {
        "seeds": n,
        "solved": int(solved.sum()),
        "success_rate": float(solved.mean()),
        "success_rate_low": low,  # 95% Wilson interval of the success rate
        "success_rate_high": high,
        "median": quantile(0.5),
        "q1": quantile(0.25),
        "q3": quantile(0.75),
        "p10": quantile(0.1),
        "p90": quantile(0.9),
        "min": float(np.nanmin(epochs_to_100)) if solved.any() else np.inf,
        "max_solved": float(np.nanmax(epochs_to_100)) if solved.any() else np.inf,
        "tutorial_epoch": tutorial_epoch,
        "right_at_start": int((epochs_to_100 == 1).sum()),
    }
    if stays_from is not None:
        stays = np.where(np.isnan(stays_from), np.inf, stays_from)
        summary["stays_median"] = float(np.quantile(stays, 0.5, method="inverted_cdf"))
    if tutorial_epoch is not None:
        # Share of seeds at least as fast as the tutorial's run: how lucky was it?
        summary["share_at_or_before_tutorial"] = float((censored <= tutorial_epoch).mean())
    return summary


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


# ## Text
def _epoch_text(value, epochs):
    return f"never (>{epochs})" if not np.isfinite(value) else f"{int(value)}"


def tutorial_text(claim):
    if claim is None:
        return "tutorial: no published figure for this variant"
    return f"tutorial: {claim.value:g}, a single unseeded run" + (
        f"; {claim.note}" if claim.note else ""
    )


def single_run_report(params, loss, accuracy, x, y, settings, claim):
    first = epochs_to_full_accuracy(accuracy[None])[0]
    outputs = mlp_forward(params, x).reshape(-1)
    # Keras's epoch-1 accuracy is measured in the forward pass before the first update
    at_start = (
        "; already right before training (epoch 1's accuracy is measured before its update)"
        if first == 1
        else ""
    )
    lines = [
        f"First epoch at 100% accuracy: {_epoch_text(first, settings.epochs):<12}"
        f"({tutorial_text(claim)}{at_start})",
        f"Final loss (epoch {settings.epochs}): {loss[-1]:.4f}    "
        f"final accuracy: {100 * accuracy[-1]:.0f}%",
        "",
        f"{'segment':<22}{'input':<9}{'target':>6}{'output':>9}  prediction",
    ]
    for name, inputs, target, output in zip(SEGMENTS, x, y, outputs, strict=True):
        verdict = "right" if (output > 0.5) == bool(target) else "WRONG"
        inputs = str([int(v) for v in inputs])
        lines.append(f"{name:<22}{inputs:<9}{int(target):>6}{output:>9.3f}  {verdict}")
    metrics = {
        "epoch_to_100": first,
        "final_loss": float(loss[-1]),
        "final_accuracy": float(accuracy[-1]),
        "outputs": {name: float(o) for name, o in zip(SEGMENTS, outputs, strict=True)},
    }
    return "\n".join(lines), metrics


def study_report(summary, settings, claim):
    n, epochs = summary["seeds"], settings.epochs
    lines = [
        f"Convergence study: {n} seeds ({settings.seed}..{settings.seed + n - 1}), "
        f"{architecture(settings.hidden)}, {settings.loss}, {epochs_text(epochs)}",
        f"  reached 100% accuracy: {summary['solved']}/{n} ({100 * summary['success_rate']:.1f}%;"
        f" 95% CI {100 * summary['success_rate_low']:.1f}-"
        f"{100 * summary['success_rate_high']:.1f}%)",
        f"  epochs to 100%: median {_epoch_text(summary['median'], epochs)}, "
        f"quartiles {_epoch_text(summary['q1'], epochs)}-{_epoch_text(summary['q3'], epochs)}, "
        f"10-90% {_epoch_text(summary['p10'], epochs)}-{_epoch_text(summary['p90'], epochs)}, "
        f"range {_epoch_text(summary['min'], epochs)}-{_epoch_text(summary['max_solved'], epochs)}"
        " (among seeds that got there)",
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


# ## Figures
def plot_boundary(params, x, y, title, path):
    fig, ax = new_figure(size=(5.2, 4.5))
    grid = np.linspace(-0.25, 1.25, 151, dtype="float32")
    gx, gy = np.meshgrid(grid, grid)
    out = mlp_forward(params, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
    image = ax.contourf(gx, gy, out, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    ax.contour(gx, gy, out, levels=[0.5], colors="k", linewidths=1.5)
    fig.colorbar(image, ax=ax, label="network output (P(loyal))")
    for name, (a, b), target in zip(SEGMENTS, x, y, strict=True):
        ax.scatter(
            [a],
            [b],
            s=120,
            c="tab:red" if target else "tab:blue",
            edgecolors="white",
            linewidths=2,
            zorder=3,
        )
        ax.annotate(
            f"{name}\ntarget {int(target)}",
            (a, b),
            textcoords="offset points",
            xytext=(0, -26 if b == 0 else 12),
            ha="center",
            fontsize=7.5,
        )
    ax.set(xlabel="age (0 = old, 1 = young)", ylabel="income (0 = middle, 1 = high)", title=title)
    ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], ls=":", color="gray", lw=1)  # the unit square
    return save_figure(fig, path)


def plot_history(loss, accuracy, first, tutorial_epoch, title, path):
    fig, ax = new_figure()
    epochs = np.arange(1, len(loss) + 1)
    ax.plot(epochs, loss, color="tab:blue", label="loss")
    ax.set(xlabel="epoch", ylabel="loss", title=title)
    integer_ticks(ax.xaxis)
    ax2 = ax.twinx()
    ax2.step(epochs, 100 * accuracy, where="post", color="tab:orange", label="accuracy")
    ax2.set(ylabel="binary accuracy (%)", ylim=(-5, 105))
    if np.isfinite(first):
        ax.axvline(first, color="tab:green", ls="--", label=f"100% at epoch {int(first)}")
    if tutorial_epoch is not None:
        ax.axvline(tutorial_epoch, color="gray", ls=":", label=f"tutorial: {tutorial_epoch}")
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right", fontsize=8)
    return save_figure(fig, path)


def plot_study(epochs_to_100, summary, epochs, title, path):
    fig, (hist_ax, cdf_ax) = new_figure(ncols=2, size=(10, 4))
    solved = epochs_to_100[~np.isnan(epochs_to_100)]
    hist_ax.hist(solved, bins=np.linspace(0, epochs, 51), color="tab:blue")
    integer_ticks(hist_ax.yaxis)  # counts of seeds
    cdf_x = np.arange(1, epochs + 1)
    cdf_ax.plot(
        cdf_x,
        100 * (np.nan_to_num(epochs_to_100, nan=np.inf)[:, None] <= cdf_x).mean(axis=0),
        color="tab:blue",
    )
    for ax in (hist_ax, cdf_ax):
        integer_ticks(ax.xaxis)
        if np.isfinite(summary["median"]):
            ax.axvline(
                summary["median"],
                color="tab:green",
                ls="--",
                label=f"median {int(summary['median'])}",
            )
        if summary["tutorial_epoch"] is not None:
            ax.axvline(
                summary["tutorial_epoch"],
                color="k",
                ls=":",
                label=f"tutorial {summary['tutorial_epoch']}",
            )
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    hist_ax.set(
        xlabel="first epoch at 100% accuracy",
        ylabel="seeds",
        title=f"{title}: {summary['solved']}/{summary['seeds']} seeds reached 100%",
    )
    cdf_ax.set(
        xlabel="epoch",
        ylabel="seeds at 100% by then (%)",
        ylim=(0, 100),
        title="share of seeds solved",
    )
    return save_figure(fig, path)


def figure_tag(config):
    """'xor_2-16-1', '_bce' for binary cross-entropy, then the settings that differ."""
    return (
        f"xor_{architecture(config['hidden'])}"
        + ("" if config["loss"] == "mean_squared_error" else "_bce")
        + XOR.file_suffix(config)
    )


def save_figures(settings, runs, x, y, results, folder, tag):
    arch = architecture(settings.hidden)
    epochs_to_100, claim = results["epochs_to_100"], results["claim"]
    figures = [
        plot_boundary(
            network(runs.params, 0),
            x,
            y,
            f"{arch} MLP after {epochs_text(settings.epochs)} (seed {settings.seed})",
            folder / f"{tag}_boundary.png",
        ),
        plot_history(
            runs.loss[0],
            runs.accuracy[0],
            epochs_to_100[0],
            claim.value if claim else None,
            f"{arch} MLP, seed {settings.seed}",
            folder / f"{tag}_history.png",
        ),
    ]
    if results["study"] is not None:
        loss_name = "" if settings.loss == "mean_squared_error" else ", binary cross-entropy"
        figures.append(
            plot_study(
                epochs_to_100,
                results["study"],
                settings.epochs,
                f"{arch} MLP{loss_name}",
                folder / f"{tag}_study.png",
            )
        )
    return figures


# ## The view
def summarize(config, runs, x, y):
    """Everything the run shows, computed once: the first network's report, the study (several
    seeds) and the registry's verdicts."""
    settings = SimpleNamespace(**config)
    claims, claim = claims_for("xor", config), published_claim(config)
    diverged = ~np.isfinite(runs.loss).all(axis=1)
    epochs_to_100 = epochs_to_full_accuracy(runs.accuracy)
    report, first_seed = single_run_report(
        network(runs.params, 0), runs.loss[0], runs.accuracy[0], x, y, settings, claim
    )
    study = None
    if len(runs) > 1:
        study = summarize_study(
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
        "report": report,
        "first_seed": first_seed,
        "study": study,
        "verdicts": judge_all(claims, claim_values(epochs_to_100), config),
    }


def report_text(settings, results):
    parts = [f"Seed {settings.seed} (the first of the study):"] if results["study"] else []
    parts.append(results["report"] + "\n")
    if results["study"] is not None:
        parts.append(study_report(results["study"], settings, results["claim"]))
        if results["diverged"].any():
            parts.append(
                f"  {results['diverged'].sum()} seeds diverged (non-finite loss); "
                "counted as not reaching 100%"
            )
        parts.append("")
    claims = claims_report(results["verdicts"], results["claims"])
    return "\n".join(parts + (claims + [""] if claims else []))


def render(record, arrays, figures_dir=None, csv_path=None):
    """The view of an XOR run from its record and arrays (see the module's docstring): figures
    into `figures_dir` and the study's per-seed CSV at `csv_path`, where given."""
    config, settings = record["config"], SimpleNamespace(**record["config"])
    runs, x, y = Runs.from_arrays(arrays, "runs."), arrays["data.x"], arrays["data.y"]
    results = summarize(config, runs, x, y)
    figures = (
        save_figures(settings, runs, x, y, results, figures_dir, figure_tag(config))
        if figures_dir is not None
        else []
    )
    metrics = results["first_seed"] | {"verdicts": results["verdicts"]}
    if results["study"] is not None:
        metrics = {
            "first_seed": results["first_seed"],
            "study": results["study"],
            "epochs_to_100": results["epochs_to_100"].tolist(),
            "verdicts": results["verdicts"],
            "claim_values": claim_values(results["epochs_to_100"]),
        }
        rows = csv_rows(config, runs, x, results["epochs_to_100"], results["diverged"])
        metrics |= write_csv(csv_path, rows, CSV_COLUMNS)
    return View(report_text(settings, results), metrics, figures)
