"""Compile a TransitionSystem into fast Python functions over packed-integer states.

A state is one Python int: variable ``i`` occupies ``bits[i]`` bits at ``offset[i]`` and
stores ``value - lo``. The generated source contains only IR node kinds, variable offsets and
integers: nothing a user wrote is ever part of it.

The successor function is a decision tree over the ``var == const`` conjuncts of the guards
(program counters first in practice): each packed field it tests is read at most once per
path into a local, conjuncts implied by "not halted" are dropped, guards that contradict what
the path already knows are dropped, and updates of fields whose old value the path knows
become one addition of a constant delta. Successors come out in the same order as a plain
guard-by-guard evaluation in the grouping below, so the search order (and every trace) does
not depend on these optimisations.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nmrcheck.engines.explicit import emit
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir import expr as E
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.walkers import evaluate, free_vars, substitute


@dataclass
class Layout:
    """Where each variable lives in a packed state."""

    offset: list[int]
    bits: list[int]
    lo: list[int]

    @classmethod
    def of(cls, ts: TransitionSystem) -> Layout:
        """Variables that keep their initial value (its lowest) in every state take no bits."""
        const = constant_vars(ts)
        bits = [0 if x in const else v.bits for x, v in enumerate(ts.vars)]
        offset = [0] * len(ts.vars)
        pos = 0
        for x in packing_order(ts):
            offset[x] = pos
            pos += bits[x]
        return cls(offset, bits, [v.lo for v in ts.vars])

    def raw_src(self, i: int, s: str = "s") -> str:
        """Source reading the stored field of variable ``i`` (its value minus ``lo``)."""
        if not self.bits[i]:
            return "0"
        mask = (1 << self.bits[i]) - 1
        return f"({s} & {mask})" if self.offset[i] == 0 else f"(({s} >> {self.offset[i]}) & {mask})"

    def read_src(self, i: int, s: str = "s") -> str:
        core = self.raw_src(i, s)
        return f"({core} + {self.lo[i]})" if self.lo[i] else core

    def pack(self, values: Sequence[int]) -> int:
        s = 0
        for i, v in enumerate(values):
            s |= (v - self.lo[i]) << self.offset[i]
        return s

    def field_mask(self, xs: Sequence[int]) -> int:
        """The bits of the fields of the variables ``xs`` in a packed state."""
        m = 0
        for x in xs:
            m |= ((1 << self.bits[x]) - 1) << self.offset[x]
        return m

    def unpack(self, s: int) -> tuple[int, ...]:
        return tuple(
            ((s >> o) & ((1 << b) - 1)) + lo for o, b, lo in zip(self.offset, self.bits, self.lo)
        )

    @property
    def total_bits(self) -> int:
        return max((o + b for o, b in zip(self.offset, self.bits)), default=0)


def constant_vars(ts: TransitionSystem) -> dict[int, int]:
    """The variables no action ever sets to a value other than their initial one, when that
    is their lowest (so their stored field is always 0), with that value."""
    out = {x: v.init for x, v in enumerate(ts.vars) if v.init == v.lo}
    for a in ts.actions:
        for x, e in a.updates:
            if x in out and not (e.op == "const" and e.val == out[x]):
                del out[x]
    return out


def packing_order(ts: TransitionSystem) -> list[int]:
    """The variables in the order they are packed: first those that belong to no single
    instance of a replicated driver, in their order; then instance after instance, the
    variables of each, in the order of their names with the instance left out, so that every
    instance of a driver is one run of bits laid out alike (the symmetry reduction compares
    and moves instances as whole runs)."""
    pats = [g.mention for g in ts.groups if len(g.instances) >= 2]
    rest: list[int] = []
    owned: dict[tuple[int, int], list[tuple[str, int]]] = {}
    for x, v in enumerate(ts.vars):
        ms = {(g, int(m.group(1))) for g, p in enumerate(pats) for m in p.finditer(v.name)}
        if len(ms) == 1:
            g, k = ms.pop()
            owned.setdefault((g, k), []).append((pats[g].sub("[*]", v.name), x))
        else:
            rest.append(x)
    return rest + [x for key in sorted(owned) for _, x in sorted(owned[key])]


@dataclass
class Compiled:
    """The generated functions of one system."""

    layout: Layout
    successors: Callable[[int], tuple[list[tuple[int, int]], int]]
    busy: Callable[[int], int]
    checks: list[Callable[[int], bool]]  # one predicate per property: True where it holds
    source: str
    found: Callable[[int, int], int]  # bits of the properties found in a state, minus skip
    pcs: int = 0  # the bits of the threads' program counters in a packed state


def _key(guard: Expr) -> tuple[int, int, Expr] | None:
    """The first ``var == const`` conjunct of ``guard``: (var, value, rest of the guard)."""
    parts = E.conjuncts(guard)
    for k, c in enumerate(parts):
        if c.op == "eq" and c.args[0].op == "var" and c.args[1].op == "const":
            rest = E.and_(*(parts[:k] + parts[k + 1 :]))
            return c.args[0].val, c.args[1].val, rest
        if c.op == "var" and c.type == E.BOOL:
            rest = E.and_(*(parts[:k] + parts[k + 1 :]))
            return c.val, 1, rest
    return None


def pin_of(c: Expr) -> tuple[int, int] | None:
    """``(var, value)`` when the conjunct ``c`` says ``var == value``, else None."""
    if c.op == "eq" and c.args[0].op == "var" and c.args[1].op == "const":
        return c.args[0].val, c.args[1].val
    if c.op == "var" and c.type == E.BOOL:
        return c.val, 1
    if c.op == "not" and c.args[0].op == "var" and c.args[0].type == E.BOOL:
        return c.args[0].val, 0
    return None


def split_guard(guard: Expr) -> tuple[dict[int, int], list[Expr]] | None:
    """The pinned variables of ``guard`` and its other conjuncts; None if it contradicts itself."""
    pins: dict[int, int] = {}
    rest: list[Expr] = []
    for c in E.conjuncts(guard):
        p = pin_of(c)
        if p is None:
            rest.append(c)
        elif pins.setdefault(p[0], p[1]) != p[1]:
            return None
    return pins, rest


def running_facts(ts: TransitionSystem) -> dict[int, int]:
    """Variable values that hold in every state that is not halted (so every expanded one),
    the constant variables' among them."""
    out = split_guard(E.not_(ts.halted))
    return {**(out[0] if out is not None else {}), **constant_vars(ts)}


def _same_var_pins(args: Sequence[Expr]) -> tuple[int, list[int]] | None:
    """``(var, values)`` when every expression of ``args`` pins the same variable."""
    pins = [pin_of(x) for x in args]
    if len(pins) < 2 or any(p is None for p in pins):
        return None
    var = {p[0] for p in pins if p is not None}
    if len(var) != 1:
        return None
    return var.pop(), sorted({p[1] for p in pins if p is not None})


def _negated_pin(e: Expr) -> tuple[int, int] | None:
    """``(var, value)`` when ``e`` says ``var != value`` (for a non-boolean variable)."""
    if e.op == "not" and e.args[0].op == "eq":
        pin = pin_of(e.args[0])
        if pin is not None and e.args[0].args[0].type != E.BOOL:
            return pin
    return None


@dataclass
class _Item:
    ai: int
    pins: dict[int, int]
    rest: tuple[Expr, ...]


def _pin_run(items: list[_Item], k: int) -> tuple[int, int]:
    """The field pinned by ``items[k]`` that the longest run of items from ``k`` pins too,
    with each value in one stretch, and the end of that run; ``(-1, k + 1)`` when no run is
    longer than one item."""
    best_var, best_end = -1, k + 1
    for i in items[k].pins:
        j, vals = k, [items[k].pins[i]]
        while j < len(items) and i in items[j].pins:
            v = items[j].pins[i]
            if v != vals[-1]:
                if v in vals:
                    break
                vals.append(v)
            j += 1
        if j > best_end:
            best_var, best_end = i, j
    return best_var, best_end


def _conj_run(items: list[_Item], k: int) -> tuple[Expr | None, int]:
    """The conjunct of ``items[k]`` that the longest run of items from ``k`` has too, and
    the end of that run; ``(None, k + 1)`` when no run is longer than one item."""
    best_conj, conj_end = None, k + 1
    for c in items[k].rest:
        j = k
        while j < len(items) and any(x is c for x in items[j].rest):
            j += 1
        if j > conj_end:
            best_conj, conj_end = c, j
    return best_conj, conj_end


def _solo_test(one: _Item) -> tuple[int, Expr | None]:
    """An action with one test of one variable gets a block of its own, for an ``else``:
    ``(field, None)`` for a pin, ``(-1, conjunct)`` for a conjunct, else ``(-1, None)``."""
    if not one.pins and len(one.rest) == 1 and len(free_vars(one.rest[0])) == 1:
        return -1, one.rest[0]
    if not one.rest and len(one.pins) == 1:
        return next(iter(one.pins)), None
    return -1, None


class _Gen:
    """Emits the generated source; ``bound`` maps a variable to the local holding its field."""

    def __init__(self, ts: TransitionSystem, lay: Layout) -> None:
        self.ts, self.lay = ts, lay
        self.lines: list[str] = []
        # what the path being emitted knows beyond pins: the values a field can still have
        self.sets: dict[int, tuple[int, ...]] = {}
        self._decided: dict[tuple, Expr] = {}
        self._free: dict[int, tuple[int, ...]] = {}

    def possible(self, i: int, known: dict[int, int]) -> tuple[int, ...] | None:
        """The values variable ``i`` can have on this path: every value its bits can hold
        (so nothing is assumed of the design), less what the path has tested; None for a
        field of more than 8 bits that no test has narrowed (too many to go through)."""
        if i in known:
            return (known[i],)
        got = self.sets.get(i)
        if got is None:
            if self.lay.bits[i] > 8:
                return None
            lo = self.lay.lo[i]
            got = tuple(range(lo, lo + (1 << self.lay.bits[i])))
        return got

    def narrowed(self, i: int, values: tuple[int, ...], then: Callable[[], object]) -> object:
        """``then()`` where variable ``i`` can only have ``values``."""
        before = self.sets.get(i)
        self.sets[i] = values
        try:
            return then()
        finally:
            if before is None:
                del self.sets[i]
            else:
                self.sets[i] = before

    def free(self, e: Expr) -> tuple[int, ...]:
        """The variables ``e`` reads, ascending (remembered: the tree asks again and again)."""
        fv = self._free.get(e.uid)
        if fv is None:
            fv = self._free[e.uid] = tuple(sorted(free_vars(e)))
        return fv

    def decide(self, c: Expr, known: dict[int, int]) -> Expr:
        """``c``, or TRUE or FALSE when it has that value for every value its (at most two)
        variables can have on this path."""
        fv = self.free(c)
        if not fv or len(fv) > 2:
            return c
        poss = tuple(self.possible(i, known) for i in fv)
        if any(p is None for p in poss) or math.prod(len(p) for p in poss) > 256:  # type: ignore[arg-type]
            return c
        key = (c.uid, poss)
        got = self._decided.get(key)
        if got is None:
            seen = set()
            for combo in itertools.product(*poss):
                seen.add(bool(evaluate(c, dict(zip(fv, combo)))))  # type: ignore[arg-type]
                if len(seen) == 2:
                    break
            got = c if len(seen) == 2 else E.TRUE if True in seen else E.FALSE
            self._decided[key] = got
        return got

    # -- expressions ------------------------------------------------------------------------
    def raw(self, i: int, bound: dict[int, str], definite: bool) -> str:
        """The stored field of ``i``: a local, or read now (and kept if ``definite``).

        (Testing ``s & mask`` against a shifted constant instead costs one operation less
        per test, but measured slower: the locals become large ints.)
        """
        name = bound.get(i)
        if name is not None:
            return name
        if definite:
            bound[i] = f"x{i}"
            return f"(x{i} := {self.lay.raw_src(i)})"
        return self.lay.raw_src(i)

    def pin_test(self, i: int, value: int, bound: dict[int, str], definite: bool) -> str:
        """Source of ``var i == value``."""
        return f"{self.raw(i, bound, definite)} == {value - self.lay.lo[i]}"

    def set_test(self, i: int, values: Sequence[int], test: str, bound: dict[int, str],
                 definite: bool) -> str:
        """Source of ``var i in values`` (``test``: ``in`` or ``not in``)."""
        raws = ", ".join(str(v - self.lay.lo[i]) for v in sorted(set(values)))
        return f"({self.raw(i, bound, definite)} {test} {{{raws}}})"

    def py(self, e: Expr, bound: dict[int, str], definite: bool = False) -> str:
        """Python source of ``e`` (only node kinds, offsets and integers).

        ``definite``: this expression is evaluated whenever its statement is, so a field it
        reads first can be kept in a local (added to ``bound``) for what follows.
        """
        op = e.op
        lay = self.lay
        if op == "const":
            return str(int(e.val))
        if op == "var":
            i = e.val
            raw = self.raw(i, bound, definite)
            return f"({raw} + {lay.lo[i]})" if lay.lo[i] else raw
        a = e.args
        pin = pin_of(e)
        if pin is not None:
            i = pin[0]
            return f"({self.pin_test(i, pin[1], bound, definite)})"
        if op == "not":
            x = a[0]
            if x.op == "eq":
                return f"({self.py(x.args[0], bound, definite)} != " \
                    f"{self.py(x.args[1], bound, definite)})"
            if x.op == "or":
                members = _same_var_pins(x.args)
                if members is not None:
                    return self.set_test(*members, "not in", bound, definite)
            return f"(not {self.py(x, bound, definite)})"
        if op in ("and", "or"):
            if op == "or":
                members = _same_var_pins(a)
                if members is not None:
                    return self.set_test(*members, "in", bound, definite)
            # pins of one variable merge into one set test: (x in {..}) for "or", and
            # (x not in {..}) for an "and" of negated pins; at the place of the first one
            groups: dict[int, list[int]] = {}
            for x in a:
                pin = pin_of(x) if op == "or" else _negated_pin(x)
                if pin is not None:
                    groups.setdefault(pin[0], []).append(pin[1])
            parts = []
            done: set[int] = set()
            # the first operand runs whenever this does; each later one runs after the ones
            # before it, so it may keep fields for those after it (in a scope of its own)
            here, sure = bound, definite
            a = self._masked(a, bound) if op == "and" else a
            for x in a:
                pin = None if isinstance(x, str) else (
                    pin_of(x) if op == "or" else _negated_pin(x))
                if isinstance(x, str):  # pins tested together
                    parts.append(x)
                elif pin is not None and len(groups[pin[0]]) > 1:
                    i = pin[0]
                    if i in done:
                        continue
                    done.add(i)
                    test = "in" if op == "or" else "not in"
                    parts.append(self.set_test(i, groups[i], test, here, sure))
                else:
                    parts.append(self.py(x, here, sure))
                if here is bound:
                    here, sure = dict(bound), True
            return "(" + f" {op} ".join(parts) + ")" if len(parts) > 1 else parts[0]
        if op == "ite":
            c = self.py(a[0], bound, definite)
            return f"({self.py(a[1], bound, False)} if {c} else {self.py(a[2], bound, False)})"
        s = [self.py(x, bound, definite) for x in a]
        infix = {"eq": "==", "lt": "<", "le": "<=", "add": "+", "sub": "-"}
        if op in infix:
            return f"({s[0]} {infix[op]} {s[1]})"
        raise ValueError(f"unknown expression kind {op!r}")

    def _masked(self, args: Sequence[Expr], bound: dict[int, str]) -> list:
        """``args`` of a conjunction, its pins of two or more fields not read yet replaced,
        where the first of them was, by the source of one test of their bits together."""
        pins: dict[int, int] = {}
        for x in args:
            pin = pin_of(x)
            if pin is not None and pin[0] not in bound and self.lay.bits[pin[0]] \
                    and 0 <= pin[1] - self.lay.lo[pin[0]] < 1 << self.lay.bits[pin[0]]:
                pins.setdefault(pin[0], pin[1])
        if len(pins) < 2:
            return list(args)
        mask = sum(((1 << self.lay.bits[i]) - 1) << self.lay.offset[i] for i in pins)
        want = sum((v - self.lay.lo[i]) << self.lay.offset[i] for i, v in pins.items())
        test = f"((s & {mask}) == {want})" if want else f"(not s & {mask})"
        out: list = []
        for x in args:
            pin = pin_of(x)
            if pin is not None and pin[0] in pins:
                if pins[pin[0]] != pin[1]:
                    return ["False"]  # two values for one field (a value its bits can hold)
                if test not in out:
                    out.append(test)
            else:
                out.append(x)
        return out

    def fold(self, e: Expr, known: dict[int, int]) -> Expr:
        """``e`` with the variables the path knows replaced by their values (constants fold)."""
        if not known:
            return e
        sub = {i: self._const(i, known[i]) for i in self.free(e) if i in known}
        return substitute(e, sub) if sub else e

    def _const(self, i: int, v: int) -> Expr:
        return E.const(bool(v)) if self.ts.vars[i].type == E.BOOL else E.const(v)

    # -- successors ---------------------------------------------------------------------------
    def new_state(self, ai: int, known: dict[int, int], bound: dict[int, str]) -> str:
        """Source of the successor of ``s`` under action ``ai`` where ``known`` holds."""
        lay = self.lay
        clear = 0
        orc = 0
        delta = 0
        dyn: list[str] = []
        for i, e in self.ts.actions[ai].updates:
            off, lo, mask = lay.offset[i], lay.lo[i], (1 << lay.bits[i]) - 1
            e = self.fold(e, known)
            if e.op == "const":
                if i in known:
                    delta += (e.val - known[i]) << off
                else:
                    clear |= mask << off
                    orc |= (e.val - lo) << off
                continue
            if e.op in ("add", "sub") and e.args[0].op == "var" and e.args[0].val == i:
                if e.args[1].op == "const":
                    delta += (e.args[1].val if e.op == "add" else -e.args[1].val) << off
                    continue
            clear |= mask << off
            val = self.py(e, bound)
            if lo:
                val = f"({val} - {lo})"
            dyn.append(f"({val} << {off})" if off else val)
        new = f"(s & {~clear})" if clear else "s"
        if orc:
            new = f"({new} | {orc})"
        for d in dyn:
            new = f"({new} | {d})"
        if delta > 0:
            new = f"{new} + {delta}"
        elif delta < 0:
            new = f"{new} - {-delta}"
        return new

    def emit_action(
        self, it: _Item, known: dict[int, int], bound: dict[int, str], indent: str
    ) -> None:
        """Emit one action's test and successor; ``bound`` gains the fields its first test
        reads (evaluated whenever this statement runs)."""
        here = {**known, **it.pins}
        parts = [E.eq(E.var(i, E.INT), E.const(v)) for i, v in it.pins.items()]
        parts += it.rest
        body = indent
        inner = bound
        if parts:
            conds = [self.py(parts[0], bound, True)]
            inner = dict(bound)  # the other tests only run when the first one holds
            conds += [self.py(c, inner, True) for c in parts[1:]]
            self.lines.append(f"{indent}if {' and '.join(conds)}:  {self.label(it.ai)}")
            body = indent + "    "
        else:
            self.lines.append(f"{indent}{self.label(it.ai)}")
        self.lines += self.visit(it.ai, self.new_state(it.ai, here, inner), body)

    def label(self, ai: int) -> str:
        """The comment naming action ``ai`` in the generated source."""
        return emit.comment(self.ts.actions[ai].label)

    def visit(self, ai: int, new: str, indent: str) -> list[str]:
        """The lines that hand on the successor ``new`` of action ``ai``: appended to the
        successor list (``successors``); :class:`_FusedGen` looks it up instead."""
        slot = self.ts.actions[ai].slot
        lines = [f"{indent}ap(({ai}, {new}))"]
        if slot >= 0:
            lines.append(f"{indent}en |= {1 << slot}")
        return lines

    def narrow(self, items: list[_Item], known: dict[int, int]) -> list[_Item]:
        """``items`` where ``known`` holds: pins it decides and conjuncts that fold go."""
        out = []
        for it in items:
            if any(known.get(i, v) != v for i, v in it.pins.items()):
                continue
            if any(v not in self.sets.get(i, (v,)) for i, v in it.pins.items()):
                continue
            rest = []
            for c in it.rest:
                c = self.decide(self.fold(c, known), known)
                if c is E.FALSE:
                    break
                if c is not E.TRUE:
                    rest.append(c)
            else:
                pins = {i: v for i, v in it.pins.items() if i not in known}
                out.append(_Item(it.ai, pins, tuple(rest)))
        return out

    def emit_seq(
        self,
        items: list[_Item],
        known: dict[int, int],
        bound: dict[int, str],
        indent: str,
        share: bool = False,
        narrowed: tuple[int, tuple[int, ...]] | None = None,
    ) -> None:
        """Emit ``items`` in order, sharing the tests that consecutive ones have in common:
        an if/elif chain over the values of a field they pin, or one test of a conjunct.

        ``share``: the locals read here stay valid after (``bound`` is updated in place).
        ``narrowed``: ``(var, values)``, the only values ``var`` has here.
        """
        if narrowed is not None:
            self.narrowed(*narrowed, lambda: self.emit_seq(items, known, bound, indent, share))
            return
        if not share:
            bound = dict(bound)
        single = {i: vs[0] for i, vs in self.sets.items() if len(vs) == 1 and i not in known}
        if single:
            known = {**known, **single}
        items = self.narrow(items, known)
        k = 0
        while k < len(items):
            k = self.emit_group(items, k, known, bound, indent)

    def emit_group(
        self, items: list[_Item], k: int, known: dict[int, int], bound: dict[int, str],
        indent: str,
    ) -> int:
        """Emit ``items[k]`` with the items after it that share the test it has in common
        with most of them (a field it pins, or a conjunct). Returns the index of the first
        item left."""
        best_var, best_end = _pin_run(items, k)
        best_conj, conj_end = _conj_run(items, k)
        solo = False
        if best_var < 0 and best_conj is None and k + 1 < len(items):
            best_var, best_conj = _solo_test(items[k])
            solo = best_conj is not None
        if best_conj is not None and (conj_end > best_end or solo):
            return self.emit_conj(items, k, conj_end, best_conj, known, bound, indent)
        if best_var < 0:
            self.emit_action(items[k], known, bound, indent)
            return k + 1
        return self.emit_chain(items, k, best_end, best_var, known, bound, indent)

    def emit_conj(
        self, items: list[_Item], k: int, end: int, c: Expr, known: dict[int, int],
        bound: dict[int, str], indent: str,
    ) -> int:
        """Emit ``items[k:end]``, which all have conjunct ``c``, under one test of it. Where
        ``c`` tests one variable, the items after them that no value passing it enables go
        to an ``else``. Returns the index of the first item left."""
        run = [
            _Item(it.ai, it.pins, tuple(x for x in it.rest if x is not c))
            for it in items[k:end]
        ]
        self.lines.append(f"{indent}if {self.py(c, bound, True)}:")
        self.lines.append(f"{indent}    pass")  # dropped below when the run emits
        n = len(self.lines)
        # a test of one variable: inside, the values of it that pass; the items after
        # the run that no such value enables go to an else
        fv = free_vars(c)
        i = next(iter(fv)) if len(fv) == 1 else -1
        vals = self.possible(i, known) if i >= 0 else None
        yes = no = ()
        if vals is not None:
            yes = tuple(v for v in vals if evaluate(c, {i: v}))  # type: ignore[arg-type]
            no = tuple(v for v in vals if v not in yes)
        self.emit_seq(run, known, bound, indent + "    ",
                      narrowed=(i, yes) if vals is not None else None)
        if len(self.lines) > n:
            del self.lines[n - 1]
        if vals is None:
            return end
        return self.emit_else(items, end, i, yes, no, known, bound, indent)

    def emit_chain(
        self, items: list[_Item], k: int, end: int, i: int, known: dict[int, int],
        bound: dict[int, str], indent: str,
    ) -> int:
        """Emit ``items[k:end]``, which all pin field ``i``, as an if/elif chain over its
        values; the items after them that no value of the chain enables go to an ``else``.
        Returns the index of the first item left."""
        run = items[k:end]
        first = True
        chain = tuple(dict.fromkeys(it.pins[i] for it in run))
        for v in chain:
            sub = [
                _Item(it.ai, {x: y for x, y in it.pins.items() if x != i}, it.rest)
                for it in run
                if it.pins[i] == v
            ]
            # the first test reads the field into a local for the others and what follows
            test = self.pin_test(i, v, bound, True)
            self.lines.append(f"{indent}{'if' if first else 'elif'} {test}:")
            first = False
            n = len(self.lines)
            self.emit_seq(sub, {**known, i: v}, bound, indent + "    ")
            if len(self.lines) == n:
                self.lines.append(f"{indent}    pass")
        vals = self.possible(i, known)
        if vals is None:
            return end
        no = tuple(v for v in vals if v not in chain)
        return self.emit_else(items, end, i, chain, no, known, bound, indent)

    def emit_else(self, items: list[_Item], k: int, i: int, yes: tuple[int, ...],
                  no: tuple[int, ...], known: dict[int, int], bound: dict[int, str],
                  indent: str) -> int:
        """After a test that holds exactly where variable ``i`` is one of ``yes``: the items
        from ``k`` on that no value of ``yes`` enables go to its ``else`` (where ``i`` is one
        of ``no``). Returns the index of the first item left."""
        e = k
        while e < len(items) and not self.narrowed(
                i, yes, lambda: self.narrow([items[e]], known)):  # noqa: B023 (called at once)
            e += 1
        if e > k:
            self.lines.append(f"{indent}else:")
            n = len(self.lines)
            self.emit_seq(items[k:e], known, bound, indent + "    ", narrowed=(i, no))
            if len(self.lines) == n:  # none of them can be enabled there either
                self.lines.pop()
        return e


@dataclass(frozen=True)
class _Visit:
    """Where the tree hands on a successor: what each generator emits there differs."""

    ai: int
    new: str
    indent: str


class _TreeGen(_Gen):
    """Emits the decision tree once, with a :class:`_Visit` where each successor goes."""

    def visit(self, ai: int, new: str, indent: str) -> list:
        return [_Visit(ai, new, indent)]


_TREE: list[tuple[tuple, list]] = []  # the last tree emitted, with what it was emitted from


def emit_tree(gen: _Gen, base: str) -> None:
    """Emit the decision tree of every action's guard at indentation ``base``; each enabled
    action's successor goes to ``gen.visit``.

    The tree is a function of the (immutable) actions and variables and of the halted
    states: the probe and the search of one check, and the views of one system, share it,
    emitted once."""
    ts = gen.ts
    made_of = (*ts.actions, None, *ts.vars, None, ts.halted)
    if not (_TREE and _same(_TREE[0][0], made_of)):
        tree = _TreeGen(ts, gen.lay)
        _emit_tree(tree)
        _TREE[:] = [(made_of, tree.lines)]
    lines = gen.lines
    for line in _TREE[0][1]:
        if isinstance(line, str):
            lines.append(base + line)
        else:
            lines += gen.visit(line.ai, line.new, base + line.indent)


def _same(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _emit_tree(gen: _TreeGen) -> None:
    ts = gen.ts
    facts = running_facts(ts)
    groups: dict[int, dict[int, list[_Item]]] = {}
    loose: list[_Item] = []
    for ai, a in enumerate(ts.actions):
        split = split_guard(a.guard)
        if split is None:
            continue  # never enabled
        pins, rest = split
        if any(facts.get(i, v) != v for i, v in pins.items()):
            continue  # only enabled in halted states, which are never expanded
        item = _Item(ai, {i: v for i, v in pins.items() if i not in facts}, tuple(rest))
        # the same grouping (and so the same successor order) as a guard-by-guard evaluation
        k = _key(a.guard)
        if k is None:
            loose.append(item)
        else:
            groups.setdefault(k[0], {}).setdefault(k[1], []).append(item)
    top: dict[int, str] = {}
    for var in sorted(groups):
        if var in facts:
            vals = [v for v in sorted(groups[var]) if v == facts[var]]
            for v in vals:
                gen.emit_seq(groups[var][v], dict(facts), top, "", share=True)
            continue
        _emit_chain(gen, var, groups[var], facts, top, "")
    gen.emit_seq(loose, dict(facts), top, "", share=True)


def _emit_chain(gen: _Gen, var: int, by_val: dict[int, list[_Item]], facts: dict[int, int],
                bound: dict[int, str], base: str) -> None:
    """``if var == v1: ... elif var == v2: ...`` over the actions whose first pin is ``var``."""
    lines = gen.lines
    first = True
    for val in sorted(by_val):
        test = gen.pin_test(var, val, bound, True)
        lines.append(f"{base}{'if' if first else 'elif'} {test}:")
        first = False
        items = [
            _Item(it.ai, {x: y for x, y in it.pins.items() if x != var}, it.rest)
            for it in by_val[val]
        ]
        n = len(lines)
        gen.emit_seq(items, {**facts, var: val}, bound, base + "    ")
        if len(lines) == n:
            lines.append(base + "    pass")


_LAST: list[tuple[tuple, Compiled]] = []  # the last system compiled, and what it was made of


def compile_system(ts: TransitionSystem) -> Compiled:
    """Generate and compile the successor, busy and property functions of ``ts`` (the last
    system compiled is remembered: a check compiles its system once for all its searches)."""
    made_of = (*ts.actions, None, *ts.vars, None, ts.halted, *ts.slots, None, *ts.properties)
    if _LAST and _same(_LAST[0][0], made_of):
        return _LAST[0][1]
    comp = _compile_system(ts)
    _LAST[:] = [(made_of, comp)]
    return comp


def _compile_system(ts: TransitionSystem) -> Compiled:
    lay = Layout.of(ts)
    gen = _Gen(ts, lay)
    lines = gen.lines
    lines += ["def successors(s):", "    out = []", "    ap = out.append", "    en = 0"]
    if ts.halted is not E.FALSE:
        lines += [f"    if {gen.py(ts.halted, {})}:", "        return out, -1"]
    emit_tree(gen, "    ")
    lines.append("    return out, en")

    lines += ["", "def busy(s):", "    b = 0"]
    for k, slot in enumerate(ts.slots):
        idle = slot.idle - lay.lo[slot.pc]
        if idle == 0:  # a field that is not all zero bits: one test of the packed state
            mask = ((1 << lay.bits[slot.pc]) - 1) << lay.offset[slot.pc]
            lines.append(f"    if s & {mask}:")
        else:
            lines.append(f"    if {lay.raw_src(slot.pc)} != {idle}:")
        lines.append(f"        b |= {1 << k}")
    lines.append("    return b")
    for pi, p in enumerate(ts.properties):
        lines += ["", f"def prop_{pi}(s):", f"    return {gen.py(p.expr, {})}"]
    # one call per new state: the bit of each property that is found there (an invariant
    # that fails, a reachable property that holds); the common case, nothing found, is one
    # expression over fields read once
    lines += ["", "def found(s, skip):"]
    # the common case, nothing found: one conjunction whose tests read each field once (a
    # test keeps what it reads for the tests after it, which only run when it holds)
    quiet = E.and_(
        *(p.expr if p.kind == "invariant" else E.not_(p.expr) for p in ts.properties)
    )
    lines += [f"    if {gen.py(quiet, {}, True)}:", "        return 0"]
    lines.append("    m = 0")
    for pi, p in enumerate(ts.properties):
        e = gen.py(p.expr, {})
        test = f"not {e}" if p.kind == "invariant" else e
        lines += [f"    if not skip & {1 << pi} and {test}:", f"        m |= {1 << pi}"]
    lines.append("    return m")
    source = emit.source(lines)
    namespace = emit.load(source, "system")
    checks = [namespace[f"prop_{i}"] for i in range(len(ts.properties))]
    return Compiled(
        lay, namespace["successors"], namespace["busy"], checks, source, namespace["found"],
        _pcs(ts, lay),
    )  # type: ignore[arg-type]


class Full(Exception):
    """Raised by the ``new`` callback of an expander when the state limit is reached."""


class _FusedGen(_Gen):
    """The decision tree of :func:`compile_expander`: each successor is looked up at once."""

    def __init__(self, ts: TransitionSystem, lay: Layout,
                 canon_of: Callable[[int], str | None] | None, edges: bool = False) -> None:
        super().__init__(ts, lay)
        self.canon_of, self.edges = canon_of, edges

    def visit(self, ai: int, new: str, indent: str) -> list[str]:
        if self.edges:
            return self._visit_edge(ai, new, indent)
        lines = [f"{indent}t = {new}; n += 1"]
        rep = self.canon_of(ai) if self.canon_of is not None else None
        if rep is not None:
            lines.append(f"{indent}{rep}")
        lines.append(f"{indent}if t not in seen: new(t, {ai}, i)")
        return lines

    def _visit_edge(self, ai: int, new: str, indent: str) -> list[str]:
        """Look the successor up (storing it when new) and append its edge as one int:
        target index, action and (under symmetry) the id of the mapping to the
        representative (0: none), see :data:`EDGE_SHIFT`. ``en`` gains the action's thread."""
        lines = [f"{indent}t = {new}"]
        rep = self.canon_of(ai) if self.canon_of is not None else None
        tail = f" | {ai << ACTION_SHIFT}" if ai else ""
        if rep is not None:
            if rep.startswith("if "):
                lines.append(f"{indent}M = 0")
            lines.append(f"{indent}{rep}")
            tail += " | M"
        lines.append(f"{indent}j = look(t)")
        lines.append(f"{indent}if j is None: j = new(t, {ai}, i)")
        lines.append(f"{indent}E(j << {EDGE_SHIFT}{tail})")
        slot = self.ts.actions[ai].slot
        if slot >= 0:
            lines.append(f"{indent}en |= {1 << slot}")
        return lines


EDGE_SHIFT = 32  # an edge as one int: target << 32 | action << 16 | mapping id
ACTION_SHIFT = 16


Expander = Callable[[list[int], int, int, object, Callable[[int, int, int], None]],
                    tuple[int, int]]


def compile_expander(
    ts: TransitionSystem,
    canon_of: Callable[[int], str | None] | None = None,
    names: dict[str, object] | None = None,
    prelude: Sequence[str] = (),
) -> tuple[Expander, str]:
    """Generate ``expand(states, i, hi, seen, new) -> (transitions, full)``: the breadth-first
    expansion of ``states[i:hi]`` with the decision tree of :func:`compile_system` inlined.

    Each successor ``t`` of action ``a`` of state ``i`` that is not in ``seen`` goes to
    ``new(t, a, i)`` (which stores it; it may raise :class:`Full`: then ``full`` is the state
    being expanded, and ``transitions`` counts those of the states before it; else -1).
    Successors come in the order of ``successors``. With ``canon_of``, the statement
    ``canon_of(a)`` first replaces the successor of action ``a`` by its representative under
    the symmetry reduction (over ``t``, ``s``, ``K = parent_keys(s)`` and what the
    ``prelude`` statements set once per state; when ``K`` is None the state goes to
    ``slow(s, i)``, which returns its transition count). ``names`` are the functions that
    source calls.
    """
    lay = Layout.of(ts)
    gen = _FusedGen(ts, lay, canon_of)
    lines = gen.lines
    lines += [
        "def expand(states, i, hi, seen, new):",
        "    n = 0",
        "    try:",
        "        while i < hi:",
        "            s = states[i]",
        "            m = n",
    ]
    lines += _head(gen, canon_of is not None, prelude, "            ", "i",
                   ["i += 1", "continue"])
    emit_tree(gen, "            ")
    lines += [
        "            i += 1",
        "    except Full:",
        "        return m, i",
        "    return n, -1",
    ]
    return _compiled(lines, "expander", {"Full": Full, **(names or {})})


EdgeExpander = Callable[..., int]


def compile_edge_expander(
    ts: TransitionSystem,
    canon_of: Callable[[int], str | None] | None = None,
    names: dict[str, object] | None = None,
    prelude: Sequence[str] = (),
) -> tuple[EdgeExpander, str]:
    """Generate ``expand(states, i, hi, look, new, E, F, W) -> full``: the breadth-first
    expansion of ``states[i:hi]`` that keeps every edge, as compressed sparse rows:
    ``F()`` before each state (it notes where its edges start), then for each successor
    ``t`` of action ``a`` its index ``j = look(t)`` (or ``new(t, a, i)``, which stores it
    and returns its index, and may raise :class:`Full`) and ``E(edge)``, the edge as one int
    (:data:`EDGE_SHIFT`; under symmetry with the id of the instance mapping from the real
    successor to its representative). After each state, ``W(w)``: the threads busy there
    that no action moves (``busy(s)``, or ``BZ(pcs)`` where that knows the state's program
    counters: :func:`busy_cache`). ``full``: the state being expanded when ``new`` raised
    (its edges are incomplete), else -1.

    ``canon_of(a)`` is the statement that sets ``t, M`` (the representative and the mapping)
    for action ``a`` (:meth:`Symmetry.stepper` with ``maps=True``); a state without keys goes
    to ``slow(s, i)``, which does all of the above for it.
    """
    lay = Layout.of(ts)
    gen = _FusedGen(ts, lay, canon_of, edges=True)
    lines = gen.lines
    reduced = canon_of is not None
    lines += [
        "def expand(states, i, hi, look, new, E, F, W):",
        "    try:",
        "        while i < hi:",
        "            s = states[i]",
        "            F()",
        "            en = 0",
    ]
    ind = "            "
    if reduced:
        lines += [f"{ind}K = parent_keys(s)", f"{ind}if K is None:",
                  f"{ind}    slow(s, i)", f"{ind}    i += 1", f"{ind}    continue"]
        lines += [f"{ind}{x}" for x in prelude]
    if ts.halted is not E.FALSE:
        lines += [f"{ind}if {gen.py(ts.halted, {})}:", f"{ind}    W(0)",
                  f"{ind}    i += 1", f"{ind}    continue"]
    emit_tree(gen, ind)
    lines += [
        f"{ind}b = BZ(s & {_pcs(ts, lay)})",
        f"{ind}W((busy(s) if b is None else b) & ~en)",
        f"{ind}i += 1",
        "    except Full:",
        "        return i",
        "    return -1",
    ]
    return _compiled(lines, "edge-expander", {"Full": Full, **(names or {})})


BUSY_CACHE = 1 << 16  # program-counter combinations remembered by busy_cache


def _pcs(ts: TransitionSystem, lay: Layout) -> int:
    """The bits of the threads' program counters in a packed state."""
    return lay.field_mask([slot.pc for slot in ts.slots])


def busy_cache(comp: Compiled) -> dict[str, Callable]:
    """``busy`` and ``BZ`` for :func:`compile_edge_expander`: the busy threads of a state
    depend on its program counters alone, and a design has few combinations of them (1,041
    in the 82,255 states of multi-npi-3), so a lookup of those bits (0.12 µs) replaces most
    of the tests (0.8 µs a state)."""
    cache: dict[int, int] = {}
    mask, compute = comp.pcs, comp.busy

    def busy(s: int) -> int:
        b = compute(s)
        if len(cache) < BUSY_CACHE:
            cache[s & mask] = b
        return b

    return {"busy": busy, "BZ": cache.get}


def _head(gen: _Gen, reduced: bool, prelude: Sequence[str], ind: str, key: str,
          skip: list[str]) -> list[str]:
    """The start of one state's expansion in a generated loop (state ``s``, successors
    counted in ``n``): its symmetry keys and ``prelude`` (or the general path, ``slow(s,
    key)``, when it has none), and the test that skips a halted state (``skip``)."""
    lines = []
    if reduced:
        lines += [f"{ind}K = parent_keys(s)", f"{ind}if K is None:",
                  f"{ind}    n += slow(s, {key})"] + [f"{ind}    {x}" for x in skip]
        lines += [f"{ind}{x}" for x in prelude]
    if gen.ts.halted is not E.FALSE:
        lines += [f"{ind}if {gen.py(gen.ts.halted, {})}:"] + [f"{ind}    {x}" for x in skip]
    return lines


def _compiled(lines: list[str], part: str, names: dict[str, object]) -> tuple[Expander, str]:
    source = emit.source(lines)
    return emit.load(source, part, names)["expand"], source  # type: ignore[return-value]
