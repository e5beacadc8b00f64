"""The iteration log every hand-written solver keeps: history lists and the verbose table."""
from __future__ import annotations



def record(history, **values):
    """Append one check's values to the history lists (``history[name].append(value)``)."""
    for name, value in values.items():
        history[name].append(value)
