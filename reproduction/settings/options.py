"""A tutorial's settings as data: each flag's key, the tutorial's value, spelling, type and help,
and what derives from them (the script's parser, the settings its claims are judged in,
reproduce.py's argv, a study run's replay command, the parts of figure names).

Nothing here imports TensorFlow or NumPy: reproduce.py's driver builds its plan from it.
"""

import argparse
import shlex
from dataclasses import dataclass, field

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class Option:
    """One setting: its key (the parsed argument's and the run record's config key), the
    tutorial's value, and how the flag reads."""

    key: str
    default: object = None
    help: str = ""
    type: object = None
    choices: tuple | None = None
    nargs: str | None = None
    metavar: str | None = None
    switch: bool = False  # a flag without a value (on when given)
    resolved: bool = False  # parsed as None when not given; the script fills in `default`
    # Whether the setting can change a run's numbers (part of its cache key: run_cache.run_key);
    # False for where outputs go, what is printed and where the data is read from (its bytes
    # are keyed by their sha256)
    result: bool = True

    def __post_init__(self):
        if self.switch and self.default is None:
            object.__setattr__(self, "default", False)  # a switch is off unless given

    @property
    def flag(self):
        return "--" + self.key.replace("_", "-")

    def add_to(self, parser):
        if self.switch:
            parser.add_argument(self.flag, action="store_true", help=self.help)
            return
        extra = {name: getattr(self, name) for name in ("choices", "nargs", "metavar")}
        parser.add_argument(
            self.flag,
            type=self.type,
            default=None if self.resolved else self.default,
            help=self.help,
            **{name: value for name, value in extra.items() if value is not None},
        )

    def words(self, value):
        """The flag with `value` as a command line spells it ([] for a switch that is off)."""
        if self.switch:
            return [self.flag] if value else []
        values = value if isinstance(value, (list, tuple)) else [value]
        return [self.flag, *map(str, values)]


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default unless it has none (None) or is a switch (off)."""

    def _get_help_string(self, action):
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


@dataclass(frozen=True)
class Tutorial:
    """A tutorial script's settings. `replay_keys`: what a study run's replay command carries,
    in that order, where it differs from the tutorial's value (`always_replayed` even where it
    does not); `file_keys`: the settings whose values, where they differ from the tutorial's,
    name a run's figures (so an experiment never overwrites the tutorial's pictures);
    `file_names`: their short names there ('lr')."""

    name: str  # the claims registry's name of the tutorial
    script: str
    title: str
    options: tuple
    replay_keys: tuple
    always_replayed: tuple = ("seed",)
    file_keys: tuple = ()
    file_names: dict = field(default_factory=dict)

    def option(self, key):
        for option in self.options:
            if option.key == key:
                return option
        raise KeyError(f"{self.script} has no setting {key!r}")

    @property
    def defaults(self):
        """{key: the tutorial's value} of every setting."""
        return {option.key: option.default for option in self.options}

    def parser(self):
        parser = argparse.ArgumentParser(description=self.title, formatter_class=_Help)
        for option in self.options:
            option.add_to(parser)
        return parser

    def result_settings(self, args):
        """{key: value} of the parsed `args`' settings that can change a run's numbers, as JSON
        values (the run cache's key, with the code version and the data's sha256)."""
        return {
            option.key: _plain(getattr(args, option.key))
            for option in self.options
            if option.result
        }

    def setting(self, *keys, **values):
        """{key: the tutorial's value} of `keys`, then `values` (a claim's setting)."""
        return {key: self.option(key).default for key in keys} | values

    def argv(self, **values):
        """The arguments that set `values` (in that order; None: left out), for a planned run."""
        return [
            word
            for key, value in values.items()
            if value is not None
            for word in self.option(key).words(value)
        ]

    def replay(self, values):
        """The command that trains one run of a study alone: `values` (the run's settings:
        its seeds, and the study's config for the rest) where they differ from the tutorial's."""
        words = ["python", self.script]
        for key in self.replay_keys:
            value, option = values.get(key), self.option(key)
            if value is not None and (key in self.always_replayed or value != option.default):
                words += option.words(value)
        return shlex.join(words)

    def file_suffix(self, values):
        """'_epochs3_lr0.01': a part for each of file_keys whose value differs from the
        tutorial's ('' for the tutorial's settings); a --train-limit or --test-limit beyond the
        images a run had (its train_images, test_images) as the count it used. A switch is named
        by its part alone, a choice by its value, a number by its part and value."""
        parts = []
        for key in self.file_keys:
            value = values.get(key)
            used = values.get(key.replace("_limit", "_images")) if key.endswith("_limit") else None
            if value is not None and used is not None and value > used:
                value = used  # a limit beyond the images there are: named as what it took
            if value == self.option(key).default:
                continue
            name = self.file_names.get(key, key.replace("_", "-"))
            if isinstance(value, bool):
                parts.append(name)
            elif isinstance(value, str):
                parts.append(value)
            elif isinstance(value, float):
                parts.append(f"{name}{value:g}")
            else:
                parts.append(f"{name}{value}")
        return "".join(f"_{part}" for part in parts)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


# ## The engines
FIT, COMPILED = "fit", "compiled"  # the engines (engines/runs.py)
ENGINES = (FIT, COMPILED)


def engine_for(engine, seeds):
    """The engine a run uses: the one asked for, else model.fit for a single run and the
    compiled engine for a study of several."""
    return engine or (FIT if seeds == 1 else COMPILED)
