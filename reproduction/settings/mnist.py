"""The MNIST perceptron tutorial's settings (mnist_perceptron.py): the video's single neuron, its
data and training, and the levers it names (the sigmoid, pixels / 255)."""

from reproduction.plumbing.cli import check_output_dir, check_output_paths, int_in_range
from reproduction.settings import shared
from reproduction.settings.options import Option, Tutorial, engine_for

DATASET_NAMES = ("mnist", "fashion_mnist")  # keras.datasets' names (data/registry.py)
ACTIVATIONS = ("linear", "sigmoid")
# A study keeps every run's test outputs (40 kB a run on MNIST): 20,000 runs hold 0.8 GB.
MAX_SEEDS = 20_000

MNIST = Tutorial(
    name="mnist",
    script="mnist_perceptron.py",
    title='MNIST "five or not five" with a single neuron',
    options=(
        *shared.run_options(10, 1000, data=True),
        Option(
            "dataset",
            "mnist",
            "fashion_mnist: the video's follow-up exercise",
            choices=DATASET_NAMES,
        ),
        Option(
            "target_class",
            5,
            "the class the neuron tells from the rest (MNIST: the digit)",
            int_in_range(0, 9),
            metavar="N",
        ),
        Option(
            "activation",
            "linear",
            "the output neuron's activation: the tutorial's first model is linear, its fix sigmoid",
            choices=ACTIVATIONS,
        ),
        Option(
            "compare",
            help="train the linear and the sigmoid neuron with the same seeds and print them "
            "side by side (ignores --activation)",
            switch=True,
        ),
        *shared.optimizer_options(
            1e-3,
            32,
            60_000,
            "validate on the last FRACTION of the training set instead of the test set (0: the "
            "test set, as in the tutorial)",
        ),
        Option(
            "normalize",
            help="divide the pixels by 255 (the 'data preparation' lever; off in the tutorial)",
            switch=True,
        ),
        shared.seeds(
            MAX_SEEDS,
            "a seed study of N runs: run r starts from weight seed --seed + r and sees the data "
            "in its group's order (see --data-orders)",
        ),
        shared.data_seed(
            "seed of the training data's order (default: --seed); in a study the K orders are "
            "--data-seed .. --data-seed + K - 1"
        ),
        Option(
            "data_orders",
            10,
            "a study's runs share K data orders (ceil(N / K) runs each), so the spread can be "
            "split between data order and initial weights",
            int_in_range(1, MAX_SEEDS),
            metavar="K",
        ),
        shared.ENGINE,
        *shared.output_options(
            "save the trained neuron to PATH (a .keras file), compiled as the tutorial compiles "
            "it (mse, Adam, accuracy): keras.models.load_model(PATH).evaluate(x_test, y_test == "
            "target) works (with --normalize it expects pixels / 255). A seed study saves its "
            "first run's; --compare saves both neurons, as PATH with _linear and _sigmoid before "
            ".keras",
            "write the per-epoch loss and accuracy as TensorBoard logs, one folder per neuron: "
            "DIR/<activation>/train and .../validation (the tags of Keras's TensorBoard "
            "callback), after training; a seed study writes its first run's. View: tensorboard "
            "--logdir DIR",
        ),
    ),
    replay_keys=(
        "data_dir",
        "seed",
        "data_seed",
        "activation",
        "dataset",
        "target_class",
        "epochs",
        "learning_rate",
        "batch_size",
        "validation_split",
        "engine",
        "train_limit",
        "test_limit",
        "device",
        "normalize",
        "allow_small_data",
        "deterministic",
    ),
    always_replayed=("seed", "data_seed"),
    file_keys=("normalize", *shared.IMAGE_FILE_KEYS),
    file_names=shared.FILE_NAMES,
)


def model_paths(args):
    """{activation: .keras path} of --save-model: PATH itself for one neuron; with --compare,
    PATH with the activation before the extension."""
    if args.save_model is None:
        return {}
    if not args.compare:
        return {args.activation: args.save_model}
    return {
        activation: args.save_model.with_name(
            f"{args.save_model.stem}_{activation}{args.save_model.suffix}"
        )
        for activation in ACTIVATIONS
    }


def parse(argv=None, check_outputs=True):
    """mnist_perceptron.py's arguments, checked (usage errors exit 2), the engine and the data
    seed resolved; `check_outputs`: also check that the output paths can be written."""
    parser = MNIST.parser()
    args = parser.parse_args(argv)
    if args.data_seed is None:
        args.data_seed = args.seed
    args.engine = engine_for(args.engine, args.seeds)
    if check_outputs:
        check_output_paths(parser, args, [("--save-model", p) for p in model_paths(args).values()])
        if args.tensorboard is not None:
            check_output_dir(parser, "--tensorboard", args.tensorboard)
    return parser, args
