"""Command-line flags every script shares, the checks on them, and the usage-error exit (code 2).

Checks run before any training: a bad number or an output folder that cannot be written ends
the run at once with argparse's usage line, one line saying what is wrong, and exit code 2.
"""

import argparse
import contextlib
import math
import os
import tempfile
from pathlib import Path

EXIT_USAGE = 2


def int_in_range(low, high):
    """An argparse type: an integer in [low, high]."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range ({low} to {high})")
        return value

    parse.__name__ = "integer"
    return parse


def float_in_range(low, high, *, low_inclusive=False):
    """An argparse type: a finite float in (low, high], or [low, high] with low_inclusive."""

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        above_low = value >= low if low_inclusive else value > low
        if not (math.isfinite(value) and above_low and value <= high):
            bracket = "[" if low_inclusive else "("
            raise argparse.ArgumentTypeError(f"{text} is out of range {bracket}{low}, {high}]")
        return value

    parse.__name__ = "number"
    return parse


def existing_folder(text):
    """An argparse type: a path to a folder that exists (an input such as --data-dir: a typo
    is reported as such, not searched for and then downloaded)."""
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is not a folder" if path.exists() else f"{text} does not exist"
        )
    return path


def keras_file(text):
    """An argparse type: a path ending in .keras (Keras 3 saves whole models only there)."""
    if not text.endswith(".keras"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .keras (Keras 3's format)")
    return Path(text)


def ray_address(text):
    """An argparse type for --ray: 'local', 'auto', HOST:PORT or a ray:// URL (a typo such as an
    empty value or a port that is not a number is a usage error, not a minute of retries)."""
    text = text.strip()
    if text in ("local", "auto") or text.startswith("ray://"):
        return text
    host, colon, port = text.rpartition(":")
    if not (colon and host and port.isdigit() and 0 < int(port) < 65536):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a Ray address ('auto', HOST:PORT or ray://HOST:PORT)"
        )
    return text


def _writable_dir_problem(folder):
    """None if files can be created in `folder` (creating it if needed), else what is wrong."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} exists and is not a folder"
    # Folders made for the check are removed after it: a run that stops before writing
    # anything leaves no empty folder behind (writers create theirs when they write).
    created = [p for p in (folder, *folder.parents) if not p.exists()]
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        return f"cannot write in {folder}: {error.strerror or error}"
    finally:
        for path in created:
            with contextlib.suppress(OSError):
                path.rmdir()
    return None


def _writable_file_problem(path):
    """None if `path` can be written (created or replaced), else what is wrong."""
    if path.is_dir():
        return f"{path} is a folder, not a file path"
    problem = _writable_dir_problem(path.parent)
    if problem is None and path.exists() and not os.access(path, os.W_OK):
        problem = f"{path} is not writable"
    return problem


def check_output_dir(parser, flag, folder):
    """Usage error (exit 2) unless files can be written in `folder` (created if needed)."""
    problem = _writable_dir_problem(folder)
    if problem:
        parser.error(f"{flag}: {problem}")


def check_output_file(parser, flag, path):
    """Usage error (exit 2) unless `path` (None: not asked for) can be written."""
    problem = path is not None and _writable_file_problem(path)
    if problem:
        parser.error(f"{flag}: {problem}")


def check_output_paths(parser, args, extra_files=()):
    """Fail now, not after training, if the figures folder, the JSON record or another output
    file (`extra_files`: (flag, path) pairs, path None when not asked for) cannot be written."""
    check_output_dir(parser, "--figures-dir", args.figures_dir)
    for flag, path in [("--json", args.json), *extra_files]:
        check_output_file(parser, flag, path)


def check_validation_split(parser, count, fraction):
    """Usage error (exit 2) if Keras's validation_split (the last int(count * fraction) of
    `count` training examples) would leave nothing to validate on."""
    if fraction and int(count * fraction) == 0:
        parser.error(
            f"--validation-split {fraction:g} of {count} training images holds out "
            "none; use a larger fraction or more images"
        )


def config_of(args):
    """The parsed arguments as plain JSON-friendly values, for the run record."""
    return {
        key: (str(value) if isinstance(value, Path) else value)
        for key, value in sorted(vars(args).items())
    }
