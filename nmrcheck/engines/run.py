"""Choose and combine engines: explicit search, BMC, k-induction, PDR, and `auto`; the
escalation policy, in one place.

``auto`` (the default) and ``explicit`` decide every property on one explicit exploration
(safety, hangs and liveness), which goes on while the time and memory limits allow. When
``auto``'s search stops at the memory limit, PDR gets the safety properties still open (the
only ones it can decide), and says so; every property left open says why and what to try.
The symbolic engines decide the safety properties by BMC, k-induction or PDR and the liveness
properties by bounded lasso search. Every engine is a
:class:`~nmrcheck.engines.common.checker.Checker`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from nmrcheck import control
from nmrcheck.engines.common.checker import Checker, Limits, Options, restricted, without_liveness
from nmrcheck.engines.common.results import HANG, UNKNOWN, CheckResult, PropertyResult
from nmrcheck.engines.explicit.engine import Explicit
from nmrcheck.engines.explicit.sample import reachable_states
from nmrcheck.engines.explicit.search import STOPPED_AT_VIOLATION
from nmrcheck.ir import TransitionSystem

__all__ = ["ENGINES", "Limits", "Plan", "checker", "run"]

ENGINES = ("auto", "explicit", "bmc", "induction", "pdr")
AUTO_SOLVER_SECONDS = 120.0  # PDR's share after a search cut off by memory, without --timeout


@dataclass(frozen=True)
class Plan(Options):
    """What the user asked for: the engine (``auto`` or one of :data:`ENGINES`) and the
    options every engine reads."""

    engine: str = "auto"


def checker(name: str) -> Checker:
    """The engine called ``name``: explicit, bmc, induction, pdr or lasso (the symbolic
    ones load z3 when asked for)."""
    if name == "explicit":
        return Explicit()
    from nmrcheck.engines.symbolic import checkers

    engines = {"bmc": checkers.Bmc, "induction": checkers.Induction, "lasso": checkers.Lasso,
               "pdr": lambda: checkers.Pdr(sampler=reachable_states)}
    if name not in engines:
        raise ValueError(f"no engine {name!r}")
    return engines[name]()


def run(ts: TransitionSystem, plan: Plan) -> CheckResult:
    """Answer every property of ``ts`` (only those of ``plan.properties``, when it names
    some) with the engine(s) of ``plan``."""
    ts = restricted(ts, plan)
    if plan.engine in ("bmc", "induction", "pdr"):
        return _with_liveness(checker(plan.engine).check(ts, plan), ts, plan)
    result = checker("explicit").check(ts, plan)
    if plan.engine == "auto":
        result = _hand_over(ts, result, plan)
    _advise(result)
    return result


def _with_liveness(result: CheckResult, ts: TransitionSystem, plan: Plan) -> CheckResult:
    """``result`` of a symbolic engine with the liveness answers of bounded lasso search."""
    live = checker("lasso").check(ts, plan)
    if not live.results:
        return result
    merged = CheckResult(list(result.results) + live.results, result.engine, dict(result.stats))
    merged.stats["liveness"] = live.stats
    return merged


def _hand_over(ts, result: CheckResult, plan: Plan) -> CheckResult:
    """After a search cut off by the memory limit, PDR decides the safety properties still
    open (the only ones it can), with what is left of the time."""
    st = result.stats
    reason = next((r.reason for r in result.results if r.verdict == UNKNOWN), "")
    if st.get("complete") or st.get("interrupted") or not reason.startswith("memory limit"):
        return result
    wanted = set(plan.wanted(without_liveness(ts)))
    open_names = [r.property for r in result.results
                  if r.verdict == UNKNOWN and r.property in wanted]
    ctl = control.current()
    remaining = ctl.remaining()
    if remaining is None:
        remaining = AUTO_SOLVER_SECONDS
    if not open_names or remaining < 1.0:
        return result
    if plan.notice is not None:
        plan.notice(f"{reason}: PDR tries the {len(open_names)} open safety properties "
                    f"(up to {remaining:.0f} s); hangs and liveness need the whole graph")
    # one inference serves every open property
    asked = replace(plan, properties=tuple(open_names), limits=Limits(timeout=remaining))
    decided: dict[str, PropertyResult] = {
        r.property: r for r in checker("pdr").check(ts, asked).results if r.verdict != UNKNOWN}
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
