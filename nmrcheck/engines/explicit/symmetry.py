"""Symmetry reduction for replicated drivers (``driver X[N]``) in the explicit engine.

The instances ``X[1]`` .. ``X[N]`` of a replicated driver run the same code, so permuting them
(their variables, their threads, and every enum value that names one of them, such as a lock
owner, a thread or a caller) maps the transition system onto itself. The search can then store
one state per orbit: :func:`analyse` finds the permutation group of a system and *checks* it
(the initial state, every action, ``halted`` and every property must be mapped onto
themselves, compared as normalised hash-consed expressions); whatever fails that check is
never reduced, and the reason is returned as a note.

The representative of an orbit is computed by generated Python (:mod:`.orbits`).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from nmrcheck.engines.explicit.codegen import Layout
from nmrcheck.engines.explicit.naming import Group, Mapping_, Namer
from nmrcheck.engines.explicit.orbits import Symmetry, build
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.walkers import evaluate, free_vars


class _NotSymmetric(Exception):
    """Permuting the instances does not map some part of the system onto itself."""


@dataclass
class _Perm:
    """One permutation of the instances, lifted to variables, values and slots."""

    var: list[int]
    val: list[tuple[int, ...] | None]  # per variable: new value per value - lo, or None (same)
    slot: list[int]


def _lift(ts: TransitionSystem, namer: Namer, mapping: Mapping_) -> _Perm:
    names = {v.name: i for i, v in enumerate(ts.vars)}
    var: list[int] = []
    val: list[tuple[int, ...] | None] = []
    for v in ts.vars:
        y = names.get(namer.rename(v.name, mapping))
        if y is None:
            raise _NotSymmetric(f"variable {v.name} has no image")
        w = ts.vars[y]
        if (w.lo, w.hi, w.type) != (v.lo, v.hi, v.type):
            raise _NotSymmetric(f"variables {v.name} and {w.name} differ in their domains")
        table: tuple[int, ...] | None = None
        if v.labels is not None:
            if w.labels is None:
                raise _NotSymmetric(f"variable {w.name} has no labels")
            new = [namer.rename(lab, mapping) for lab in v.labels]
            if new != list(v.labels) or w.labels != v.labels:
                try:
                    table = tuple(w.labels.index(lab) for lab in new)
                except ValueError:
                    raise _NotSymmetric(f"a value of {v.name} has no image") from None
                if table == tuple(range(len(table))):
                    table = None
        var.append(y)
        val.append(table)
    if sorted(var) != list(range(len(var))):
        raise _NotSymmetric("the variables are not permuted one to one")
    slots = {s.name: k for k, s in enumerate(ts.slots)}
    slot = []
    for s in ts.slots:
        k = slots.get(namer.rename(s.name, mapping))
        if k is None or ts.slots[k].pc != var[s.pc] or ts.slots[k].idle != s.idle:
            raise _NotSymmetric(f"thread {s.name} has no image")
        slot.append(k)
    return _Perm(var, val, slot)


# -- expressions -------------------------------------------------------------------------------

def _rebuild(e: Expr, args: Sequence[Expr]) -> Expr:
    op = e.op
    if op == "not":
        return E.not_(args[0])
    if op == "and":
        return E.and_(*args)
    if op == "or":
        return E.or_(*args)
    if op == "eq":
        return E.eq(args[0], args[1])
    if op == "lt":
        return E.lt(args[0], args[1])
    if op == "le":
        return E.le(args[0], args[1])
    if op == "add":
        return E.add(args[0], args[1])
    if op == "sub":
        return E.sub(args[0], args[1])
    if op == "ite":
        return E.ite(args[0], args[1], args[2])
    raise _NotSymmetric(f"unknown node {op}")


class _Mapper:
    """Applies one lifted permutation to expressions."""

    def __init__(self, ts: TransitionSystem, perm: _Perm) -> None:
        self.ts, self.p = ts, perm
        self.cache: dict[int, Expr] = {}

    def _domain(self, e: Expr) -> tuple[tuple[int, ...], int] | None:
        """(value table, lo) of the renamed domain ``e`` evaluates in, if any: a variable
        with renamed values, also through ``ite`` and adding or subtracting a constant."""
        if e.op == "var":
            t = self.p.val[e.val]
            return (t, self.ts.vars[e.val].lo) if t is not None else None
        if e.op == "ite":
            return self._domain(e.args[1]) or self._domain(e.args[2])
        if e.op in ("add", "sub") and e.args[1].op == "const":
            d = self._domain(e.args[0])
            if d is not None:
                k = e.args[1].val if e.op == "add" else -e.args[1].val
                return d[0], d[1] + k
        return None

    def value(self, e: Expr, table: tuple[int, ...], lo: int) -> Expr:
        """``e`` as a value of a domain whose values are renamed by ``table``."""
        if e.op == "const":
            k = e.val - lo
            if not 0 <= k < len(table):
                raise _NotSymmetric("a constant outside an enum domain")
            return E.const(table[k] + lo) if e.type == E.INT else e
        if e.op == "var":
            if self.p.val[e.val] != table or self.ts.vars[e.val].lo != lo:
                raise _NotSymmetric("values of differently renamed domains are mixed")
            return E.var(self.p.var[e.val], e.type)
        if e.op == "ite":
            return E.ite(self.expr(e.args[0]), self.value(e.args[1], table, lo),
                         self.value(e.args[2], table, lo))
        if e.op in ("add", "sub") and e.args[1].op == "const":
            k = e.args[1].val if e.op == "add" else -e.args[1].val
            inner = self.value(e.args[0], table, lo - k)
            return E.add(inner, e.args[1]) if e.op == "add" else E.sub(inner, e.args[1])
        raise _NotSymmetric("arithmetic on instance-naming values")

    def expr(self, e: Expr) -> Expr:
        got = self.cache.get(e.uid)
        if got is not None:
            return got
        if e.op == "const":
            out = e
        elif e.op == "var":
            if self.p.val[e.val] is not None:
                raise _NotSymmetric("an instance-naming value is used as a number")
            out = E.var(self.p.var[e.val], e.type)
        elif e.op == "eq":
            dom = self._domain(e.args[0]) or self._domain(e.args[1])
            if dom is None:
                out = E.eq(self.expr(e.args[0]), self.expr(e.args[1]))
            else:
                table, lo = dom
                out = E.eq(self.value(e.args[0], table, lo), self.value(e.args[1], table, lo))
        else:
            out = _rebuild(e, [self.expr(a) for a in e.args])
        self.cache[e.uid] = out
        return out

    def update(self, target: int, e: Expr) -> tuple[int, Expr]:
        table = self.p.val[target]
        if table is None:
            return self.p.var[target], self.expr(e)
        return self.p.var[target], self.value(e, table, self.ts.vars[target].lo)


class _Normal:
    """A normal form of expressions: and/or arguments and eq sides in a canonical order."""

    def __init__(self) -> None:
        self.cache: dict[int, Expr] = {}

    def __call__(self, e: Expr) -> Expr:
        got = self.cache.get(e.uid)
        if got is not None:
            return got
        if not e.args:
            out = e
        else:
            args = [self(a) for a in e.args]
            if e.op in ("and", "or"):
                flat: dict[int, Expr] = {}
                for a in args:
                    for b in a.args if a.op == e.op else (a,):
                        flat[b.uid] = b
                args = [flat[u] for u in sorted(flat)]
            elif e.op == "eq" and args[0].op != "const" and args[1].op != "const":
                args.sort(key=lambda a: a.uid)
            out = _rebuild(e, args)
        self.cache[e.uid] = out
        return out


def _generators(groups: Sequence[Group]) -> list[Mapping_]:
    """A swap and an N-cycle of each group: they generate every permutation of it."""
    ident = tuple(tuple(range(g.n)) for g in groups)
    out = []
    for g, grp in enumerate(groups):
        swap = (1, 0) + tuple(range(2, grp.n))
        cycle = tuple((i + 1) % grp.n for i in range(grp.n))
        for m in (swap, cycle) if grp.n > 2 else (swap,):
            out.append(ident[:g] + (m,) + ident[g + 1 :])
    return out


def _check_automorphism(ts: TransitionSystem, namer: Namer, gen: Mapping_, norm: _Normal,
                        originals: Counter) -> _Perm:
    perm = _lift(ts, namer, gen)
    for x, v in enumerate(ts.vars):
        init = v.init if perm.val[x] is None else perm.val[x][v.init - v.lo] + v.lo
        if ts.vars[perm.var[x]].init != init:
            raise _NotSymmetric(f"the initial value of {v.name} has no image")
    mp = _Mapper(ts, perm)
    images = Counter()
    loose = []
    for a in ts.actions:
        slot = perm.slot[a.slot] if a.slot >= 0 else -1
        guard = norm(mp.expr(a.guard))
        try:
            ups = [mp.update(x, e) for x, e in a.updates]
        except _NotSymmetric:  # compared by their values below
            loose.append((a, guard, slot))
            continue
        images[_action_key(guard, ups, slot, norm)] += 1
    if loose:
        # updates that convert between instance-naming domains by arithmetic (a caller
        # computed from a thread): an image action must agree on every value of their inputs
        rest = originals - images
        if sum(images.values()) + sum(rest.values()) != len(ts.actions):
            raise _NotSymmetric("an action has no image")
        by_shape: dict[tuple, list] = {}
        for b in ts.actions:
            if _action_key(norm(b.guard), b.updates, b.slot, norm) in rest:
                shape = (norm(b.guard).uid, b.slot, tuple(sorted(x for x, _ in b.updates)))
                by_shape.setdefault(shape, []).append(b)
        for a, guard, slot in loose:
            shape = (guard.uid, slot, tuple(sorted(perm.var[x] for x, _ in a.updates)))
            cands = by_shape.get(shape, [])
            match = next((b for b in cands if _same_updates(ts, perm, mp, norm, a, b)), None)
            if match is None:
                raise _NotSymmetric("an action has no image")
            cands.remove(match)
        return perm
    if images != originals:
        raise _NotSymmetric("an action has no image")
    return perm


def _same_updates(ts: TransitionSystem, perm: _Perm, mp: _Mapper, norm: _Normal, a, b) -> bool:
    """Whether ``b`` does what ``a`` does with the instances permuted by ``perm``."""
    theirs = dict(b.updates)
    for x, e in a.updates:
        f = theirs[perm.var[x]]
        try:
            y, g = mp.update(x, e)
            if norm(g) is norm(f):
                continue
        except _NotSymmetric:
            pass
        if not _same_values(ts, perm, x, e, f):
            return False
    return True


def _same_values(ts: TransitionSystem, perm: _Perm, x: int, e: Expr, f: Expr) -> bool:
    """``perm`` applied to the value of ``e`` equals ``f`` on the permuted inputs, for every
    value of the (few) inputs of ``e``."""
    ins = sorted(free_vars(e))
    if not free_vars(f) <= {perm.var[v] for v in ins}:
        return False
    sizes = [ts.vars[v].hi - ts.vars[v].lo + 1 for v in ins]
    total = 1
    for n in sizes:
        total *= n
    if total > 4096:
        return False

    def image(v: int, value: int) -> int:
        table, lo = perm.val[v], ts.vars[v].lo
        if table is None or not 0 <= value - lo < len(table):
            return value
        return table[value - lo] + lo

    for values in itertools.product(*(range(ts.vars[v].lo, ts.vars[v].hi + 1) for v in ins)):
        mine = dict(zip(ins, values))
        theirs = {perm.var[v]: image(v, val) for v, val in mine.items()}
        if image(x, evaluate(e, mine)) != evaluate(f, theirs):
            return False
    return True


def _action_key(guard: Expr, ups: Sequence[tuple[int, Expr]], slot: int, norm: _Normal) -> tuple:
    return (guard.uid, tuple(sorted((x, norm(e).uid) for x, e in ups)), slot)


def asymmetric_properties(ts: TransitionSystem, gens: Sequence[_Perm]) -> list[str]:
    """Names of the properties (and ``halted``) not mapped onto themselves by ``gens``.

    Every kind is checked, liveness included, although the reduced search decides only the
    safety ones (liveness properties are searched on an unreduced graph): a caller that leaves
    them in the system gets no reduction rather than a wrong answer. The parts of a
    ``leads_to`` (one per instance) must be mapped onto each other, as a set.
    """
    norm = _Normal()
    mappers = [_Mapper(ts, g) for g in gens]

    def shape(p, f) -> frozenset:
        return frozenset(
            (f(q.expr).uid, f(q.target).uid if q.target is not None else -1)
            for q in (p.parts or (p,))
        )

    out = []
    for name, p in [("halted", None)] + [(p.name, p) for p in ts.properties]:
        for mp in mappers:
            try:
                if p is None:
                    ok = norm(mp.expr(ts.halted)) is norm(ts.halted)
                else:
                    ok = shape(p, lambda e, mp=mp: norm(mp.expr(e))) == shape(p, norm)
            except _NotSymmetric:
                ok = False
            if not ok:
                out.append(name)
                break
    return out


def _renamed_apart(ts: TransitionSystem, namer: Namer, gens: Sequence[Mapping_],
                   perms: Sequence[_Perm], norm: _Normal) -> str:
    """Why renaming the instances in names does not follow the permutations ``perms`` (of
    the mappings ``gens``) for the fairness groups and the instances of the liveness
    properties, or "". The liveness check renumbers both by name along the edges of the
    reduced graph, so each renamed name must exist and stand for the permuted object."""
    fair = {f.name: f for f in ts.fairness}
    labels = [a.label for a in ts.actions]
    for gen, perm in zip(gens, perms):
        for f in ts.fairness:
            g = fair.get(namer.rename(f.name, gen))
            if g is None or g.kind != f.kind or Counter(
                namer.rename(labels[a], gen) for a in f.actions
            ) != Counter(labels[a] for a in g.actions):
                return f"the fairness group {f.name} has no image"
        mp = _Mapper(ts, perm)
        for p in ts.properties:
            parts = {q.name: q for q in p.parts}
            for q in p.parts:
                image = parts.get(namer.rename(q.name, gen))
                if image is None:
                    return f"the instance {q.name} has no image"
                try:
                    same = norm(mp.expr(q.expr)) is norm(image.expr) and (
                        q.target is None or norm(mp.expr(q.target)) is norm(image.target))
                except _NotSymmetric:
                    same = False
                if not same:
                    return f"the instance {q.name} is not mapped to {image.name}"
    return ""


# -- the reduction ------------------------------------------------------------------------------


def analyse(ts: TransitionSystem) -> tuple[Symmetry | None, str]:
    """The symmetry reduction of ``ts``, or None and why it is not used.

    Only groups whose permutations map the initial state, every action, ``halted``, every
    property and every fairness group onto themselves are used; the instances of a
    ``forall`` property and the fairness groups must also be renamed consistently by name
    (the liveness check on the reduced graph renumbers them so).
    """
    cands = [g for g in ts.groups if len(g.instances) >= 2]
    if not cands:
        return None, "no replicated driver"
    groups = [Group(g.driver, len(g.instances), g.mention) for g in cands]
    # a variable that names two instances (of one group or of two groups) is not a per-instance
    # variable: drop the groups involved, later ones first
    while groups:
        namer = Namer(groups)
        bad = None
        for v in ts.vars:
            ms = sorted(set(namer.mentions(v.name)))
            if len(ms) > 1:
                bad = max(g for g, _ in ms)
                break
        if bad is None:
            break
        groups.pop(bad)
    if not groups:
        return None, "a variable belongs to two instances"
    namer = Namer(groups)
    norm = _Normal()
    originals = Counter(
        _action_key(norm(a.guard), a.updates, a.slot, norm) for a in ts.actions
    )
    perms = []
    for gen in _generators(groups):
        try:
            perms.append(_check_automorphism(ts, namer, gen, norm, originals))
        except _NotSymmetric as exc:
            return None, f"the instances of {groups[0].driver} are not interchangeable ({exc})"
    bad_props = asymmetric_properties(ts, perms)
    if bad_props:
        return None, "not symmetric in the instances: " + ", ".join(bad_props)
    why = _renamed_apart(ts, namer, _generators(groups), perms, norm)
    if why:
        return None, why
    used = [g for g in cands if any(g.driver == x.driver for x in groups)]
    return build(ts, groups, used, namer), ""



def permute_state(ts: TransitionSystem, sym: Symmetry, state: Sequence[int],
                  mapping: Mapping_) -> tuple[int, ...]:
    """``state`` with its instances permuted by ``mapping`` (for tests and traces)."""
    lay = Layout.of(ts)
    return lay.unpack(sym.apply(lay.pack(state), mapping))


def mappings(sym: Symmetry) -> list[Mapping_]:
    """Every instance mapping of the group (for tests: N! per group)."""
    per_group = [list(itertools.permutations(range(len(g.instances)))) for g in sym.groups]
    return [tuple(m) for m in itertools.product(*per_group)]
