"""The representative of an orbit, computed by generated Python.

Each instance of a replicated driver gets a key (its variables, with every value that names an
instance abstracted to "itself" or "another"), and the instances are sorted by key. When keys
tie and some value names *another* instance, the smallest packed state over every order of the
tied instances is taken, so the representative is a function of the orbit only (exact), never
merely some member of it. ``symmetry.analyse`` checks that the permutations are symmetries
before it builds this.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from nmrcheck.engines.explicit import emit
from nmrcheck.engines.explicit.codegen import Layout
from nmrcheck.engines.explicit.frames import Frames
from nmrcheck.engines.explicit.naming import Group, Mapping_, Namer
from nmrcheck.ir import InstanceGroup, TransitionSystem


@dataclass
class Stepping:
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
    namer: Namer
    slot_names: list[str]
    parent_keys: Callable[[int], object]  # once per expanded representative s
    canon_next: Callable[[int, int, object], int]  # (successor t, s, parent_keys(s))
    # (successor t, s, parent_keys(s)) -> its representative and the id in ``frames`` of the
    # mapping to it (0: none)
    canon_map_next: Callable[[int, int, object], tuple[int, int]]
    source: str
    moved: int = 0  # the bits that move with their instance
    inst_masks: list[tuple[int, int, int]] = field(default_factory=list)  # (g, i, its bits)
    stepping: Stepping | None = None
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


# -- building the representative ------------------------------------------------------------------
Run = tuple[list[int], int, int]  # the offsets of one run of fields per instance, width, keep
RefField = tuple[list[int], list[int], int]  # per instance: the variable, its offset; the mask


class _Builder:
    """Generates the representative of the orbits of ``ts`` under the instance permutations
    of ``groups``: per instance a key (one int), the tests that a state is in key order, the
    moves that put one instance back in order, and the general path for the rest."""

    def __init__(self, ts: TransitionSystem, groups: list[Group], namer: Namer) -> None:
        self.ts, self.groups, self.namer = ts, groups, namer
        self.lay = Layout.of(ts)
        self.names = {v.name: i for i, v in enumerate(ts.vars)}
        self.ident: Mapping_ = tuple(tuple(range(g.n)) for g in groups)
        self.owner = {x: ms[0] for x, v in enumerate(ts.vars) if (ms := namer.mentions(v.name))}
        self.intern = self._intern()
        self.global_refs = [x for x in range(len(ts.vars)) if x not in self.owner and self.refs(x)]
        self.ns: dict[str, object] = {}
        self.moved = 0  # bits that move with their instance
        self.runs_of: list[list[Run]] = []
        self.refs_of: list[list[RefField]] = []
        self.key_exprs: list[list[str]] = []
        self.cross_terms: list[str] = []
        self.cross_mask = 0
        self.base = [sum(grp.n for grp in groups[:g]) for g in range(len(groups))]
        self.total = sum(grp.n for grp in groups)
        self.frames = Frames()
        self._relabel: dict[tuple, int] = {}
        self._mentions: dict[str, list[tuple[int, int]]] = {}
        self._label_index: dict[int, dict[str, int]] = {}
        self._appliers: dict[Mapping_, Callable[[int], int]] = {}
        self._by_order: dict[tuple[int, ...], tuple[Callable[[int], int], Mapping_]] = {}

    # -- the fields ---------------------------------------------------------------------------
    def refs(self, x: int) -> bool:
        """Whether variable ``x`` may name an instance (a field of no bits is a constant that
        the initial state's check has shown names none)."""
        labs = self.ts.vars[x].labels
        return bool(self.lay.bits[x]) and labs is not None and any(
            self.namer.mentions(lab) for lab in labs)

    def field_mask(self, x: int) -> int:
        return ((1 << self.lay.bits[x]) - 1) << self.lay.offset[x]

    def _intern(self) -> dict[str, int]:
        """A number for each label with its instance mentions abstracted."""
        labels: set[str] = set()
        for x, v in enumerate(self.ts.vars):
            if self.refs(x):
                for g, grp in enumerate(self.groups):
                    for i in range(grp.n):
                        labels.update(self.namer.abstract(lab, g, i) for lab in v.labels)
        return {lab: k for k, lab in enumerate(sorted(labels))}

    def abs_table(self, x: int, g: int, i: int) -> tuple[int, ...]:
        labs = self.ts.vars[x].labels
        return tuple(self.intern[self.namer.abstract(labs[v], g, i)] if v < len(labs) else -1
                     for v in range(1 << self.lay.bits[x]))

    def cross_table(self, x: int, g: int | None, i: int | None) -> tuple[bool, ...]:
        """Per value of ``x``: whether it names an instance other than ``(g, i)`` (with no
        ``g``: more than one)."""
        labs = self.ts.vars[x].labels
        out = []
        for v in range(1 << self.lay.bits[x]):
            ms = set(self.namer.mentions(labs[v])) if v < len(labs) else set()
            out.append(bool(ms - {(g, i)}) if g is not None else len(ms) > 1)
        return tuple(out)

    # -- the instances' fields and keys ------------------------------------------------------
    def lay_out(self) -> None:
        for g in range(len(self.groups)):
            block0, blocks = self._blocks(g)
            runs = self._runs(block0, blocks)
            rfs = [([b[k] for b in blocks], [self.lay.offset[b[k]] for b in blocks],
                    (1 << self.lay.bits[x0]) - 1)
                   for k, x0 in enumerate(block0) if self.refs(x0)]
            self.runs_of.append(runs)
            self.refs_of.append(rfs)
            self.key_exprs.append([self._key(g, i, runs, rfs) for i in range(self.groups[g].n)])
        for x in self.global_refs:
            cname = f"XG_{x}"
            self.ns[cname] = self.cross_table(x, None, None)
            self.cross_terms.append(f"{cname}[(s >> {self.lay.offset[x]}) & "
                                    f"{(1 << self.lay.bits[x]) - 1}]")
            self.cross_mask |= self.field_mask(x)
            self.moved |= self.field_mask(x)

    def _blocks(self, g: int) -> tuple[list[int], list[list[int]]]:
        """The variables of instance 1 of group ``g`` (empty fields first), and the matching
        variables of every instance."""
        lay, grp = self.lay, self.groups[g]
        block0 = sorted((x for x, o in self.owner.items() if o == (g, 0)),
                        key=lambda x: (lay.offset[x], lay.bits[x]))
        blocks = []
        for i in range(grp.n):
            m = list(self.ident)
            m[g] = tuple(i if k == 0 else (0 if k == i else k) for k in range(grp.n))
            blk = [self.names[self.namer.rename(self.ts.vars[x].name, tuple(m))] for x in block0]
            if sorted(blk) != sorted(x for x, o in self.owner.items() if o == (g, i)):
                raise ValueError(f"instance {i + 1} of {grp.driver} has other variables")
            blocks.append(blk)
        return block0, blocks

    def _runs(self, block0: list[int], blocks: list[list[int]]) -> list[Run]:
        """The instance's fields as runs of adjacent bits, laid out alike in every instance:
        (offset per instance, width, the bits that name no instance)."""
        lay = self.lay
        runs: list[Run] = []
        k = 0
        while k < len(block0):
            e = k + 1
            while e < len(block0) and all(
                lay.offset[b[e]] == lay.offset[b[e - 1]] + lay.bits[b[e - 1]] for b in blocks
            ):
                e += 1
            keep = 0
            for x in block0[k:e]:
                if not self.refs(x):
                    keep |= self.field_mask(x) >> lay.offset[block0[k]]
            width = sum(lay.bits[x] for x in block0[k:e])
            runs.append(([lay.offset[b[k]] for b in blocks], width, keep))
            for b in blocks:
                for x in b[k:e]:
                    self.moved |= self.field_mask(x)
            k = e
        return runs

    def _key(self, g: int, i: int, runs: list[Run], rfs: list[RefField]) -> str:
        """The key of instance ``i`` of group ``g`` as source over ``@``: one int, the
        abstracted values of its fields that may name an instance (most significant), then
        its other fields, each in a fixed bit range, so that comparing keys compares those
        tuples lexicographically."""
        parts = [(f"((@ >> {offs[i]}) & {keep})" if offs[i] else f"(@ & {keep})",
                  keep.bit_length()) for offs, _width, keep in runs if keep]
        tables: list[tuple[str, tuple[int, ...], int, int]] = []  # name, table, offset, mask
        for f, (xs, offs, mask) in enumerate(rfs):
            tables.append((f"A{g}_{f}_{i}", self.abs_table(xs[i], g, i), offs[i], mask))
            cname = f"X{g}_{f}_{i}"
            self.ns[cname] = self.cross_table(xs[i], g, i)
            self.cross_terms.append(f"{cname}[(s >> {offs[i]}) & {mask}]")
            self.cross_mask |= mask << offs[i]
        for x in self.global_refs:
            tables.append((f"G{g}_{x}_{i}", self.abs_table(x, g, i), self.lay.offset[x],
                           (1 << self.lay.bits[x]) - 1))
        id_bits = (len(self.intern) + 1).bit_length()
        pos = id_bits * len(tables) + sum(w for _, w in parts)
        looked, zero, refmask = [], 0, 0
        for name, tab, off, mask in tables:
            pos -= id_bits
            self.ns[name] = tab = tuple((v + 1) << pos for v in tab)  # -1 (no label) first
            looked.append(f"{name}[(@ >> {off}) & {mask}]" if off else f"{name}[@ & {mask}]")
            zero |= tab[0]
            refmask |= mask << off
        terms = []
        for part, w in parts:
            pos -= w
            terms.append(f"({part} << {pos})" if pos else part)
        if looked:  # mostly every field that may name an instance is 0: a constant
            terms.insert(0, f"({zero} if not @ & {refmask} else ({' | '.join(looked)}))")
        return " | ".join(terms) if terms else "0"

    # -- the generated source ----------------------------------------------------------------
    def key(self, g: int, i: int, var: str) -> str:
        return self.key_exprs[g][i].replace("@", var)

    def chains(self, op: str) -> str:
        """The instances of each group in key order (``op``: ``<`` strictly, ``<=``)."""
        return " and ".join(f" {op} ".join(f"k{self.base[g] + i}" for i in range(grp.n))
                            for g, grp in enumerate(self.groups))

    def all_keys(self, var: str) -> list[str]:
        return [f"    k{self.base[g] + i} = {self.key(g, i, var)}"
                for g, grp in enumerate(self.groups) for i in range(grp.n)]

    def nested(self) -> str:
        return ", ".join("(" + ", ".join(f"k{self.base[g] + i}" for i in range(grp.n)) + ",)"
                         for g, grp in enumerate(self.groups))

    def inst_masks(self) -> list[tuple[int, int, int]]:
        """(group, instance, the bits of the instance)."""
        out = []
        for g, grp in enumerate(self.groups):
            for i in range(grp.n):
                inst = 0
                for offs, width, _keep in self.runs_of[g]:
                    inst |= ((1 << width) - 1) << offs[i]
                out.append((g, i, inst))
        return out

    def source(self) -> str:
        src = ["def keys(s):", *self.all_keys("s"), f"    return ({self.nested()},)"]
        src += self._src_canon() + self._src_cross() + self._src_parent_keys()
        for g, i, _ in self.inst_masks():
            src += self._src_move(g, i)
        src += self._src_next()
        return "\n".join(src) + "\n"

    def _src_canon(self) -> list[str]:
        """``canon`` and ``canon_map``: in order (with ties when no value names another
        instance) the state is its representative; else the general path."""
        src = []
        for name, ret in (("canon", "s"), ("canon_map", "s, None")):
            tail = "" if name == "canon_map" else "[0]"
            src += ["", f"def {name}(s):", *self.all_keys("s"),
                    f"    if {self.chains('<')}:", f"        return {ret}",
                    f"    if {self.chains('<=')} and not cross(s):", f"        return {ret}",
                    f"    return slow(s, ({self.nested()},)){tail}"]
        return src

    def _src_cross(self) -> list[str]:
        """``cross(s)``: whether some value names an instance other than its owner's."""
        src = ["", "def cross(s):"]
        zero_names = all(not self.ns[t.split("[", 1)[0]][0]  # type: ignore[index]
                         for t in self.cross_terms)
        if self.cross_terms and zero_names:  # value 0 of each names no instance
            src += [f"    if not s & {self.cross_mask}:", "        return False"]
        src.append("    return " + (" or ".join(self.cross_terms) if self.cross_terms else
                                    "False"))
        return src

    def _src_parent_keys(self) -> list[str]:
        """The keys of an expanded representative, and whether they have no ties."""
        flat = [f"k{self.base[g] + i}" for g, grp in enumerate(self.groups) for i in range(grp.n)]
        return ["", "def parent_keys(s):", *self.all_keys("s"),
                f"    if {self.chains('<=')}:",
                f"        return ({', '.join(flat)}, {self.chains('<')})", "    return None"]

    def _src_move(self, g: int, i: int) -> list[str]:
        """``cn_g_i`` and ``cnm_g_i``: the representative of a successor that changed only
        instance ``i`` of group ``g`` (keys ``K`` of the state it came from)."""
        n, b, total = self.groups[g].n, self.base[g], self.total
        lo = f"K[{b + i - 1}] < " if i > 0 else ""
        hi = f" < K[{b + i + 1}]" if i < n - 1 else ""
        others = [b + j for j in range(n) if j != i]
        rank = " + ".join(f"(K[{x}] <= k)" for x in others)
        tie = " or ".join([f"not K[{total}]"] + [f"k == K[{x}]" for x in others])
        src = []
        for name, ret, full, mv in ((f"cn_{g}_{i}", "t", "canon(t)", f"MV_{g}_{i}[p](t)"),
                                    (f"cnm_{g}_{i}", "t, 0", "canon_map_id(t)",
                                     f"MVM_{g}_{i}[p][0](t), MVM_{g}_{i}[p][1]")):
            # in order: the same state; with a tie, any order unless a value names another
            # instance; out of order, the instance goes to rank p, the others keep theirs
            src += ["", f"def {name}(t, K):", f"    k = {self.key(g, i, 't')}",
                    f"    if {lo}k{hi}:", f"        if K[{total}] or not cross(t):",
                    f"            return {ret}", f"        return {full}",
                    f"    if {(lo + 'k' + hi).replace(' < ', ' <= ')}:",
                    f"        return ({ret}) if not cross(t) else {full}",
                    f"    p = {rank}", f"    if ({tie}) and cross(t):",
                    f"        return {full}", f"    return {mv}"]
        return src

    def _src_next(self) -> list[str]:
        """``canon_next`` and ``canon_map_next``: the representative of a successor ``t`` of
        representative ``s``, by the instance it changed."""
        src = []
        for name, ret, full, cn in (("canon_next", "t", "canon(t)", "cn"),
                                    ("canon_map_next", "t, 0", "canon_map_id(t)", "cnm")):
            src += ["", f"def {name}(t, s, K):", "    if K is None:", f"        return {full}",
                    f"    d = (t ^ s) & {self.moved}", "    if not d:", f"        return {ret}"]
            for g, i, inst in self.inst_masks():
                src += [f"    if not d & {self.moved & ~inst}:",
                        f"        return {cn}_{g}_{i}(t, K)"]
            src.append(f"    return {full}")
        return src

    # -- moving fields -----------------------------------------------------------------------
    def relabel(self, x: int, y: int, v: int, mapping: Mapping_) -> int:
        """The value of ``y`` that value ``v`` of ``x`` becomes under ``mapping`` (a label's
        image depends only on where the mapping sends the instances it names)."""
        lab = self.ts.vars[x].labels[v]
        ms = self._mentions.get(lab)
        if ms is None:
            ms = self._mentions[lab] = sorted(set(self.namer.mentions(lab)))
        key = (x, y, v, tuple(mapping[g][k] for g, k in ms))
        got = self._relabel.get(key)
        if got is None:
            index = self._label_index.get(y)
            if index is None:
                index = self._label_index[y] = {
                    lb: k for k, lb in enumerate(self.ts.vars[y].labels)}
            got = self._relabel[key] = index[self.namer.rename(lab, mapping)]
        return got

    def table(self, x: int, y: int, mask: int, mapping: Mapping_) -> tuple[int, ...]:
        size = len(self.ts.vars[x].labels)
        return tuple(self.relabel(x, y, v, mapping) if v < size else v
                     for v in range(mask + 1))

    def make_apply(self, mapping: Mapping_) -> Callable[[int], int]:
        """Generated Python moving each field of ``s`` where ``mapping`` puts it."""
        fixed = ((1 << self.lay.total_bits) - 1) & ~self.moved
        by_shift: dict[int, int] = {0: fixed}  # shift -> mask of the bits moved by it
        env: dict[str, object] = {}
        terms = []
        for g, perm in enumerate(mapping):
            for offs, _width, keep in self.runs_of[g]:
                for i, q in enumerate(perm):
                    d = offs[q] - offs[i]
                    by_shift[d] = by_shift.get(d, 0) | (keep << offs[i])
            for f, (xs, offs, mask) in enumerate(self.refs_of[g]):
                for i, q in enumerate(perm):
                    name = f"R{g}_{f}_{i}"
                    env[name] = self.table(xs[i], xs[q], mask, mapping)
                    terms.append(f"({name}[(s >> {offs[i]}) & {mask}] << {offs[q]})")
        for x in self.global_refs:
            mask, off = (1 << self.lay.bits[x]) - 1, self.lay.offset[x]
            env[f"RG{x}"] = self.table(x, x, mask, mapping)
            terms.append(f"(RG{x}[(s >> {off}) & {mask}] << {off})")
        for d in sorted(by_shift):
            m = by_shift[d]
            if m:
                shift = f" << {d}" if d > 0 else f" >> {-d}" if d < 0 else ""
                terms.insert(0, f"((s & {m}){shift})")
        code = "def f(s):\n    return " + " | ".join(terms) + "\n"
        return emit.load(code, "symmetry-apply", env, builtins=True)["f"]  # type: ignore[return-value]

    def apply(self, s: int, mapping: Mapping_) -> int:
        f = self._appliers.get(mapping)
        if f is None:
            f = self._appliers[mapping] = self.make_apply(mapping)
        return f(s)

    def mover(self, g: int, i: int, p: int) -> tuple[Callable[[int], int], int]:
        """Instance ``i`` of group ``g`` to rank ``p``, the others keeping their order: the
        move and the id of its mapping."""
        others = [j for j in range(self.groups[g].n) if j != i]
        order = others[:p] + [i] + others[p:]
        r = [0] * len(order)
        for pos, j in enumerate(order):
            r[j] = pos
        mapping = self.ident[:g] + (tuple(r),) + self.ident[g + 1:]
        return self.make_apply(mapping), self.frames.id_of(mapping)

    # -- the general path --------------------------------------------------------------------
    def slow(self, s: int, keys: tuple[tuple[tuple, ...], ...]) -> tuple[int, Mapping_ | None]:
        """The representative of ``s`` and the mapping to it, from its keys per group."""
        if len(self.groups) == 1 and len(set(keys[0])) == len(keys[0]):  # one order
            return self._sorted(s, keys[0])
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
        if any(tied) and self.ns["cross"](s):  # type: ignore[operator]
            return self.smallest(s, mapping, tied)
        if mapping == self.ident:
            return s, None
        return self.apply(s, mapping), mapping

    def _sorted(self, s: int, keys: tuple) -> tuple[int, Mapping_ | None]:
        """One group, no ties: the one sorting order, its move made once."""
        order = tuple(sorted(range(self.groups[0].n), key=keys.__getitem__))
        got = self._by_order.get(order)
        if got is None:
            r = [0] * len(order)
            for pos, i in enumerate(order):
                r[i] = pos
            mapping = (tuple(r),)
            got = self._by_order[order] = (self.make_apply(mapping), mapping)
        return got[0](s), got[1]

    def smallest(self, s: int, mapping: Mapping_,
                 tied: list[list[list[int]]]) -> tuple[int, Mapping_ | None]:
        """Every order of the tied instances among their ranks: the smallest image (exact)."""
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
            t = s if mm == self.ident else self.apply(s, mm)
            if best is None or t < best[0]:
                best = (t, None if mm == self.ident else mm)
        assert best is not None
        return best

    # -- the whole -----------------------------------------------------------------------------
    def build(self, used: list[InstanceGroup]) -> Symmetry:
        self.lay_out()
        source = self.source()
        ns, masks = self.ns, self.inst_masks()
        ns["slow"] = self.slow
        for g, i, _inst in masks:  # built when first used: N * N of them in all
            ns[f"MVM_{g}_{i}"] = _Lazy(lambda p, g=g, i=i: self.mover(g, i, p))
            ns[f"MV_{g}_{i}"] = _Lazy(lambda p, mvm=ns[f"MVM_{g}_{i}"]: mvm[p][0])

        def canon_map_id(t: int) -> tuple[int, int]:
            u, m = ns["canon_map"](t)  # type: ignore[operator]
            return u, self.frames.id_of(m)

        ns["canon_map_id"] = canon_map_id
        emit.load(source, "symmetry", ns, builtins=True)
        tables = re.findall(r"\b([AG][0-9_]+)\[", " ".join(sum(self.key_exprs, [])))
        called = ["parent_keys", "canon_next", "canon_map_next", "cross", *tables,
                  *(f"{c}_{g}_{i}" for g, i, _ in masks for c in ("cn", "cnm"))]
        return Symmetry(
            used, ns["canon"], ns["canon_map"], self.apply, self.namer,  # type: ignore[arg-type]
            [s.name for s in self.ts.slots], ns["parent_keys"],  # type: ignore[arg-type]
            ns["canon_next"], ns["canon_map_next"], source,  # type: ignore[arg-type]
            self.moved, masks,
            Stepping({(g, i): self.key_exprs[g][i] for g, i, _ in masks}, self.cross_mask,
                     self.base),
            {name: ns[name] for name in called},  # type: ignore[misc]
            frames=self.frames,
        )


def build(ts: TransitionSystem, groups: list[Group], used: list[InstanceGroup],
          namer: Namer) -> Symmetry:
    """The orbit representative of ``ts`` under the (checked) permutations of ``groups``."""
    return _Builder(ts, groups, namer).build(used)
