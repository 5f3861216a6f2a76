"""What earlier PDR calls learnt about a system, for later calls on the same system object.

The ``auto`` engine asks PDR about one property at a time, each call with a share of the time
left. Invariant inference works for all the properties of a cone of influence at once, so the
first call learns what the later ones need; this keeps it:

* ``decided``: the results inference found (proofs, each with a certificate re-checked by a
  fresh solver when it was found, and refutations by a replayed shortest run), by property;
* ``houdini``: by cone of influence, the candidate facts Houdini has not dropped yet and the
  properties it ran with (a fact it dropped is outside the largest inductive subset, also of
  fewer candidates, so a later run may go on from these), or the invariant it found;
* ``sampled``: by cone of influence, whether the system's own sample was all its states
  (its refutations are in ``decided``).

The memory is tied to the system object (a fresh one starts empty, so the same input gives the
same answers) and to its fingerprint (a system changed in place starts over).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from nmrcheck.engines.common.results import PropertyResult
from nmrcheck.ir.system import Property, TransitionSystem
from nmrcheck.ir.walkers import to_text

from .candidates import Clause
from .certificate import system_fingerprint

PropertyKey = tuple[str, str, str]


@dataclass
class Progress:
    """Houdini on one cone of influence: the candidate facts not dropped yet and the
    properties (keys) it ran with, the ``source`` of the facts, and the invariant once found."""

    clauses: list[Clause]
    universe: frozenset[PropertyKey]
    source: str
    count: int  # candidate facts at the start
    inferred: Any = None


@dataclass
class Learnt:
    """What earlier calls learnt about one system."""

    fingerprint: str
    decided: dict[PropertyKey, PropertyResult] = field(default_factory=dict)
    houdini: dict[tuple[int, ...], Progress] = field(default_factory=dict)
    sampled: dict[tuple[int, ...], bool] = field(default_factory=dict)


_LEARNT: dict[int, tuple[weakref.ref[TransitionSystem], Learnt]] = {}


def learnt(ts: TransitionSystem) -> Learnt:
    """What earlier calls learnt about ``ts`` (empty for a new or changed system)."""
    fp = system_fingerprint(ts)
    entry = _LEARNT.get(id(ts))
    if entry is not None and entry[0]() is ts and entry[1].fingerprint == fp:
        return entry[1]
    memo = Learnt(fp)
    ident = id(ts)
    _LEARNT[ident] = (weakref.ref(ts, lambda _: _LEARNT.pop(ident, None)), memo)
    return memo


def key(p: Property) -> PropertyKey:
    """A property by its name, kind and expression."""
    return (p.name, p.kind, to_text(p.expr))
