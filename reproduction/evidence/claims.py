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
from reproduction.evidence.verdicts import (
    Bracket,
    ChanceLevel,
    Compare,
    Near,
    NotJudged,
    Percentile,
    Rate,
    Spread,
)
from reproduction.settings.cifar10 import CIFAR10
from reproduction.settings.mnist import MNIST
from reproduction.settings.xor import XOR

# Where the later notebook 02_03's fit was interrupted: after these epochs and these images of
# the next (its output at commit d22c9a3); its evaluate came then
LATER_FIT_STOPPED = (3, 3_584)
LATER_FIT_STOPPED_EPOCH = LATER_FIT_STOPPED[0] + LATER_FIT_STOPPED[1] / CIFAR10_COUNTS[0]

# ## Sources, and their words: every claim's quote is one of these passages, or pieces of one
# joined by " ... " (tests/test_claims.py checks it), copied from the source named
SOURCES = {
    "xor_blog": "2017 blog post (XOR / loyal customers, after a 2016 Keras XOR post; "
    "whyaxis.wordpress.com, 2017-09-14): its network (Dense(16, relu), Dense(1, sigmoid)) and "
    "model.fit(..., epochs=500) are in code screenshots, not in its text",
    "cifar_blog": "blog post copying Foster, Generative Deep Learning (1st ed.), ch. 2 (Harshit "
    "Singhai, 2020-11-29; github.com/harshitsinghai77/fictional-octo-funicular, "
    "posts/simple-neural-network-for-image-classification.md, commit 4446fac): its training "
    "output is a screenshot; the text gives 51.9% and prints model.evaluate's list",
    "gdl_02_01": "book notebook 02_01, fit and evaluate outputs (davidADSP/GDL_code, commit "
    "2ae8302, 2019-02-22)",
    "gdl_02_03_first": "book notebook 02_03, first version (davidADSP/GDL_code, commit 2ae8302, "
    "2019-02-22): Conv2D -> LeakyReLU -> BatchNormalization; fit 10 epochs, then evaluate",
    "gdl_02_03_later": "book notebook 02_03, later version (davidADSP/GDL_code, commit d22c9a3, "
    "2019-03-18): Conv2D -> BatchNormalization -> LeakyReLU; its fit shows epochs "
    f"1-{LATER_FIT_STOPPED[0]} and is interrupted (KeyboardInterrupt) at "
    f"{LATER_FIT_STOPPED[1]:,} of {CIFAR10_COUNTS[0]:,} images of epoch "
    f"{LATER_FIT_STOPPED[0] + 1}, then evaluate",
    "mnist_video": 'ml-class video "Build a Neural Network" (spoken; lukas/ml-class '
    "videos/intro/perceptron-single.py, commit 2c2c437, is its code)",
    "wandb_notes": "Weights & Biases class notes of the same lesson "
    "(wandb.com/classes/intro/class-1-notes)",
}

# The sources' words the claims quote (verbatim; typography as in the source)
PASSAGES = {
    "xor_blog": (
        "in 54th iteration we are getting the 100% accuracy",
        "if we run it several times the convergence number will slightly change",
        "100% with the 11th Iteration",
        "100% accuracy very quickly",
        "86 iterations",
        "this has increased the iteration count to reach 100% accuracy",
        "increasing the number of neurons does not always yield in good results",
        "will work without a hassle",
    ),
    "cifar_blog": (
        "We know the model achieves an accuracy of 51.9% on the training set",
        "[1.4390370845794678, 0.48899999260902405]",
        "We can see that model accuracy is still 49.0% even on images that it has never seen "
        "before.",
        "Note that if the model was guessing randomly, it would achieve approximately 10% "
        "accuracy (because there are 10 classes), so 50% is a good result given that we have "
        "used a very basic neural network.",
        "As expected, around half are correct",
        "Neural networks work best when each input is inside the range \u20131 to 1, so we need "
        "to divide by 255.",
    ),
    "gdl_02_01": (
        "Epoch 10/10\n50000/50000 [==============================] - 8s 154us/step - loss: "
        "1.3671 - acc: 0.5139",
        "[1.4405618907928466, 0.484]",
    ),
    "gdl_02_03_first": ("[0.8293925404548645, 0.7183000028133393]",),
    "gdl_02_03_later": ("[0.9717613816261291, 0.654800009727478]",),
    "mnist_video": (
        "a very low accuracy, which doesn't seem to improve with the number of epochs",
        "large negative and positive numbers",
        "this really improves accuracy",
    ),
    "wandb_notes": (
        "We can interpret the output however we want: in this case anything greater than 0 "
        "means that it is a 5.",
        "This is used to test our model later, to make sure that the model hasn\u2019t just "
        "learnt the training data (known as overfitting) and can generalize to new data too.",
    ),
}

# Short names of the sources, for table columns and figure legends
SOURCE_NAMES = {
    "xor_blog": "blog",
    "cifar_blog": "blog",
    "gdl_02_01": "book notebook",
    "gdl_02_03_first": "book notebook, first version",
    "gdl_02_03_later": "book notebook, later version",
    "mnist_video": "video",
    "wandb_notes": "class notes",
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
    quote: str  # the tutorial's words, verbatim: a passage of PASSAGES[source], or pieces of one
    source: str  # a key of SOURCES
    about: str  # what the quote is about, in our words (the variant, the model)
    measure: str  # what is measured, in words
    quantity: str  # the per-run values a study measures for it (studies/<tutorial>.claim_values)
    rule: object  # a rule from reproduction.evidence.verdicts
    setting: dict = field(default_factory=dict)
    value: float | None = None  # the number the claim is judged against, if it has one
    unit: str = ""  # how values read: "epoch", "%", "loss" or "" (a share of runs)
    note: str = ""

    @property
    def published_run(self):
        """Whether `value` is a number one published run printed (not a claim's round figure)."""
        return isinstance(self.rule, (Percentile, Bracket)) and self.value is not None


TYPICAL = Percentile()
XOR_DEEPER = XOR_SETTING | {"hidden": [16, 16]}
XOR_WIDER = XOR_SETTING | {"hidden": [32]}
CLAIMS = (
    # XOR: single unseeded runs, so each published epoch is one draw from a distribution
    Claim(
        "xor.epoch",
        "xor",
        "in 54th iteration we are getting the 100% accuracy",
        "xor_blog",
        "2-16-1, MSE (the text also says 55th)",
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
        "if we run it several times the convergence number will slightly change",
        "xor_blog",
        "2-16-1, MSE",
        "spread of the first epoch at 100%, 2-16-1, MSE",
        "epoch_to_100",
        Spread(max_relative=0.5),
        XOR_SETTING,
        unit="epoch",
    ),
    Claim(
        "xor.second_layer",
        "xor",
        "100% with the 11th Iteration",
        "xor_blog",
        "a second Dense(16, relu): 2-16-16-1, MSE",
        "first epoch at 100%, 2-16-16-1, MSE",
        "epoch_to_100",
        TYPICAL,
        XOR_DEEPER,
        value=11,
        unit="epoch",
    ),
    Claim(
        "xor.deeper_faster",
        "xor",
        "100% accuracy very quickly",
        "xor_blog",
        "the second hidden layer, against the one-layer network",
        "chance that a 2-16-16-1 seed reaches 100% in fewer epochs than a 2-16-1 seed",
        "epoch_to_100",
        Compare(
            reference=XOR_SETTING,
            event="a 2-16-16-1 seed reaches 100% in fewer epochs than a 2-16-1 seed",
            fewer=True,
        ),
        XOR_DEEPER,
        unit="epoch",
    ),
    Claim(
        "xor.wider",
        "xor",
        "86 iterations",
        "xor_blog",
        "Dense(32, relu) hidden layer: 2-32-1, MSE",
        "first epoch at 100%, 2-32-1, MSE",
        "epoch_to_100",
        TYPICAL,
        XOR_WIDER,
        value=86,
        unit="epoch",
    ),
    Claim(
        "xor.wider_slower",
        "xor",
        "this has increased the iteration count to reach 100% accuracy",
        "xor_blog",
        "32 hidden neurons instead of 16",
        "chance that a 2-32-1 seed needs more epochs to 100% than a 2-16-1 seed",
        "epoch_to_100",
        Compare(reference=XOR_SETTING, event="a 2-32-1 seed is slower than a 2-16-1 seed"),
        XOR_WIDER,
        unit="epoch",
    ),
    Claim(
        "xor.wider_hedge",
        "xor",
        "increasing the number of neurons does not always yield in good results",
        "xor_blog",
        "32 hidden neurons instead of 16: a hedge (sometimes worse), judged as worded",
        "chance that a 2-32-1 seed needs more epochs to 100% than a 2-16-1 seed",
        "epoch_to_100",
        Compare(
            reference=XOR_SETTING,
            event="a 2-32-1 seed is slower than a 2-16-1 seed",
            above=0.0,
        ),
        XOR_WIDER,
        unit="epoch",
    ),
    Claim(
        "xor.bce",
        "xor",
        "will work without a hassle",
        "xor_blog",
        "loss binary_crossentropy instead of mean_squared_error",
        "seeds reaching 100% within 500 epochs, 2-16-1, binary cross-entropy",
        "reached_100",
        Rate("the network reaches 100% within 500 epochs", at_least=0.95),
        XOR_SETTING | {"loss": "binary_crossentropy"},
    ),
    # CIFAR-10 Dense: the blog's run and the book notebook's
    Claim(
        "cifar.blog_train",
        "cifar10",
        "We know the model achieves an accuracy of 51.9% on the training set",
        "cifar_blog",
        "the Dense network after 10 epochs",
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
        "[1.4390370845794678, 0.48899999260902405]",
        "cifar_blog",
        "model.evaluate(x_test, y_test) = [loss, accuracy]: the accuracy",
        "test accuracy, Dense",
        "test_accuracy",
        Percentile(sampling=True),
        CIFAR_DENSE,
        value=0.48899999260902405,
        unit="%",
    ),
    Claim(
        "cifar.blog_test_loss",
        "cifar10",
        "[1.4390370845794678, 0.48899999260902405]",
        "cifar_blog",
        "model.evaluate(x_test, y_test) = [loss, accuracy]: the loss",
        "test loss, Dense",
        "test_loss",
        TYPICAL,
        CIFAR_DENSE,
        value=1.4390370845794678,
        unit="loss",
    ),
    Claim(
        "cifar.never_seen",
        "cifar10",
        "We can see that model accuracy is still 49.0% even on images that it has never seen "
        "before.",
        "cifar_blog",
        "test accuracy against train accuracy (the blog's: 51.9% and 48.9%)",
        "train accuracy of the last epoch minus test accuracy, Dense",
        "train_test_gap",
        Near(tolerance=0.05),
        CIFAR_DENSE,
        value=0.0,
        unit="%",
    ),
    Claim(
        "cifar.random_guessing",
        "cifar10",
        "if the model was guessing randomly, it would achieve approximately 10% accuracy",
        "cifar_blog",
        "a guess that has learnt nothing, on CIFAR-10's test set",
        "random guessing on the test set's 10 classes",
        "class_shares",
        ChanceLevel(
            tolerance=0.005,
            beside=(("untrained_test_accuracy", "untrained networks (their initial weights)"),),
        ),
        CIFAR_DENSE,
        value=0.10,
        unit="%",
    ),
    Claim(
        "cifar.good_result",
        "cifar10",
        "50% is a good result given that we have used a very basic neural network",
        "cifar_blog",
        "the Dense network's test accuracy; \"good\" is an opinion (the chapter's CNN reaches "
        "about 71%)",
        "test accuracy, Dense",
        "test_accuracy",
        Near(tolerance=0.03),
        CIFAR_DENSE,
        value=0.50,
        unit="%",
    ),
    Claim(
        "cifar.around_half",
        "cifar10",
        "As expected, around half are correct",
        "cifar_blog",
        "the picture of 10 test images with their predictions",
        "the chance that a shown test image is predicted right (the run's test accuracy), Dense",
        "test_accuracy",
        Near(
            tolerance=0.10,
            beside=(
                ("picture_4_to_6_chance", "chance that 10 images show 4-6 right (binomial)"),
                ("picture_around_half", "pictures showing 4-6 of 10 right"),
            ),
        ),
        CIFAR_DENSE,
        value=0.50,
        unit="%",
    ),
    Claim(
        "cifar.input_range",
        "cifar10",
        "Neural networks work best when each input is inside the range \u20131 to 1",
        "cifar_blog",
        "judged on the MNIST neuron (sigmoid), the project's study with both input ranges",
        "chance that a sigmoid neuron on pixels / 255 ends more accurate than one on raw 0-255 "
        "pixels (MNIST)",
        "sigmoid_test_accuracy",
        Compare(
            reference=MNIST_RAW,
            event="a run on pixels / 255 ends more accurate than a run on raw pixels",
        ),
        MNIST_RAW | {"normalize": True},
        unit="%",
    ),
    Claim(
        "cifar.book_train",
        "cifar10",
        "Epoch 10/10 ... acc: 0.5139",
        "gdl_02_01",
        "the Dense network's fit output",
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
        "[1.4405618907928466, 0.484]",
        "gdl_02_01",
        "model.evaluate(x_test, y_test) = [loss, accuracy]: the accuracy",
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
        "[1.4405618907928466, 0.484]",
        "gdl_02_01",
        "model.evaluate(x_test, y_test) = [loss, accuracy]: the loss",
        "test loss, Dense",
        "test_loss",
        TYPICAL,
        CIFAR_DENSE,
        value=1.4405618907928466,
        unit="loss",
    ),
    Claim(
        "cifar.cnn",
        "cifar10",
        "[0.8293925404548645, 0.7183000028133393]",
        "gdl_02_03_first",
        "model.evaluate after 10 epochs: [loss, accuracy]",
        "test accuracy, CNN with Conv2D -> LeakyReLU -> BatchNormalization blocks",
        "test_accuracy",
        Percentile(sampling=True),
        CIFAR_CNN_FIRST,
        value=0.7183000028133393,
        unit="%",
    ),
    Claim(
        "cifar.cnn_later",
        "cifar10",
        "[0.9717613816261291, 0.654800009727478]",
        "gdl_02_03_later",
        f"model.evaluate after {LATER_FIT_STOPPED[0]} epochs and {LATER_FIT_STOPPED[1]:,} "
        f"images of the {LATER_FIT_STOPPED[0] + 1}th (fit interrupted)",
        "test accuracy after 3 and after 4 epochs, CNN with Conv2D -> BatchNormalization -> "
        "LeakyReLU blocks",
        "test_accuracy_after_epoch_3",
        Bracket(
            later="test_accuracy_after_epoch_4",
            earlier_words="after 3 epochs",
            later_words="after 4 epochs",
        ),
        CIFAR_CNN_LATER,
        value=0.654800009727478,
        unit="%",
    ),
    # MNIST perceptron: the video gives no accuracy number; its claims are about behaviour
    Claim(
        "mnist.linear_low",
        "mnist",
        "a very low accuracy",
        "mnist_video",
        "the linear neuron on raw pixels",
        "linear neuron: runs ending below the never-five baseline (correct test images fewer "
        "than the non-fives)",
        "linear_below_baseline",
        Rate("the run ends below the never-five baseline", at_least=0.5),
        MNIST_RAW,
    ),
    Claim(
        "mnist.linear_no_improvement",
        "mnist",
        "which doesn't seem to improve with the number of epochs",
        "mnist_video",
        "the linear neuron's validation accuracy over its 10 epochs",
        "linear neuron: runs whose validation accuracy rises clearly over the epochs "
        "(least-squares slope over all 10 epochs positive and >= 2 standard errors)",
        "linear_clear_upward_trend",
        Rate(
            "the accuracy rises clearly over the epochs",
            at_most=0.5,
            beside=(("linear_last_beats_first", "the last epoch beats the first"),),
        ),
        MNIST_RAW,
    ),
    Claim(
        "mnist.linear_outputs",
        "mnist",
        "large negative and positive numbers",
        "mnist_video",
        "the linear neuron's outputs on the test images",
        "linear neuron: runs with at least 1% of test outputs below -1 and at least 1% above 2 "
        "(beyond 0-1 by its own width)",
        "linear_outputs_far_outside",
        Rate(
            "at least 1% of the outputs lie below -1 and at least 1% above 2",
            at_least=0.5,
            beside=(("linear_outputs_outside", "any output below 0 and any above 1"),),
        ),
        MNIST_RAW,
    ),
    Claim(
        "mnist.greater_than_0",
        "mnist",
        "anything greater than 0 means that it is a 5",
        "wandb_notes",
        "how the lesson reads the linear neuron's output",
        "linear neuron: runs in which reading outputs at 0 is at least as accurate as Keras's "
        "reading at 0.5",
        "linear_reading_at_0_as_good",
        NotJudged(
            "a reading convention (how to read the output), not a claim about the model",
            kind="convention, not judged",
            share=True,
        ),
        MNIST_RAW,
    ),
    Claim(
        "mnist.validation",
        "mnist",
        "to make sure that the model hasn\u2019t just learnt the training data",
        "wandb_notes",
        "why the lesson validates on held-out images",
        "sigmoid neuron: train accuracy of the last epoch minus test accuracy",
        "sigmoid_train_test_gap",
        NotJudged(
            "advice (why to validate), not a claim about these runs",
            kind="advice, not judged",
        ),
        MNIST_RAW,
        unit="%",
    ),
    Claim(
        "mnist.sigmoid_improves",
        "mnist",
        "this really improves accuracy",
        "mnist_video",
        "activation='sigmoid', the same weights and data order as the linear run",
        "paired runs in which the sigmoid neuron ends with more correct test images than its "
        "linear pair and than the never-five baseline (a dead neuron at the baseline has not "
        "improved)",
        "sigmoid_improves",
        Rate(
            "the sigmoid beats its linear pair and the never-five baseline",
            at_least=0.5,
            beside=(
                ("sigmoid_more_correct", "more correct than its linear pair"),
                ("sigmoid_dead", "sigmoid dead"),
            ),
        ),
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

    def same_variant(claim):  # (a claim judged on another tutorial's runs is not)
        keys = [key for key in VARIANT_KEYS[tutorial] if key in claim.setting]
        return bool(keys) and all(
            _plain(config.get(key)) == _plain(claim.setting[key]) for key in keys
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
    """[(value, source's short name)] of the claims about `quantity` whose number one published
    run printed."""
    return [
        (c.value, SOURCE_NAMES[c.source])
        for c in claims
        if c.quantity == quantity and c.published_run
    ]


def source_text(claim_or_id):
    found = claim(claim_or_id) if isinstance(claim_or_id, str) else claim_or_id
    return SOURCES[found.source]
