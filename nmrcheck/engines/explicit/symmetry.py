"""Symmetry reduction for replicated drivers (``driver X[N]``) in the explicit engine.

The instances ``X[1]`` .. ``X[N]`` of a replicated driver run the same code, so permuting them
(their variables, their threads, and every enum value that names one of them, such as a lock
owner, a thread or a caller) maps the transition system onto itself. The search can then store
one state per orbit: :func:`analyse` finds the permutation group of a system and *checks* it
(the initial state, every action, ``halted`` and every property must be mapped onto
themselves, compared as normalised hash-consed expressions); whatever fails that check is
never reduced, and the reason is returned as a note.

The representative of an orbit is computed by generated Python: each instance gets a key (its
variables, with every value that names an instance abstracted to "itself" or "another"), and
the instances are sorted by key. When keys tie and some value names *another* instance, the
smallest packed state over every order of the tied instances is taken, so the representative
is a function of the orbit only (exact), never merely some member of it.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from nmrcheck.engines.explicit.codegen import Layout
from nmrcheck.engines.explicit.frames import Frames
from nmrcheck.ir import InstanceGroup, TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.walkers import evaluate, free_vars

Mapping_ = tuple[tuple[int, ...], ...]  # per used group: instance i (0-based) -> new position


class _NotSymmetric(Exception):
    """Permuting the instances does not map some part of the system onto itself."""


@dataclass
class _Group:
    driver: str
    n: int
    pattern: re.Pattern[str]


class _Namer:
    """Renames instance mentions in names and labels."""

    def __init__(self, groups: Sequence[_Group]) -> None:
        self.groups = list(groups)

    def mentions(self, text: str) -> list[tuple[int, int]]:
        """(group, 0-based instance) of every mention in ``text``."""
        out = []
        for g, grp in enumerate(self.groups):
            for m in grp.pattern.finditer(text):
                i = int(m.group(1)) - 1
                if 0 <= i < grp.n:
                    out.append((g, i))
        return out

    def rename(self, text: str, mapping: Mapping_) -> str:
        for g, grp in enumerate(self.groups):
            perm = mapping[g]

            def sub(m: re.Match[str], grp: _Group = grp, perm: tuple[int, ...] = perm) -> str:
                i = int(m.group(1)) - 1
                if 0 <= i < grp.n:
                    return f"{grp.driver}[{perm[i] + 1}]"
                return m.group(0)

            text = grp.pattern.sub(sub, text)
        return text

    def abstract(self, text: str, g: int, i: int) -> str:
        """``text`` with instance ``i`` of group ``g`` as SELF, its siblings as OTHER, and the
        instances of the other groups as their group."""
        for h, grp in enumerate(self.groups):

            def sub(m: re.Match[str], h: int = h, grp: _Group = grp) -> str:
                k = int(m.group(1)) - 1
                if not 0 <= k < grp.n:
                    return m.group(0)
                if h != g:
                    return f"\x00{grp.driver}[*]"
                return "\x00SELF" if k == i else "\x00OTHER"

            text = grp.pattern.sub(sub, text)
        return text


@dataclass
class _Perm:
    """One permutation of the instances, lifted to variables, values and slots."""

    var: list[int]
    val: list[tuple[int, ...] | None]  # per variable: new value per value - lo, or None (same)
    slot: list[int]


def _lift(ts: TransitionSystem, namer: _Namer, mapping: Mapping_) -> _Perm:
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


def _generators(groups: Sequence[_Group]) -> list[Mapping_]:
    """A swap and an N-cycle of each group: they generate every permutation of it."""
    ident = tuple(tuple(range(g.n)) for g in groups)
    out = []
    for g, grp in enumerate(groups):
        swap = (1, 0) + tuple(range(2, grp.n))
        cycle = tuple((i + 1) % grp.n for i in range(grp.n))
        for m in (swap, cycle) if grp.n > 2 else (swap,):
            out.append(ident[:g] + (m,) + ident[g + 1 :])
    return out


def _check_automorphism(ts: TransitionSystem, namer: _Namer, gen: Mapping_, norm: _Normal,
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


def _renamed_apart(ts: TransitionSystem, namer: _Namer, gens: Sequence[Mapping_],
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

@dataclass
class _Stepping:
    """What :meth:`Symmetry.stepper` inlines: per instance, the source of its key (over
    ``@``); the bits of the fields that may name an instance; the flat index of each group's
    first key."""

    keys: dict[tuple[int, int], str]
    ref_mask: int
    base: list[int]


class _Lazy(dict):
    """``lazy[k]`` is ``make(k)``, made the first time it is asked for."""

    def __init__(self, make: Callable[[int], object]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, k: int) -> object:
        got = self[k] = self.make(k)
        return got


@dataclass
class Symmetry:
    """The checked symmetry group of a system and its orbit representative.

    ``canon(s)`` is the representative of the orbit of packed state ``s``; ``canon_map(s)``
    also returns the instance mapping that takes ``s`` to it (None when ``s`` is its own
    representative). ``slot_perm(m)`` says where each thread of ``s`` went.
    """

    groups: list[InstanceGroup]
    canon: Callable[[int], int]
    canon_map: Callable[[int], tuple[int, Mapping_ | None]]
    apply: Callable[[int, Mapping_], int]
    namer: _Namer
    slot_names: list[str]
    parent_keys: Callable[[int], object]  # once per expanded representative s
    canon_next: Callable[[int, int, object], int]  # (successor t, s, parent_keys(s))
    # (successor t, s, parent_keys(s)) -> its representative and the id in ``frames`` of the
    # mapping to it (0: none)
    canon_map_next: Callable[[int, int, object], tuple[int, int]]
    source: str
    moved: int = 0  # the bits that move with their instance
    inst_masks: list[tuple[int, int, int]] = field(default_factory=list)  # (g, i, its bits)
    stepping: _Stepping | None = None
    functions: dict[str, Callable] = field(default_factory=dict)  # the generated ones
    frames: Frames = field(default_factory=Frames)  # the instance mappings, numbered
    _slot_cache: dict = field(default_factory=dict)

    def stepper(self, ts: TransitionSystem, maps: bool = False
                ) -> tuple[Callable[[int], str | None], dict[str, Callable], list[str]]:
        """For ``codegen.compile_expander``: per action, the statement that replaces the
        successor ``t`` of a representative ``s`` (keys ``K``) by its representative, decided
        by what the action writes (None: ``t`` is one); the functions those statements call;
        and the statements that run once per state before them. ``maps``: the statements
        also set ``M``, the id in ``frames`` of the instance mapping from ``t`` to its
        representative (0: none).

        The common case is inline: an action that changes one instance and no field that
        may name one, in a state where no field names another instance than its own (``Z``),
        leaves a representative when that instance's key still lies between its neighbours'
        (``cn_g_i`` decides the rest)."""
        lay = Layout.of(ts)
        st = self.stepping
        assert st is not None
        refs = st.ref_mask
        prelude = ["Z = not cross(s)"]

        def canon_of(ai: int) -> str | None:
            w = 0
            for x, _ in ts.actions[ai].updates:
                w |= ((1 << lay.bits[x]) - 1) << lay.offset[x]
            w &= self.moved
            if not w:
                return None  # only bits that stay in place: t is in key order as s is
            for g, i, inst in self.inst_masks:
                if not w & ~inst:
                    call = f"t, M = cnm_{g}_{i}(t, K)" if maps else f"t = cn_{g}_{i}(t, K)"
                    if w & refs:
                        return call
                    b, n = st.base[g], len(self.groups[g].instances)
                    k = st.keys[(g, i)].replace("@", "t")
                    test = (f"K[{b + i - 1}] <= " if i > 0 else "") + k + (
                        f" <= K[{b + i + 1}]" if i < n - 1 else "")
                    return f"if not (Z and {test}): {call}"
            return "t, M = canon_map_next(t, s, K)" if maps else "t = canon_next(t, s, K)"

        return canon_of, dict(self.functions), prelude

    def slot_perm(self, mapping: Mapping_ | None) -> tuple[int, ...]:
        """Thread ``k`` of a state is thread ``slot_perm(m)[k]`` of its image under ``m``."""
        if mapping is None:
            return tuple(range(len(self.slot_names)))
        got = self._slot_cache.get(mapping)
        if got is None:
            index = {n: k for k, n in enumerate(self.slot_names)}
            got = tuple(index[self.namer.rename(n, mapping)] for n in self.slot_names)
            self._slot_cache[mapping] = got
        return got

    def describe(self) -> str:
        """For example ``3 instances of Client``."""
        return ", ".join(f"{len(g.instances)} instances of {g.driver}" for g in self.groups)


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
    groups = [_Group(g.driver, len(g.instances), g.mention) for g in cands]
    # a variable that names two instances (of one group or of two groups) is not a per-instance
    # variable: drop the groups involved, later ones first
    while groups:
        namer = _Namer(groups)
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
    namer = _Namer(groups)
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
    return _build(ts, groups, used, namer), ""


def _build(ts: TransitionSystem, groups: list[_Group], used: list[InstanceGroup],
           namer: _Namer) -> Symmetry:
    lay = Layout.of(ts)
    names = {v.name: i for i, v in enumerate(ts.vars)}
    ident = tuple(tuple(range(g.n)) for g in groups)
    owner: dict[int, tuple[int, int]] = {}
    for x, v in enumerate(ts.vars):
        ms = namer.mentions(v.name)
        if ms:
            owner[x] = ms[0]

    def refs(x: int) -> bool:
        # a field that takes no bits is a constant that the initial state's symmetry check
        # has shown names no instance
        labs = ts.vars[x].labels
        return bool(lay.bits[x]) and labs is not None and any(namer.mentions(lab) for lab in labs)

    def field_mask(x: int) -> int:
        return ((1 << lay.bits[x]) - 1) << lay.offset[x]

    intern: dict[str, int] = {}
    abstract_labels: set[str] = set()
    for x, v in enumerate(ts.vars):
        if refs(x):
            for g in range(len(groups)):
                for i in range(groups[g].n):
                    abstract_labels.update(namer.abstract(lab, g, i) for lab in v.labels)
    for k, lab in enumerate(sorted(abstract_labels)):
        intern[lab] = k

    def abs_table(x: int, g: int, i: int) -> tuple[int, ...]:
        labs = ts.vars[x].labels
        size = 1 << lay.bits[x]
        return tuple(intern[namer.abstract(labs[v], g, i)] if v < len(labs) else -1
                     for v in range(size))

    def cross_table(x: int, g: int | None, i: int | None) -> tuple[bool, ...]:
        labs = ts.vars[x].labels
        out = []
        for v in range(1 << lay.bits[x]):
            ms = set(namer.mentions(labs[v])) if v < len(labs) else set()
            out.append(bool(ms - {(g, i)}) if g is not None else len(ms) > 1)
        return tuple(out)

    ns: dict[str, object] = {}
    src: list[str] = []
    moved = 0  # bits that move with their instance
    runs_of: list[list[tuple[list[int], int, int]]] = []  # group -> (offsets, width, keep mask)
    refs_of: list[list[tuple[list[int], list[int], int]]] = []  # group -> (vars, offsets, mask)
    global_refs = [x for x in range(len(ts.vars)) if x not in owner and refs(x)]
    key_exprs: list[list[str]] = []
    cross_terms: list[str] = []
    cross_mask = 0
    for g, grp in enumerate(groups):
        block0 = sorted((x for x, o in owner.items() if o == (g, 0)),
                        key=lambda x: (lay.offset[x], lay.bits[x]))  # empty fields first
        blocks = []
        for i in range(grp.n):
            m = list(ident)
            m[g] = tuple(i if k == 0 else (0 if k == i else k) for k in range(grp.n))
            blk = [names[namer.rename(ts.vars[x].name, tuple(m))] for x in block0]
            if sorted(blk) != sorted(x for x, o in owner.items() if o == (g, i)):
                raise ValueError(f"instance {i + 1} of {grp.driver} has other variables")
            blocks.append(blk)
        runs: list[tuple[list[int], int, int]] = []
        k = 0
        while k < len(block0):
            e = k + 1
            while e < len(block0) and all(
                lay.offset[b[e]] == lay.offset[b[e - 1]] + lay.bits[b[e - 1]] for b in blocks
            ):
                e += 1
            width = sum(lay.bits[x] for x in block0[k:e])
            keep = 0
            for x in block0[k:e]:
                if not refs(x):
                    keep |= field_mask(x) >> lay.offset[block0[k]]
            runs.append(([lay.offset[b[k]] for b in blocks], width, keep))
            for b in blocks:
                for x in b[k:e]:
                    moved |= field_mask(x)
            k = e
        runs_of.append(runs)
        rfs = []
        for k, x0 in enumerate(block0):
            if refs(x0):
                xs = [b[k] for b in blocks]
                rfs.append((xs, [lay.offset[x] for x in xs], (1 << lay.bits[x0]) - 1))
        refs_of.append(rfs)
        # the key of an instance is one int: the abstracted values of its fields that may
        # name an instance, then its other fields, each in a fixed bit range (the first most
        # significant), so comparing keys compares those tuples lexicographically.
        # "@" stands for the state variable of the generated source
        keys = []
        for i in range(grp.n):
            parts: list[tuple[str, int]] = []  # (source of the part at bit 0, width)
            for offs, _width, keep in runs:
                if keep:
                    parts.append((f"((@ >> {offs[i]}) & {keep})" if offs[i] else f"(@ & {keep})",
                                  keep.bit_length()))
            tables: list[tuple[str, tuple[int, ...], int, int]] = []  # name, table, offset, mask
            for f, (xs, offs, mask) in enumerate(rfs):
                tables.append((f"A{g}_{f}_{i}", abs_table(xs[i], g, i), offs[i], mask))
                cname = f"X{g}_{f}_{i}"
                ns[cname] = cross_table(xs[i], g, i)
                cross_terms.append(f"{cname}[(s >> {offs[i]}) & {mask}]")
                cross_mask |= mask << offs[i]
            for x in global_refs:
                tables.append((f"G{g}_{x}_{i}", abs_table(x, g, i), lay.offset[x],
                               (1 << lay.bits[x]) - 1))
            # the abstracted values first (most significant), then the other fields
            id_bits = (len(intern) + 1).bit_length()
            pos = id_bits * len(tables) + sum(w for _, w in parts)
            looked, zero, refmask = [], 0, 0
            for name, tab, off, mask in tables:
                pos -= id_bits
                ns[name] = tab = tuple((v + 1) << pos for v in tab)  # -1 (no label) first
                looked.append(f"{name}[(@ >> {off}) & {mask}]" if off else f"{name}[@ & {mask}]")
                zero |= tab[0]
                refmask |= mask << off
            terms = []
            for part, w in parts:
                pos -= w
                terms.append(f"({part} << {pos})" if pos else part)
            if looked:
                # mostly every field that may name an instance is 0 (for example "none"):
                # then the looked-up part is a constant
                terms.insert(0, f"({zero} if not @ & {refmask} else ({' | '.join(looked)}))")
            keys.append(" | ".join(terms) if terms else "0")
        key_exprs.append(keys)
    for x in global_refs:
        cname = f"XG_{x}"
        ns[cname] = cross_table(x, None, None)
        cross_terms.append(f"{cname}[(s >> {lay.offset[x]}) & {(1 << lay.bits[x]) - 1}]")
        cross_mask |= ((1 << lay.bits[x]) - 1) << lay.offset[x]
    for x in global_refs:
        moved |= field_mask(x)
    fixed = ((1 << lay.total_bits) - 1) & ~moved

    # generated: the keys, the fast exit when the instances are already strictly in order.
    # Instance i of group g is number base[g] + i of the flat key tuple K of parent_keys
    base = [sum(grp.n for grp in groups[:g]) for g in range(len(groups))]
    total = sum(grp.n for grp in groups)

    def key(g: int, i: int, var: str) -> str:
        return key_exprs[g][i].replace("@", var)

    flat = [f"k{base[g] + i}" for g, grp in enumerate(groups) for i in range(grp.n)]

    def chains(op: str) -> str:
        return " and ".join(
            f" {op} ".join(f"k{base[g] + i}" for i in range(grp.n)) for g, grp in enumerate(groups)
        )

    def all_keys(var: str) -> list[str]:
        return [f"    k{base[g] + i} = {key(g, i, var)}"
                for g, grp in enumerate(groups) for i in range(grp.n)]

    nested = ", ".join(
        "(" + ", ".join(f"k{base[g] + i}" for i in range(grp.n)) + ",)"
        for g, grp in enumerate(groups)
    )
    src.append("def keys(s):")
    src += all_keys("s")
    src.append(f"    return ({nested},)")
    # instances in order with ties: the identity is one of the sorting orders; when no value
    # names another instance, every sorting order gives the same state
    for name, ret in (("canon", "s"), ("canon_map", "s, None")):
        src.append("")
        src.append(f"def {name}(s):")
        src += all_keys("s")
        src.append(f"    if {chains('<')}:")
        src.append(f"        return {ret}")
        src.append(f"    if {chains('<=')} and not cross(s):")
        src.append(f"        return {ret}")
        tail = "" if name == "canon_map" else "[0]"
        src.append(f"    return slow(s, ({nested},)){tail}")
    src.append("")
    src.append("def cross(s):")
    zero_names = all(not ns[t.split("[", 1)[0]][0] for t in cross_terms)  # type: ignore[index]
    if cross_terms and zero_names:
        src.append(f"    if not s & {cross_mask}:")  # value 0 of each names no instance
        src.append("        return False")
    src.append("    return " + (" or ".join(cross_terms) if cross_terms else "False"))
    src.append("")
    # incremental: the successor t of a representative s (flat keys K, K[-1]: no ties) is
    # its own representative when it changes only bits that stay in place, or only one
    # instance whose new key still lies strictly between its neighbours' keys
    src.append("def parent_keys(s):")
    src += all_keys("s")
    src.append(f"    if {chains('<=')}:")  # a representative is in key order, ties allowed
    src.append(f"        return ({', '.join(flat)}, {chains('<')})")
    src.append("    return None")
    inst_masks: list[tuple[int, int, int]] = []  # (group, instance, bits of the instance)
    for g, grp in enumerate(groups):
        for i in range(grp.n):
            inst = 0
            for offs, width, _keep in runs_of[g]:
                inst |= ((1 << width) - 1) << offs[i]
            inst_masks.append((g, i, inst))
    for g, i, _inst in inst_masks:
        n, b = groups[g].n, base[g]
        lo = f"K[{b + i - 1}] < " if i > 0 else ""
        hi = f" < K[{b + i + 1}]" if i < n - 1 else ""
        others = [b + j for j in range(n) if j != i]
        rank = " + ".join(f"(K[{x}] <= k)" for x in others)
        tie = " or ".join([f"not K[{total}]"] + [f"k == K[{x}]" for x in others])
        for name, ret, full, mv in ((f"cn_{g}_{i}", "t", "canon(t)", f"MV_{g}_{i}[p](t)"),
                                    (f"cnm_{g}_{i}", "t, 0", "canon_map_id(t)",
                                     f"MVM_{g}_{i}[p][0](t), MVM_{g}_{i}[p][1]")):
            src.append("")
            src.append(f"def {name}(t, K):")
            src.append(f"    k = {key(g, i, 't')}")
            src.append(f"    if {lo}k{hi}:")
            src.append(f"        if K[{total}] or not cross(t):")
            src.append(f"            return {ret}")
            src.append(f"        return {full}")
            src.append(f"    if {(lo + 'k' + hi).replace(' < ', ' <= ')}:")  # in order, with a tie
            src.append(f"        return ({ret}) if not cross(t) else {full}")
            # only instance i moved out of place: it goes to rank p, the others keep their
            # order. With a tie anywhere, any sorting order gives the representative unless a
            # value names another instance: then the general path decides
            src.append(f"    p = {rank}")
            src.append(f"    if ({tie}) and cross(t):")
            src.append(f"        return {full}")
            src.append(f"    return {mv}")
    for name, ret, full, cn in (("canon_next", "t", "canon(t)", "cn"),
                                ("canon_map_next", "t, 0", "canon_map_id(t)", "cnm")):
        src.append("")
        src.append(f"def {name}(t, s, K):")
        src.append("    if K is None:")
        src.append(f"        return {full}")
        src.append(f"    d = (t ^ s) & {moved}")
        src.append("    if not d:")
        src.append(f"        return {ret}")
        for g, i, inst in inst_masks:
            src.append(f"    if not d & {moved & ~inst}:")
            src.append(f"        return {cn}_{g}_{i}(t, K)")
        src.append(f"    return {full}")
    source = "\n".join(src) + "\n"

    relabel_cache: dict[tuple, int] = {}
    mentions_of: dict[str, list[tuple[int, int]]] = {}
    label_index: dict[int, dict[str, int]] = {}

    def relabel(x: int, y: int, v: int, mapping: Mapping_) -> int:
        # a label's image depends only on where the mapping sends the instances it names
        lab = ts.vars[x].labels[v]
        ms = mentions_of.get(lab)
        if ms is None:
            ms = mentions_of[lab] = sorted(set(namer.mentions(lab)))
        key = (x, y, v, tuple(mapping[g][k] for g, k in ms))
        got = relabel_cache.get(key)
        if got is None:
            index = label_index.get(y)
            if index is None:
                index = label_index[y] = {lb: k for k, lb in enumerate(ts.vars[y].labels)}
            got = relabel_cache[key] = index[namer.rename(lab, mapping)]
        return got

    def table(x: int, y: int, mask: int, mapping: Mapping_) -> tuple[int, ...]:
        size = len(ts.vars[x].labels)
        return tuple(relabel(x, y, v, mapping) if v < size else v for v in range(mask + 1))

    def make_apply(mapping: Mapping_) -> Callable[[int], int]:
        """Generated Python moving each field of ``s`` where ``mapping`` puts it."""
        by_shift: dict[int, int] = {0: fixed}  # shift -> mask of the bits moved by it
        env: dict[str, object] = {}
        terms = []
        for g, perm in enumerate(mapping):
            for offs, _width, keep in runs_of[g]:
                for i, q in enumerate(perm):
                    d = offs[q] - offs[i]
                    by_shift[d] = by_shift.get(d, 0) | (keep << offs[i])
            for f, (xs, offs, mask) in enumerate(refs_of[g]):
                for i, q in enumerate(perm):
                    name = f"R{g}_{f}_{i}"
                    env[name] = table(xs[i], xs[q], mask, mapping)
                    terms.append(f"({name}[(s >> {offs[i]}) & {mask}] << {offs[q]})")
        for x in global_refs:
            mask = (1 << lay.bits[x]) - 1
            env[f"RG{x}"] = table(x, x, mask, mapping)
            terms.append(f"(RG{x}[(s >> {lay.offset[x]}) & {mask}] << {lay.offset[x]})")
        for d in sorted(by_shift):
            m = by_shift[d]
            if m:
                shift = f" << {d}" if d > 0 else f" >> {-d}" if d < 0 else ""
                terms.insert(0, f"((s & {m}){shift})")
        code = "def f(s):\n    return " + " | ".join(terms) + "\n"
        exec(compile(code, "<nmrcheck-symmetry-apply>", "exec"), env)
        return env["f"]  # type: ignore[return-value]

    appliers: dict[Mapping_, Callable[[int], int]] = {}

    def apply(s: int, mapping: Mapping_) -> int:
        f = appliers.get(mapping)
        if f is None:
            f = appliers[mapping] = make_apply(mapping)
        return f(s)

    by_order: dict[tuple[int, ...], tuple[Callable[[int], int], Mapping_]] = {}
    single = len(groups) == 1
    rng = range(groups[0].n)

    def slow(s: int, keys: tuple[tuple[tuple, ...], ...]) -> tuple[int, Mapping_ | None]:
        if single and len(set(keys[0])) == len(keys[0]):  # one group, no ties: one order
            order = tuple(sorted(rng, key=keys[0].__getitem__))
            got = by_order.get(order)
            if got is None:
                r = [0] * len(order)
                for pos, i in enumerate(order):
                    r[i] = pos
                mapping = (tuple(r),)
                got = by_order[order] = (make_apply(mapping), mapping)
            return got[0](s), got[1]
        ranks: list[tuple[int, ...]] = []
        tied: list[list[list[int]]] = []
        for ks in keys:
            order = sorted(range(len(ks)), key=ks.__getitem__)
            r = [0] * len(ks)
            for pos, i in enumerate(order):
                r[i] = pos
            ranks.append(tuple(r))
            classes: list[list[int]] = []
            for pos, i in enumerate(order):
                if pos and ks[order[pos - 1]] == ks[i]:
                    classes[-1].append(i)
                else:
                    classes.append([i])
            tied.append([c for c in classes if len(c) > 1])
        mapping = tuple(ranks)
        if any(tied) and cross(s):
            return _smallest(s, mapping, tied)
        if mapping == ident:
            return s, None
        return apply(s, mapping), mapping

    def _smallest(s: int, mapping: Mapping_, tied: list[list[list[int]]]):
        # every order of the tied instances among their ranks: the smallest image is exact
        choices = []
        for g, classes in enumerate(tied):
            per_class = []
            for c in classes:
                slots = sorted(mapping[g][i] for i in c)
                per_class.append([tuple(zip(c, p)) for p in itertools.permutations(slots)])
            choices.append(per_class)
        best: tuple[int, Mapping_ | None] | None = None
        flat = [(g, opts) for g, per_class in enumerate(choices) for opts in per_class]
        for combo in itertools.product(*(opts for _, opts in flat)):
            m = [list(r) for r in mapping]
            for (g, _), pairs in zip(flat, combo):
                for i, q in pairs:
                    m[g][i] = q
            mm = tuple(tuple(r) for r in m)
            t = s if mm == ident else apply(s, mm)
            if best is None or t < best[0]:
                best = (t, None if mm == ident else mm)
        assert best is not None
        return best

    ns["slow"] = slow
    def mover(g: int, i: int, p: int) -> tuple[Callable[[int], int], Mapping_]:
        """Instance ``i`` of group ``g`` to rank ``p``, the others keeping their order."""
        others = [j for j in range(groups[g].n) if j != i]
        order = others[:p] + [i] + others[p:]
        r = [0] * len(order)
        for pos, j in enumerate(order):
            r[j] = pos
        mapping = ident[:g] + (tuple(r),) + ident[g + 1:]
        return make_apply(mapping), frames.id_of(mapping)

    frames = Frames()
    for g, i, _inst in inst_masks:  # built when first used: N * N of them in all
        ns[f"MVM_{g}_{i}"] = _Lazy(lambda p, g=g, i=i: mover(g, i, p))
        ns[f"MV_{g}_{i}"] = _Lazy(lambda p, mvm=ns[f"MVM_{g}_{i}"]: mvm[p][0])

    def canon_map_id(t: int) -> tuple[int, int]:
        u, m = ns["canon_map"](t)  # type: ignore[operator]
        return u, frames.id_of(m)

    ns["canon_map_id"] = canon_map_id
    exec(compile(source, "<nmrcheck-symmetry>", "exec"), ns)
    cross = ns["cross"]
    return Symmetry(
        used,
        ns["canon"],  # type: ignore[arg-type]
        ns["canon_map"],  # type: ignore[arg-type]
        apply,
        namer,
        [s.name for s in ts.slots],
        ns["parent_keys"],  # type: ignore[arg-type]
        ns["canon_next"],  # type: ignore[arg-type]
        ns["canon_map_next"],  # type: ignore[arg-type]
        source,
        moved,
        inst_masks,
        _Stepping({(g, i): key_exprs[g][i] for g, i, _ in inst_masks}, cross_mask, base),
        {name: ns[name] for name in ["parent_keys", "canon_next", "canon_map_next", "cross"]
         + re.findall(r"\b([AG][0-9_]+)\[", " ".join(sum(key_exprs, [])))
         + [f"{c}_{g}_{i}" for g, i, _ in inst_masks for c in ("cn", "cnm")]},  # type: ignore[misc]
        frames=frames,
    )


def permute_state(ts: TransitionSystem, sym: Symmetry, state: Sequence[int],
                  mapping: Mapping_) -> tuple[int, ...]:
    """``state`` with its instances permuted by ``mapping`` (for tests and traces)."""
    lay = Layout.of(ts)
    return lay.unpack(sym.apply(lay.pack(state), mapping))


def mappings(sym: Symmetry) -> list[Mapping_]:
    """Every instance mapping of the group (for tests: N! per group)."""
    per_group = [list(itertools.permutations(range(len(g.instances)))) for g in sym.groups]
    return [tuple(m) for m in itertools.product(*per_group)]
