"""
Title: XOR with a small MLP: which customers are loyal?
Tutorial: a 2017 blog post (after a 2016 Keras XOR post): four customer segments, one Dense
    hidden layer, trained with `model.fit(X, y, epochs=500)`.
Description: Reproduces the tutorial's model exactly, reports the epoch at which accuracy first
    reaches 100% beside the published one, and with --seeds N asks whether that single unseeded
    run was typical by training N seeded networks at once (see engines/xor_networks.py).
Expected result: every default run reaches 100% well within 500 epochs. Over 10,000 seeds the
    2-16-1 network reaches 100% in 99% of runs (median epoch 96, quartiles 57-152); the
    tutorial's epoch 54 was a faster-than-typical draw. README.md has the measured tables.

Usage: python xor_mlp.py [--hidden 16 16] [--loss binary_crossentropy] [--seeds 1000]
"""

import itertools
import sys
import time

import numpy as np

from reproduction.engines.glorot import glorot_uniform_stack
from reproduction.engines.runs import COMPILED, ENGINE_HELP, ENGINES, FIT, Runs
from reproduction.engines.xor_networks import (
    LOSSES,
    epochs_to_full_accuracy,
    mlp_forward,
    network,
)
from reproduction.engines.xor_networks import (
    train as train_stacked,
)
from reproduction.evidence.claims import claims_for
from reproduction.evidence.statistics import wilson_interval
from reproduction.evidence.verdicts import claims_report, judge_all
from reproduction.plumbing.backend import keras, layers, tf
from reproduction.plumbing.cli import (
    check_output_paths,
    config_of,
    float_in_range,
    int_in_range,
    make_parser,
)
from reproduction.plumbing.device import select_device_or_exit
from reproduction.plumbing.exits import error_line, run_main
from reproduction.plumbing.progress import Progress
from reproduction.plumbing.records import save_run_record
from reproduction.plumbing.seeding import set_seed
from reproduction.plumbing.threads import setup_threads, workers_for
from reproduction.studies.figures import (
    epochs_text,
    integer_ticks,
    new_figure,
    save_figure,
    settings_suffix,
)
from reproduction.studies.tables import csv_path_for, write_runs_csv

# ## The data: four customer segments -> loyal customer?
# First input: age (0 = old, 1 = young); second: income (0 = middle, 1 = high).
SEGMENTS = ("Old, middle income", "Young, middle income", "Old, high income", "Young, high income")
X = [[0, 0], [1, 0], [0, 1], [1, 1]]
Y = [0, 1, 1, 0]


# ## The model: the tutorial's, unchanged (it is also what `--engine fit` trains)
def build_model(hidden=(16,), loss="mean_squared_error", learning_rate=1e-3):
    model = keras.Sequential(
        [keras.Input(shape=(2,))]
        + [layers.Dense(units, activation="relu") for units in hidden]
        + [layers.Dense(1, activation="sigmoid")]
    )
    model.compile(
        loss=loss,
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        metrics=["binary_accuracy"],
    )
    return model


# The tutorial then calls model.fit(X, y, epochs=500): batch_size defaults to 32, so each epoch
# is one full-batch step on the four examples.


# ## Defaults: the tutorial's settings (the run record stores the values actually used)
DEFAULTS = dict(
    hidden=[16], loss="mean_squared_error", learning_rate=1e-3, epochs=500, seeds=1, engine=COMPILED
)
MAX_SEEDS = 100_000
MAX_UNITS = 4096
MAX_LAYERS = 32
MAX_SEED_EPOCHS = 50_000_000  # the per-epoch histories kept: 2 x 4 bytes each, 400 MB at most
MAX_STUDY_WEIGHTS = 50_000_000  # seeds x weights: 200 MB a copy, and training holds about five
# Settings that change a run's numbers beyond the network and loss (already in the file name):
# each that differs from DEFAULTS gets its part in the figures' names ('_epochs60_lr0.01').
NAMED_SETTINGS = ("epochs", "learning_rate", "engine")


def architecture(hidden):
    return "-".join(str(n) for n in (2, *hidden, 1))


def weight_count(hidden):
    sizes = (2, *hidden, 1)
    return sum(fan_in * fan_out + fan_out for fan_in, fan_out in itertools.pairwise(sizes))


def budget_problem(hidden, seeds, epochs):
    """What makes a run too big to hold in memory (None if it fits): the per-epoch histories
    and the stacked weights grow with --seeds."""
    if len(hidden) > MAX_LAYERS:
        return f"--hidden: {len(hidden)} layers; at most {MAX_LAYERS}"
    if seeds * epochs > MAX_SEED_EPOCHS:
        return (
            f"--seeds x --epochs is {seeds * epochs:,}; at most {MAX_SEED_EPOCHS:,} (the "
            "per-epoch histories must fit in memory)"
        )
    weights = seeds * weight_count(hidden)
    if weights > MAX_STUDY_WEIGHTS:
        return (
            f"--seeds x the {architecture(hidden)} network's {weight_count(hidden):,} "
            f"weights is {weights:,}; at most {MAX_STUDY_WEIGHTS:,} (they must fit in memory)"
        )
    return None


# ## Training: the tutorial's spelling (--engine fit: one model.fit per seed) and the compiled
# engine (all seeds as one XLA-compiled computation, reproduction/engines/xor_networks.py)
def fit_tutorial(weights, *, hidden, loss, learning_rate, epochs, callbacks=()):
    """The tutorial's spelling for one network: build_model, then model.fit(X, y, epochs=...)
    with its defaults, starting from `weights` (one network's [W1, b1, ...], as in a stack)."""
    model = build_model(hidden, loss, learning_rate)
    # Keras keeps a Dense bias as (units,); the stack keeps (1, units) for broadcasting.
    model.set_weights([w if i % 2 == 0 else w.reshape(-1) for i, w in enumerate(weights)])
    history = model.fit(
        np.array(X, "float32"),
        np.array(Y, "float32"),
        epochs=epochs,
        verbose=0,
        callbacks=list(callbacks),
    )
    return model, history.history


def train_fit(params, *, epochs, loss, learning_rate, hidden, progress=None):
    """One model.fit per network of the stack `params`. Returns what the compiled engine
    returns: final params, loss history (N, epochs), accuracy history (N, epochs)."""
    finals, losses, accuracies = [], [], []
    for index in range(params[0].shape[0]):
        callbacks = []
        if progress is not None:
            callbacks.append(
                keras.callbacks.LambdaCallback(
                    on_epoch_end=lambda epoch, logs, done=index * epochs: progress.update(
                        done + epoch + 1
                    )
                )
            )
        model, history = fit_tutorial(
            network(params, index),
            hidden=hidden,
            loss=loss,
            learning_rate=learning_rate,
            epochs=epochs,
            callbacks=callbacks,
        )
        finals.append(
            [w if i % 2 == 0 else w.reshape(1, -1) for i, w in enumerate(model.get_weights())]
        )
        losses.append(history["loss"])
        accuracies.append(history["binary_accuracy"])
    final_params = [np.stack(parts) for parts in zip(*finals, strict=True)]
    return final_params, np.array(losses, "float32"), np.array(accuracies, "float32")


def train(args, workers=1):
    """Train networks for seeds args.seed .. args.seed + args.seeds - 1 with the chosen engine
    (`workers`: compiled calls at a time). Returns a reproduction.engines.runs.Runs."""
    seeds = np.arange(args.seed, args.seed + args.seeds)
    initial = glorot_uniform_stack([2, *args.hidden, 1], seeds)
    if args.engine == FIT:
        progress = Progress(args.seeds * args.epochs, "epochs (model.fit)", enabled=not args.quiet)
        start = time.perf_counter()
        final, loss, accuracy = train_fit(
            initial,
            epochs=args.epochs,
            loss=args.loss,
            learning_rate=args.learning_rate,
            hidden=args.hidden,
            progress=progress,
        )
        return Runs(
            weight_seeds=seeds,
            data_seeds=None,
            loss=loss,
            accuracy=accuracy,
            params=final,
            train_seconds=time.perf_counter() - start,
        )
    progress = Progress(args.seeds, "networks trained", enabled=not args.quiet and args.seeds > 1)
    return train_stacked(
        X,
        Y,
        initial,
        weight_seeds=seeds,
        epochs=args.epochs,
        loss=args.loss,
        learning_rate=args.learning_rate,
        workers=workers,
        on_chunk=progress.update,
    )


# ## What the run shows
def epochs_staying_at_full_accuracy(accuracy):
    """Epoch (1-based) from which accuracy stays at 100% to the end, per network; NaN where it
    is not at 100% at the end."""
    below = accuracy < 1.0
    last_below = np.where(below.any(axis=1), accuracy.shape[1] - below[:, ::-1].argmax(axis=1), 0)
    return np.where(below[:, -1], np.nan, last_below + 1.0)


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


def _epoch_text(value, epochs):
    return f"never (>{epochs})" if not np.isfinite(value) else f"{int(value)}"


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


def tutorial_text(claim):
    if claim is None:
        return "tutorial: no published figure for this variant"
    return f"tutorial: {claim.value:g}, a single unseeded run" + (
        f"; {claim.note}" if claim.note else ""
    )


def single_run_report(params, loss, accuracy, args, claim):
    first = epochs_to_full_accuracy(accuracy[None])[0]
    outputs = mlp_forward(params, X).reshape(-1)
    # Keras's epoch-1 accuracy is measured in the forward pass before the first update
    at_start = (
        "; already right before training (epoch 1's accuracy is measured before its update)"
        if first == 1
        else ""
    )
    lines = [
        f"First epoch at 100% accuracy: {_epoch_text(first, args.epochs):<12}"
        f"({tutorial_text(claim)}{at_start})",
        f"Final loss (epoch {args.epochs}): {loss[-1]:.4f}    "
        f"final accuracy: {100 * accuracy[-1]:.0f}%",
        "",
        f"{'segment':<22}{'input':<9}{'target':>6}{'output':>9}  prediction",
    ]
    for name, inputs, target, output in zip(SEGMENTS, X, Y, outputs, strict=True):
        verdict = "right" if (output > 0.5) == bool(target) else "WRONG"
        lines.append(f"{name:<22}{str(inputs):<9}{target:>6}{output:>9.3f}  {verdict}")
    metrics = {
        "epoch_to_100": first,
        "final_loss": float(loss[-1]),
        "final_accuracy": float(accuracy[-1]),
        "outputs": {name: float(o) for name, o in zip(SEGMENTS, outputs, strict=True)},
    }
    return "\n".join(lines), metrics


def study_report(summary, args, claim):
    n, epochs = summary["seeds"], args.epochs
    lines = [
        f"Convergence study: {n} seeds ({args.seed}..{args.seed + n - 1}), "
        f"{architecture(args.hidden)}, {args.loss}, {epochs_text(epochs)}",
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


def replay_command(args, seed):
    """The single-run command that trains network `seed` of a study alone, with its numbers."""
    flags = [f"--seed {seed}"]
    if args.hidden != DEFAULTS["hidden"]:
        flags.append("--hidden " + " ".join(map(str, args.hidden)))
    for name in ("loss", "learning_rate", "epochs", "engine"):
        if getattr(args, name) != DEFAULTS[name]:
            flags.append(f"--{name.replace('_', '-')} {getattr(args, name)}")
    if args.deterministic:
        flags.append("--deterministic")
    return "python xor_mlp.py " + " ".join(flags)


CSV_COLUMNS = (
    "seed",
    "epoch_to_100",
    "final_loss",
    "final_accuracy",
    "diverged",
    "min_loss",
    *(f"output_{a}{b}" for a, b in X),
    "replay",
)


def stacked_outputs(params):
    """Each network's outputs on the four segments: (N, 4). NumPy, for tables."""
    h = np.broadcast_to(np.asarray(X, np.float32), (params[0].shape[0], len(X), 2))
    n_layers = len(params) // 2
    for layer in range(n_layers):
        z = h @ params[2 * layer] + params[2 * layer + 1]
        h = np.maximum(z, 0) if layer < n_layers - 1 else 1 / (1 + np.exp(-z))
    return h[..., 0]


def csv_rows(args, runs, epochs_to_100, diverged):
    """One row per network of the study: its seed, when it reached 100%, how it ended."""
    with np.errstate(over="ignore", invalid="ignore"):
        outputs = stacked_outputs(runs.params)
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
            "replay": replay_command(args, int(seed)),
        }
        row |= {f"output_{a}{b}": float(outputs[index, k]) for k, (a, b) in enumerate(X)}
        rows.append(row)
    return rows


# ## Figures
def plot_boundary(params, title, path):
    fig, ax = new_figure(size=(5.2, 4.5))
    grid = np.linspace(-0.25, 1.25, 151, dtype="float32")
    gx, gy = np.meshgrid(grid, grid)
    out = mlp_forward(params, np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
    image = ax.contourf(gx, gy, out, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.8)
    ax.contour(gx, gy, out, levels=[0.5], colors="k", linewidths=1.5)
    fig.colorbar(image, ax=ax, label="network output (P(loyal))")
    for name, (a, b), target in zip(SEGMENTS, X, Y, strict=True):
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
            f"{name}\ntarget {target}",
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


# ## Command line
def make_xor_parser():
    parser = make_parser(
        __doc__.strip().splitlines()[0].removeprefix("Title: "), epochs=DEFAULTS["epochs"]
    )
    parser.add_argument(
        "--hidden",
        type=int_in_range(1, MAX_UNITS),
        nargs="+",
        default=DEFAULTS["hidden"],
        metavar="UNITS",
        help="hidden Dense(relu) layer sizes: '16 16' adds the tutorial's second "
        "layer, '32' its wider one",
    )
    parser.add_argument(
        "--loss",
        choices=LOSSES,
        default=DEFAULTS["loss"],
        help="training loss; binary_crossentropy is the tutorial's suggested tweak",
    )
    parser.add_argument(
        "--learning-rate",
        type=float_in_range(0, 1e6),
        metavar="LR",
        default=DEFAULTS["learning_rate"],
        help="Adam's learning rate",
    )
    parser.add_argument(
        "--seeds",
        type=int_in_range(1, MAX_SEEDS),
        default=DEFAULTS["seeds"],
        metavar="N",
        help="train this many networks (seeds --seed, --seed+1, ...) and "
        "report the convergence study",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default=DEFAULTS["engine"],
        help=ENGINE_HELP + " (same initial weights, same numbers; model.fit "
        "takes about 20 s per network of 500 epochs)",
    )
    return parser


def claim_values(epochs_to_100):
    """{quantity: per-seed values} the registry's XOR claims are judged on (never: infinite)."""
    return {
        "epoch_to_100": np.where(np.isnan(epochs_to_100), np.inf, epochs_to_100),
        "reached_100": ~np.isnan(epochs_to_100),
    }


def summarize(args, runs):
    """Everything the run reports and saves, computed once: the first network's report, the
    study (several seeds) and the registry's verdicts."""
    config = config_of(args)
    claims, claim = claims_for("xor", config), published_claim(config)
    diverged = ~np.isfinite(runs.loss).all(axis=1)
    epochs_to_100 = epochs_to_full_accuracy(runs.accuracy)
    report, first_seed = single_run_report(
        network(runs.params, 0), runs.loss[0], runs.accuracy[0], args, claim
    )
    summary = None
    if args.seeds > 1:
        summary = summarize_study(
            epochs_to_100,
            claim.value if claim else None,
            epochs_staying_at_full_accuracy(runs.accuracy),
        )
        summary["diverged"] = int(diverged.sum())
    return {
        "config": config,
        "claims": claims,
        "claim": claim,
        "diverged": diverged,
        "epochs_to_100": epochs_to_100,
        "report": report,
        "first_seed": first_seed,
        "study": summary,
        "verdicts": judge_all(claims, claim_values(epochs_to_100), config),
    }


def report_text(args, results):
    parts = [f"Seed {args.seed} (the first of the study):"] if args.seeds > 1 else []
    parts.append(results["report"] + "\n")
    if results["study"] is not None:
        parts.append(study_report(results["study"], args, results["claim"]))
        if results["diverged"].any():
            parts.append(
                f"  {results['diverged'].sum()} seeds diverged (non-finite loss); "
                "counted as not reaching 100%"
            )
        parts.append("")
    claims = claims_report(results["verdicts"], results["claims"])
    return "\n".join(parts + (claims + [""] if claims else []))


def save_figures(args, runs, results, tag):
    arch, loss, accuracy = architecture(args.hidden), runs.loss, runs.accuracy
    epochs_to_100, claim = results["epochs_to_100"], results["claim"]
    figures = [
        plot_boundary(
            network(runs.params, 0),
            f"{arch} MLP after {epochs_text(args.epochs)} (seed {args.seed})",
            args.figures_dir / f"{tag}_boundary.png",
        ),
        plot_history(
            loss[0],
            accuracy[0],
            epochs_to_100[0],
            claim.value if claim else None,
            f"{arch} MLP, seed {args.seed}",
            args.figures_dir / f"{tag}_history.png",
        ),
    ]
    if results["study"] is not None:
        loss_name = "" if args.loss == "mean_squared_error" else ", binary cross-entropy"
        figures.append(
            plot_study(
                epochs_to_100,
                results["study"],
                args.epochs,
                f"{arch} MLP{loss_name}",
                args.figures_dir / f"{tag}_study.png",
            )
        )
    return figures


def main(argv=None):
    parser = make_xor_parser()
    args = parser.parse_args(argv)
    problem = budget_problem(args.hidden, args.seeds, args.epochs)
    if problem:
        parser.error(problem)
    check_output_paths(parser, args)
    device = select_device_or_exit(parser, args.device)
    # One compiled call per core at a time (train_stacked's workers), each op single-threaded:
    # measured faster on 2 cores than one call split over both (README, Performance).
    threads = setup_threads("parallel_calls", args.engine == COMPILED, device)
    set_seed(args.seed, args.deterministic)
    run_start = time.perf_counter()
    arch = architecture(args.hidden)
    tag = (
        f"xor_{arch}"
        + ("" if args.loss == "mean_squared_error" else "_bce")
        + settings_suffix(args, DEFAULTS, NAMED_SETTINGS)
    )
    print(
        f"XOR / loyal customers: {arch} MLP, {args.loss}, Adam(learning_rate="
        f"{args.learning_rate:g}), {epochs_text(args.epochs)}, full batch; engine "
        f"{args.engine}"
    )
    print(f"device: {device}; Keras {keras.__version__} on TensorFlow {tf.__version__}\n")

    runs = train(args, workers=workers_for(threads) if args.engine == COMPILED else 1)
    if not np.isfinite(runs.loss[0]).all():  # the report and figures centre on the first
        epoch = int(np.argmin(np.isfinite(runs.loss[0]))) + 1
        return error_line(
            f"the loss became {runs.loss[0, epoch - 1]} at epoch {epoch} (seed "
            f"{args.seed}); no figures written (try a smaller --learning-rate)",
            prog=parser.prog,
        )
    results = summarize(args, runs)
    print(report_text(args, results))

    figures = save_figures(args, runs, results, tag)
    metrics = results["first_seed"] | {"verdicts": results["verdicts"]}
    if results["study"] is not None:
        metrics = {
            "first_seed": results["first_seed"],
            "study": results["study"],
            "epochs_to_100": results["epochs_to_100"].tolist(),
            "verdicts": results["verdicts"],
            "claim_values": claim_values(results["epochs_to_100"]),
        }
        if args.json is not None:
            metrics["csv"] = write_runs_csv(
                csv_path_for(args.json),
                csv_rows(args, runs, results["epochs_to_100"], results["diverged"]),
                CSV_COLUMNS,
            )
    total_seconds = time.perf_counter() - run_start
    compiled = (
        (
            f"; compiling {runs.compile_seconds:.1f} s, {runs.extra['workers']} x "
            f"{runs.extra['chunk_size']} networks at a time"
        )
        if args.engine == COMPILED
        else ""
    )
    print(
        f"training: {runs.train_seconds:.2f} s for {args.seeds} x {epochs_text(args.epochs)} "
        f"({args.engine} engine{compiled}); whole run {total_seconds:.1f} s"
    )
    print("figures: " + ", ".join(figures))
    if "csv" in metrics:
        print(f"per-seed table: {metrics['csv']}")
    if args.json is not None:
        save_run_record(
            args.json,
            script="xor_mlp.py",
            argv=argv,
            config=results["config"] | {"threads": threads.as_record()},
            device=device,
            timings={
                "training": runs.train_seconds,
                "compile": runs.compile_seconds,
                "total": total_seconds,
            },
            metrics=metrics,
            figures=figures,
        )
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
