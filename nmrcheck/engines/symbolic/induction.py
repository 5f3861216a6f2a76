"""k-induction with simple-path constraints.

For a property with safe states ``G`` (``P`` for an invariant, ``not P`` for a reachable
property) the engine proves ``G' = G and every variable in its domain`` (the domains are
proved, never assumed, so the proof stays sound for models whose updates leave them). For
``k = 1, 2, ...``:

* base case: no run of ``k - 1`` steps from the initial state ends outside ``G'``;
* step: no path of ``k`` steps through pairwise distinct states, ``G'`` in its first ``k``
  states, ends outside ``G'``.

Base case up to ``k - 1`` and step at ``k`` imply that ``G'`` (hence ``G``) holds in every
reachable state: ``G'`` is k-inductive. With finite domains the simple-path constraint makes
this complete for large enough ``k``.

When the domains of the property's cone of influence are closed (:func:`.finite.domains_closed`)
both run on its one-hot SAT encoding (:mod:`.finite`, :mod:`.slicing`), where ``G'`` is ``G``;
otherwise over integers, every variable. The base case runs ahead of the step, up to twice its
depth: its queries cost little against the step's, and when no run is as long as its depth
(every run stops: NMR designs without loops) it decides the property with no deep step at all.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import z3

from nmrcheck.engines.common.results import (
    BOUNDED,
    EXHAUSTIVE,
    HOLDS,
    PARTIAL,
    PROOF_FAILED,
    PROVED,
    UNKNOWN,
    UNREACHABLE,
    PropertyResult,
)
from nmrcheck.errors import InternalError
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import INVARIANT, Property, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate

from . import finite
from .bmc import Unrolling, found
from .budget import Budget, settle, stoppable, stopped
from .certificate import Certificate, make_certificate, recheck, state_constants
from .encode import distinct_states, encode_bool, frame, in_range, mk_and, step
from .slicing import Slice, cone
from .targets import goal, in_domains, safe, select
from .traces import read_trace, replay

ENGINE = "k-induction"


def k_induction(
    ts: TransitionSystem,
    properties: Iterable[Property | str] | None = None,
    max_k: int = 10,
    timeout: float | None = None,
) -> list[PropertyResult]:
    """Prove each property by k-induction for ``k = 1..max_k``.

    A proof answers ``HOLDS`` (``UNREACHABLE`` for a reachable property) with coverage
    ``PROVED``; at ``k = 1`` it carries a re-checked ``certificate``, for larger ``k`` none. A
    base-case counterexample answers ``VIOLATED`` (``WITNESSED``) with a shortest replayed trace.
    If the step still fails at ``max_k`` the answer is ``PROOF_FAILED`` with the counterexample
    to induction as ``trace`` (a path that need not start in the initial state). ``stats``
    report ``base``, ``step`` and ``implication`` separately. ``timeout``: seconds, whole call.
    When the run control stops the run, the properties not decided by then are ``UNKNOWN``
    with its reason.
    """
    budget = Budget(timeout)
    props = select(ts, properties)
    results: list[PropertyResult] = []

    def work() -> None:
        for p in props:
            results.append(_prove(ts, p, max_k, budget))

    why = stoppable(budget, work)
    return settle(results + [stopped(p, ENGINE, why) for p in props[len(results) :]], why)


class _Outcome:
    """Builds the result for one property, with the base/step/implication stats."""

    def __init__(self, p: Property, budget: Budget) -> None:
        self.p, self.budget = p, budget
        self.start = time.monotonic()
        self.stats: dict[str, object] = {
            "base": "not run",
            "step": "not run",
            "implication": "not established",
        }

    def __call__(
        self,
        verdict: str,
        reason: str,
        coverage: str,
        bound: int | None = None,
        trace: Trace | None = None,
        certificate: Certificate | None = None,
    ) -> PropertyResult:
        self.stats["seconds"] = round(time.monotonic() - self.start, 3)
        return PropertyResult(
            self.p.name,
            verdict,
            ENGINE,
            coverage=coverage,
            bound=bound,
            trace=trace,
            reason=reason,
            certificate=certificate,
            stats=self.stats,
        )

    def gave_up(self, why: str, where: str, done: int) -> PropertyResult:
        """``UNKNOWN``: the solver gave up (or the run control stopped the run: its reason
        alone); runs of up to ``done`` steps were checked."""
        bound = done if done >= 0 else None
        if self.budget.stopped():
            return self(UNKNOWN, self.budget.stopped(), PARTIAL, bound=bound)
        return self(UNKNOWN, f"solver gave up ({why or 'unknown'}) in the {where}", PARTIAL, bound)


class _Whole:
    """Base case and step over integers, every variable (domains not known to be closed):
    ``G'`` is ``G`` and every variable in its domain."""

    def __init__(self, ts: TransitionSystem, p: Property) -> None:
        self.ts, self.good = ts, safe(p)
        self.variables = range(len(ts.vars))
        self.note = ""
        self.base = Unrolling(ts, z3.Context())
        self.bad = E.or_(goal(p), E.not_(in_domains(ts)))  # outside G'
        self.ctx = z3.Context()
        self.ind = z3.Solver(ctx=self.ctx)
        self.checked = -1  # the base case has checked the runs of up to this many steps

    def _target(self, k: int) -> z3.BoolRef:
        ts, ctx = self.ts, self.ctx
        return z3.And(encode_bool(self.good, frame(ts, k, ctx), ctx), in_range(ts, k, ctx))

    def extend(self, k: int, budget: Budget) -> None:
        """Paths of ``k`` steps through distinct states, ``G'`` in the first ``k``."""
        ts, ctx = self.ts, self.ctx
        self.ind.add(self._target(k - 1), step(ts, k - 1, k, ctx))
        self.ind.add(*[distinct_states(ts, j, k, ctx) for j in range(k)])

    def check(self, k: int, budget: Budget) -> tuple[z3.CheckSatResult, str]:
        """Does such a path end outside ``G'``?"""
        return budget.check(self.ind, z3.Not(self._target(k)))

    def cti(self, k: int) -> Trace:
        return read_trace(self.ts, self.ind.model(), k, self.ctx)


class _Sliced:
    """Base case and step on the one-hot encoding of the cone of influence (:mod:`.finite`;
    its domains are closed, so ``G'`` is ``G``), a SAT problem: much faster than integers for
    the deep ``k`` that NMR designs need (their runs are long and their states many)."""

    def __init__(self, ts: TransitionSystem, p: Property, slc: Slice) -> None:
        self.ts, self.good = ts, safe(p)
        self.variables = slc.vars
        self.note = f" ({slc.describe(ts)})"
        self.base = finite.Unrolling(ts, slc, z3.Context())
        self.bad = goal(p)
        self.path = finite.Unrolling(ts, slc, z3.Context(), por=False, initial=False)
        self.path.goal(self.good)  # encoded now: too large shows here
        self.checked = -1  # the base case has checked the runs of up to this many steps

    def extend(self, k: int, budget: Budget) -> None:
        path = self.path
        path.extend(budget)
        path.solver.add(path.at(k - 1, self.good), *[path.distinct(j, k) for j in range(k)])

    def check(self, k: int, budget: Budget) -> tuple[z3.CheckSatResult, str]:
        return budget.check(self.path.solver, z3.Not(self.path.at(k, self.good)))

    def cti(self, k: int) -> Trace:
        return self.path.path()


def _paths(ts: TransitionSystem, p: Property, budget: Budget) -> _Whole | _Sliced:
    """The one-hot encoding of the cone of influence when it is exact, else integers."""
    slc = cone(ts, [safe(p)])
    if finite.encodable(ts, slc) and finite.domains_closed(ts, slc, budget):
        try:
            return _Sliced(ts, p, slc)
        except finite.TooLarge:
            pass
    return _Whole(ts, p)


def _prove(ts: TransitionSystem, p: Property, max_k: int, budget: Budget) -> PropertyResult:
    out = _Outcome(p, budget)
    stats = out.stats
    paths = _paths(ts, p, budget)
    for k in range(1, max_k + 1):
        # Base case: runs of up to k - 1 steps, and ahead of the step (up to twice as deep):
        # base queries cost little against step queries, and a base case that finds every
        # run stopping answers with no step at all.
        done = _base(ts, p, paths, min(max_k - 1, max(k - 1, 2 * (k - 1))), max_k, budget, out)
        if done is not None:
            return done
        # Inductive step: a simple path s0..sk, G' in s0..s(k-1), not G' in sk.
        paths.extend(k, budget)
        r, why = paths.check(k, budget)
        if r == z3.unknown:
            return out.gave_up(why, f"inductive step at k={k}", k - 1)
        if r == z3.unsat:
            return _inductive(ts, p, k, paths, out)
        stats["step"] = f"failed at k=1..{k}"
    # the counterexample to induction of the last step (the solver still has its model)
    cti = paths.cti(max_k) if max_k >= 1 else None
    if cti is not None:
        replay(ts, cti, from_init=False, what="counterexample to induction")
        _check_cti(ts, safe(p), cti, paths.variables)
    stats["k"] = max_k
    return out(
        PROOF_FAILED,
        f"not k-inductive up to k={max_k}: the trace is a counterexample to induction "
        "(it need not start in the initial state)",
        BOUNDED,
        bound=max_k - 1,
        trace=cti,
    )


def _base(
    ts: TransitionSystem,
    p: Property,
    paths: _Whole | _Sliced,
    depth: int,
    max_k: int,
    budget: Budget,
    out: _Outcome,
) -> PropertyResult | None:
    """Take the base case to runs of ``depth`` steps: the result when it decides the property
    (a violation, a run leaving the domains, every run stopping) or gives up, else None."""
    base = paths.base
    while paths.checked < depth:
        d = paths.checked + 1
        where = f"base case at depth {d}"
        why = base.extend(budget) if d > base.depth else None
        if why is not None:
            return out.gave_up(why, where, d - 1)
        r, trace, why = base.find(paths.bad, budget)
        if r == z3.unknown:
            return out.gave_up(why, where, d - 1)
        if r == z3.sat:
            assert trace is not None
            out.stats["base"] = f"failed at step {d}"
            if not evaluate(safe(p), trace.states[-1]):
                out.stats["seconds"] = round(time.monotonic() - out.start, 3)
                return found(p, trace, ENGINE, stats=out.stats)
            assert isinstance(base, Unrolling)
            return _escaped(ts, p, base, trace, max_k, budget, out)
        paths.checked = d
        out.stats["base"] = f"passed for runs of 0..{d} steps"
        if d > 0 and base.exists(budget) == z3.unsat:  # runs that all stop early
            return _exhaustive(p, d, paths, out)
    return None


def _exhaustive(p: Property, d: int, paths: _Whole | _Sliced, out: _Outcome) -> PropertyResult:
    """No run has ``d`` steps, and none of up to ``d - 1`` steps leaves the property."""
    out.stats["implication"] = f"exhaustive: no run has {d} steps{paths.note}, shorter ones passed"
    out.stats["k"] = d + 1
    verdict = HOLDS if p.kind == INVARIANT else UNREACHABLE
    return out(
        verdict,
        f"every run stops within {d - 1} steps{paths.note} and none leaves the property",
        EXHAUSTIVE,
        bound=d - 1,
    )


def _inductive(
    ts: TransitionSystem, p: Property, k: int, paths: _Whole | _Sliced, out: _Outcome
) -> PropertyResult:
    """The step passed at ``k`` (and the base case up to ``k - 1`` before it)."""
    stats = out.stats
    stats["step"] = f"passed at k={k}" + (f" (failed at k=1..{k - 1})" if k > 1 else "")
    stats["implication"] = (
        f"{k}-inductive: base case (runs of 0..{k - 1} steps) and step at k={k} "
        "imply the property in every reachable state"
    )
    stats["k"] = k
    cert = None
    if k == 1:
        cert, why = _certificate(ts, p, paths.variables, out.budget)
        if cert is None:
            return out.gave_up(why, "re-check of the certificate", k - 1)
    note = "; inductive invariant re-checked" if cert else " (no certificate for k > 1)"
    verdict = HOLDS if p.kind == INVARIANT else UNREACHABLE
    return out(
        verdict, f"proved: the property is k-inductive at k={k}{note}", PROVED, certificate=cert
    )


def _escaped(
    ts: TransitionSystem,
    p: Property,
    base: Unrolling,
    escape: Trace,
    max_k: int,
    budget: Budget,
    out: _Outcome,
) -> PropertyResult:
    """A run leaves the declared domains, so no proof: the base case goes on as plain BMC for
    the property alone, up to ``max_k - 1`` steps, to look for a real violation."""
    why = f"{_out_of_domain(ts, escape.states[-1])} after {len(escape)} steps"
    for depth in range(base.depth, max_k):
        gave_up = base.extend(budget) if depth > base.depth else None
        if gave_up is not None:
            return out.gave_up(gave_up, f"base case at depth {depth} ({why})", depth - 1)
        r, trace, gave_up = base.find(goal(p), budget)
        if r == z3.sat:
            assert trace is not None
            out.stats["base"] = f"failed at step {depth}"
            out.stats["seconds"] = round(time.monotonic() - out.start, 3)
            return found(p, trace, ENGINE, stats=out.stats)
        if r == z3.unknown:
            return out.gave_up(gave_up, f"base case at depth {depth} ({why})", depth - 1)
    out.stats["base"] = f"passed for runs of 0..{max_k - 1} steps (property only)"
    return out(
        UNKNOWN,
        f"cannot prove: {why}; the property holds in runs of up to {max_k - 1} steps",
        PARTIAL,
        bound=max_k - 1,
        trace=escape,
    )


def _out_of_domain(ts: TransitionSystem, state: tuple[int, ...]) -> str:
    for v, x in zip(ts.vars, state, strict=True):
        if not v.lo <= x <= v.hi:
            return f"variable {v.name} leaves its domain {v.lo}..{v.hi} (value {x})"
    raise InternalError("k-induction: the base case failed without a reason")


def _check_cti(ts: TransitionSystem, good: Expr, cti: Trace, variables: Iterable[int]) -> None:
    """``cti`` is a simple path in ``G'`` (``good`` and ``variables`` in their domains) but
    for its last state."""
    xs = list(variables)

    def ok(s: tuple[int, ...]) -> bool:
        inside = all(ts.vars[i].lo <= s[i] <= ts.vars[i].hi for i in xs)
        return inside and bool(evaluate(good, s))

    if not all(ok(s) for s in cti.states[:-1]) or ok(cti.states[-1]):
        raise InternalError("k-induction: the counterexample to induction is not one")
    if len(set(cti.states)) != len(cti.states):
        raise InternalError("k-induction: the counterexample to induction is not a simple path")


def _certificate(
    ts: TransitionSystem, p: Property, variables: Iterable[int], budget: Budget
) -> tuple[Certificate | None, str]:
    """At k = 1 the strengthened property itself (``variables`` in their domains) is the
    inductive invariant: its certificate, re-checked, or None and why the solver could not
    decide the re-check."""
    ctx = z3.Context()
    cur = state_constants(tuple(v.name for v in ts.vars), ctx)
    ranges = []
    for i in variables:
        ranges += [cur[i] >= ts.vars[i].lo, cur[i] <= ts.vars[i].hi]
    inv = mk_and([encode_bool(safe(p), cur, ctx), *ranges], ctx)
    cert = make_certificate(ts, p, inv)
    ((ok, message),) = recheck(ts, [(p, cert)], budget)
    if ok is None:
        return None, message
    if not ok:
        raise InternalError(f"k-induction: the 1-inductive invariant fails re-check: {message}")
    return cert, ""
