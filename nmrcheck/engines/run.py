"""Choose and combine engines: explicit search, BMC, k-induction, PDR, and `auto`.

``auto`` (the default) and ``explicit`` decide every property on one explicit exploration
(safety, hangs and liveness), which goes on while the time and memory limits allow. When
``auto``'s search stops at the memory limit, PDR gets the safety properties still open (the
only ones it can decide), and says so; every property left open says why and what to try.
The symbolic engines decide the safety properties by BMC, k-induction or PDR and the liveness
properties by bounded lasso search.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from nmrcheck import control
from nmrcheck.engines.common.results import HANG, PARTIAL, UNKNOWN, CheckResult, PropertyResult
from nmrcheck.engines.explicit import por as por_check
from nmrcheck.engines.explicit.liveness import liveness_properties, without_liveness
from nmrcheck.engines.explicit.search import STOPPED_AT_VIOLATION, Limits
from nmrcheck.ir import TransitionSystem

ENGINES = ("auto", "explicit", "bmc", "induction", "pdr")
AUTO_SOLVER_SECONDS = 120.0  # PDR's share after a search cut off by memory, without --timeout


@dataclass(frozen=True)
class Plan:
    """What the user asked for."""

    engine: str = "auto"
    limits: Limits = field(default_factory=Limits)
    depth: int = 40
    hangs: bool = True
    properties: tuple[str, ...] = ()  # only these (all when empty)
    symmetry: str = "auto"  # auto: reduce by replicated drivers where sound; off
    por: str = "off"  # partial-order reduction: auto, on (where sound) or off (por.check)
    keep_going: bool = False  # decide every property, past the first violation
    progress: Callable[[dict], None] | None = None
    notice: Callable[[str], None] | None = None  # tells the user what the run does next


def run(ts, plan: Plan) -> CheckResult:
    """Answer every property of ``ts`` (only those of ``plan.properties``, when it names
    some) with the engine(s) of ``plan``."""
    if plan.properties:
        ts = replace(ts, properties=[p for p in ts.properties if p.name in plan.properties])
    if plan.engine in ("bmc", "induction", "pdr"):
        result = _symbolic(without_liveness(ts), plan.engine, plan.depth, plan.limits.timeout,
                           _names(without_liveness(ts), plan))
        return add_liveness(ts, result, plan.properties, plan.limits, plan.depth)
    result, _ = por_check.check(
        ts, plan.limits, plan.progress, plan.hangs, por=plan.por, symmetry=plan.symmetry,
        stop_at_violation=not plan.keep_going,
    )
    result.engine = "explicit"
    if plan.engine == "auto":
        result = _hand_over(ts, result, plan)
    _advise(result)
    return result


def _hand_over(ts, result: CheckResult, plan: Plan) -> CheckResult:
    """After a search cut off by the memory limit, PDR decides the safety properties still
    open (the only ones it can), with what is left of the time."""
    st = result.stats
    reason = next((r.reason for r in result.results if r.verdict == UNKNOWN), "")
    if st.get("complete") or st.get("interrupted") or not reason.startswith("memory limit"):
        return result
    wanted = set(_names(without_liveness(ts), plan))
    open_names = [r.property for r in result.results
                  if r.verdict == UNKNOWN and r.property in wanted]
    ctl = control.current()
    remaining = ctl.remaining()
    if remaining is None:
        remaining = AUTO_SOLVER_SECONDS
    if not open_names or remaining < 1.0:
        return result
    from nmrcheck.engines.symbolic import pdr

    if plan.notice is not None:
        plan.notice(f"{reason}: PDR tries the {len(open_names)} open safety properties "
                    f"(up to {remaining:.0f} s); hangs and liveness need the whole graph")
    decided: dict[str, PropertyResult] = {}
    with ctl.timed("proof"):  # one inference serves every open property
        for r in pdr(ts, open_names, timeout=remaining, shortest=True):
            if r.verdict != UNKNOWN:
                decided[r.property] = r
    results = [decided.get(r.property, r) for r in result.results]
    stats = dict(st)
    stats["handed_to_pdr"] = {"tried": open_names, "decided": sorted(decided)}
    return CheckResult(results, "auto (explicit, then pdr)", stats)


def _advise(result: CheckResult) -> None:
    """Say, for each property left open by a limit, what to try."""
    for r in result.results:
        if r.verdict != UNKNOWN or "--" in r.reason or STOPPED_AT_VIOLATION in r.reason:
            continue
        if r.reason.startswith("memory limit"):
            hint = "a larger --max-memory, --property to check fewer"
        elif r.reason.startswith("time limit"):
            hint = "a longer --timeout, --property to check fewer"
        elif r.reason.startswith("state limit"):
            hint = "a larger --max-states"
        else:
            continue
        if r.property != HANG and r.engine == "explicit" and "needs the whole graph" not in \
                r.reason and "need the whole graph" not in r.reason:
            hint += ", --engine pdr for a proof"
        r.reason = f"{r.reason}; try {hint}"


def _names(ts, plan: Plan) -> list[str]:
    """The properties to decide, in model order (hang freedom is the explicit engine's)."""
    names = [p.name for p in ts.properties]
    if plan.properties:
        names = [n for n in names if n in plan.properties]
    return names


def _symbolic(ts, engine: str, depth: int, timeout: float | None, names: list[str]) -> CheckResult:
    from nmrcheck.engines import symbolic

    start = time.monotonic()
    ctl = control.current()
    if ctl.remaining() is not None:
        timeout = ctl.remaining() if timeout is None else min(timeout, ctl.remaining())
    with ctl.timed("proof"):
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
    if ctl.interrupted:
        stats["interrupted"] = True
    for r in results:
        if r.verdict == UNKNOWN and not r.coverage:
            r.coverage = PARTIAL
    return CheckResult(results, engine, stats)


def add_liveness(
    ts: TransitionSystem,
    result: CheckResult,
    names: Sequence[str] = (),
    limits: Limits | None = None,
    depth: int = 40,
) -> CheckResult:
    """``result`` (of the symbolic engines, run on :func:`without_liveness`) with the
    answers for the liveness properties of ``ts`` added by bounded lasso search (up to
    ``depth`` steps). Only the properties in ``names`` when it is not empty."""
    props = liveness_properties(ts, names)
    if not props:
        return result
    from nmrcheck.engines.symbolic.lasso import lasso_bmc_all  # z3: only when asked for

    timeout = control.current().remaining()
    if limits is not None and limits.timeout is not None:
        timeout = limits.timeout if timeout is None else min(timeout, limits.timeout)
    results = lasso_bmc_all(ts, props, depth, timeout)
    stats = {
        "properties": len(props),
        "fairness_groups": len(ts.fairness),
        "engine": "lasso bmc",
        "depth": depth,
    }
    merged = CheckResult(list(result.results) + results, result.engine, dict(result.stats))
    merged.stats["liveness"] = stats
    return merged
