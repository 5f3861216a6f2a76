"""Bounded lasso search: liveness counterexamples under fairness with Z3.

A *lasso* of length ``k`` is a run ``s0 .. sk`` from the initial state whose last state equals
an earlier one, ``sk == sl`` (``l < k``): the steps ``l .. k-1`` repeat forever. A run that
ends in a state where no fairness group is enabled (not a crash) is a lasso too: it
*stutters* there forever. :func:`lasso_bmc` looks for the shortest lasso, deepening ``k``
one step at a time, that is

* **bad**: for ``eventually E``, ``E`` is false in every state; for ``leads_to P ~> Q``, some
  state ``t`` has ``P``, and ``Q`` is false in every state from ``t`` on and on the whole
  loop (``armed_k``: a trigger at or before ``k`` with ``Q`` false since, and ``Q`` false on
  ``l .. k``);
* **fair** (``ts.fairness``): for every weak group, the loop takes one of its actions or
  passes a state where none is enabled; for every strong group, the loop takes one of its
  actions or none is enabled anywhere on it. A stutter is fair: no group is enabled.

The frames are the BMC frames of :mod:`.encode` (``var_at``, ``action_at``), bounded to the
declared domains (the explicit engine, whose packed states hold only those values, agrees),
with the transition relation of ``encode.step`` stated per variable, which is much smaller.
All the properties searched share one incremental unrolling; at each depth one query asks
for a lasso violating any of them. Every lasso found is replayed with the reference
interpreter and checked to be a fair counterexample before it is returned; no lasso up to
the bound is ``holds up to bound``, never ``holds``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

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
from .encode import (
    action_at,
    encode_bool,
    encode_int,
    frame,
    in_range,
    init_at,
    mk_and,
    mk_or,
)
from .traces import read_trace

ENGINE = "lasso bmc"


class _Unrolling:
    """The incremental unrolling of one system, shared by the properties searched on it.

    Each frame ``k`` defines, besides the state: the guards of the actions, ``quiet`` (no
    fairness group enabled there, not halted) and, per fairness group, ``enabled``; each step ``k``
    defines per group ``took`` (the step's action is in the group) and ``kept`` (took, or
    the group is not enabled in frame ``k``). Each tracked property instance adds ``armed``
    per frame: a trigger at or before it with the target false ever since (``eventually``:
    the expression false in every frame so far) and ``clear``: the target false there.
    """

    def __init__(self, ts: TransitionSystem, ctx: z3.Context) -> None:
        self.ts, self.ctx = ts, ctx
        self.solver = z3.SolverFor("QF_FD", ctx=ctx)
        self.solver.add(init_at(ts, 0, ctx), in_range(ts, 0, ctx))
        self.k = 0
        self.frames: list[list[z3.ArithRef]] = []
        self.guards: list[list[z3.BoolRef]] = []  # frame -> action -> its guard there
        self.halted: list[z3.BoolRef] = []
        self.enabled: list[list[z3.BoolRef]] = []  # frame -> group -> some action enabled
        self.quiet: list[z3.BoolRef] = []  # frame -> not halted, no fairness group enabled
        self.took: list[list[z3.BoolRef]] = []  # step -> group -> the step takes the group
        self.kept: list[list[z3.BoolRef]] = []  # step -> group -> took, or not enabled
        self.props: list[Property] = []
        self.clear: list[list[z3.BoolRef]] = []  # instance -> frame -> target false
        self.armed: list[list[z3.BoolRef]] = []  # instance -> frame -> armed
        self._frame(0)

    def track(self, prop: Property) -> int:
        """Define ``armed`` and ``clear`` of ``prop`` (parts-free) on every frame so far."""
        n = len(self.props)
        self.props.append(prop)
        self.clear.append([])
        self.armed.append([])
        for k in range(self.k + 1):
            self._arm(n, k)
        return n

    def _arm(self, n: int, k: int) -> None:
        ctx, prop, fv = self.ctx, self.props[n], self.frames[k]
        clear = z3.Bool(f"clear#{n}@{k}", ctx)
        armed = z3.Bool(f"armed#{n}@{k}", ctx)
        before = self.armed[n][-1] if k > 0 else None
        if prop.kind == EVENTUALLY:
            self.solver.add(clear == z3.Not(encode_bool(prop.expr, fv, ctx)))
            self.solver.add(armed == (clear if before is None else z3.And(before, clear)))
        else:
            self.solver.add(clear == z3.Not(encode_bool(prop.target, fv, ctx)))
            trig = encode_bool(prop.expr, fv, ctx)
            self.solver.add(
                armed == z3.And(trig if before is None else z3.Or(before, trig), clear)
            )
        self.clear[n].append(clear)
        self.armed[n].append(armed)

    def _frame(self, k: int) -> None:
        ts, ctx = self.ts, self.ctx
        fv = frame(ts, k, ctx)
        self.frames.append(fv)
        guards = [encode_bool(a.guard, fv, ctx) for a in ts.actions]
        self.guards.append(guards)
        halted = encode_bool(ts.halted, fv, ctx)
        self.halted.append(halted)
        groups = []
        for gi, f in enumerate(ts.fairness):
            b = z3.Bool(f"enabled#{gi}@{k}", ctx)
            self.solver.add(b == mk_or([guards[a] for a in f.actions], ctx))
            groups.append(b)
        self.enabled.append(groups)
        self.quiet.append(mk_and([z3.Not(halted)] + [z3.Not(g) for g in groups], ctx))
        for n in range(len(self.props)):
            self._arm(n, k)

    def extend(self) -> None:
        """One more step: frames ``0 .. k+1``."""
        ctx, k = self.ctx, self.k
        self._step(k)
        sel = action_at(k, ctx)
        took, kept = [], []
        for gi, f in enumerate(self.ts.fairness):
            t = z3.Bool(f"took#{gi}@{k}", ctx)
            self.solver.add(t == mk_or([sel == a for a in f.actions], ctx))
            took.append(t)
            kept.append(z3.Or(t, z3.Not(self.enabled[k][gi])))
        self.took.append(took)
        self.kept.append(kept)
        self.k += 1
        self.solver.add(in_range(self.ts, self.k, self.ctx))
        self._frame(self.k)

    def _step(self, k: int) -> None:
        """Frame ``k`` to frame ``k + 1`` by the action ``action_at(k)``: the relation of
        :func:`.encode.step`, stated per variable (an ``If`` over the actions that update
        it), which is much smaller."""
        ts, ctx = self.ts, self.ctx
        cur, nxt = self.frames[k], frame(ts, k + 1, ctx)
        sel = action_at(k, ctx)
        add = self.solver.add
        add(sel >= 0, sel < len(ts.actions), z3.Not(self.halted[k]))
        writes: dict[int, list[tuple[int, object]]] = {}
        for a_index, action in enumerate(ts.actions):
            add(z3.Implies(sel == a_index, self.guards[k][a_index]))
            for i, e in action.updates:
                writes.setdefault(i, []).append((a_index, e))
        for i, x in enumerate(nxt):
            value = cur[i]
            for a_index, e in reversed(writes.get(i, [])):
                value = z3.If(sel == a_index, encode_int(e, cur, ctx), value)
            add(x == value)

    def lassos(self, open_: Sequence[int]) -> tuple[dict[int, z3.BoolRef], z3.BoolRef, list]:
        """State the lassos of exactly ``k`` steps (call between ``push`` and ``pop``): the
        last frame stutters, or equals the frame where the loop starts (one selector per
        start); the loop is fair. Returns one literal per instance in ``open_`` (it implies
        that the lasso violates the instance), the stutter selector and the loop selectors.
        """
        ctx, k, add = self.ctx, self.k, self.solver.add
        stutter = z3.Bool(f"stutter@{k}", ctx)
        starts = [z3.Bool(f"loop{lo}@{k}", ctx) for lo in range(k)]
        # exactly one way to go on forever
        add(z3.PbEq([(x, 1) for x in [stutter, *starts]], 1))
        add(z3.Implies(stutter, self.quiet[k]))
        last = self.frames[k]
        for lo, sel in enumerate(starts):
            add(z3.Implies(sel, mk_and([x == y for x, y in zip(last, self.frames[lo])], ctx)))
        # in_loop[i]: step i (frame i and the action leaving it) is on the loop
        in_loop, acc = [], z3.BoolVal(False, ctx)
        for i in range(k):
            acc = z3.Or(acc, starts[i]) if i else starts[0]
            x = z3.Bool(f"in_loop{i}@{k}", ctx)
            add(x == acc)
            in_loop.append(x)
        looping = z3.Not(stutter)
        for gi, f in enumerate(self.ts.fairness):
            if f.kind == STRONG:
                taken = mk_or([z3.And(in_loop[i], self.took[i][gi]) for i in range(k)], ctx)
                off = mk_and(
                    [z3.Implies(in_loop[i], z3.Not(self.enabled[i][gi])) for i in range(k)],
                    ctx,
                )
                add(z3.Implies(looping, z3.Or(taken, off)))
            else:
                kept = mk_or([z3.And(in_loop[i], self.kept[i][gi]) for i in range(k)], ctx)
                add(z3.Implies(looping, kept))
        lits = {}
        for n in open_:
            lit = z3.Bool(f"violates#{n}@{k}", ctx)
            clear = mk_and(
                [z3.Implies(in_loop[i], self.clear[n][i]) for i in range(k)], ctx
            )
            add(z3.Implies(lit, z3.And(self.armed[n][k], clear)))
            lits[n] = lit
        return lits, stutter, starts


def lasso_bmc_all(
    ts: TransitionSystem,
    props: Sequence[Property],
    depth: int = 20,
    timeout: float | None = None,
) -> list[PropertyResult]:
    """:func:`lasso_bmc` for several liveness properties of ``ts`` on one shared unrolling,
    deepening one step at a time (each answer is the shortest lasso of its property)."""
    from nmrcheck.engines.explicit.liveness import lasso_problem

    for p in props:
        if p.kind not in (EVENTUALLY, LEADS_TO):
            raise ValueError(f"{p.name} is not a liveness property")
    budget = Budget(timeout)
    start = time.monotonic()
    run = _Unrolling(ts, z3.Context())
    owner: list[int] = []  # tracked instance -> property index
    for pi, p in enumerate(props):
        for inst in p.instances():
            run.track(inst)
            owner.append(pi)
    results: dict[int, PropertyResult] = {}

    def stats(k: int) -> dict[str, object]:
        return {"depth": k, "seconds": round(time.monotonic() - start, 3)}

    for k in range(depth + 1):
        open_ = [n for n in range(len(owner)) if owner[n] not in results]
        if not open_:
            break
        if k > 0:
            run.extend()
        run.solver.push()
        lits, stutter, starts = run.lassos(open_)
        while open_:
            why = ""
            if budget.expired():
                why = "timeout"
            else:
                budget.arm(run.solver)
                r = run.solver.check(mk_or([lits[n] for n in open_], run.ctx))
                if r == z3.unknown:
                    why = run.solver.reason_unknown() or "unknown"
            if why:
                for n in open_:
                    if owner[n] not in results:
                        results[owner[n]] = PropertyResult(
                            props[owner[n]].name,
                            UNKNOWN,
                            ENGINE,
                            PARTIAL,
                            bound=k - 1 if k > 0 else None,
                            reason=f"solver gave up ({why}) at depth {k}",
                            stats=stats(k - 1),
                        )
                open_ = []
                break
            if r != z3.sat:
                break
            model = run.solver.model()

            def true(x: z3.BoolRef, model: z3.ModelRef = model) -> bool:
                return z3.is_true(model.eval(x, model_completion=True))

            n = next(n for n in open_ if true(lits[n]))
            base = read_trace(ts, model, k, run.ctx)
            lo = None if true(stutter) else next(i for i, x in enumerate(starts) if true(x))
            trace = Trace(base.states, base.actions, k if lo is None else lo + 1)
            inst = run.props[n]
            problem = lasso_problem(ts, inst, trace)
            if problem is not None:
                raise InternalError(f"lasso bmc: a lasso for {inst.name} is wrong: {problem}")
            st = stats(k)
            st.update(instance=inst.name, stutter=lo is None, loop_start=trace.loop_start)
            pi = owner[n]
            results[pi] = PropertyResult(
                props[pi].name,
                VIOLATED,
                ENGINE,
                BOUNDED,
                bound=len(trace),
                trace=trace,
                reason=f"a fair lasso of {len(trace)} steps",
                stats=st,
            )
            open_ = [m for m in open_ if owner[m] != pi]
        run.solver.pop()
    for pi, p in enumerate(props):
        if pi not in results:
            results[pi] = PropertyResult(
                p.name,
                HOLDS_BOUNDED,
                ENGINE,
                BOUNDED,
                bound=depth,
                reason=f"no fair lasso of up to {depth} steps",
                stats=stats(depth),
            )
    return [results[pi] for pi in range(len(props))]


def lasso_bmc(
    ts: TransitionSystem, prop: Property, depth: int = 20, timeout: float | None = None
) -> PropertyResult:
    """Look for a fair lasso of at most ``depth`` steps that violates the liveness property
    ``prop`` (an ``eventually`` or a ``leads_to``; with parts, any part).

    Returns
    -------
    PropertyResult
        ``violated`` with the shortest such lasso (replayed and checked to be a fair
        counterexample), ``holds up to bound`` when there is none, ``unknown`` when the
        solver or ``timeout`` (seconds, for the whole call) gives up first.
    """
    return lasso_bmc_all(ts, [prop], depth, timeout)[0]
