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
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import z3

from nmrcheck.engines.result import (
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

from .bmc import Unrolling, found
from .budget import Budget
from .certificate import Certificate, check_against, make_certificate, state_constants
from .encode import distinct_states, encode_bool, frame, in_range, mk_and, range_of, step
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
    """
    budget = Budget(timeout)
    return [_prove(ts, p, max_k, budget) for p in select(ts, properties)]


class _Outcome:
    """Builds the result for one property, with the base/step/implication stats."""

    def __init__(self, p: Property) -> None:
        self.p = p
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
        """``UNKNOWN``: the solver gave up; runs of up to ``done`` steps were checked."""
        return self(
            UNKNOWN,
            f"solver gave up ({why or 'unknown'}) in the {where}",
            PARTIAL,
            bound=done if done >= 0 else None,
        )


def _prove(ts: TransitionSystem, p: Property, max_k: int, budget: Budget) -> PropertyResult:
    ctx = z3.Context()
    good = safe(p)
    out = _Outcome(p)
    stats = out.stats

    def target(k: int) -> z3.BoolRef:
        return z3.And(encode_bool(good, frame(ts, k, ctx), ctx), in_range(ts, k, ctx))

    bad = E.or_(goal(p), E.not_(in_domains(ts)))  # outside G'
    base = Unrolling(ts, z3.Context())
    ind = z3.Solver(ctx=ctx)
    cti: Trace | None = None
    for k in range(1, max_k + 1):
        # Base case: runs of exactly k - 1 steps (shorter ones were checked before).
        where = f"base case at k={k}"
        why = base.extend(budget) if k > 1 else None
        if why is not None:
            return out.gave_up(why, where, k - 2)
        r, trace, why = base.find(bad, budget)
        if r == z3.unknown:
            return out.gave_up(why, where, k - 2)
        if r == z3.sat:
            assert trace is not None
            stats["base"] = f"failed at step {k - 1}"
            if not evaluate(good, trace.states[-1]):
                stats["seconds"] = round(time.monotonic() - out.start, 3)
                return found(p, trace, ENGINE, stats=stats)
            return _escaped(ts, p, base, trace, max_k, budget, out)
        stats["base"] = f"passed for runs of 0..{k - 1} steps"

        # Inductive step: a simple path s0..sk, G' in s0..s(k-1), not G' in sk.
        ind.add(target(k - 1), step(ts, k - 1, k, ctx))
        ind.add(*[distinct_states(ts, j, k, ctx) for j in range(k)])
        where = f"inductive step at k={k}"
        if budget.expired():
            return out.gave_up("timeout", where, k - 1)
        budget.arm(ind)
        r = ind.check(z3.Not(target(k)))
        if r == z3.unknown:
            return out.gave_up(ind.reason_unknown(), where, k - 1)
        if r == z3.unsat:
            stats["step"] = f"passed at k={k}" + (f" (failed at k=1..{k - 1})" if k > 1 else "")
            stats["implication"] = (
                f"{k}-inductive: base case (runs of 0..{k - 1} steps) and step at k={k} "
                "imply the property in every reachable state"
            )
            stats["k"] = k
            cert = _certificate(ts, p, ctx) if k == 1 else None
            note = "; inductive invariant re-checked" if cert else " (no certificate for k > 1)"
            verdict = HOLDS if p.kind == INVARIANT else UNREACHABLE
            return out(
                verdict,
                f"proved: the property is k-inductive at k={k}{note}",
                PROVED,
                certificate=cert,
            )
        cti = read_trace(ts, ind.model(), k, ctx)
        replay(ts, cti, from_init=False, what="counterexample to induction")
        _check_cti(ts, good, cti)
        stats["step"] = f"failed at k=1..{k}"
        # Runs that all stop early make the base case exhaustive on its own.
        if base.exists(budget) == z3.unsat:
            stats["implication"] = f"exhaustive: no run has {k - 1} steps, shorter ones passed"
            stats["k"] = k
            verdict = HOLDS if p.kind == INVARIANT else UNREACHABLE
            return out(
                verdict,
                f"every run stops within {k - 2} steps and none leaves the property",
                EXHAUSTIVE,
                bound=k - 2,
            )
    stats["k"] = max_k
    return out(
        PROOF_FAILED,
        f"not k-inductive up to k={max_k}: the trace is a counterexample to induction "
        "(it need not start in the initial state)",
        BOUNDED,
        bound=max_k - 1,
        trace=cti,
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


def _check_cti(ts: TransitionSystem, good: Expr, cti: Trace) -> None:
    def ok(s: tuple[int, ...]) -> bool:
        inside = all(v.lo <= x <= v.hi for v, x in zip(ts.vars, s, strict=True))
        return inside and bool(evaluate(good, s))

    if not all(ok(s) for s in cti.states[:-1]) or ok(cti.states[-1]):
        raise InternalError("k-induction: the counterexample to induction is not one")
    if len(set(cti.states)) != len(cti.states):
        raise InternalError("k-induction: the counterexample to induction is not a simple path")


def _certificate(ts: TransitionSystem, p: Property, ctx: z3.Context) -> Certificate:
    """At k = 1 the strengthened property itself is the inductive invariant."""
    cur = state_constants(tuple(v.name for v in ts.vars), ctx)
    inv = mk_and([encode_bool(safe(p), cur, ctx), range_of(ts, cur, ctx)], ctx)
    cert = make_certificate(ts, p, inv)
    ok, message = check_against(ts, p, cert)
    if not ok:
        raise InternalError(f"k-induction: the 1-inductive invariant fails re-check: {message}")
    return cert
