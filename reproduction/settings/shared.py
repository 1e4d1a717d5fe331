"""The options the tutorial scripts share, defined once: the seed, the run's outputs, the engine,
the data and the optimizer settings. Each tutorial's module (settings/xor.py, cifar10.py,
mnist.py) puts together its own from these and from its own options."""

from pathlib import Path

from reproduction.plumbing.cli import existing_folder, float_in_range, int_in_range, keras_file
from reproduction.settings.options import ENGINES, MAX_SEED, Option

SEED = Option(
    "seed",
    0,
    "random seed (the tutorials were unseeded; a fixed seed makes a run repeatable)",
    int_in_range(0, MAX_SEED),
)
DEVICE = Option(
    "device",
    "auto",
    "where TensorFlow runs; 'gpu' fails if there is none",
    choices=("auto", "cpu", "gpu"),
)
DETERMINISTIC = Option(
    "deterministic", help="enable TensorFlow op determinism (slower on GPU)", switch=True
)
# A script's own figures go to an untracked folder: figures/ holds the committed report's, which
# only reproduce.py writes
FIGURES_DIR = Option(
    "figures_dir",
    Path("outputs/figures"),
    "folder for the PNG figures (git-ignored; figures/ holds the committed report's, which only "
    "reproduce.py writes)",
    Path,
    metavar="DIR",
    result=False,
)
JSON = Option(
    "json",
    None,
    "also write the run's record to PATH: its settings, versions, device, timings and "
    "metrics as JSON, and its arrays (every run's histories and outputs) beside it as .npz",
    Path,
    metavar="PATH",
    result=False,
)
QUIET = Option("quiet", help="print only the results: no progress lines", switch=True, result=False)
NO_FIGURES = Option(
    "no_figures",
    help="write no figures (reproduce.py draws them from the run's record)",
    switch=True,
    result=False,
)


def epochs(default, most):
    return Option("epochs", default, "training epochs", int_in_range(1, most))


def seeds(most, text):
    return Option("seeds", 1, text, int_in_range(1, most), metavar="N")


def data_options():
    """--data-dir and the options that take a smaller or a partial copy of the data."""
    return (
        Option(
            "data_dir",
            None,
            "folder holding the dataset (default: $TUTORIALS_DATA_DIR, then Keras's cache "
            "~/.keras/datasets, then a Keras download)",
            existing_folder,
            metavar="DIR",
            result=False,  # the data's bytes are in the key, not their folder
        ),
        Option(
            "allow_small_data",
            help="accept dataset files holding fewer images than the real dataset (smoke tests "
            "on small copies); every other check stays",
            switch=True,
            result=False,
        ),
        Option(
            "train_limit",
            None,
            "use only the first N training images (a quick smoke run)",
            int_in_range(1, 10**9),
            metavar="N",
        ),
        Option(
            "test_limit",
            None,
            "use only the first N test images (a quick smoke run)",
            int_in_range(1, 10**9),
            metavar="N",
        ),
    )


def optimizer_options(learning_rate, batch_size, max_batch, validation_help):
    """--learning-rate, --batch-size and --validation-split, the image scripts' training
    settings."""
    return (
        Option("learning_rate", learning_rate, "Adam's learning rate", float_in_range(0, 1e6)),
        Option("batch_size", batch_size, "examples per training step", int_in_range(1, max_batch)),
        Option(
            "validation_split",
            0.0,
            validation_help,
            float_in_range(0, 0.9, low_inclusive=True),
            metavar="FRACTION",
        ),
    )


def save_model(text):
    """--save-model PATH (a .keras file)."""
    return Option("save_model", None, text, keras_file, metavar="PATH", result=False)


def output_options(save_model_help, tensorboard_help):
    """--save-model PATH (a .keras file) and --tensorboard DIR."""
    return (
        save_model(save_model_help),
        Option("tensorboard", None, tensorboard_help, Path, metavar="DIR", result=False),
    )


def data_seed(text):
    return Option("data_seed", None, text, int_in_range(0, MAX_SEED), metavar="SEED")


SUMMARY = Option(
    "summary",
    help="print the model's summary (Keras's model.summary(), as the tutorials show it) before "
    "training",
    switch=True,
    result=False,
)
RECORD_ONLY = Option(
    "record_only",
    help="write only the run's record and arrays (--json): no text, figures, table or metrics; "
    "reproduce.py draws those from the record afterwards",
    switch=True,
    result=False,
)
RUN_OUTPUTS = (DEVICE, DETERMINISTIC, FIGURES_DIR, NO_FIGURES, JSON, QUIET, SUMMARY, RECORD_ONLY)


def run_options(default_epochs, most_epochs, data=False):
    """What every script's parser starts with: --seed, --epochs (the tutorial's), the run's
    outputs and, for a script that reads a dataset (`data`), the data options."""
    return (
        SEED,
        epochs(default_epochs, most_epochs),
        *RUN_OUTPUTS,
        *(data_options() if data else ()),
    )


# The settings the image scripts name in their figure files, and their short names there
IMAGE_FILE_KEYS = (
    "epochs",
    "learning_rate",
    "batch_size",
    "validation_split",
    "train_limit",
    "test_limit",
)
FILE_NAMES = {
    "normalize": "normalized",
    "learning_rate": "lr",
    "batch_size": "batch",
    "validation_split": "val",
    "train_limit": "train",
    "test_limit": "test",
}

ENGINE = Option(
    "engine",
    None,
    "'fit': the tutorial's model.fit, once per run; 'compiled': the same experiment in "
    "compiled TensorFlow graphs, a study's runs stacked where that is faster (default: fit for "
    "a single run, compiled for a study); both start from the same initial weights",
    choices=ENGINES,
)
