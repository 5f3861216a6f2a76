"""Candidate invariants for Houdini (:mod:`.houdini`), read off reachable states.

A candidate is a *clause*: a tuple of one or two atoms ``(variable, value)``, sorted, meaning
"not all of these hold". From a set of states (the reachable states of the system, or of a
smaller instance of the same design) ``harvest`` takes every clause that holds in all of them:

* ``x != b`` for each value ``b`` of the domain of ``x`` that no state has;
* ``not (x == a and y == b)`` for values ``a``, ``b`` that some states have, but none both;
* with ``triples``, ``not (x == a and y == b and z == c)`` for values no state has together
  although every two of them occur together (otherwise a pair clause already says it), for
  variables of one generic instance: no two of ``x``, ``y``, ``z`` name different instances of
  the same driver array (``local``). These state what pairs cannot, e.g. that a detach
  callback between its two steps has ``pending`` set exactly when calls are in flight.

Candidates are only guesses: Houdini keeps the largest subset that is inductive, and a proof
is only ever claimed with a certificate re-checked by a fresh solver.

Designs with driver arrays (``driver ExampleClient[16]``) are symmetric in their instances,
and their variables and enum labels are named after them (``ExampleClient[3].Cli.state``,
``ExampleClient[3].Cli~ExampleProvider.Prov/client``). ``smaller_instance`` asks the front end
for the same design with two instances per array (``TransitionSystem.resize``), whose states
are few; ``transfer`` carries its clauses
over to the large system by renaming the instance numbers of each clause into those of the large
system in every injective way, matching variables and enum values by name.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence

from nmrcheck.control import Stopped, current
from nmrcheck.ir.system import TransitionSystem

from .budget import checkpoint

Clause = tuple[tuple[int, int], ...]

MAX_HARVEST_STATES = 30_000  # states read for clauses (an even sample beyond this)
MAX_INSTANCES_PER_CLAUSE = 4_096  # a clause over more instance indices is not transferred
MAX_TRIPLES = 60_000  # triples of variables read for three-atom clauses (none beyond this)


# -- from states --------------------------------------------------------------------------------


def harvest(
    ts: TransitionSystem,
    states: Sequence[Sequence[int]],
    variables: Iterable[int],
    triples: bool = False,
) -> list[Clause]:
    """Every candidate clause over ``variables`` that holds in all ``states``, sorted (with
    ``triples``, also the three-atom clauses of the module documentation)."""
    if len(states) > MAX_HARVEST_STATES:
        step = len(states) / MAX_HARVEST_STATES
        states = [states[int(k * step)] for k in range(MAX_HARVEST_STATES)]
    xs = sorted(set(variables))
    cols = {x: tuple(s[x] for s in states) for x in xs}
    seen = {x: sorted(set(cols[x])) for x in xs}
    out: list[Clause] = []
    for x in xs:
        v = ts.vars[x]
        out += [((x, b),) for b in range(v.lo, v.hi + 1) if b not in seen[x]]
    several = [x for x in xs if len(seen[x]) > 1]
    pairs: dict[tuple[int, int], set[tuple[int, int]]] = {}
    for n, x in enumerate(several):
        checkpoint()
        for y in several[n + 1 :]:
            both = pairs[(x, y)] = set(zip(cols[x], cols[y]))
            if len(both) == len(seen[x]) * len(seen[y]):
                continue
            out += [((x, a), (y, b)) for a in seen[x] for b in seen[y] if (a, b) not in both]
    if triples:
        out += _triples(ts, several, cols, seen, pairs)
    return out


def _triples(
    ts: TransitionSystem,
    xs: list[int],
    cols: dict[int, tuple[int, ...]],
    seen: dict[int, list[int]],
    pairs: dict[tuple[int, int], set[tuple[int, int]]],
) -> list[Clause]:
    """The three-atom clauses over local triples of ``xs`` (sorted) that no pair clause
    implies; none when there are more than ``MAX_TRIPLES`` such triples."""
    where = {x: _indices(ts.vars[x].name) for x in xs}
    chosen = [t for t in itertools.combinations(xs, 3) if local(*(where[x] for x in t))]
    if len(chosen) > MAX_TRIPLES:
        return []
    out: list[Clause] = []
    for n, (x, y, z) in enumerate(chosen):
        if n % 256 == 0:
            checkpoint()
        xy, xz, yz = pairs[(x, y)], pairs[(x, z)], pairs[(y, z)]
        all3 = set(zip(cols[x], cols[y], cols[z]))
        for a, b in sorted(xy):
            out += [
                ((x, a), (y, b), (z, c))
                for c in seen[z]
                if (a, c) in xz and (b, c) in yz and (a, b, c) not in all3
            ]
    return out


def local(*names: list[tuple[str, int]]) -> bool:
    """Whether variables with these instance mentions (``_indices`` of their names) are of
    one generic instance: no driver array with two different indices among them."""
    chosen: dict[str, int] = {}
    for mentions in names:
        for arr, k in mentions:
            if chosen.setdefault(arr, k) != k:
                return False
    return True


# -- smaller instances of a design -------------------------------------------------------------


def smaller_instance(ts: TransitionSystem, count: int = 2) -> TransitionSystem | None:
    """The design of ``ts`` with every driver array of more than ``count`` instances cut to
    ``count``, as the front end that compiled ``ts`` builds it (``ts.resize``); None when it
    cannot, or when nothing would be cut."""
    if ts.resize is None:
        return None
    try:
        with current().abortable():  # the compiler's code: a stop cuts it short at once
            return ts.resize(count)
    except Stopped:
        raise
    except Exception:  # only a source of guesses: a design that needs its counts has none
        return None


_INDEX = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\[(\d+)\]")


def _indices(text: str | None) -> list[tuple[str, int]]:
    return [] if text is None else [(m[0], int(m[1])) for m in _INDEX.findall(text)]


def _rename(text: str, mapping: dict[tuple[str, int], int]) -> str:
    def sub(m: re.Match[str]) -> str:
        k = mapping.get((m[1], int(m[2])))
        return m[0] if k is None else f"{m[1]}[{k}]"

    return _INDEX.sub(sub, text)


def pattern(name: str) -> str:
    """A variable name with its instance numbers blanked (``ExampleClient[].Cli.state``)."""
    return _INDEX.sub(lambda m: f"{m[1]}[]", name)


def matching(src: TransitionSystem, dst: TransitionSystem, variables: Iterable[int]) -> list[int]:
    """The variables of ``src`` named like one of ``variables`` of ``dst`` up to instance
    numbers."""
    wanted = {pattern(dst.vars[i].name) for i in variables}
    return [i for i, v in enumerate(src.vars) if pattern(v.name) in wanted]


def transfer(
    clauses: Iterable[Clause], src: TransitionSystem, dst: TransitionSystem
) -> list[Clause]:
    """The clauses of ``src`` carried over to ``dst``, another instance of the same design:
    each clause once for every injective renaming of the instance numbers it mentions (in
    variable names and enum labels) into the instance numbers ``dst`` has for the same array,
    where every renamed variable and value exists in ``dst``. Sorted, without duplicates."""
    names = {v.name: i for i, v in enumerate(dst.vars)}
    have: dict[str, set[int]] = {}
    for v in dst.vars:
        for arr, k in _indices(v.name):
            have.setdefault(arr, set()).add(k)
    sizes = {arr: sorted(ks) for arr, ks in have.items()}
    labels: dict[int, dict[str, int]] = {}

    def value_of(i: int, label: str) -> int | None:
        table = labels.get(i)
        if table is None:
            v = dst.vars[i]
            table = {lab: v.lo + k for k, lab in enumerate(v.labels or ())}
            labels[i] = table
        return table.get(label)

    out: set[Clause] = set()
    for n, clause in enumerate(clauses):
        if n % 256 == 0:
            checkpoint()
        atoms = []
        for x, val in clause:
            v = src.vars[x]
            label = v.labels[val - v.lo] if v.labels is not None and v.lo <= val <= v.hi else None
            atoms.append((v.name, label, val))
        mentioned = sorted(
            {ix for name, label, _ in atoms for ix in _indices(name) + _indices(label)}
        )
        arrays = sorted({arr for arr, _ in mentioned})
        if any(arr not in sizes for arr in arrays):
            continue
        choices = []
        total = 1
        for arr in arrays:
            mine = [k for a, k in mentioned if a == arr]
            options = list(itertools.permutations(sizes[arr], len(mine)))
            total *= len(options)
            choices.append([(arr, mine, p) for p in options])
        if total > MAX_INSTANCES_PER_CLAUSE:
            continue
        for combo in itertools.product(*choices):
            mapping = {(arr, k): t for arr, mine, p in combo for k, t in zip(mine, p, strict=True)}
            new = []
            for name, label, val in atoms:
                i = names.get(_rename(name, mapping))
                if i is None:
                    break
                if label is not None:
                    val2 = value_of(i, _rename(label, mapping))
                    if val2 is None:
                        break
                    val = val2
                elif not dst.vars[i].lo <= val <= dst.vars[i].hi:
                    break
                new.append((i, val))
            else:
                if len({i for i, _ in new}) == len(new):
                    out.add(tuple(sorted(new)))
    return sorted(out)
