"""Bounded lasso search: liveness counterexamples under fairness with Z3.

A *lasso* of length ``k`` is a run ``s0 .. sk`` from the initial state whose last state equals
an earlier one, ``sk == sl`` (``l < k``): the steps ``l .. k-1`` repeat forever. A run that
ends in a state where nothing can happen (not a crash) is a lasso too: it *stutters* there
forever. :func:`lasso_bmc` looks for the shortest lasso, deepening ``k`` one step at a time,
that is

* **bad**: for ``eventually E``, ``E`` is false in every state; for ``leads_to P ~> Q``, some
  state ``t`` has ``P``, and ``Q`` is false in every state from ``t`` on and on the whole
  loop (``armed_k``: a trigger at or before ``k`` with ``Q`` false since, and ``Q`` false on
  ``l .. k``);
* **fair** (``ts.fairness``): for every weak group, the loop takes one of its actions or
  passes a state where none is enabled; for every strong group, the loop takes one of its
  actions or none is enabled anywhere on it. A stutter is fair: nothing is enabled.

The frames are the BMC frames of :mod:`.encode` (``var_at``, ``step``, ``action_at``), bounded
to the declared domains (the explicit engine, whose packed states hold only those values,
agrees). Every lasso found is replayed with the reference interpreter and checked to be a
fair counterexample before it is returned; no lasso up to the bound is ``holds up to bound``.
"""

from __future__ import annotations

import time

import z3

from nmrcheck.engines.result import (
    BOUNDED,
    HOLDS_BOUNDED,
    PARTIAL,
    UNKNOWN,
    VIOLATED,
    PropertyResult,
)
from nmrcheck.errors import InternalError
from nmrcheck.ir import EVENTUALLY, LEADS_TO, STRONG, Property, TransitionSystem
from nmrcheck.ir.trace import Trace

from .budget import Budget
from .encode import action_at, encode_bool, frame, in_range, init_at, mk_and, mk_or, step
from .traces import read_trace

ENGINE = "lasso bmc"


class _Lassos:
    """The incremental unrolling of one system and one property (a ``parts``-free one)."""

    def __init__(self, ts: TransitionSystem, prop: Property, ctx: z3.Context) -> None:
        self.ts, self.prop, self.ctx = ts, prop, ctx
        self.solver = z3.Solver(ctx=ctx)
        self.solver.add(init_at(ts, 0, ctx), in_range(ts, 0, ctx))
        self.k = 0
        self.queries = 0
        self.frames: list[list[z3.ArithRef]] = []
        self.enabled: list[list[z3.BoolRef]] = []  # frame -> group -> "some action enabled"
        self.nq: list[z3.BoolRef] = []  # frame -> Q (leads_to) is false there
        self.armed: list[z3.BoolRef] = []  # frame -> triggered at or before, Q false since
        self.dead: list[z3.BoolRef] = []  # frame -> nothing can happen there (not halted)
        self._frame(0)

    def _frame(self, k: int) -> None:
        ts, ctx = self.ts, self.ctx
        fv = frame(ts, k, ctx)
        self.frames.append(fv)
        guards = [encode_bool(a.guard, fv, ctx) for a in ts.actions]
        halted = encode_bool(ts.halted, fv, ctx)
        groups = []
        for gi, f in enumerate(ts.fairness):
            b = z3.Bool(f"enabled#{gi}@{k}", ctx)
            self.solver.add(b == mk_or([guards[a] for a in f.actions], ctx))
            groups.append(b)
        self.enabled.append(groups)
        self.dead.append(mk_and([z3.Not(halted)] + [z3.Not(g) for g in guards], ctx))
        if self.prop.kind == EVENTUALLY:
            self.solver.add(z3.Not(encode_bool(self.prop.expr, fv, ctx)))
            self.nq.append(z3.BoolVal(True, ctx))
            self.armed.append(z3.BoolVal(True, ctx))
        else:
            nq = z3.Bool(f"not_target@{k}", ctx)
            self.solver.add(nq == z3.Not(encode_bool(self.prop.target, fv, ctx)))
            armed = z3.Bool(f"armed@{k}", ctx)
            before = self.armed[-1] if self.armed else z3.BoolVal(False, ctx)
            trig = encode_bool(self.prop.expr, fv, ctx)
            self.solver.add(armed == z3.And(z3.Or(before, trig), nq))
            self.nq.append(nq)
            self.armed.append(armed)

    def extend(self) -> None:
        """One more step: frames ``0 .. k+1``."""
        self.solver.add(step(self.ts, self.k, self.k + 1, self.ctx))
        self.k += 1
        self.solver.add(in_range(self.ts, self.k, self.ctx))
        self._frame(self.k)

    def _fair(self, lo: int, k: int) -> z3.BoolRef:
        """The loop ``lo .. k-1`` (states and the steps leaving them) is fair."""
        ctx = self.ctx
        parts = []
        for gi, f in enumerate(self.ts.fairness):
            acts = set(f.actions)
            taken = mk_or(
                [z3.Or(*[action_at(i, ctx) == a for a in acts]) for i in range(lo, k)], ctx
            )
            off = [z3.Not(self.enabled[i][gi]) for i in range(lo, k)]
            if f.kind == STRONG:
                parts.append(z3.Or(taken, mk_and(off, ctx)))
            else:
                parts.append(z3.Or(taken, mk_or(off, ctx)))
        return mk_and(parts, ctx)

    def query(self) -> tuple[z3.BoolRef, list[tuple[z3.BoolRef, int | None]]]:
        """Lassos of exactly ``k`` steps: one literal per loop start ``l`` (None: stutter)."""
        ctx, k = self.ctx, self.k
        cases: list[tuple[z3.BoolRef, int | None]] = []
        stutter = z3.Bool(f"stutter@{k}", ctx)
        self.solver.add(z3.Implies(stutter, z3.And(self.dead[k], self.armed[k])))
        cases.append((stutter, None))
        last = self.frames[k]
        for lo in range(k):
            lit = z3.Bool(f"loop{lo}@{k}", ctx)
            same = mk_and([x == y for x, y in zip(last, self.frames[lo])], ctx)
            clear = mk_and(self.nq[lo : k + 1], ctx)
            self.solver.add(
                z3.Implies(lit, z3.And(same, self.armed[k], clear, self._fair(lo, k)))
            )
            cases.append((lit, lo))
        self.queries += 1
        go = z3.Bool(f"query#{self.queries}", ctx)
        self.solver.add(z3.Implies(go, mk_or([c for c, _ in cases], ctx)))
        return go, cases


def _search(
    ts: TransitionSystem, prop: Property, depth: int, budget: Budget
) -> tuple[Trace | None, int, str]:
    """The shortest fair lasso violating ``prop`` of at most ``depth`` steps: (trace, the
    depth searched, why the solver gave up or "")."""
    run = _Lassos(ts, prop, z3.Context())
    for k in range(depth + 1):
        if k > 0:
            run.extend()
        if budget.expired():
            return None, k - 1, "timeout"
        go, cases = run.query()
        budget.arm(run.solver)
        r = run.solver.check(go)
        if r == z3.unknown:
            return None, k - 1, run.solver.reason_unknown() or "unknown"
        if r == z3.sat:
            model = run.solver.model()
            trace = read_trace(ts, model, k, run.ctx)
            for lit, lo in cases:
                if z3.is_true(model.eval(lit, model_completion=True)):
                    loop = k if lo is None else lo + 1
                    return Trace(trace.states, trace.actions, loop), k, ""
            raise InternalError("a lasso model with no loop chosen")
    return None, depth, ""


def lasso_bmc(
    ts: TransitionSystem, prop: Property, depth: int = 20, timeout: float | None = None
) -> PropertyResult:
    """Look for a fair lasso of at most ``depth`` steps that violates the liveness property
    ``prop`` (an ``eventually`` or a ``leads_to``; with parts, each part in turn).

    Returns
    -------
    PropertyResult
        ``violated`` with the shortest such lasso (replayed and checked), ``holds up to
        bound`` when there is none, ``unknown`` when the solver or ``timeout`` (seconds, for
        the whole call) gives up first.
    """
    from nmrcheck.engines.explicit.liveness import lasso_problem

    if prop.kind not in (EVENTUALLY, LEADS_TO):
        raise ValueError(f"{prop.name} is not a liveness property")
    budget = Budget(timeout)
    start = time.monotonic()
    for inst in prop.instances():
        trace, k, why = _search(ts, inst, depth, budget)
        stats = {"depth": k, "seconds": round(time.monotonic() - start, 3)}
        if why:
            return PropertyResult(
                prop.name,
                UNKNOWN,
                ENGINE,
                PARTIAL,
                bound=k if k >= 0 else None,
                reason=f"solver gave up ({why}) at depth {k + 1}"
                + (f" for {inst.name}" if prop.parts else ""),
                stats=stats,
            )
        if trace is not None:
            problem = lasso_problem(ts, inst, trace)
            if problem is not None:
                raise InternalError(f"lasso bmc: a lasso for {inst.name} is wrong: {problem}")
            stats.update(instance=inst.name, stutter=trace.loop_start == len(trace) and
                         not ts.enabled(trace.states[-1]), loop_start=trace.loop_start)
            return PropertyResult(
                prop.name,
                VIOLATED,
                ENGINE,
                BOUNDED,
                bound=len(trace),
                trace=trace,
                reason=f"a fair lasso of {len(trace)} steps",
                stats=stats,
            )
    return PropertyResult(
        prop.name,
        HOLDS_BOUNDED,
        ENGINE,
        BOUNDED,
        bound=depth,
        reason=f"no fair lasso of up to {depth} steps",
        stats={"depth": depth, "seconds": round(time.monotonic() - start, 3)},
    )
