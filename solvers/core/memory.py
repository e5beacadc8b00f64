"""Peak-memory estimates of every solver, computed from the program's shape before anything is allocated,
so that a request that cannot fit is refused up front with the estimate and an alternative.

The estimates count the dominant arrays of each solver's own storage (8-byte floats):

* ``admm`` (constrained programs): about twelve n x 2P iterate-sized arrays, plus on the dense a-update
  route the n x n capacitance matrix and its eigendecomposition (three n x n arrays at once during
  ``eigh``), on the matrix-free route (:func:`solvers.admm.factorization.a_update_route`) four n x 2P
  temporaries of the checks (the iterations' own passes run over row chunks) and the preconditioner's
  P d x d blocks and their inverses;
* ``ipm``: about twenty n x 2P slack and multiplier arrays and a 4 MiB chunk of the products
  ``x_i x_i^T`` (for the blocks ``X^T diag(h) X``), plus
  its Newton route's matrices (:func:`solvers.ipm.newton_route`): the n x n matrix ``I + L L^T`` and its
  Cholesky factor with ``L`` (n x 2dP) and its copy, or, for tall data, the dP x dP Gram matrix of the
  patterns, the Newton matrix and its product temporaries (four dP x dP arrays) and one 256 MiB chunk;
* ``fista``: about ten n x P arrays and the d x P iterates;
* ``working_set``: the data and one n x P product for the screen, plus its inner solver on a working set
  of up to ``WORKING_SET_PATTERNS`` patterns - the larger of the structured ``ipm``'s estimate there and the
  dense interior points' (forty arrays the size of its orthant, n (2 + 2|W|) entries - tracemalloc
  measured a peak of 15-21 at n = 10,000-20,000 -, four d |W| x d |W| matrices - the weighted Gram matrix,
  the paired Newton matrix and the Cholesky's copies -, the stacked system of size 2 d |W| and its Cholesky
  copy that a Newton step factorises where the paired solve falls short, and one row chunk of its
  product), each replaced by the ADMM's where its Newton matrix exceeds ``IPM_MAX_NEWTON_SIZE`` (wide
  data); the working set grows past that size only where pricing asks for it;
* CVXPY solvers: the compiled problem's sparse matrices, about 3 n d P nonzeros for the constrained
  program (the cone rows and the predictions), at roughly 120 bytes per nonzero through CVXPY's
  canonicalisation and the solver's own copy (measured order of magnitude, not a bound).
"""
from __future__ import annotations

import os

_FLOAT = 8
#: bytes per nonzero of the compiled CVXPY problem, canonicalisation and solver copies included
_CVXPY_BYTES_PER_NONZERO = 120
#: the working-set size the working_set solver's estimate assumes
WORKING_SET_PATTERNS = 64


def estimate_bytes(solver, n, d, P):
    """Estimated peak bytes of ``solver`` on a program with n samples, d features and P patterns."""
    data = n * d * _FLOAT + n * P * _FLOAT
    key = solver.lower()
    if key == "admm":
        from ..admm.factorization import BLOCK_PRECONDITIONER_BYTES, a_update_route
        iterates = data + 12 * n * 2 * P * _FLOAT
        if a_update_route(n, d, P) == "dense":
            return iterates + 3 * n * n * _FLOAT
        return iterates + 4 * n * 2 * P * _FLOAT + min(2 * P * d * d * _FLOAT, BLOCK_PRECONDITIONER_BYTES)
    if key == "ipm":
        from ..ipm import newton_route
        common = data + 20 * n * 2 * P * _FLOAT + 2 ** 22
        if newton_route(n, d, P) == "gram":
            return common + 4 * (d * P) ** 2 * _FLOAT + 2 ** 28
        return common + 2 * n * n * _FLOAT + 2 * n * 2 * d * P * _FLOAT
    if key == "fista":
        return data + 10 * n * P * _FLOAT + 10 * d * P * _FLOAT
    if key == "working_set":
        from ..working_set import IPM_MAX_NEWTON_SIZE
        pw = min(P, WORKING_SET_PATTERNS)
        admm = estimate_bytes("admm", n, d, pw) - n * d * _FLOAT - n * pw * _FLOAT
        structured = estimate_bytes("ipm", n, d, pw) - n * d * _FLOAT - n * pw * _FLOAT
        from ..ipm_dense import GRAM_CHUNK_BYTES
        # the stacked fallback of a Newton step (matrix and its Cholesky copy) at 2 d |W|
        dense = (40 * n * (2 + 2 * pw) * _FLOAT + 4 * (d * pw) ** 2 * _FLOAT + 2 * (2 * d * pw) ** 2 * _FLOAT
                 + GRAM_CHUNK_BYTES)
        inner = max(structured, dense) if d * pw <= IPM_MAX_NEWTON_SIZE else admm
        return data + n * P * _FLOAT + inner
    return data + 3 * n * d * P * _CVXPY_BYTES_PER_NONZERO


def available_bytes():
    """Memory available to this process now (MemAvailable of /proc/meminfo; else physical memory; None
    when neither can be read)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX systems
        return None


def describe_bytes(nbytes):
    """``nbytes`` for messages: GiB from 1 GiB up, MiB below."""
    return f"{nbytes / 2 ** 30:.1f} GiB" if nbytes >= 2 ** 30 else f"{nbytes / 2 ** 20:.1f} MiB"


def check_memory(solver, n, d, P, max_memory=None):
    """ValueError with the estimate and an alternative when ``solver`` would need more than ``max_memory``
    bytes (default: the memory available now). Returns the estimate in bytes."""
    need = estimate_bytes(solver, n, d, P)
    limit = available_bytes() if max_memory is None else max_memory
    if limit is not None and need > limit:
        source = "--max-memory" if max_memory is not None else "available"
        raise ValueError(f"solver {solver.lower()!r} would need about {describe_bytes(need)} for n={n}, d={d}, "
                         f"P={P}, more than the {describe_bytes(limit)} {source}; use fewer samples or patterns, "
                         f"or a solver with smaller storage (fista on the gated program: about "
                         f"{describe_bytes(estimate_bytes('fista', n, d, P))})")
    return need
