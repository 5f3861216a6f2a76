"""Bounded model checking: the shortest violation or witness within a bound."""

from __future__ import annotations

import time
from collections.abc import Iterable

import z3

from nmrcheck.engines.result import (
    BOUNDED,
    HOLDS_BOUNDED,
    PARTIAL,
    UNKNOWN,
    VIOLATED,
    WITNESSED,
    PropertyResult,
)
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import INVARIANT, Property, TransitionSystem
from nmrcheck.ir.trace import Trace

from .budget import Budget
from .encode import encode_bool, frame, init_at, step
from .targets import goal, select
from .traces import read_trace, replay

ENGINE = "bmc"


class Unrolling:
    """An incremental solver holding the runs of ``depth`` steps from the initial state."""

    def __init__(self, ts: TransitionSystem, ctx: z3.Context) -> None:
        self.ts, self.ctx = ts, ctx
        self.solver = z3.Solver(ctx=ctx)
        self.solver.add(init_at(ts, 0, ctx))
        self.depth = 0

    def extend(self) -> None:
        """Add one more step."""
        self.solver.add(step(self.ts, self.depth, self.depth + 1, self.ctx))
        self.depth += 1

    def find(self, target: Expr, budget: Budget) -> tuple[z3.CheckSatResult, Trace | None, str]:
        """Is there a run of exactly ``depth`` steps ending in a ``target`` state? Returns the
        solver's answer, the replayed run when ``sat``, and the reason when ``unknown``."""
        if budget.expired():
            return z3.unknown, None, "timeout"
        budget.arm(self.solver)
        last = encode_bool(target, frame(self.ts, self.depth, self.ctx), self.ctx)
        r = self.solver.check(last)
        if r == z3.sat:
            trace = read_trace(self.ts, self.solver.model(), self.depth, self.ctx)
            return r, replay(self.ts, trace, end=target, what="bmc trace"), ""
        if r == z3.unknown:
            return r, None, self.solver.reason_unknown() or "unknown"
        return r, None, ""


def found(
    p: Property,
    trace: Trace,
    engine: str,
    stats: dict[str, object] | None = None,
    how: str = "a shortest run",
) -> PropertyResult:
    """The result for a property whose goal a replayed run reaches (``how`` says which run)."""
    verdict = VIOLATED if p.kind == INVARIANT else WITNESSED
    what = "violated" if p.kind == INVARIANT else "witnessed"
    return PropertyResult(
        property=p.name,
        verdict=verdict,
        engine=engine,
        coverage=BOUNDED,
        bound=len(trace),
        trace=trace,
        reason=f"{what} by {how} of {len(trace)} steps",
        stats=dict(stats or {}),
    )


def bmc(
    ts: TransitionSystem,
    properties: Iterable[Property | str] | None = None,
    depth: int = 20,
    timeout: float | None = None,
) -> list[PropertyResult]:
    """Check runs of up to ``depth`` steps, deepening one step at a time so the first run found
    for a property is a shortest one. A violated invariant is ``VIOLATED`` and a reached
    property ``WITNESSED``, with a replayed trace; otherwise an invariant ``HOLDS_BOUNDED`` and
    a reachable property is ``UNKNOWN`` (never ``HOLDS``/``UNREACHABLE``). ``timeout`` is in
    seconds for the whole call."""
    props = select(ts, properties)
    budget = Budget(timeout)
    start = time.monotonic()
    ctx = z3.Context()
    run = Unrolling(ts, ctx)
    results: dict[int, PropertyResult] = {}
    pending = list(range(len(props)))
    for k in range(depth + 1):
        if k > 0:
            run.extend()
        for n in list(pending):
            p = props[n]
            r, trace, why = run.find(goal(p), budget)
            if r == z3.sat:
                assert trace is not None
                results[n] = found(p, trace, ENGINE, stats=_stats(start, k))
                pending.remove(n)
            elif r == z3.unknown:
                for m in pending:
                    results[m] = _unknown(props[m], k, why, start)
                return [results[n] for n in range(len(props))]
        if not pending:
            break
    for n in pending:
        p = props[n]
        if p.kind == INVARIANT:
            results[n] = PropertyResult(
                p.name,
                HOLDS_BOUNDED,
                ENGINE,
                coverage=BOUNDED,
                bound=depth,
                reason=f"no violation in runs of up to {depth} steps",
                stats=_stats(start, depth),
            )
        else:
            results[n] = PropertyResult(
                p.name,
                UNKNOWN,
                ENGINE,
                coverage=BOUNDED,
                bound=depth,
                reason=f"not witnessed within bound {depth}",
                stats=_stats(start, depth),
            )
    return [results[n] for n in range(len(props))]


def _stats(start: float, depth: int) -> dict[str, object]:
    return {"depth": depth, "seconds": round(time.monotonic() - start, 3)}


def _unknown(p: Property, k: int, why: str, start: float) -> PropertyResult:
    done = k - 1
    nothing = "no violation" if p.kind == INVARIANT else "not witnessed"
    return PropertyResult(
        p.name,
        UNKNOWN,
        ENGINE,
        coverage=PARTIAL,
        bound=done if done >= 0 else None,
        reason=f"solver gave up ({why}) at depth {k}; {nothing} in runs of up to {done} steps"
        if done >= 0
        else f"solver gave up ({why}) at depth 0",
        stats=_stats(start, done),
    )


def shortest_run(
    ts: TransitionSystem, target: Expr, budget: Budget, below: int | None = None
) -> tuple[z3.CheckSatResult, Trace | None, str]:
    """A shortest replayed run from the initial state to a ``target`` state with fewer than
    ``below`` steps (``None``: any length). Answers ``(sat, trace, "")``, ``(unsat, None, why)``
    when there is none, or ``(unknown, None, why)`` when the solver or the budget gives up."""
    run = Unrolling(ts, z3.Context())
    while below is None or run.depth < below:
        r, trace, why = run.find(target, budget)
        if r == z3.sat:
            return r, trace, ""
        if r == z3.unknown:
            return r, None, f"solver gave up ({why}) at depth {run.depth}"
        # Every so often, check whether runs of this length exist at all.
        if run.depth % 8 == 7:
            budget.arm(run.solver)
            if run.solver.check() == z3.unsat:
                return z3.unsat, None, f"every run stops within {run.depth - 1} steps"
        run.extend()
    return z3.unsat, None, f"no run of fewer than {below} steps"
