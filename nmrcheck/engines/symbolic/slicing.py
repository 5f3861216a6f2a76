"""Cone-of-influence slicing: the variables and actions a set of expressions depends on.

The cone of ``roots`` is the smallest set of variables that contains the variables of
``roots`` and of ``halted``, and, for every action that writes a variable of the cone, the
variables its guard reads and those its updates of cone variables read. Actions that write no
variable of the cone are left out of the slice: they never change the cone's values.

The slice is exact, not an abstraction: an action of the slice is enabled in a state exactly
when it is enabled in the state's projection on the cone, and it updates the cone from the cone
alone. So the projections of the runs of the system are the runs of the slice (with the steps
of the left-out actions removed), and:

* a run of the slice, read as a sequence of actions, is a run of the system (``lift``);
* a shortest run of the system to a state set defined over the cone has only slice actions;
* an inductive invariant of the slice, over the cone variables, is one of the system.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import free_vars


@dataclass(frozen=True)
class Slice:
    """The cone ``vars`` (sorted variable indices) and the ``actions`` (indices into
    ``ts.actions``, in order) that write one of them."""

    vars: tuple[int, ...]
    actions: tuple[int, ...]

    def describe(self, ts: TransitionSystem) -> str:
        return (
            f"cone of influence: {len(self.vars)} of {len(ts.vars)} variables, "
            f"{len(self.actions)} of {len(ts.actions)} actions"
        )


def cone(ts: TransitionSystem, roots: Iterable[Expr]) -> Slice:
    """The slice of ``ts`` for the expressions ``roots``."""
    inside: set[int] = set(free_vars(ts.halted))
    for e in roots:
        inside |= free_vars(e)
    reads = [free_vars(a.guard) for a in ts.actions]
    update_reads = [[(i, free_vars(e)) for i, e in a.updates] for a in ts.actions]
    changed = True
    while changed:
        changed = False
        for n, ups in enumerate(update_reads):
            if not any(i in inside for i, _ in ups):
                continue
            need = set(reads[n])
            for i, fv in ups:
                if i in inside:
                    need |= fv
            if not need <= inside:
                inside |= need
                changed = True
    actions = tuple(n for n, a in enumerate(ts.actions) if any(i in inside for i, _ in a.updates))
    return Slice(tuple(sorted(inside)), actions)


def lift(ts: TransitionSystem, actions: Iterable[int]) -> Trace:
    """The run of ``ts`` from its initial state that fires ``actions`` (indices into
    ``ts.actions``) in order; the caller replays it to check it."""
    states = [ts.initial_state()]
    acts = tuple(actions)
    for a in acts:
        states.append(ts.fire(a, states[-1]))
    return Trace(tuple(states), acts)
