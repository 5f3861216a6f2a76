"""Bounded model checking: the shortest violation or witness within a bound.

The runs are unrolled over the cone of influence of the properties (:mod:`.slicing`) with the
one-hot finite-domain encoding of :mod:`.finite` when it is exact (the domains are closed);
otherwise over integers (:class:`Unrolling`), which follows the interpreter whatever the
domains. At each depth one query asks for a run to the goal of *any* pending property; a run
found answers every property whose goal its last state reaches, and the others are asked again
at the same depth, so every run reported is a shortest one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import z3

from nmrcheck.engines.common.results import (
    BOUNDED,
    HOLDS_BOUNDED,
    PARTIAL,
    UNKNOWN,
    VIOLATED,
    WITNESSED,
    PropertyResult,
)
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import INVARIANT, Property, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate

from . import finite
from .budget import Budget, settle, stoppable, stopped
from .encode import encode_bool, escapes, frame, in_range, init_at, step
from .slicing import cone
from .targets import goal, select
from .traces import read_trace, replay

ENGINE = "bmc"


class Unrolling:
    """An incremental solver holding the runs of ``depth`` steps from the initial state, over
    integers (all variables, no slicing).

    While no run has left the declared domains, the frames are bounded by them and Z3's
    finite-domain (SAT-based) solver is used, which is much faster on these small domains;
    before each new step it checks that no action leads out of a domain from the last frame.
    If one does, or the finite-domain solver cannot cope, it falls back to unbounded integers,
    which follow the reference interpreter whatever the domains.
    """

    def __init__(self, ts: TransitionSystem, ctx: z3.Context) -> None:
        self.ts, self.ctx = ts, ctx
        self.depth = 0
        self.queries = 0
        self.bounded = True
        self.note = "finite domains"
        self.solver = z3.SolverFor("QF_FD", ctx=ctx)
        self.solver.add(init_at(ts, 0, ctx), in_range(ts, 0, ctx))

    def _unbounded(self, why: str) -> None:
        self.bounded = False
        self.note = f"unbounded integers from depth {self.depth} ({why})"
        self.solver = z3.Solver(ctx=self.ctx)
        self.solver.add(init_at(self.ts, 0, self.ctx))
        for j in range(self.depth):
            self.solver.add(step(self.ts, j, j + 1, self.ctx))

    def _check(self, budget: Budget, *query: z3.BoolRef) -> tuple[z3.CheckSatResult, str]:
        """Check the runs with ``query`` at their end; when the finite-domain solver gives up
        with time left, fall back to unbounded integers and retry."""
        while True:
            # Queries go in as ``literal -> query`` and are switched on by assuming the literal:
            # assumptions themselves bypass the finite-domain solver's preprocessing.
            literals = []
            for q in query:
                self.queries += 1
                lit = z3.Bool(f"query#{self.queries}", self.ctx)
                self.solver.add(z3.Implies(lit, q))
                literals.append(lit)
            r, why = budget.check(self.solver, *literals)
            if r != z3.unknown or not self.bounded or budget.expired():
                return r, why
            self._unbounded(f"finite-domain solver: {why.splitlines()[0]}")

    def extend(self, budget: Budget) -> str | None:
        """Add one more step; returns why when the solver gave up first."""
        if self.bounded:
            r, why = self._check(budget, escapes(self.ts, self.depth, self.ctx))
            if r == z3.unknown:
                return why
            if r == z3.sat and self.bounded:
                self._unbounded("a run leaves a declared domain")
        self.solver.add(step(self.ts, self.depth, self.depth + 1, self.ctx))
        self.depth += 1
        if self.bounded:
            self.solver.add(in_range(self.ts, self.depth, self.ctx))
        return None

    def exists(self, budget: Budget) -> z3.CheckSatResult:
        """Is there a run of ``depth`` steps at all?"""
        return self._check(budget)[0]

    def find(self, target: Expr, budget: Budget) -> tuple[z3.CheckSatResult, Trace | None, str]:
        """Is there a run of exactly ``depth`` steps ending in a ``target`` state? Returns the
        solver's answer, the replayed run when ``sat``, and the reason when ``unknown``."""
        last = encode_bool(target, frame(self.ts, self.depth, self.ctx), self.ctx)
        r, why = self._check(budget, last)
        if r == z3.sat:
            trace = read_trace(self.ts, self.solver.model(), self.depth, self.ctx)
            return r, replay(self.ts, trace, end=target, what="bmc trace"), ""
        return r, None, why


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


def unrolling_for(
    ts: TransitionSystem, targets: Iterable[Expr], budget: Budget
) -> Unrolling | finite.Unrolling:
    """The unrolling to search for runs to ``targets``: the finite-domain one over their cone
    of influence when it is exact for ``ts``, else the integer one."""
    targets = list(targets)
    slc = cone(ts, targets)
    if finite.encodable(ts, slc) and finite.domains_closed(ts, slc, budget):
        try:
            run = finite.Unrolling(ts, slc, z3.Context())
            for t in targets:
                run.goal(t)  # encoded now: a target too large for the encoding is found here
            return run
        except finite.TooLarge:
            pass
    return Unrolling(ts, z3.Context())


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
    seconds for the whole call; when the run control stops the run first, the properties not
    decided by then are ``UNKNOWN`` with its reason (runs of up to ``bound`` steps checked)."""
    props = select(ts, properties)
    budget = Budget(timeout)
    results: dict[int, PropertyResult] = {}
    checked = [-1]  # runs of up to this many steps have been checked for every property

    def work() -> None:
        _deepen(ts, props, depth, budget, results, checked)

    why = stoppable(budget, work)
    bound = checked[0] if checked[0] >= 0 else None
    out = [results.get(n) or stopped(p, ENGINE, why, bound) for n, p in enumerate(props)]
    return settle(out, why)


def _deepen(
    ts: TransitionSystem,
    props: list[Property],
    depth: int,
    budget: Budget,
    results: dict[int, PropertyResult],
    checked: list[int],
) -> None:
    """The body of :func:`bmc`: record each property's result in ``results`` (none for the
    properties still open when the run control stops the run)."""
    start = time.monotonic()
    goals = [goal(p) for p in props]
    run = unrolling_for(ts, goals, budget)
    pending = list(range(len(props)))

    def give_up(k: int, why: str) -> None:
        if budget.stopped():
            return
        for m in pending:
            results[m] = _unknown(props[m], k, why, start, run.note)

    for k in range(depth + 1):
        if k > 0:
            why = run.extend(budget)
            if why is not None:
                return give_up(k, why)
        while pending:
            r, trace, why = run.find(E.or_(*(goals[n] for n in pending)), budget)
            if r == z3.unknown:
                return give_up(k, why)
            if r == z3.unsat:
                break
            assert trace is not None
            last = trace.states[-1]
            for n in [n for n in pending if evaluate(goals[n], last)]:
                results[n] = found(props[n], trace, ENGINE, stats=_stats(start, k, run.note))
                pending.remove(n)
        checked[0] = k
        if not pending:
            return
    for n in pending:
        p = props[n]
        holds = p.kind == INVARIANT
        results[n] = PropertyResult(
            p.name,
            HOLDS_BOUNDED if holds else UNKNOWN,
            ENGINE,
            coverage=BOUNDED,
            bound=depth,
            reason=f"no violation in runs of up to {depth} steps"
            if holds
            else f"not witnessed within bound {depth}",
            stats=_stats(start, depth, run.note),
        )


def _stats(start: float, depth: int, encoding: str) -> dict[str, object]:
    return {"depth": depth, "seconds": round(time.monotonic() - start, 3), "encoding": encoding}


def _unknown(p: Property, k: int, why: str, start: float, encoding: str) -> PropertyResult:
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
        stats=_stats(start, done, encoding),
    )


def shortest_run(
    ts: TransitionSystem, target: Expr, budget: Budget, below: int | None = None
) -> tuple[z3.CheckSatResult, Trace | None, str]:
    """A shortest replayed run from the initial state to a ``target`` state with fewer than
    ``below`` steps (``None``: any length). Answers ``(sat, trace, "")``, ``(unsat, None, why)``
    when there is none, or ``(unknown, None, why)`` when the solver or the budget gives up."""
    run = unrolling_for(ts, [target], budget)
    while below is None or run.depth < below:
        r, trace, why = run.find(target, budget)
        if r == z3.sat:
            return r, trace, ""
        if r == z3.unknown:
            return r, None, f"solver gave up ({why}) at depth {run.depth}"
        # Every so often, check whether runs of this length exist at all.
        if run.depth % 8 == 7 and run.exists(budget) == z3.unsat:
            return z3.unsat, None, f"every run stops within {run.depth - 1} steps"
        why = run.extend(budget)
        if why is not None:
            return z3.unknown, None, f"solver gave up ({why}) at depth {run.depth + 1}"
    return z3.unsat, None, f"no run of fewer than {below} steps"
