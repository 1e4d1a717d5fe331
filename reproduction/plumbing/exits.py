"""Exit codes, and the clean ends of a run that cannot finish: Ctrl-C and memory running out.

| code | meaning |
|---|---|
| 0 | success |
| 1 | the run failed: a non-finite loss, not enough memory, a failed run in reproduce.py |
| 2 | usage (argparse) or data (not found, malformed) |
| 130 | interrupted (Ctrl-C / SIGINT), as shells report 128 + SIGINT |

Every end is one line on stderr, never a traceback, and says what was kept: outputs are written
atomically (reproduction/plumbing/atomic.py), so a file either exists whole or not at all.
"""

import signal
import sys
from pathlib import Path

from reproduction.plumbing.atomic import written_files

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class Interrupted(KeyboardInterrupt):
    """A Ctrl-C already dealt with where it was caught; the message says what was kept."""


def error_line(message, code=EXIT_FAILED, prog=None):
    """Print `prog: error: message` on stderr; return `code` (for `return error_line(...)`)."""
    print(f"{prog or Path(sys.argv[0]).name}: error: {message}", file=sys.stderr)
    return code


def kept_text(already_written=0):
    """What this process completed since `already_written` files, in words."""
    files = written_files()[already_written:]
    if not files:
        return "nothing was written (figures, records and models are written when a run finishes)"
    return "kept, complete: " + ", ".join(files) + "; nothing is half-written"


def _is_out_of_memory(error):
    # TensorFlow's allocator failure, named so that this module need not import TensorFlow.
    return isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError"


def run_main(main, argv=None):
    """main(argv)'s exit code; on Ctrl-C, 130 and one line saying what was kept; when memory
    runs out, 1 and one line. For `sys.exit(run_main(main))` in a script."""
    prog = Path(sys.argv[0]).name
    already_written = len(written_files())
    try:
        return main(argv)
    except KeyboardInterrupt as interrupt:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this short
        detail = (
            str(interrupt) if isinstance(interrupt, Interrupted) else kept_text(already_written)
        )
        print(f"{prog}: interrupted; {detail}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if not _is_out_of_memory(error):
            raise
        return error_line(
            f"out of memory ({type(error).__name__}); try a smaller run (fewer "
            f"seeds, --train-limit, --engine compiled); {kept_text(already_written)}",
            prog=prog,
        )
