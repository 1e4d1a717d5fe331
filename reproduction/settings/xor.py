"""The XOR tutorial's settings (xor_mlp.py): the blog's network, loss, optimizer and epochs."""

import itertools

from reproduction.plumbing.cli import check_output_paths, float_in_range, int_in_range
from reproduction.settings import shared
from reproduction.settings.options import Option, Tutorial, engine_for

LOSSES = ("mean_squared_error", "binary_crossentropy")
MAX_SEEDS = 100_000
MAX_UNITS = 4096
MAX_LAYERS = 32
MAX_SEED_EPOCHS = 50_000_000  # the per-epoch histories kept: 2 x 4 bytes each, 400 MB at most
MAX_STUDY_WEIGHTS = 50_000_000  # seeds x weights: 200 MB a copy, and training holds about five

XOR = Tutorial(
    name="xor",
    script="xor_mlp.py",
    title="XOR with a small MLP: which customers are loyal?",
    options=(
        *shared.run_options(500, 100_000),
        Option(
            "hidden",
            [16],
            "hidden Dense(relu) layer sizes: '16 16' adds the tutorial's second layer, '32' its "
            "wider one",
            int_in_range(1, MAX_UNITS),
            nargs="+",
            metavar="UNITS",
        ),
        Option(
            "loss",
            "mean_squared_error",
            "training loss; binary_crossentropy is the tutorial's suggested tweak",
            choices=LOSSES,
        ),
        Option("learning_rate", 1e-3, "Adam's learning rate", float_in_range(0, 1e6), metavar="LR"),
        shared.seeds(
            MAX_SEEDS,
            "train this many networks (seeds --seed, --seed+1, ...) and report the convergence "
            "study",
        ),
        shared.ENGINE,
        shared.save_model(
            "save the trained network to PATH (a .keras file), compiled as the tutorial "
            "compiles it: keras.models.load_model(PATH).predict(X) gives its four outputs. A "
            "seed study saves its first network"
        ),
    ),
    replay_keys=(
        "seed",
        "hidden",
        "loss",
        "learning_rate",
        "epochs",
        "engine",
        "device",
        "deterministic",
    ),
    file_keys=("epochs", "learning_rate"),
    file_names=shared.FILE_NAMES,
)


def architecture(hidden):
    """'2-16-1'."""
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


def parse(argv=None, check_outputs=True):
    """xor_mlp.py's arguments, checked (a usage error exits 2 with argparse's line), the engine
    resolved; `check_outputs`: also check that the output paths can be written."""
    parser = XOR.parser()
    args = parser.parse_args(argv)
    problem = budget_problem(args.hidden, args.seeds, args.epochs)
    if problem:
        parser.error(problem)
    args.engine = engine_for(args.engine, args.seeds)
    if check_outputs:
        check_output_paths(parser, args, [("--save-model", args.save_model)])
    return parser, args
