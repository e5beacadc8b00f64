"""The ADMM family (Bai, Gautam & Sojoudi, Algorithm 1) behind one entry point, :func:`admm`.

* :mod:`.squared` - the squared loss, loss inside the a-update;
* :mod:`.split` - hinge and logistic, with the extra split ``z = M a``;
* :mod:`.robust` - the l_inf-robust hinge program (slope and eps-cone splits);
* :mod:`.polish`, :mod:`.robust_polish` - active-set polishing and dual certificates;
* :mod:`.factorization` - the cached a-update factorisation;
* :mod:`.schedules` - residual balancing, when to certify and polish, which point to return.
"""
from __future__ import annotations

import time

from formulations.relu import ReLUProgram

from ..core.blas import run_with_blas_threads
from ..core.heap import retains_heap
from ..result import finish_run
from .squared import admm_squared

__all__ = ["admm", "admm_squared"]


@retains_heap
def admm(program, **options):
    r"""Solve a constrained convex ReLU program by ADMM (docs/math.md sections 6 and 7): one name, three variants.

    * squared loss, ``exact`` / ``sampled`` program: :func:`admm_squared` (loss inside the a-update,
      polishing with a duality-gap certificate);
    * hinge or logistic loss, ``exact`` / ``sampled`` program: :func:`solvers.admm.split.admm_split`
      (extra split ``z = M a``, the loss enters through its per-sample prox, same cached factorisation);
    * ``robust`` program, hinge loss: :func:`solvers.admm.robust.admm_robust` (splits for the slopes and
      the eps-tightened cones).

    ``options`` go to the variant (see its docstring); every variant returns a
    :class:`~solvers.result.SolveResult` with ``solver="admm"`` and accepts ``tol_abs``, ``tol_rel``,
    ``max_iter``, ``time_limit``, ``warm_start``, ``verbose`` and ``blas_threads``.
    """
    from formulations.robust import RobustReLUProgram

    if isinstance(program, RobustReLUProgram):
        from .robust import admm_robust
        if program.warn_if_cones_collapse():
            return _zero_network_is_optimal(program)
        return admm_robust(program, **options)
    if isinstance(program, ReLUProgram) and program.formulation in ("exact", "sampled") \
            and program.loss.name != "squared":
        from .split import admm_split
        blas_threads = options.pop("blas_threads", 1)
        return run_with_blas_threads("admm", blas_threads, admm_split, program, **options)
    return admm_squared(program, **options)


def _zero_network_is_optimal(program):
    """The robust program whose every cone is {0} at its epsilon: the zero network is its only feasible
    point, hence optimal - no iteration is needed to prove it."""
    start = time.perf_counter()
    weights = program.zero_weights()
    objective = program.objective(weights)
    info = {"stopped_by": "every robust cone is {0} at this epsilon: the zero network is the only feasible point",
            "duality_gap_rel": 0.0, "dual_bound": objective, "certified": True}
    return finish_run(program, weights, status="optimal", solver="admm", iterations=0,
                      solve_time_s=time.perf_counter() - start, info=info)
