"""A SAT-friendly encoding for systems whose variables never leave their declared domains.

Every variable of a slice (see :mod:`.slicing`) is encoded *one-hot* per frame: a Boolean per
value (a single Boolean for a two-valued variable), exactly one of them true. An expression is
encoded as a *value distribution*: for an integer expression, a map from each value it can take
to the condition under which it takes it (exclusive and exhaustive); for a boolean expression, a
single condition. ``x == 3`` is then one literal and a guard a few clauses, which the
finite-domain (SAT) solver propagates far better than comparisons of bounded integers.

A step fires exactly one action, chosen by one Boolean per action (``a@j#n``): its guard holds
in frame ``j``, its updates give frame ``j + 1`` and every variable no fired action writes keeps
its value.

Runs are also put in a normal form (partial-order reduction). Two *independent* actions
(neither writes a variable the other reads or writes; every action reads the variables of
``halted``) fired one after the other give the same state in either order. Swapping such
neighbours turns any run into the lexicographically least of its class (by the actions' order
in the slice), with the same length and the same last state; that run is characterised by
having no ``x v y`` where ``y`` comes before ``x`` and is independent of ``x`` and of every
action of ``v`` (Anisimov and Knuth). Only such runs are encoded: one "blocked" Boolean per
action and step says that the action may not fire there. So the states reachable in exactly
``k`` steps, and the shortest runs to them, are those of the system, with far fewer orderings
for the solver to refute.

The step is built once over template frames and copied to each depth by substitution (in Z3,
not in Python), which keeps the Python work per depth small.

This encoding is exact only when no action ever takes a variable out of its domain:
``domains_closed`` says when that is known (a flag of the NMR compiler) or proved (one solver
call: no action enabled in an in-domain state leaves the domains; by induction, no reachable
state does).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import z3

from nmrcheck.errors import InternalError
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import free_vars

from .budget import Budget, checkpoint
from .encode import encode_bool, encode_int, mk_and, mk_or
from .slicing import Slice, lift
from .traces import replay

MAX_VALUES = 256  # a variable with more values is not encoded one-hot
MAX_DISTRIBUTION = 2048  # nor an expression that can take more values
MAX_POR_PAIRS = 400_000  # beyond this many independent pairs, no partial-order reduction


class TooLarge(Exception):
    """The slice has a domain or an expression too large for the one-hot encoding."""


# -- when the encoding is exact ------------------------------------------------------------


def domains_closed(ts: TransitionSystem, slc: Slice, budget: Budget | None = None) -> bool:
    """True when no run of ``ts`` takes a variable of ``slc`` out of its declared domain.

    Trusted when the system says so (``ts.meta["domains_closed"]``, set by the NMR compiler,
    whose assignments that could leave a domain are guarded by a fault path; a system from the
    compiler without the flag counts as closed too). Otherwise proved with one solver call: in
    no in-domain state does an enabled action of the slice give a slice variable a value outside
    its domain (the initial state being inside, by induction no reachable state is outside).
    """
    flag = ts.meta.get("domains_closed")
    if flag is not None:
        return bool(flag)
    if "compiler" in ts.meta:
        return True
    if any(not ts.vars[i].lo <= ts.vars[i].init <= ts.vars[i].hi for i in slc.vars):
        return False
    ctx = z3.Context()
    cur = [z3.Int(f"v{i}", ctx) for i in range(len(ts.vars))]
    inside = set(slc.vars)
    options = []
    for n in slc.actions:
        a = ts.actions[n]
        outside = []
        for i, e in a.updates:
            if i in inside:
                v, value = ts.vars[i], encode_int(e, cur, ctx)
                outside.append(z3.Or(value < v.lo, value > v.hi))
        options.append(z3.And(encode_bool(a.guard, cur, ctx), mk_or(outside, ctx)))
    s = z3.Solver(ctx=ctx)
    for i in slc.vars:
        s.add(cur[i] >= ts.vars[i].lo, cur[i] <= ts.vars[i].hi)
    s.add(z3.Not(encode_bool(ts.halted, cur, ctx)), mk_or(options, ctx))
    r, _ = (budget or Budget(None)).check(s)
    return r == z3.unsat


def encodable(ts: TransitionSystem, slc: Slice) -> bool:
    """Every variable of the slice has at most ``MAX_VALUES`` values."""
    return all(ts.vars[i].hi - ts.vars[i].lo < MAX_VALUES for i in slc.vars)


# -- fast construction (the C API, without the Python layer's checks) ----------------------

Frame = dict[int, dict[int, z3.BoolRef]]  # variable -> value -> literal


def _implies(a: z3.BoolRef, b: z3.BoolRef, ctx: z3.Context) -> z3.BoolRef:
    return z3.BoolRef(z3.Z3_mk_implies(ctx.ref(), a.as_ast(), b.as_ast()), ctx)


def _bools(names: Sequence[str], ctx: z3.Context) -> list[z3.BoolRef]:
    """Boolean constants with these names."""
    sort = z3.BoolSort(ctx).ast
    r = ctx.ref()
    return [z3.BoolRef(z3.Z3_mk_const(r, z3.Z3_mk_string_symbol(r, n), sort), ctx) for n in names]


def and_folded(items: Sequence[z3.BoolRef], ctx: z3.Context) -> z3.BoolRef:
    """Conjunction, with constant items folded."""
    return _folded(items, ctx, z3.is_false, z3.is_true, mk_and)


def or_folded(items: Sequence[z3.BoolRef], ctx: z3.Context) -> z3.BoolRef:
    """Disjunction, with constant items folded."""
    return _folded(items, ctx, z3.is_true, z3.is_false, mk_or)


def _folded(
    items: Sequence[z3.BoolRef],
    ctx: z3.Context,
    absorbing: Callable[[z3.ExprRef], bool],
    neutral: Callable[[z3.ExprRef], bool],
    combine: Callable[[Sequence[z3.BoolRef], z3.Context], z3.BoolRef],
) -> z3.BoolRef:
    kept = []
    for x in items:
        if absorbing(x):
            return x
        if not neutral(x):
            kept.append(x)
    return combine(kept, ctx)


# -- value distributions ---------------------------------------------------------------------


def _not(x: z3.BoolRef) -> z3.BoolRef:
    if z3.is_not(x):
        return x.arg(0)
    return z3.Not(x)


_COMPARE = {
    "eq": lambda x, y: x == y,
    "lt": lambda x, y: x < y,
    "le": lambda x, y: x <= y,
}


class Encoder:
    """Encodes IR expressions over a one-hot ``frame`` (memoised per expression)."""

    def __init__(self, frame: Frame, ctx: z3.Context) -> None:
        self.frame, self.ctx = frame, ctx
        self.true, self.false = z3.BoolVal(True, ctx), z3.BoolVal(False, ctx)
        self._bools: dict[int, z3.BoolRef] = {}
        self._ints: dict[int, dict[int, z3.BoolRef]] = {}

    def truth(self, e: Expr) -> z3.BoolRef:
        """The condition under which ``e`` is true (non-zero)."""
        r = self._bools.get(e.uid)
        if r is None:
            r = self._truth(e)
            self._bools[e.uid] = r
        return r

    def values(self, e: Expr) -> dict[int, z3.BoolRef]:
        """For each value ``e`` can take, the condition under which it takes it."""
        r = self._ints.get(e.uid)
        if r is None:
            r = self._values(e)
            if len(r) > MAX_DISTRIBUTION:
                raise TooLarge(f"an expression takes more than {MAX_DISTRIBUTION} values")
            self._ints[e.uid] = r
        return r

    def equals(self, e: Expr, value: int) -> z3.BoolRef:
        return self.values(e).get(value, self.false)

    def _truth(self, e: Expr) -> z3.BoolRef:
        op, a, ctx = e.op, e.args, self.ctx
        if op == "const":
            return self.true if e.val != 0 else self.false
        if op == "not":
            inner = self.truth(a[0])
            if z3.is_true(inner):
                return self.false
            if z3.is_false(inner):
                return self.true
            return _not(inner)
        if op == "and":
            return and_folded([self.truth(x) for x in a], ctx)
        if op == "or":
            return or_folded([self.truth(x) for x in a], ctx)
        if op in _COMPARE:
            f = _COMPARE[op]
            da, db = self.values(a[0]), self.values(a[1])
            if len(db) == 1:
                ((vb, cb),) = db.items()
                return and_folded([cb, or_folded([c for v, c in da.items() if f(v, vb)], ctx)], ctx)
            if len(da) == 1:
                ((va, ca),) = da.items()
                return and_folded([ca, or_folded([c for v, c in db.items() if f(va, v)], ctx)], ctx)
            terms = []
            for va, ca in da.items():
                ok = [cb for vb, cb in db.items() if f(va, vb)]
                if len(ok) == len(db):
                    terms.append(ca)
                elif ok:
                    terms.append(and_folded([ca, or_folded(ok, ctx)], ctx))
            return or_folded(terms, ctx)
        if op == "ite":
            c = self.truth(a[0])
            if z3.is_true(c):
                return self.truth(a[1])
            if z3.is_false(c):
                return self.truth(a[2])
            return z3.If(c, self.truth(a[1]), self.truth(a[2]))
        if op in ("var", "add", "sub"):
            return or_folded([c for v, c in self.values(e).items() if v != 0], ctx)
        raise ValueError(f"unknown expression kind {op!r}")

    def _values(self, e: Expr) -> dict[int, z3.BoolRef]:
        op, a, ctx = e.op, e.args, self.ctx
        if op == "const":
            return {e.val: self.true}
        if op == "var":
            return self.frame[e.val]
        if op in ("add", "sub"):
            da, db = self.values(a[0]), self.values(a[1])
            if len(da) * len(db) > MAX_DISTRIBUTION * 4:
                raise TooLarge("an arithmetic expression has too many cases")
            acc: dict[int, list[z3.BoolRef]] = {}
            for va, ca in da.items():
                for vb, cb in db.items():
                    v = va + vb if op == "add" else va - vb
                    acc.setdefault(v, []).append(and_folded([ca, cb], ctx))
            return {v: or_folded(cs, ctx) for v, cs in sorted(acc.items())}
        if op == "ite":
            c = self.truth(a[0])
            if z3.is_true(c):
                return self.values(a[1])
            if z3.is_false(c):
                return self.values(a[2])
            nc = _not(c)
            acc = {}
            for v, cv in self.values(a[1]).items():
                acc.setdefault(v, []).append(and_folded([c, cv], ctx))
            for v, cv in self.values(a[2]).items():
                acc.setdefault(v, []).append(and_folded([nc, cv], ctx))
            return {v: or_folded(cs, ctx) for v, cs in sorted(acc.items())}
        if op in ("not", "and", "or", "eq", "lt", "le"):
            c = self.truth(e)
            if z3.is_true(c):
                return {1: self.true}
            if z3.is_false(c):
                return {0: self.true}
            return {1: c, 0: _not(c)}
        raise ValueError(f"unknown expression kind {op!r}")


# -- frames ------------------------------------------------------------------------------------


class Frames:
    """Names the one-hot literals of the slice variables in a frame."""

    def __init__(self, ts: TransitionSystem, slc: Slice, ctx: z3.Context) -> None:
        if not encodable(ts, slc):
            raise TooLarge(f"a variable has more than {MAX_VALUES} values")
        self.ts, self.slc, self.ctx = ts, slc, ctx

    def make(self, k: int | str) -> tuple[Frame, list[z3.BoolRef], list[z3.BoolRef]]:
        """Frame ``k``: its literal map, its atoms (in a fixed order) and the constraints that
        exactly one value of each variable holds."""
        ctx, frame, atoms, cons = self.ctx, {}, [], []
        true = z3.BoolVal(True, ctx)
        for i in self.slc.vars:
            v = self.ts.vars[i]
            if v.lo == v.hi:
                frame[i] = {v.lo: true}
            elif v.hi - v.lo == 1:
                (x,) = _bools([f"{v.name}@{k}"], ctx)
                frame[i] = {v.lo: z3.Not(x), v.hi: x}
                atoms.append(x)
            else:
                values = range(v.lo, v.hi + 1)
                xs = dict(zip(values, _bools([f"{v.name}@{k}={val}" for val in values], ctx)))
                frame[i] = xs
                atoms += xs.values()
                cons += [mk_or(list(xs.values()), ctx), z3.AtMost(*xs.values(), 1)]
        return frame, atoms, cons

    def atoms(self, k: int | str) -> list[z3.BoolRef]:
        """Only the atoms of frame ``k`` (same order as ``make``)."""
        names = []
        for i in self.slc.vars:
            v = self.ts.vars[i]
            if v.hi - v.lo == 1:
                names.append(f"{v.name}@{k}")
            elif v.hi > v.lo:
                names += [f"{v.name}@{k}={val}" for val in range(v.lo, v.hi + 1)]
        return _bools(names, self.ctx)

    def read(self, atoms: Sequence[z3.BoolRef], model: z3.ModelRef) -> dict[int, int]:
        """The value of each slice variable in a frame, from its ``atoms`` in ``model``."""
        out, k = {}, 0
        bits = truths(model, atoms)
        for i in self.slc.vars:
            v = self.ts.vars[i]
            if v.lo == v.hi:
                out[i] = v.lo
                continue
            width = 1 if v.hi - v.lo == 1 else v.hi - v.lo + 1
            mine = bits[k : k + width]
            k += width
            out[i] = v.lo + int(mine[0]) if width == 1 else v.lo + mine.index(True)
        return out


def truths(model: z3.ModelRef, atoms: Sequence[z3.BoolRef]) -> list[bool]:
    """Whether each of ``atoms`` is true in ``model`` (completed), through the C API."""
    ctx = model.ctx
    r, m = ctx.ref(), model.model
    out = []
    value = (z3.Ast * 1)()
    for x in atoms:
        if not z3.Z3_model_eval(r, m, x.as_ast(), True, value):
            raise InternalError("the solver's model cannot evaluate a frame")
        out.append(z3.Z3_get_bool_value(r, value[0]) == z3.Z3_L_TRUE)
    return out


class Substitution:
    """Renames template constants into a frame's, in one Z3 call per formula."""

    def __init__(self, ctx: z3.Context, pairs: Sequence[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
        self.ctx, self.n = ctx, len(pairs)
        self.src, self.dst = (z3.Ast * self.n)(), (z3.Ast * self.n)()
        for k, (x, y) in enumerate(pairs):
            self.src[k], self.dst[k] = x.as_ast(), y.as_ast()

    def __call__(self, e: z3.BoolRef) -> z3.BoolRef:
        if self.n == 0:
            return e
        return z3.BoolRef(
            z3.Z3_substitute(self.ctx.ref(), e.as_ast(), self.n, self.src, self.dst), self.ctx
        )


def independence(
    ts: TransitionSystem, slc: Slice, visible: frozenset[int] | None = None
) -> list[list[int]]:
    """For each action of the slice (by position), the earlier ones it is independent of.
    With ``visible`` (variables), two actions that both write a visible variable are never
    independent: swapping independent neighbours then keeps, besides the last state, the
    sequence of values of the visible variables up to repeats (stutter)."""
    inside = set(slc.vars)
    halted = set(free_vars(ts.halted))
    reads, writes = [], []
    for n in slc.actions:
        a = ts.actions[n]
        r = set(free_vars(a.guard)) | halted
        w = set()
        for i, e in a.updates:
            if i in inside:
                w.add(i)
                r |= free_vars(e)
        reads.append(r)
        writes.append(w)
    shown = [bool(visible and w & visible) for w in writes]
    return [
        [
            y
            for y in range(x)
            if not writes[x] & (reads[y] | writes[y])
            and not writes[y] & reads[x]
            and not (shown[x] and shown[y])
        ]
        for x in range(len(slc.actions))
    ]


class Step:
    """The transition relation of a slice over template frames ``c`` -> ``n``, with one
    Boolean per action (``A``), and the partial-order constraint of a step (``order``, over
    ``A`` and the actions blocked before the step, ``B``, and after it, ``B'``)."""

    def __init__(
        self,
        ts: TransitionSystem,
        slc: Slice,
        ctx: z3.Context,
        por: bool = True,
        visible: frozenset[int] | None = None,
    ):
        self.ts, self.slc, self.ctx = ts, slc, ctx
        self.frames = Frames(ts, slc, ctx)
        self.cur, self.cur_atoms, self.cur_cons = self.frames.make("c")
        self.nxt, self.nxt_atoms, nxt_cons = self.frames.make("n")
        self.enc = Encoder(self.cur, ctx)
        m = len(slc.actions)
        self.A = _bools([f"A#{n}" for n in range(m)], ctx)
        inside = set(slc.vars)
        writers: dict[int, list[int]] = {i: [] for i in slc.vars}
        parts: list[z3.BoolRef] = list(nxt_cons)
        if m:
            parts += [mk_or(self.A, ctx), z3.AtMost(*self.A, 1)]
        else:
            parts.append(z3.BoolVal(False, ctx))
        halted = self.enc.truth(ts.halted)
        if not z3.is_false(halted):
            parts.append(_not(halted))
        for n, index in enumerate(slc.actions):
            if n % 64 == 0:
                checkpoint()
            a, act = ts.actions[index], self.A[n]
            guard = self.enc.truth(a.guard)
            if not z3.is_true(guard):
                parts.append(_implies(act, guard, ctx))
            for j, u in a.updates:
                if j not in inside:
                    continue
                writers[j].append(n)
                target = self.nxt[j]
                for val, cond in self.enc.values(u).items():
                    lit = target.get(val)
                    if lit is None:  # leaves the domain: cannot happen when domains are closed
                        parts.append(_implies(act, _not(cond), ctx))
                    elif z3.is_true(cond):
                        parts.append(_implies(act, lit, ctx))
                    elif not z3.is_false(cond):
                        parts.append(_implies(mk_and([act, cond], ctx), lit, ctx))
        for i in slc.vars:
            if not writers[i] or self.ts.vars[i].lo == self.ts.vars[i].hi:
                stay = z3.BoolVal(True, ctx)
            else:
                stay = z3.Not(mk_or([self.A[n] for n in writers[i]], ctx))
            for val, lit in self.cur[i].items():
                target = self.nxt[i][val]
                if not z3.is_true(target):
                    parts.append(_implies(and_folded([stay, lit], ctx), target, ctx))
        self.relation = mk_and(parts, ctx)
        # Partial-order reduction: runs in lexicographic normal form. ``blocked`` (template
        # ``B`` at the step's start, ``B'`` after it) marks the actions that may not fire: one
        # that is independent of an action fired before it with a larger index, and of every
        # action fired since. ``B'[y]`` holds when the fired action ``z`` is independent of
        # ``y`` and either ``y < z`` or ``B[y]``.
        self.B = _bools([f"B#{n}" for n in range(m)], ctx)
        self.B2 = _bools([f"B'#{n}" for n in range(m)], ctx)
        self.por_pairs = 0
        order: list[z3.BoolRef] = []
        if por:
            later = independence(ts, slc, visible)
            pairs = sum(len(ys) for ys in later)
            if 0 < pairs <= MAX_POR_PAIRS:
                self.por_pairs = pairs
                indep: list[list[int]] = [[] for _ in range(m)]
                for x, ys in enumerate(later):
                    for y in ys:
                        indep[x].append(y)
                        indep[y].append(x)
                for y in range(m):
                    order.append(_implies(self.B[y], z3.Not(self.A[y]), ctx))
                    bigger = [z for z in indep[y] if z > y]
                    if bigger:
                        order.append(
                            _implies(mk_or([self.A[z] for z in bigger], ctx), self.B2[y], ctx)
                        )
                    if indep[y]:
                        fired = mk_or([self.A[z] for z in indep[y]], ctx)
                        order.append(_implies(mk_and([self.B[y], fired], ctx), self.B2[y], ctx))
        self.order = mk_and(order, ctx)

    def init(self) -> z3.BoolRef:
        """The template frame ``c`` is the initial state (with its exactly-one constraints)."""
        ts = self.ts
        return and_folded(
            [*self.cur_cons, *(self.cur[i][ts.vars[i].init] for i in self.slc.vars)], self.ctx
        )

    def blocked_literals(self, j: int) -> list[z3.BoolRef]:
        return _bools([f"blocked@{j}#{n}" for n in range(len(self.slc.actions))], self.ctx)

    def action_literals(self, j: int) -> list[z3.BoolRef]:
        return _bools([f"a@{j}#{n}" for n in range(len(self.slc.actions))], self.ctx)


class Unrolling:
    """An incremental finite-domain solver holding the runs of ``depth`` steps of a slice
    from the initial state (same interface as :class:`.bmc.Unrolling`)."""

    def __init__(
        self,
        ts: TransitionSystem,
        slc: Slice,
        ctx: z3.Context,
        por: bool = True,
        visible: frozenset[int] | None = None,
        initial: bool = True,
    ):
        self.ts, self.slc, self.ctx = ts, slc, ctx
        self.step = Step(ts, slc, ctx, por, visible)
        self.depth = 0
        self.queries = 0
        self.solver = z3.SolverFor("QF_FD", ctx=ctx)
        self.atoms = [self.step.frames.atoms(0)]
        self.acts: list[list[z3.BoolRef]] = []
        # runs from the initial state, or (``initial`` False) paths from any state
        first = self.step.init() if initial else and_folded(self.step.cur_cons, ctx)
        self.solver.add(self._at(0)(first))
        # nothing is blocked before the first step
        self.blocked = [[z3.BoolVal(False, ctx)] * len(slc.actions)]
        self._goals: dict[int, z3.BoolRef] = {}
        por_note = (
            f"; partial-order reduction ({self.step.por_pairs} independent pairs)"
            if self.step.por_pairs
            else ""
        )
        self.note = f"finite domains (one-hot, SAT); {slc.describe(ts)}{por_note}"

    def _at(self, k: int) -> Substitution:
        """Template frame ``c`` to frame ``k``."""
        return Substitution(self.ctx, list(zip(self.step.cur_atoms, self.atoms[k], strict=True)))

    def extend(self, budget: Budget) -> str | None:
        """Add one more step (never gives up: there is no solver call)."""
        k = self.depth
        self.atoms.append(self.step.frames.atoms(k + 1))
        acts = self.step.action_literals(k)
        pairs = list(zip(self.step.cur_atoms, self.atoms[k], strict=True))
        pairs += list(zip(self.step.nxt_atoms, self.atoms[k + 1], strict=True))
        pairs += list(zip(self.step.A, acts, strict=True))
        self.solver.add(Substitution(self.ctx, pairs)(self.step.relation))
        if self.step.por_pairs:
            blocked = self.step.blocked_literals(k + 1)
            pairs = list(zip(self.step.A, acts, strict=True))
            pairs += list(zip(self.step.B, self.blocked[-1], strict=True))
            pairs += list(zip(self.step.B2, blocked, strict=True))
            self.solver.add(Substitution(self.ctx, pairs)(self.step.order))
            self.blocked.append(blocked)
        self.acts.append(acts)
        self.depth += 1
        return None

    def _check(self, budget: Budget, query: z3.BoolRef | None) -> tuple[z3.CheckSatResult, str]:
        if query is None:
            return budget.check(self.solver)
        # as in bmc.Unrolling: the query is switched on by a fresh literal
        self.queries += 1
        lit = z3.Bool(f"query#{self.queries}", self.ctx)
        self.solver.add(z3.Implies(lit, query))
        return budget.check(self.solver, lit)

    def goal(self, target: Expr) -> z3.BoolRef:
        """``target`` over the template frame."""
        g = self._goals.get(target.uid)
        if g is None:
            g = self.step.enc.truth(target)
            self._goals[target.uid] = g
        return g

    def exists(self, budget: Budget) -> z3.CheckSatResult:
        """Is there a run of ``depth`` steps at all?"""
        return self._check(budget, None)[0]

    def find(self, target: Expr, budget: Budget) -> tuple[z3.CheckSatResult, Trace | None, str]:
        """Is there a run of exactly ``depth`` steps ending in a ``target`` state? Answers as
        :meth:`.bmc.Unrolling.find`, with the run lifted to the whole system and replayed."""
        r, why = self._check(budget, self._at(self.depth)(self.goal(target)))
        if r == z3.sat:
            return r, replay(self.ts, self.trace(), end=target, what="bmc trace"), ""
        return r, None, why

    def trace(self) -> Trace:
        """The run of the last ``sat`` answer, as a run of the whole system (not replayed)."""
        return lift(self.ts, self._fired(self.solver.model()))

    def _fired(self, model: z3.ModelRef) -> list[int]:
        """The action (index into ``ts.actions``) fired at each step in ``model``."""
        fired = []
        for acts in self.acts:
            chosen = [n for n, true in enumerate(truths(model, acts)) if true]
            if len(chosen) != 1:
                raise InternalError("bmc: the model fires not exactly one action in a step")
            fired.append(self.slc.actions[chosen[0]])
        return fired

    def distinct(self, j: int, k: int) -> z3.BoolRef:
        """Frames ``j`` and ``k`` differ (one-hot: some atom differs)."""
        r = self.ctx.ref()
        pairs = zip(self.atoms[j], self.atoms[k], strict=True)
        xors = [z3.BoolRef(z3.Z3_mk_xor(r, x.as_ast(), y.as_ast()), self.ctx) for x, y in pairs]
        return mk_or(xors, self.ctx)

    def at(self, k: int, target: Expr) -> z3.BoolRef:
        """``target`` over frame ``k``."""
        return self._at(k)(self.goal(target))

    def path(self) -> Trace:
        """The path of the last ``sat`` answer (of an unrolling that need not start in the
        initial state), as a path of the whole system: the variables outside the slice keep
        their initial values in its first state. Not replayed."""
        model = self.solver.model()
        first = list(self.ts.initial_state())
        for i, val in self.step.frames.read(self.atoms[0], model).items():
            first[i] = val
        states = [tuple(first)]
        fired = self._fired(model)
        for a in fired:
            states.append(self.ts.fire(a, states[-1]))
        for k, s in enumerate(states):
            if any(s[i] != val for i, val in self.step.frames.read(self.atoms[k], model).items()):
                raise InternalError("the solver's path and the interpreter disagree")
        return Trace(tuple(states), tuple(fired))
