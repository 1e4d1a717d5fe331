"""What the tutorials claimed, as data: each claim's words, its source, what is measured and
the rule that judges it.

Nothing in the project is called "published" unless it is here: the scripts and reproduce.py
take published values and rules only from this registry (evidence/verdicts.py applies the rules).
A claim's `setting` is the tutorial's setting for it: a run whose configuration differs in any
of these keys is judged "not comparable", naming the keys.
"""

from dataclasses import dataclass, field

from reproduction.data.cifar10 import CIFAR10_COUNTS
from reproduction.data.mnist import MNIST_COUNTS
from reproduction.evidence.verdicts import Compare, Near, NotJudged, Percentile, Rate, Spread
from reproduction.settings.cifar10 import CIFAR10
from reproduction.settings.mnist import MNIST
from reproduction.settings.xor import XOR

# ## Sources
SOURCES = {
    "xor_blog": "2017 blog post (XOR / loyal customers, after a 2016 Keras XOR post)",
    "cifar_blog": "blog post copying Foster, Generative Deep Learning (1st ed.), ch. 2",
    "gdl_02_01": "book notebook 02_01 (davidADSP/GDL_code, commit 2ae8302, 2019-02-22)",
    "gdl_02_03_first": "book notebook 02_03, first version (davidADSP/GDL_code, commit 2ae8302, "
    "2019-02-22): Conv2D -> LeakyReLU -> BatchNormalization",
    "gdl_02_03_later": "book notebook 02_03, later version (davidADSP/GDL_code, commit d22c9a3, "
    "2019-03-18): Conv2D -> BatchNormalization -> LeakyReLU",
    "mnist_video": 'ml-class video "Build a Neural Network"',
}

# Short names of the sources, for table columns and figure legends
SOURCE_NAMES = {
    "xor_blog": "blog",
    "cifar_blog": "blog",
    "gdl_02_01": "book notebook",
    "gdl_02_03_first": "book notebook, first version",
    "gdl_02_03_later": "book notebook, later version",
    "mnist_video": "video",
}

# ## The tutorials' settings, as reproduction/settings defines them (keys of the run records'
# config), and the real datasets' sizes
XOR_SETTING = XOR.setting("hidden", "loss", "learning_rate", "epochs")
CIFAR_DENSE = CIFAR10.setting(
    "model",
    "learning_rate",
    "batch_size",
    "epochs",
    "validation_split",
    train_images=CIFAR10_COUNTS[0],
    test_images=CIFAR10_COUNTS[1],
)
CIFAR_CNN_FIRST = CIFAR_DENSE | {"model": "cnn", "block_order": "lrelu-bn"}
CIFAR_CNN_LATER = CIFAR_CNN_FIRST | {"block_order": "bn-lrelu"}
MNIST_RAW = MNIST.setting(
    "dataset",
    "target_class",
    "normalize",
    "learning_rate",
    "batch_size",
    "epochs",
    "validation_split",
    train_images=MNIST_COUNTS[0],
    test_images=MNIST_COUNTS[1],
)


@dataclass(frozen=True)
class Claim:
    id: str
    tutorial: str  # "xor", "cifar10" or "mnist"
    quote: str  # the tutorial's words, verbatim and short
    source: str  # a key of SOURCES
    measure: str  # what is measured, in words
    quantity: str  # the per-run values a script measures for it (see each script's `measured`)
    rule: object  # a rule from reproduction.evidence.verdicts
    setting: dict = field(default_factory=dict)
    value: float | None = None  # the published number, if the source gave one
    unit: str = ""  # how values read: "epoch", "%", "loss" or "" (a share of runs)
    note: str = ""


TYPICAL = Percentile()
CLAIMS = (
    # XOR: single unseeded runs, so each published epoch is one draw from a distribution
    Claim(
        "xor.epoch",
        "xor",
        '100% accuracy at epoch 54 (the text also says "55th")',
        "xor_blog",
        "first epoch at 100% binary accuracy, 2-16-1, MSE",
        "epoch_to_100",
        TYPICAL,
        XOR_SETTING,
        value=54,
        unit="epoch",
        note="the text also says 55",
    ),
    Claim(
        "xor.slightly_change",
        "xor",
        '"if we run it several times the convergence number will slightly change"',
        "xor_blog",
        "spread of the first epoch at 100%, 2-16-1, MSE",
        "epoch_to_100",
        Spread(max_relative=0.5),
        XOR_SETTING,
        unit="epoch",
    ),
    Claim(
        "xor.second_layer",
        "xor",
        "a second Dense(16): 100% at epoch 11",
        "xor_blog",
        "first epoch at 100%, 2-16-16-1, MSE",
        "epoch_to_100",
        TYPICAL,
        XOR_SETTING | {"hidden": [16, 16]},
        value=11,
        unit="epoch",
    ),
    Claim(
        "xor.wider",
        "xor",
        "Dense(32): 100% at epoch 86",
        "xor_blog",
        "first epoch at 100%, 2-32-1, MSE",
        "epoch_to_100",
        TYPICAL,
        XOR_SETTING | {"hidden": [32]},
        value=86,
        unit="epoch",
    ),
    Claim(
        "xor.wider_not_better",
        "xor",
        'Dense(32): "increasing the number of neurons does not always yield in good results"',
        "xor_blog",
        "chance that a 2-32-1 seed needs more epochs to 100% than a 2-16-1 seed",
        "epoch_to_100",
        Compare(reference=XOR_SETTING, event="a 2-32-1 seed is slower than a 2-16-1 seed"),
        XOR_SETTING | {"hidden": [32]},
        unit="epoch",
    ),
    Claim(
        "xor.bce",
        "xor",
        'binary_crossentropy "will work without a hassle"',
        "xor_blog",
        "seeds reaching 100% within 500 epochs, 2-16-1, binary cross-entropy",
        "reached_100",
        Rate("the network reaches 100% within 500 epochs", at_least=0.95),
        XOR_SETTING | {"loss": "binary_crossentropy"},
    ),
    # CIFAR-10 Dense: the blog's run and the book notebook's
    Claim(
        "cifar.blog_train",
        "cifar10",
        "train accuracy 51.9% after 10 epochs",
        "cifar_blog",
        "train accuracy of the last epoch, Dense",
        "train_accuracy",
        TYPICAL,
        CIFAR_DENSE,
        value=0.519,
        unit="%",
    ),
    Claim(
        "cifar.blog_test_accuracy",
        "cifar10",
        "`model.evaluate`: `[1.439, 0.489]`",
        "cifar_blog",
        "test accuracy, Dense",
        "test_accuracy",
        Percentile(sampling=True),
        CIFAR_DENSE,
        value=0.489,
        unit="%",
    ),
    Claim(
        "cifar.blog_test_loss",
        "cifar10",
        "`model.evaluate`: `[1.439, 0.489]`",
        "cifar_blog",
        "test loss, Dense",
        "test_loss",
        TYPICAL,
        CIFAR_DENSE,
        value=1.439,
        unit="loss",
    ),
    Claim(
        "cifar.book_train",
        "cifar10",
        "`acc: 0.5139` (epoch 10/10)",
        "gdl_02_01",
        "train accuracy of the last epoch, Dense",
        "train_accuracy",
        TYPICAL,
        CIFAR_DENSE,
        value=0.5139,
        unit="%",
    ),
    Claim(
        "cifar.book_test_accuracy",
        "cifar10",
        "`model.evaluate`: `[1.4405618907928466, 0.484]`",
        "gdl_02_01",
        "test accuracy, Dense",
        "test_accuracy",
        Percentile(sampling=True),
        CIFAR_DENSE,
        value=0.484,
        unit="%",
    ),
    Claim(
        "cifar.book_test_loss",
        "cifar10",
        "`model.evaluate`: `[1.4405618907928466, 0.484]`",
        "gdl_02_01",
        "test loss, Dense",
        "test_loss",
        TYPICAL,
        CIFAR_DENSE,
        value=1.4406,
        unit="loss",
    ),
    Claim(
        "cifar.random_guessing",
        "cifar10",
        'random guessing: "approximately 10%"',
        "cifar_blog",
        "test accuracy of each run's network before training (its initial "
        "weights: a guess that has learnt nothing)",
        "untrained_test_accuracy",
        Near(tolerance=0.03),
        CIFAR_DENSE,
        value=0.10,
        unit="%",
    ),
    Claim(
        "cifar.around_half",
        "cifar10",
        'the 10-image picture: "around half are correct"',
        "cifar_blog",
        "runs whose picture (10 test images chosen by the run's seed) shows 4-6 correct",
        "picture_around_half",
        Rate("the run's picture shows 4-6 of 10 correct", at_least=0.5),
        CIFAR_DENSE,
    ),
    Claim(
        "cifar.cnn",
        "cifar10",
        "`model.evaluate`: `[0.8293925404548645, 0.7183000028133393]`",
        "gdl_02_03_first",
        "test accuracy, CNN with Conv2D -> LeakyReLU -> BatchNormalization blocks",
        "test_accuracy",
        Percentile(sampling=True),
        CIFAR_CNN_FIRST,
        value=0.7183,
        unit="%",
    ),
    Claim(
        "cifar.cnn_later",
        "cifar10",
        "`model.evaluate`: `[0.9717613816261291, 0.654800009727478]`",
        "gdl_02_03_later",
        "test accuracy, CNN with Conv2D -> BatchNormalization -> LeakyReLU blocks",
        "test_accuracy",
        NotJudged(
            "the notebook's fit output shows only its first epoch, so how long that "
            "model trained is not known"
        ),
        CIFAR_CNN_LATER,
        value=0.6548,
        unit="%",
    ),
    # MNIST perceptron: the video gives no accuracy number; its claims are about behaviour
    Claim(
        "mnist.linear_low",
        "mnist",
        'linear neuron: "a very low accuracy"',
        "mnist_video",
        "linear neuron: runs ending below the never-five baseline (91.08% of the test images "
        "are not 5)",
        "linear_below_baseline",
        Rate("the run ends below the never-five baseline", at_least=0.5),
        MNIST_RAW,
    ),
    Claim(
        "mnist.linear_no_improvement",
        "mnist",
        'linear neuron: "which doesn\'t seem to improve with the number of epochs"',
        "mnist_video",
        "linear neuron: runs whose last epoch's validation accuracy beats the first's",
        "linear_improved",
        Rate("the last epoch beats the first (no clear trend: at most 2 runs in 3)", at_most=2 / 3),
        MNIST_RAW,
    ),
    Claim(
        "mnist.linear_outputs",
        "mnist",
        'linear outputs: "large negative and positive numbers: not numbers between 0 and 1"',
        "mnist_video",
        "linear neuron: runs with test outputs both below 0 and above 1",
        "linear_outputs_outside",
        Rate("the run's outputs fall both below 0 and above 1", at_least=0.9),
        MNIST_RAW,
    ),
    Claim(
        "mnist.greater_than_0",
        "mnist",
        '"anything greater than 0 means that it is a 5"',
        "mnist_video",
        "linear neuron: runs in which reading outputs at 0 is at least as "
        "accurate as Keras's reading at 0.5",
        "linear_reading_at_0_as_good",
        Rate("reading at 0 is at least as accurate as at 0.5", at_least=0.5),
        MNIST_RAW,
    ),
    Claim(
        "mnist.sigmoid_improves",
        "mnist",
        'sigmoid: "really improves accuracy"',
        "mnist_video",
        "paired runs (same weights, same order) in which the sigmoid neuron "
        "ends more accurate than the linear one",
        "sigmoid_better",
        Rate("the sigmoid ends more accurate than the linear neuron", at_least=0.5),
        MNIST_RAW,
    ),
)


# The settings that pick which variant of a tutorial a claim is about: a run of another variant
# is not judged on it at all (a run that differs in the other keys is judged "not comparable").
VARIANT_KEYS = {
    "xor": ("hidden", "loss"),
    "cifar10": ("model", "block_order"),
    "mnist": ("dataset",),
}


def claims_for(tutorial, config=None):
    """The registry's claims about one tutorial, in the registry's order; with `config`, only
    those about the variant that run trained."""

    def same_variant(claim):
        return all(
            key not in claim.setting or _plain(config.get(key)) == _plain(claim.setting[key])
            for key in VARIANT_KEYS[tutorial]
        )

    return [
        claim
        for claim in CLAIMS
        if claim.tutorial == tutorial and (config is None or same_variant(claim))
    ]


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def claim(claim_id):
    for candidate in CLAIMS:
        if candidate.id == claim_id:
            return candidate
    raise KeyError(claim_id)


def published(claim_id):
    """A claim's published number (None if its source gave none)."""
    return claim(claim_id).value


def published_values(claims, quantity):
    """[(value, source's short name)] of the claims about `quantity` that give a number."""
    return [
        (c.value, SOURCE_NAMES[c.source])
        for c in claims
        if c.quantity == quantity and c.value is not None
    ]


def source_text(claim_or_id):
    found = claim(claim_or_id) if isinstance(claim_or_id, str) else claim_or_id
    return SOURCES[found.source]
