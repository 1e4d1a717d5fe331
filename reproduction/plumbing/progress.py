"""Progress lines for long runs, on stderr so that stdout holds only the results."""

import contextlib
import sys
import time


def progress_to_stderr():
    """While training: whatever prints (Keras's own epoch lines, the engines' progress) goes to
    stderr, so that stdout holds only the results."""
    return contextlib.redirect_stdout(sys.stderr)


class Progress:
    """Reports `done/total` with elapsed time: redrawn in place on a terminal, otherwise one
    line at most every `every_s` seconds (plus the last), so logs stay short."""

    def __init__(self, total, label, *, enabled=True, every_s=5.0, stream=None):
        self.total, self.label, self.enabled = total, label, enabled
        self.every_s = every_s
        self.stream = stream or sys.stderr
        self.start = self.last_print = time.perf_counter()
        self.on_terminal = self.stream.isatty()

    def update(self, done):
        if not self.enabled:
            return
        now = time.perf_counter()
        finished = done >= self.total
        if not (finished or self.on_terminal or now - self.last_print >= self.every_s):
            return
        self.last_print = now
        line = (
            f"{self.label}: {done}/{self.total} ({100 * done / self.total:.0f}%), "
            f"{now - self.start:.1f} s"
        )
        if self.on_terminal:
            self.stream.write("\r" + line + ("\n" if finished else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
