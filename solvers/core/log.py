"""The iteration log every hand-written solver keeps: history lists, and the verbose table on stderr."""
from __future__ import annotations

import sys


def record(history, **values):
    """Append one check's values to the history lists (``history[name].append(value)``)."""
    for name, value in values.items():
        history[name].append(value)


class IterationLog:
    """The verbose iteration table of a solver, printed on ``sys.stderr``.

    ``after`` is the number of seconds after which the table starts (0: at once; None: never); this is how
    ``verbose="auto"`` shows the table only for runs that last. ``columns`` is a list of
    ``(title, width)``; a row is given as already formatted cells, one per column."""

    def __init__(self, solver, columns, after, stream=None):
        self.solver, self.columns, self.after = solver, list(columns), after
        self.stream = sys.stderr if stream is None else stream
        self.started = False

    def active(self, now, intro=""):
        """True when rows should be printed at time ``now`` (seconds since the start); the first time it
        becomes true, prints ``intro`` (a line naming the run) and the column titles."""
        if not self.started and self.after is not None and now >= self.after:
            self.started = True
            if intro:
                print(f"{self.solver}: {intro}", file=self.stream)
            print(" ".join(f"{title:>{width}}" for title, width in self.columns), file=self.stream)
        return self.started

    def row(self, *cells):
        """Print one row (cells right-aligned to the column widths)."""
        print(" ".join(f"{cell:>{width}}" for cell, (_, width) in zip(cells, self.columns)), file=self.stream)

    def line(self, text):
        """Print a free line (a summary or an event) when the table is on."""
        if self.started:
            print(f"{self.solver}: {text}", file=self.stream)
