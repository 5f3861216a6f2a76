"""Choose and combine engines: explicit search, BMC, k-induction, PDR, and `auto`.

`auto` searches explicitly within a state budget; when the search is exhaustive its answers
stand, otherwise PDR decides the properties still open. Every answer says which engine gave
it and what it covers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from nmrcheck.engines.explicit.search import Limits
from nmrcheck.engines.explicit.search import check as search_check
from nmrcheck.engines.result import PARTIAL, UNKNOWN, CheckResult, PropertyResult

ENGINES = ("auto", "explicit", "bmc", "induction", "pdr")
AUTO_STATE_BUDGET = 300_000
AUTO_SOLVER_SECONDS = 120.0


@dataclass
class Plan:
    """What the user asked for."""

    engine: str = "auto"
    limits: Limits | None = None
    depth: int = 40
    hangs: bool = True
    progress: Callable[[dict], None] | None = None
    properties: list[str] | None = None  # only these (all when None)
    notice: Callable[[str], None] | None = None  # tells the user what the run does next
    workers: int = 1  # processes of the explicit search (1: the sequential search)
    symmetry: str = "auto"  # auto: reduce by replicated drivers where sound; off
    por: str = "off"  # partial-order reduction: auto, on (where sound) or off (por.check)


def run(ts, plan: Plan) -> CheckResult:
    """Answer every property of ``ts`` with the engine(s) of ``plan``."""
    limits = plan.limits or Limits()
    check = _explicit_check(plan)  # the explicit search, on plan.workers processes
    if plan.engine == "explicit":
        return check(
            ts, limits, progress=plan.progress, hangs=plan.hangs, symmetry=plan.symmetry
        )[0]
    if plan.engine in ("bmc", "induction", "pdr"):
        return _symbolic(ts, plan.engine, plan.depth, limits.timeout, _names(ts, plan))
    # auto: a state limit the user set is a hard stop (its verdicts stay unknown); only the
    # budget of auto itself hands the open properties over to PDR
    if limits.max_states is not None:
        result = check(
            ts, limits, progress=plan.progress, hangs=plan.hangs, symmetry=plan.symmetry
        )[0]
        result.engine = "explicit"
        return result
    budget = AUTO_STATE_BUDGET
    start = time.monotonic()
    first, _ = check(
        ts,
        Limits(budget, limits.timeout, limits.max_memory_mb),
        progress=plan.progress,
        hangs=plan.hangs,
        symmetry=plan.symmetry,
    )
    if first.stats.get("complete") or first.stats.get("interrupted"):
        first.engine = "explicit"
        return first
    wanted = set(_names(ts, plan))
    open_names = [
        r.property for r in first.results if r.verdict == UNKNOWN and r.property in wanted
    ]
    remaining = None
    if limits.timeout is not None:
        remaining = max(0.0, limits.timeout - (time.monotonic() - start))
    else:
        remaining = AUTO_SOLVER_SECONDS
    decided: dict[str, PropertyResult] = {}
    if remaining < 1.0:  # the time is up: the explicit search's "unknown" stands
        open_names = []
    if open_names:
        from nmrcheck.engines.symbolic import pdr

        if plan.notice is not None:
            plan.notice(
                f"state budget of {budget} states reached; PDR decides "
                f"{len(open_names)} properties (up to {remaining:.0f} s)"
            )
        deadline = time.monotonic() + remaining
        for k, name in enumerate(open_names):
            # an equal share of what is left, so one hard property cannot starve the rest
            share = max(0.0, deadline - time.monotonic()) / (len(open_names) - k)
            for r in pdr(ts, [name], timeout=share, shortest=True):
                decided[r.property] = r
    results = [decided.get(r.property, r) for r in first.results]
    stats = dict(first.stats)
    stats["handed_to_pdr"] = open_names
    return CheckResult(results, "auto (explicit, then pdr)", stats)


def _explicit_check(plan: Plan) -> Callable:
    """:func:`search.check`, exploring on ``plan.workers`` processes when there are several
    (the same exploration, so the same answers); its stats say how many ran."""
    if plan.workers <= 1:
        from functools import partial

        from nmrcheck.engines.explicit.por import check as por_check

        return partial(por_check, por=plan.por)
    from functools import partial

    from nmrcheck.engines.explicit.parallel import explore_parallel

    explorer = partial(explore_parallel, workers=plan.workers)

    def check_on_workers(*args, **kwargs):
        result, ex = search_check(*args, explorer=explorer, **kwargs)
        result.stats["workers"] = getattr(ex, "workers", 1)
        if hasattr(ex, "memory_mb"):  # the coordinator's peak plus the workers' growth
            result.stats["peak_memory_mb"] = round(ex.memory_mb, 1)
        return result, ex

    return check_on_workers


def _names(ts, plan: Plan) -> list[str]:
    """The properties to decide, in model order (hang freedom is the explicit engine's)."""
    names = [p.name for p in ts.properties]
    if plan.properties:
        names = [n for n in names if n in plan.properties]
    return names


def _symbolic(ts, engine: str, depth: int, timeout: float | None, names: list[str]) -> CheckResult:
    from nmrcheck.engines import symbolic

    start = time.monotonic()
    if not names:
        results = []
    elif engine == "bmc":
        results = symbolic.bmc(ts, names, depth=depth, timeout=timeout)
    elif engine == "induction":
        results = symbolic.k_induction(ts, names, max_k=depth, timeout=timeout)
    else:
        results = symbolic.pdr(ts, names, timeout=timeout)
    stats = {
        "seconds": round(time.monotonic() - start, 3),
        "depth": depth if engine != "pdr" else None,
        "complete": False,
        "hangs": "not checked: hang detection needs the explicit engine",
    }
    for r in results:
        if r.verdict == UNKNOWN and not r.coverage:
            r.coverage = PARTIAL
    return CheckResult(results, engine, stats)
