"""Freed memory kept in the process for the length of a solve (glibc only; elsewhere a no-op).

Every step of the interior points and the ADMMs allocates and frees temporaries the size of their orthant,
n (2 + 2|W|) doubles for ``ipm_dense`` (70 MB at n = 100,000 and 43 patterns). glibc maps each allocation
above its mmap threshold (which it adapts up to 32 MiB at most) afresh and unmaps it on free, so each such
temporary is faulted in page by page on every use. On the 2-core machine a product of two arrays of 8.8
million doubles takes 9 ms on memory the process already holds, and 250-600 ms, nearly all of it system
time, when its output has to be faulted in: a third of the dense interior point's step at n = 100,000
(docs/benchmarks.md).

:func:`retained_heap` raises glibc's mmap and trim thresholds (``mallopt``) while a solver runs, so that
freed blocks stay in the heap and the next step reuses them. Leaving the outermost block sets the
thresholds to the largest values of glibc's own adaptation and hands the free memory back to the system
(``malloc_trim``). The peak memory is unchanged (the same arrays are live at once); only the faults go.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import sys
import threading

__all__ = ["retained_heap", "retains_heap"]

#: mallopt's parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: after a solve: the largest thresholds glibc's own adaptation reaches (an explicit setting turns that
#: adaptation off for good, so the process is left as it would be after glibc had adapted to large blocks)
SETTLED_MMAP_THRESHOLD = 2 ** 25
SETTLED_TRIM_THRESHOLD = 2 ** 26
#: while a solver runs: blocks up to 1 GiB come from the heap (32 MiB where glibc refuses more), and up to
#: 2 GiB of free heap is kept
RETAINED_MMAP_THRESHOLDS = (2 ** 30, 2 ** 25)
RETAINED_TRIM_THRESHOLD = 2 ** 31 - 1

_lock = threading.Lock()
_depth = 0


@functools.lru_cache(maxsize=1)
def _glibc():
    """The C library when it is glibc with ``mallopt`` and ``malloc_trim``; else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.gnu_get_libc_version  # glibc only
        mallopt, trim = libc.mallopt, libc.malloc_trim
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def _set_thresholds(mmap_threshold, trim_threshold):
    libc = _glibc()
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold))


@contextlib.contextmanager
def retained_heap():
    """Keep freed memory in the heap inside the block (module docstring); nested blocks share the
    outermost one's setting. Leaving the outermost block sets the thresholds to the SETTLED values and
    returns the free memory to the system."""
    global _depth
    libc = _glibc()
    if libc is None:
        yield
        return
    with _lock:
        _depth += 1
        if _depth == 1:
            for threshold in RETAINED_MMAP_THRESHOLDS:
                if _set_thresholds(threshold, RETAINED_TRIM_THRESHOLD):
                    break
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _set_thresholds(SETTLED_MMAP_THRESHOLD, SETTLED_TRIM_THRESHOLD)
                libc.malloc_trim(0)


def retains_heap(solver):
    """Decorator: run the solver function inside :func:`retained_heap`."""
    @functools.wraps(solver)
    def run(*args, **kwargs):
        with retained_heap():
            return solver(*args, **kwargs)
    return run
