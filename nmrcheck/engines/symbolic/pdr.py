"""Unbounded proofs with Z3's Spacer (PDR/IC3 over constrained Horn clauses).

For each property, with ``Inv`` a relation over the state variables::

    Inv(init)
    Inv(s) and not halted(s) and guard_a(s)  ->  Inv(update_a(s))     (one rule per action)
    Inv(s) and goal(s)                       ->  false                (the query)

``unsat`` means the goal is unreachable: Spacer's ``Inv`` is an inductive invariant, which is
re-checked with a fresh solver and returned as a ``Certificate``. ``sat`` means the goal is
reachable: a shortest run is found by BMC and replayed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import z3

from nmrcheck.engines.result import (
    HOLDS,
    PARTIAL,
    PROVED,
    UNKNOWN,
    UNREACHABLE,
    PropertyResult,
)
from nmrcheck.errors import InternalError
from nmrcheck.ir.system import INVARIANT, Property, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate

from .bmc import found, shortest_run
from .budget import Budget
from .certificate import check_against, make_certificate, state_constants
from .encode import encode_bool, encode_int
from .targets import goal, select
from .traces import replay

ENGINE = "pdr"


def pdr(
    ts: TransitionSystem,
    properties: Iterable[Property | str] | None = None,
    timeout: float | None = None,
    shortest: bool = True,
) -> list[PropertyResult]:
    """Prove or refute each property without a bound. A proof answers ``HOLDS`` (invariant) or
    ``UNREACHABLE`` (reachable property) with coverage ``PROVED`` and a re-checked
    ``certificate``; a refutation answers ``VIOLATED``/``WITNESSED`` with a replayed trace, a
    shortest one unless ``shortest`` is False or the time runs out first (then Spacer's own);
    when Spacer gives up or ``timeout`` (seconds, whole call) runs out, ``UNKNOWN``."""
    budget = Budget(timeout)
    return [_prove(ts, p, budget, shortest) for p in select(ts, properties)]


def _prove(ts: TransitionSystem, p: Property, budget: Budget, shortest: bool) -> PropertyResult:
    start = time.monotonic()

    def unknown(reason: str) -> PropertyResult:
        return PropertyResult(
            p.name, UNKNOWN, ENGINE, coverage=PARTIAL, reason=reason, stats=stats("unknown")
        )

    def stats(answer: str) -> dict[str, object]:
        return {"spacer": answer, "seconds": round(time.monotonic() - start, 3)}

    if budget.expired():
        return unknown("timeout before Spacer started")
    ctx = z3.Context()
    names = tuple(v.name for v in ts.vars)
    cur = state_constants(names, ctx)
    # A relation needs an argument: a system without variables gets a constant 0 one.
    args: list[z3.ArithRef] = list(cur) if cur else [z3.IntVal(0, ctx)]
    inv = z3.Function("Inv", *([z3.IntSort(ctx)] * len(args)), z3.BoolSort(ctx))

    fp = z3.Fixedpoint(ctx=ctx)
    fp.set(engine="spacer")
    # Keep Inv intact so its interpretation is an invariant over exactly the state variables.
    fp.set("xform.slice", False)
    fp.set("xform.inline_linear", False)
    fp.set("xform.inline_eager", False)
    fp.register_relation(inv)
    if cur:
        fp.declare_var(*cur)
    fp.rule(inv(*[z3.IntVal(v.init, ctx) for v in ts.vars] or args))
    not_halted = z3.Not(encode_bool(ts.halted, cur, ctx))
    for index, a in enumerate(ts.actions):
        nxt = list(args)
        for i, e in a.updates:
            nxt[i] = encode_int(e, cur, ctx)
        body = [inv(*args), not_halted, encode_bool(a.guard, cur, ctx)]
        fp.rule(inv(*nxt), body, name=f"{_RULE}{index}")
    budget.arm(fp)
    try:
        answer = fp.query(z3.And(inv(*args), encode_bool(goal(p), cur, ctx)))
    except z3.Z3Exception as ex:  # a timeout surfaces as an exception ("canceled")
        return unknown(f"Spacer gave up: {_text(ex)}")

    if answer == z3.unsat:
        cover = z3.substitute_vars(fp.get_cover_delta(-1, inv), *args)
        cert = make_certificate(ts, p, cover)
        ok, message = check_against(ts, p, cert)
        if not ok:
            raise InternalError(f"pdr: Spacer's invariant for {p.name!r} fails re-check: {message}")
        verdict = HOLDS if p.kind == INVARIANT else UNREACHABLE
        return PropertyResult(
            p.name,
            verdict,
            ENGINE,
            coverage=PROVED,
            certificate=cert,
            reason="proved by PDR (Spacer); inductive invariant re-checked",
            stats=stats("unsat"),
        )
    if answer == z3.sat:
        # Spacer's derivation names the rules (actions) along its counterexample; Z3's rule
        # transformations may merge rules, so the run is only a hint until it replays. BMC
        # then looks for a shorter one (so that, like BMC, PDR reports a shortest run).
        hint = _spacer_trace(ts, p, fp)
        if hint is not None and not shortest:
            return found(p, hint, ENGINE, stats("sat"), how="Spacer's counterexample, a run")
        r, trace, why = shortest_run(ts, goal(p), budget, None if hint is None else len(hint))
        if r == z3.sat:
            assert trace is not None
            return found(p, trace, ENGINE, stats("sat"))
        what = "a violation" if p.kind == INVARIANT else "a witness"
        if hint is None:
            if r == z3.unsat:
                raise InternalError(f"pdr: Spacer found {what} of {p.name!r}, BMC says {why}")
            return unknown(f"Spacer found {what} but no run was extracted: {why}")
        if r == z3.unsat:  # no shorter run: Spacer's is a shortest one
            return found(p, hint, ENGINE, stats("sat"))
        note = f"Spacer's counterexample (a shorter one was not ruled out: {why}), a run"
        return found(p, hint, ENGINE, stats("sat"), how=note)
    return unknown(f"Spacer gave up: {fp.reason_unknown() or 'unknown'}")


def _text(ex: z3.Z3Exception) -> str:
    v = ex.value
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


_RULE = "action#"


def _spacer_trace(ts: TransitionSystem, p: Property, fp: z3.Fixedpoint) -> Trace | None:
    """The run behind Spacer's counterexample, from the rules named along its derivation
    (query first, initial fact last), or None when those do not replay as a run."""
    actions = []
    for name in reversed(fp.get_rule_names_along_trace()):
        if name.startswith(_RULE):
            actions.append(int(name[len(_RULE) :]))
    states = [ts.initial_state()]
    for a in actions:
        if not 0 <= a < len(ts.actions) or a not in ts.enabled(states[-1]):
            return None
        states.append(ts.fire(a, states[-1]))
    if not evaluate(goal(p), states[-1]):
        return None
    return replay(ts, Trace(tuple(states), tuple(actions)), end=goal(p), what="pdr trace")
