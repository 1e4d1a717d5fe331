"""Atomic file writes: a run that dies never leaves a half-written figure or record behind.

Each output is written to a temporary file in the target's folder and renamed into place. The
few steps that create, rename or remove the temporary file run with Ctrl-C held back until they
are done, so an interrupt cannot strand a temporary file either. The files completed so far are
remembered, so that an interrupted run can say what it kept (reproduction/plumbing/exits.py).
"""

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path


def _new_file_mode():
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_NEW_FILE_MODE = _new_file_mode()
_written = []  # paths completed by atomic_path in this process, in order
_held = {"depth": 0, "pending": False, "previous": None}


def written_files():
    """The files this process has completed through atomic_path, oldest first."""
    return list(_written)


def note_written(path):
    """Remember `path` as completed, for a writer that publishes by its own atomic rename
    (a folder of TensorBoard logs, reproduction/plumbing/keras_outputs.py)."""
    _written.append(str(path))


def _hold(signum, frame):
    _held["pending"] = True


@contextlib.contextmanager
def interrupts_held():
    """Run the block with SIGINT held back; a Ctrl-C that arrives meanwhile is raised (as
    KeyboardInterrupt, or whatever the previous handler does) when the block ends. Only the
    main thread receives signals, so elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _held["depth"] == 0:
        _held["previous"], _held["pending"] = signal.signal(signal.SIGINT, _hold), False
    _held["depth"] += 1
    try:
        yield
    finally:
        _held["depth"] -= 1
        if _held["depth"] == 0:
            previous = _held["previous"]
            signal.signal(signal.SIGINT, previous)
            if _held["pending"]:
                _held["pending"] = False
                if callable(previous):
                    previous(signal.SIGINT, None)
                elif previous == signal.SIG_DFL:
                    raise KeyboardInterrupt


@contextlib.contextmanager
def atomic_path(path, suffix=".tmp"):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The temporary file lives in the same folder so that the final rename is atomic. `suffix`
    is for writers that insist on an extension (Keras saves only to names ending in .keras).
    """
    path = Path(path)
    tmp = None
    try:
        with interrupts_held():
            path.parent.mkdir(parents=True, exist_ok=True)  # made when first written to
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
            os.close(fd)
        yield Path(tmp)
        with interrupts_held():
            os.chmod(tmp, _NEW_FILE_MODE)  # mkstemp makes files private; outputs are not
            os.replace(tmp, path)
            _written.append(str(path))
    finally:
        if tmp is not None:
            with interrupts_held(), contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def write_text_atomic(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def link_or_copy(source, target):
    """`target` as a hard link to `source` (no second copy of a study's arrays, which run to
    tens of MB), or a copy where the file system cannot link. Safe because every writer here
    replaces a file by renaming a new one into place, never by writing into it."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
