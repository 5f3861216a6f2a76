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

The frames are bounded to the declared domains (the explicit engine, whose packed states hold
only those values, agrees). Three searches, chosen by :func:`_search`:

* :class:`_Stutters`, when :func:`loop_actions` shows that no action can fire on a cycle of
  the state graph (every seed model): only stuttering lassos exist, found on the one-hot
  unrollings of :mod:`.finite` with partial-order reduction, a cheap necessary condition
  first at each depth;
* :class:`_OneHot` otherwise: one-hot frames without reduction, the loop closed through a
  shadow state, fairness accumulated along the frames, so that one incremental SAT solver
  answers every depth with assumptions (and only actions that may loop fire on the loop);
* :class:`_Integers` (the BMC frames of :mod:`.encode`, ``var_at``/``action_at``, with the
  transition relation stated per variable) when a domain is too large to encode one-hot.

All the properties searched share the unrollings; at each depth one query asks for a lasso
violating any of them. Every lasso found is replayed with the reference interpreter and
checked to be a fair counterexample before it is returned; no lasso up to the bound is
``holds up to bound``, never ``holds``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import z3

from nmrcheck.engines.common.results import (
    BOUNDED,
    HOLDS_BOUNDED,
    PARTIAL,
    UNKNOWN,
    VIOLATED,
    PropertyResult,
)
from nmrcheck.errors import InternalError
from nmrcheck.ir import EVENTUALLY, LEADS_TO, STRONG, Property, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import free_vars, substitute

from . import finite
from .budget import Budget, checkpoint, settle, stoppable, stopped
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
from .finite import and_folded as _and1
from .finite import or_folded as _or1
from .slicing import Slice
from .traces import read_trace

ENGINE = "lasso bmc"
MAX_CASES = 64  # disjuncts of a guard told apart by loop_actions


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


def loop_actions(ts: TransitionSystem) -> frozenset[int]:
    """The actions that may fire on a cycle of the state graph (an over-approximation).

    On a cycle every variable comes back to its value, so each change of a variable ``x`` is
    an edge ``v -> v'`` on a cycle of the graph of the changes the actions can make to ``x``.
    Each action is split into *cases*, the disjuncts of its guard in disjunctive normal form;
    a case can take ``x`` from ``v`` (a value the case does not rule out alone) to ``v'`` (the
    update's value there; any value of the domain when it depends on other variables). A case
    in which every change of some variable is an edge on no such cycle never fires on a cycle
    of the state graph; without its edges the graphs have fewer cycles, so this is repeated
    until nothing changes. The actions with a case left are returned."""
    cases: list[tuple[int, dict[int, set[tuple[int, int]]]]] = []
    for n, a in enumerate(ts.actions):
        checkpoint()
        for case in _dnf(a.guard):
            mine: dict[int, set[tuple[int, int]]] = {}
            for x, e in a.updates:
                v = ts.vars[x]
                if v.hi - v.lo >= finite.MAX_VALUES:
                    mine = {}
                    break
                got: set[tuple[int, int]] = set()
                for old in range(v.lo, v.hi + 1):
                    point = {x: E.const(old)}
                    if substitute(case, point) is E.FALSE:
                        continue
                    new = substitute(e, point)
                    if new.op == "const":
                        if v.lo <= new.val <= v.hi:
                            got.add((old, new.val))
                    else:
                        got |= {(old, val) for val in range(v.lo, v.hi + 1)}
                mine[x] = got
            cases.append((n, mine))
    alive = set(range(len(cases)))
    while True:
        checkpoint()
        edges: dict[int, dict[int, set[int]]] = {}
        for c in alive:
            for x, got in cases[c][1].items():
                g = edges.setdefault(x, {})
                for old, new in got:
                    if old != new:
                        g.setdefault(old, set()).add(new)
        reach = {x: _closure(g) for x, g in edges.items()}
        dead = set()
        for c in alive:
            for x, got in cases[c][1].items():
                if all(old != new and old not in reach[x].get(new, ()) for old, new in got):
                    dead.add(c)
                    break
        if not dead:
            return frozenset(cases[c][0] for c in alive)
        alive -= dead


def _dnf(e: Expr) -> list[Expr]:
    """The disjuncts of ``e`` in disjunctive normal form (``[e]`` when there would be more
    than ``MAX_CASES``)."""

    def go(x: Expr) -> list[Expr] | None:
        if x.op == "or":
            out: list[Expr] = []
            for y in x.args:
                part = go(y)
                if part is None or len(out) + len(part) > MAX_CASES:
                    return None
                out += part
            return out
        if x.op == "and":
            acc = [E.TRUE]
            for y in x.args:
                part = go(y)
                if part is None or len(acc) * len(part) > MAX_CASES:
                    return None
                acc = [E.and_(a, b) for a in acc for b in part]
            return acc
        return [x]

    cases = go(e)
    return [e] if cases is None else cases


def _closure(graph: dict[int, set[int]]) -> dict[int, set[int]]:
    """For each node of ``graph``, the nodes it reaches by one or more edges."""
    out = {}
    for start in graph:
        seen: set[int] = set()
        todo = list(graph[start])
        while todo:
            y = todo.pop()
            if y not in seen:
                seen.add(y)
                todo.extend(graph.get(y, ()))
        out[start] = seen
    return out


class _OneHot:
    """The same search over the one-hot frames of :mod:`.finite` (every variable, every
    action, no reduction), stated once and for all so that one incremental SAT solver answers
    every depth with assumptions, keeping what it learnt.

    The loop is found through a *shadow* state ``S``: ``start@l`` (the loop starts at frame
    ``l``) implies frame ``l`` equals ``S``, and the lasso of ``k`` steps closes when frame
    ``k`` equals ``S`` with a start before ``k``. Along the frames, ``started@i`` (step ``i``
    is on the loop), the fairness of the loop so far per group and ``clr#n@i`` (the target of
    instance ``n`` false on the loop so far) are accumulated, so the query at depth ``k`` is
    a few literals: no constraint depends on ``k`` alone."""

    def __init__(self, ts: TransitionSystem, ctx: z3.Context, instances: Sequence[Property]):
        self.ts, self.ctx = ts, ctx
        self.looping = sorted(loop_actions(ts))  # only these fire on a loop
        everything = Slice(tuple(range(len(ts.vars))), tuple(range(len(ts.actions))))
        self.run = finite.Unrolling(ts, everything, ctx, por=False)
        enc = self.run.step.enc
        self.solver = self.run.solver
        self.k = 0
        self.shadow = self.run.step.frames.atoms("S")
        self.queries = 0
        # template formulas over frame ``c``, copied to each frame
        t_enabled = [
            _or1([enc.truth(ts.actions[a].guard) for a in f.actions], ctx) for f in ts.fairness
        ]
        t_halted = enc.truth(ts.halted)
        self._t_frame = [*t_enabled, _neg(t_halted)]
        self.props: list[Property] = []
        self._t_props: list[tuple[z3.BoolRef, z3.BoolRef | None]] = []
        self.start: list[z3.BoolRef] = []
        self.started: list[z3.BoolRef] = []  # step i -> on the loop
        self.enabled: list[list[z3.BoolRef]] = []  # frame -> group -> enabled
        self.quiet: list[z3.BoolRef] = []
        self.fair: list[z3.BoolRef] = []  # step i -> the loop up to step i is fair
        self.weak: list[list[z3.BoolRef]] = []
        self.taken: list[list[z3.BoolRef]] = []
        self.off: list[list[z3.BoolRef]] = []
        self.clear: list[list[z3.BoolRef]] = []  # instance -> frame -> target false
        self.armed: list[list[z3.BoolRef]] = []
        self.clr: list[list[z3.BoolRef]] = []  # instance -> step -> clear on the loop so far
        for p in instances:
            self._track(p)
        self._frame(0)
        self.note = f"one-hot; {len(self.looping)} of {len(ts.actions)} actions may loop"

    def _track(self, prop: Property) -> None:
        """Track ``prop`` (parts-free)."""
        enc = self.run.step.enc
        self.props.append(prop)
        if prop.kind == EVENTUALLY:
            self._t_props.append((_neg(enc.truth(prop.expr)), None))
        else:
            self._t_props.append((_neg(enc.truth(prop.target)), enc.truth(prop.expr)))
        self.clear.append([])
        self.armed.append([])
        self.clr.append([])

    def _define(self, name: str, f: z3.BoolRef) -> z3.BoolRef:
        """A fresh literal equal to ``f`` (``f`` itself when it is a constant)."""
        if z3.is_true(f) or z3.is_false(f):
            return f
        x = z3.Bool(name, self.ctx)
        self.solver.add(x == f)
        return x

    def _frame(self, k: int) -> None:
        """Definitions over frame ``k``: the loop may start there, fairness groups enabled,
        quiet, and each instance's ``clear`` and ``armed``."""
        ctx, add = self.ctx, self.solver.add
        at = self.run._at(k)
        atoms = self.run.atoms[k]
        start = z3.Bool(f"start@{k}", ctx)
        if self.looping:
            for x, s in zip(atoms, self.shadow, strict=True):
                add(z3.Implies(start, x == s))
        self.start.append(start)
        groups = [self._define(f"enabled#{g}@{k}", at(t)) for g, t in enumerate(self._t_frame[:-1])]
        self.enabled.append(groups)
        alive = at(self._t_frame[-1])
        quiet = _and1([alive, *[_neg(g) for g in groups]], ctx)
        self.quiet.append(self._define(f"quiet@{k}", quiet))
        for n, (t_clear, t_trig) in enumerate(self._t_props):
            clear = self._define(f"clear#{n}@{k}", at(t_clear))
            before = self.armed[n][-1] if k > 0 else None
            armed = _armed(before, clear, None if t_trig is None else at(t_trig), ctx)
            self.clear[n].append(clear)
            self.armed[n].append(self._define(f"armed#{n}@{k}", armed))

    def _accumulate(self, i: int) -> None:
        """Definitions over step ``i`` (frame ``i`` and the action leaving it): on the loop,
        fairness and ``clr`` up to it."""
        ctx = self.ctx
        acts = self.run.acts[i]
        on = self.start[i] if i == 0 else self._define(
            f"started@{i}", _or1([self.started[-1], self.start[i]], ctx)
        )
        self.started.append(on)
        if len(self.looping) < len(self.ts.actions):
            self.solver.add(z3.Implies(on, _or1([acts[a] for a in self.looping], ctx)))
        weak, taken, off, fair = [], [], [], []
        for g, f in enumerate(self.ts.fairness):
            took = _or1([acts[a] for a in f.actions], ctx)
            en = self.enabled[i][g]
            if f.kind == STRONG:
                t_prev = self.taken[-1][g] if i else z3.BoolVal(False, ctx)
                o_prev = self.off[-1][g] if i else z3.BoolVal(True, ctx)
                t = self._define(f"taken#{g}@{i}", _or1([t_prev, _and1([on, took], ctx)], ctx))
                o = self._define(
                    f"off#{g}@{i}", _and1([o_prev, z3.Implies(on, _neg(en))], ctx)
                )
                taken.append(t)
                off.append(o)
                weak.append(z3.BoolVal(True, ctx))
                fair.append(_or1([t, o], ctx))
            else:
                w_prev = self.weak[-1][g] if i else z3.BoolVal(False, ctx)
                kept = _and1([on, _or1([took, _neg(en)], ctx)], ctx)
                w = self._define(f"weak#{g}@{i}", _or1([w_prev, kept], ctx))
                weak.append(w)
                taken.append(z3.BoolVal(False, ctx))
                off.append(z3.BoolVal(True, ctx))
                fair.append(w)
        self.weak.append(weak)
        self.taken.append(taken)
        self.off.append(off)
        self.fair.append(self._define(f"fair@{i}", _and1(fair, ctx)))
        for n in range(len(self.props)):
            prev = self.clr[n][-1] if i else z3.BoolVal(True, ctx)
            self.clr[n].append(
                self._define(f"clr#{n}@{i}", _and1([prev, z3.Implies(on, self.clear[n][i])], ctx))
            )

    def extend(self) -> None:
        """One more step: frames ``0 .. k+1``."""
        self.run.extend(Budget(None))
        self._accumulate(self.k)
        self.k += 1
        self._frame(self.k)

    def open_depth(self, open_: Sequence[int]) -> None:
        """State the lassos of exactly ``k`` steps: literals switched on by the queries."""
        ctx, k, add = self.ctx, self.k, self.solver.add
        self.stutter = z3.Bool(f"stutter@{k}", ctx)
        add(z3.Implies(self.stutter, self.quiet[k]))
        self.close = z3.Bool(f"close@{k}", ctx)
        if k == 0 or not self.looping:
            add(_neg(self.close))
        else:
            for x, s in zip(self.run.atoms[k], self.shadow, strict=True):
                add(z3.Implies(self.close, x == s))
            add(z3.Implies(self.close, _and1([self.started[k - 1], self.fair[k - 1]], ctx)))
        self.lits = {}
        for n in open_:
            lit = z3.Bool(f"violates#{n}@{k}", ctx)
            loop = (
                self.close
                if k == 0 or not self.looping
                else _and1([self.close, self.clr[n][k - 1]], ctx)
            )
            add(z3.Implies(lit, _and1([self.armed[n][k], _or1([self.stutter, loop], ctx)], ctx)))
            self.lits[n] = lit

    def close_depth(self) -> None:
        """Nothing to undo: the literals of this depth are simply never assumed again."""

    def check(self, open_: Sequence[int], budget: Budget) -> tuple[z3.CheckSatResult, str]:
        self.queries += 1
        q = z3.Bool(f"lasso-query#{self.queries}", self.ctx)
        self.solver.add(z3.Implies(q, _or1([self.lits[n] for n in open_], self.ctx)))
        return budget.check(self.solver, q)

    def read(self, open_: Sequence[int]) -> tuple[int, Trace, bool]:
        """The instance the last ``sat`` answer violates, its lasso, and whether the lasso
        stutters."""
        model = self.solver.model()

        def true(x: z3.BoolRef) -> bool:
            return z3.is_true(model.eval(x, model_completion=True))

        n = next(n for n in open_ if true(self.lits[n]))
        base = self.run.trace()
        k = self.k
        if true(self.stutter):
            lo = None
        else:
            lo = next(i for i in range(k) if true(self.start[i]))
        return n, Trace(base.states, base.actions, k if lo is None else lo + 1), lo is None


class _Stutters:
    """The search when no action can fire on a cycle (:func:`loop_actions`): every lasso
    stutters, so a counterexample is a run to a *quiet* state (not halted, no fairness group
    enabled) on which the instance is *armed* (a trigger, and the target false ever since;
    for ``eventually``, the expression false all along).

    At each depth a necessary condition comes first, on an unrolling with the full partial-order
    reduction of :mod:`.finite` (which keeps the last state of a run): a quiet last state where
    the target of an open instance is false. Only when one exists is the full question asked,
    on a second unrolling (built on first use) whose reduction also keeps the sequence of values
    (up to repeats) of the variables the instances read, which is all their verdicts depend on.
    """

    def __init__(self, ts: TransitionSystem, instances: Sequence[Property]) -> None:
        self.ts, self.props = ts, list(instances)
        self.everything = Slice(tuple(range(len(ts.vars))), tuple(range(len(ts.actions))))
        self.quiet = E.and_(
            E.not_(ts.halted),
            *(E.not_(E.or_(*(ts.actions[a].guard for a in f.actions))) for f in ts.fairness),
        )
        self.pre = finite.Unrolling(ts, self.everything, z3.Context(), por=True)
        self.goals = []
        for p in self.props:
            target = p.expr if p.kind == EVENTUALLY else p.target
            self.goals.append(E.and_(self.quiet, E.not_(target)))
            self.pre.goal(self.goals[-1])  # encoded now: too large shows here
        self.full: _Armed | None = None
        self.k = 0
        self.none_at = -1  # the last depth where the necessary condition has no run
        self.note = "one-hot; no action may loop (stuttering lassos only); partial-order reduction"

    def extend(self) -> None:
        self.pre.extend(Budget(None))
        self.k += 1

    def open_depth(self, open_: Sequence[int]) -> None:
        self.found: tuple[int, Trace] | None = None

    def close_depth(self) -> None:
        pass

    def check(self, open_: Sequence[int], budget: Budget) -> tuple[z3.CheckSatResult, str]:
        if self.none_at == self.k:
            return z3.unsat, ""
        r, _, why = self.pre.find(E.or_(*(self.goals[n] for n in open_)), budget)
        if r != z3.sat:
            if r == z3.unsat:
                self.none_at = self.k
            return r, why
        if self.full is None:
            self.full = _Armed(self.ts, self.everything, self.props, self.quiet)
        while self.full.k < self.k:
            self.full.extend()
        r, found, why = self.full.find(open_, budget)
        if r == z3.sat:
            self.found = found
        return r, why

    def read(self, open_: Sequence[int]) -> tuple[int, Trace, bool]:
        assert self.found is not None
        n, trace = self.found
        return n, Trace(trace.states, trace.actions, self.k), True


class _Armed:
    """Stuttering lassos of several instances: runs to a quiet state where one of them is
    armed, with the partial-order reduction that keeps what they read (own context)."""

    def __init__(
        self, ts: TransitionSystem, slc: Slice, props: Sequence[Property], quiet: Expr
    ) -> None:
        seen: set[int] = set()
        for p in props:
            seen |= free_vars(p.expr)
            if p.kind == LEADS_TO:
                seen |= free_vars(p.target)
        ctx = z3.Context()
        self.ctx = ctx
        self.run = finite.Unrolling(ts, slc, ctx, por=True, visible=frozenset(seen))
        enc = self.run.step.enc
        self.t_quiet = enc.truth(quiet)
        self.t_props = []
        for p in props:
            if p.kind == EVENTUALLY:
                self.t_props.append((_neg(enc.truth(p.expr)), None))
            else:
                self.t_props.append((_neg(enc.truth(p.target)), enc.truth(p.expr)))
        self.armed: list[list[z3.BoolRef]] = [[] for _ in props]
        self.k = 0
        self._frame(0)

    def _frame(self, k: int) -> None:
        ctx, at = self.ctx, self.run._at(k)
        for n, (t_clear, t_trig) in enumerate(self.t_props):
            clear = at(t_clear)
            before = self.armed[n][-1] if k > 0 else None
            armed = _armed(before, clear, None if t_trig is None else at(t_trig), ctx)
            if not (z3.is_true(armed) or z3.is_false(armed)):
                x = z3.Bool(f"armed#{n}@{k}", ctx)
                self.run.solver.add(x == armed)
                armed = x
            self.armed[n].append(armed)

    def extend(self) -> None:
        self.run.extend(Budget(None))
        self.k += 1
        self._frame(self.k)

    def find(
        self, open_: Sequence[int], budget: Budget
    ) -> tuple[z3.CheckSatResult, tuple[int, Trace] | None, str]:
        """A run of ``k`` steps to a quiet state where an instance of ``open_`` is armed:
        that instance and the run (lifted, not replayed)."""
        ctx, k = self.ctx, self.k
        armed = _or1([self.armed[n][k] for n in open_], ctx)
        query = _and1([self.run._at(k)(self.t_quiet), armed], ctx)
        self.run.queries += 1
        lit = z3.Bool(f"armed-query#{self.run.queries}", ctx)
        self.run.solver.add(z3.Implies(lit, query))
        r, why = budget.check(self.run.solver, lit)
        if r != z3.sat:
            return r, None, why
        model = self.run.solver.model()
        n = next(
            n for n in open_ if z3.is_true(model.eval(self.armed[n][k], model_completion=True))
        )
        return r, (n, self.run.trace()), ""


class _Integers:
    """The search over :class:`_Unrolling` (integer frames), one push/pop per depth: for
    systems too large for the one-hot encoding."""

    def __init__(self, ts: TransitionSystem, ctx: z3.Context, instances: Sequence[Property]):
        self.ts = ts
        self.u = _Unrolling(ts, ctx)
        self.solver = self.u.solver
        for p in instances:
            self.u.track(p)
        self.note = "integers"

    @property
    def k(self) -> int:
        return self.u.k

    @property
    def props(self) -> list[Property]:
        return self.u.props

    def extend(self) -> None:
        self.u.extend()

    def open_depth(self, open_: Sequence[int]) -> None:
        self.solver.push()
        self.lits, self.stutter, self.starts = self.u.lassos(open_)

    def close_depth(self) -> None:
        self.solver.pop()

    def check(self, open_: Sequence[int], budget: Budget) -> tuple[z3.CheckSatResult, str]:
        return budget.check(self.solver, mk_or([self.lits[n] for n in open_], self.u.ctx))

    def read(self, open_: Sequence[int]) -> tuple[int, Trace, bool]:
        model = self.solver.model()

        def true(x: z3.BoolRef) -> bool:
            return z3.is_true(model.eval(x, model_completion=True))

        n = next(n for n in open_ if true(self.lits[n]))
        k = self.u.k
        base = read_trace(self.ts, model, k, self.u.ctx)
        lo = None if true(self.stutter) else next(i for i, x in enumerate(self.starts) if true(x))
        return n, Trace(base.states, base.actions, k if lo is None else lo + 1), lo is None


def _armed(
    before: z3.BoolRef | None, clear: z3.BoolRef, trig: z3.BoolRef | None, ctx: z3.Context
) -> z3.BoolRef:
    """Whether a property instance is armed at a frame: its target is false there (``clear``)
    and, for ``leads_to``, it was armed at the frame before (``before``) or its trigger holds
    here (``trig``); for ``eventually`` (no ``trig``), the target has been false at every
    frame so far."""
    if trig is None:
        return clear if before is None else _and1([before, clear], ctx)
    return _and1([trig if before is None else _or1([before, trig], ctx), clear], ctx)


def _neg(x: z3.BoolRef) -> z3.BoolRef:
    if z3.is_true(x):
        return z3.BoolVal(False, x.ctx)
    if z3.is_false(x):
        return z3.BoolVal(True, x.ctx)
    if z3.is_not(x):
        return x.arg(0)
    return z3.Not(x)


def _search(
    ts: TransitionSystem, instances: Sequence[Property]
) -> _Stutters | _OneHot | _Integers:
    """The one-hot search when every domain and expression fits it (for stuttering lassos
    only when no action can loop), else the integer one."""
    try:
        if not loop_actions(ts):
            return _Stutters(ts, instances)
        return _OneHot(ts, z3.Context(), instances)
    except finite.TooLarge:
        return _Integers(ts, z3.Context(), instances)


def lasso_bmc_all(
    ts: TransitionSystem,
    props: Sequence[Property],
    depth: int = 20,
    timeout: float | None = None,
) -> list[PropertyResult]:
    """:func:`lasso_bmc` for several liveness properties of ``ts`` on one shared unrolling,
    deepening one step at a time (each answer is the shortest lasso of its property). When
    the run control stops the run, the properties not decided by then are ``UNKNOWN`` with
    its reason."""
    for p in props:
        if p.kind not in (EVENTUALLY, LEADS_TO):
            raise ValueError(f"{p.name} is not a liveness property")
    budget = Budget(timeout)
    results: dict[int, PropertyResult] = {}
    checked = [-1]  # lassos of up to this many steps were ruled out for the open properties

    def work() -> None:
        _deepen(ts, props, depth, budget, results, checked)

    why = stoppable(budget, work)
    bound = checked[0] if checked[0] >= 0 else None
    out = [results.get(n) or stopped(p, ENGINE, why, bound) for n, p in enumerate(props)]
    return settle(out, why)


def _deepen(
    ts: TransitionSystem,
    props: Sequence[Property],
    depth: int,
    budget: Budget,
    results: dict[int, PropertyResult],
    checked: list[int],
) -> None:
    """The body of :func:`lasso_bmc_all`: record each property's result in ``results`` (none
    for the properties still open when the run control stops the run)."""
    from nmrcheck.engines.common.lasso import lasso_problem

    start = time.monotonic()
    instances: list[Property] = []
    owner: list[int] = []  # tracked instance -> property index
    for pi, p in enumerate(props):
        for inst in p.instances():
            instances.append(inst)
            owner.append(pi)
    run = _search(ts, instances)

    def stats(k: int) -> dict[str, object]:
        return {"depth": k, "seconds": round(time.monotonic() - start, 3), "encoding": run.note}

    for k in range(depth + 1):
        open_ = [n for n in range(len(owner)) if owner[n] not in results]
        if not open_:
            break
        if budget.stopped():
            return
        if k > 0:
            run.extend()
        run.open_depth(open_)
        while open_:
            r, why = run.check(open_, budget)
            if why:
                if budget.stopped():
                    return
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
            n, trace, stutter = run.read(open_)
            inst = run.props[n]
            problem = lasso_problem(ts, inst, trace)
            if problem is not None:
                raise InternalError(f"lasso bmc: a lasso for {inst.name} is wrong: {problem}")
            st = stats(k)
            st.update(instance=inst.name, stutter=stutter, loop_start=trace.loop_start)
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
        run.close_depth()
        checked[0] = k
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
