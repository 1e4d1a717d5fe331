"""Keras 3 on TensorFlow, imported once and quietly.

TensorFlow's C++ start-up lines ("oneDNN custom operations are on", "Could not find cuda
drivers") go to file descriptor 2 before any Python logging exists and ignore
TF_CPP_MIN_LOG_LEVEL, so the import runs with fd 2 captured; informational lines are dropped and
anything else (warnings, errors) is passed on unchanged.
"""

import contextlib
import ctypes
import os
import re
import sys
import tempfile

from reproduction.plumbing.exits import EXIT_INTERRUPTED

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Informational start-up lines, and CUDA's complaint on a machine without a GPU (device.py
# reports the device actually used in its own words).
_STARTUP_NOISE = re.compile(
    r"^(I\d{4} "
    r"|WARNING: All log messages before absl::InitializeLog"
    r"|To enable the following instructions:"  # continuation of an I-line
    r"|E\d{4} .*failed call to cuInit)"
)


def _flush_c_streams():
    try:
        ctypes.CDLL(None).fflush(None)
    except (OSError, AttributeError):  # no C library to ask: nothing buffered there either
        pass


@contextlib.contextmanager
def startup_noise_filtered():
    """Run the block with fd 2 captured; afterwards pass on every line but start-up noise."""
    sys.stderr.flush()
    saved_fd = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            _flush_c_streams()  # C++ may hold the lines in a stdio buffer until exit
            os.dup2(saved_fd, 2)
            os.close(saved_fd)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line and not _STARTUP_NOISE.match(line):
                    print(line, file=sys.stderr)


try:
    with startup_noise_filtered():
        import tensorflow as tf

    import keras  # (after TensorFlow, so its import is the quiet one above)
    from keras import layers
except KeyboardInterrupt:
    # Ctrl-C in the seconds TensorFlow takes to load: nothing has run or been written yet, so
    # end as an interrupted run does (reproduction/plumbing/exits.py), without a traceback.
    print(
        f"{os.path.basename(sys.argv[0])}: interrupted while loading TensorFlow; nothing "
        "was written",
        file=sys.stderr,
    )
    raise SystemExit(EXIT_INTERRUPTED) from None

# Scripts import keras, layers and tf from here: a plain `import keras` placed earlier (import
# sorters put third-party imports first) would bring TensorFlow in unfiltered.
__all__ = ["keras", "layers", "tf"]
