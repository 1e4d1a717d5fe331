"""The tutorials' settings by script: how reproduce.py reads a planned run's arguments as the
script reads them (without importing the script, and TensorFlow with it)."""

from reproduction.settings import cifar10, mnist, xor

PARSE = {
    xor.XOR.script: (xor.XOR, xor.parse),
    mnist.MNIST.script: (mnist.MNIST, mnist.parse),
    cifar10.CIFAR10.script: (cifar10.CIFAR10, cifar10.parse),
}


def result_settings(script, argv):
    """{setting: value} of what `argv` makes `script` compute with: every setting that can change
    a run's numbers, defaults and resolutions included (Tutorial.result_settings). A script that
    is not a tutorial's: its arguments as given."""
    if script not in PARSE:
        return {"argv": list(argv)}
    tutorial, parse = PARSE[script]
    return tutorial.result_settings(parse(list(argv), check_outputs=False)[1])
