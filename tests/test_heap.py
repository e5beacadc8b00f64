"""solvers.core.heap: freed memory is reused inside a solve, and the setting ends with the outermost block."""
import resource

import numpy as np
import pytest

import solvers.core.heap as heap

glibc = pytest.mark.skipif(heap._glibc() is None, reason="the heap setting needs glibc")

#: 64 MiB: above glibc's largest adaptive mmap threshold (32 MiB), so by default it is mapped afresh
LARGE = 2 ** 23


def _faults_of_reallocation():
    """Minor page faults taken by a LARGE array allocated and written right after an equal one was freed."""
    first = np.ones(LARGE)
    del first
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    second = np.ones(LARGE)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    del second
    return faults


@glibc
def test_freed_memory_is_reused_inside_the_block():
    with heap.retained_heap():
        _faults_of_reallocation()  # the heap grows to hold one LARGE array
        faults = _faults_of_reallocation()
    # 64 MiB faulted in afresh is at least 32 faults even with 2 MiB pages
    assert faults < 8


def test_nested_blocks_restore_on_exit_and_on_error():
    with heap.retained_heap():
        with heap.retained_heap():
            assert heap._depth == (2 if heap._glibc() is not None else 0)
        with pytest.raises(RuntimeError):
            with heap.retained_heap():
                raise RuntimeError("inside")
    assert heap._depth == 0


def test_decorated_solver_keeps_its_name_and_result():
    import importlib
    dense = importlib.import_module("solvers.ipm_dense")
    assert dense.ipm_dense.__name__ == "ipm_dense" and dense.ipm_dense.__wrapped__ is not None
    calls = []

    @heap.retains_heap
    def solver(value):
        calls.append(heap._depth)
        return value

    assert solver(3) == 3 and heap._depth == 0
    assert calls == [1 if heap._glibc() is not None else 0]
