"""The CIFAR-10 tutorial's settings (cifar10_dense.py): the book's Dense network and its training,
and the chapter's CNN in either block order."""

from reproduction.plumbing.cli import check_output_dir, check_output_paths, int_in_range
from reproduction.settings import shared
from reproduction.settings.options import COMPILED, MAX_SEED, Option, Tutorial, engine_for

MODELS = ("dense", "cnn")
# The notebook's first version (the run that recorded 71.83%) has Conv2D -> LeakyReLU ->
# BatchNormalization; the later notebook and book put BatchNormalization before LeakyReLU.
BLOCK_ORDERS = {
    "lrelu-bn": "Conv2D -> LeakyReLU -> BatchNormalization (first notebook version)",
    "bn-lrelu": "Conv2D -> BatchNormalization -> LeakyReLU (later notebook, book)",
}
FIRST_BLOCK_ORDER = "lrelu-bn"
MAX_SEEDS = 10_000

CIFAR10 = Tutorial(
    name="cifar10",
    script="cifar10_dense.py",
    title="CIFAR-10 with a Dense network (and the book's convolutional follow-up)",
    options=(
        *shared.run_options(10, 1000, data=True),
        Option(
            "model",
            "dense",
            "'dense': the tutorial's network; 'cnn': the chapter's follow-up",
            choices=MODELS,
        ),
        Option(
            "block_order",
            FIRST_BLOCK_ORDER,
            "the CNN's blocks: "
            + "; ".join(f"'{name}': {text}" for name, text in BLOCK_ORDERS.items())
            + f" (default {FIRST_BLOCK_ORDER}: the notebook run whose accuracy the book quotes)",
            choices=tuple(BLOCK_ORDERS),
            resolved=True,
        ),
        shared.ENGINE,
        shared.seeds(
            MAX_SEEDS,
            "a seed study: N runs, run r with weight seed --seed + r and data seed --data-seed + "
            "r; prints the distribution and each run's single-run command",
        ),
        shared.data_seed(
            "seed of the training data order (default: --seed); with --engine fit it seeds "
            "model.fit's own shuffle"
        ),
        Option(
            "column_blocks",
            None,
            "compiled Dense engine: split each network's first kernel into K column blocks "
            "(default: one per core for a single run, 1 in a study). Part of the arithmetic: a "
            "study's replay commands give it",
            int_in_range(1, 64),
            metavar="K",
        ),
        *shared.optimizer_options(
            5e-4,
            32,
            50_000,
            "hold out the last FRACTION of the training set and report it each epoch (0: off, "
            "as in the tutorial)",
        ),
        *shared.output_options(
            "save the trained model to PATH (a .keras file), compiled as the tutorial compiles "
            "it: keras.models.load_model(PATH).evaluate(x_test / 255, one-hot y_test) works. A "
            "seed study saves its first run's",
            "write the per-epoch loss and accuracy as TensorBoard logs: DIR/train and, with "
            "validation, DIR/validation (the tags of Keras's TensorBoard callback), after "
            "training; a seed study writes its first run's. View: tensorboard --logdir DIR",
        ),
    ),
    replay_keys=(
        "data_dir",
        "model",
        "engine",
        "epochs",
        "learning_rate",
        "batch_size",
        "validation_split",
        "block_order",
        "seed",
        "data_seed",
        "column_blocks",
        "train_limit",
        "test_limit",
        "device",
        "allow_small_data",
        "deterministic",
    ),
    always_replayed=("seed", "data_seed"),
    file_keys=shared.IMAGE_FILE_KEYS,
    file_names=shared.FILE_NAMES,
)


def parse(argv=None, check_outputs=True):
    """cifar10_dense.py's arguments, checked (usage errors exit 2), the engine resolved;
    --block-order is the CNN's only (None for the Dense network). `check_outputs`: also check
    that the output paths can be written (a script does; reproduce.py reading a plan does
    not)."""
    parser = CIFAR10.parser()
    args = parser.parse_args(argv)
    for flag, first in (("--seed", args.seed), ("--data-seed", args.data_seed)):
        if first is not None and first + args.seeds - 1 > MAX_SEED:
            parser.error(
                f"{flag} {first} with --seeds {args.seeds}: the last run's seed would exceed "
                f"{MAX_SEED}"
            )
    args.engine = engine_for(args.engine, args.seeds)
    if args.column_blocks is not None and (args.engine != COMPILED or args.model != "dense"):
        parser.error("--column-blocks applies to the compiled Dense engine only")
    if args.block_order is not None and args.model != "cnn":
        parser.error("--block-order applies to --model cnn only")
    if args.model == "cnn" and args.block_order is None:
        args.block_order = FIRST_BLOCK_ORDER
    if args.data_seed is None:
        args.data_seed = args.seed
    if check_outputs:
        check_output_paths(parser, args, [("--save-model", args.save_model)])
        if args.tensorboard is not None:
            check_output_dir(parser, "--tensorboard", args.tensorboard)
    return parser, args
