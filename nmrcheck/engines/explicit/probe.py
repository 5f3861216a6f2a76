"""A cheap deep search before the breadth-first one, and the shortening of what it finds.

Breadth-first search gives shortest counterexamples, but it reaches a violation at depth
``d`` only after every state of depth below ``d``. A depth-first search, as SPIN's, can reach
a deep violation after a few thousand states. :func:`probe` runs one (successors in an order
shuffled from a seed, a state budget), and :func:`shorten` removes the steps the
counterexample does not need (delta debugging over its steps: a shorter sequence of actions
is kept when it still replays and still breaks the invariant). The caller then proves the
result shortest, or says it is not, with a breadth-first search bounded by its length.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nmrcheck import control
from nmrcheck.engines.explicit.codegen import Compiled, compile_system
from nmrcheck.engines.explicit.search import safety_view
from nmrcheck.ir import INVARIANT, TransitionSystem

PROBE_STATES = 4096  # states the deep search may store before it gives up


@dataclass
class Found:
    """A run that breaks an invariant: its actions, its packed states (from the initial
    one), and the properties (as a mask over the compiled properties) broken at its end."""

    actions: list[int]
    states: list[int]
    broken: int


@dataclass
class Target:
    """A system prepared for deep searches and runs: its safety view compiled, the initial
    packed state and the mask of the invariants to look for."""

    ts: TransitionSystem
    comp: Compiled
    initial: int
    stop_mask: int


def prepare(ts: TransitionSystem) -> Target:
    """Compile the safety view of ``ts`` for deep searches and runs."""
    view = safety_view(ts)
    comp = compile_system(view)
    stop = 0
    for pi, p in enumerate(view.properties):
        if p.kind == INVARIANT:
            stop |= 1 << pi
    return Target(view, comp, comp.layout.pack(view.initial_state()), stop)


def probe(comp: Compiled, initial: int, stop_mask: int, budget: int = PROBE_STATES,
          seed: int = 0) -> Found | None:
    """A depth-first search from ``initial`` (no reduction) for a state where a property
    of ``stop_mask`` fails; None when none was met within ``budget`` stored states."""
    rng = random.Random(seed)
    succ, found_in = comp.successors, comp.found
    if found_in(initial, 0) & stop_mask:
        return Found([], [initial], found_in(initial, 0) & stop_mask)
    seen = {initial}
    path_states, path_actions = [initial], []
    stack: list[list[tuple[int, int]]] = [_shuffled(succ(initial)[0], rng)]
    ctl = control.current()
    while stack:
        if len(seen) >= budget or (len(seen) & 255 == 0 and ctl.poll()):
            return None
        todo = stack[-1]
        if not todo:
            stack.pop()
            path_states.pop()
            if path_actions:
                path_actions.pop()
            continue
        a, t = todo.pop()
        if t in seen:
            continue
        seen.add(t)
        path_states.append(t)
        path_actions.append(a)
        broken = found_in(t, 0) & stop_mask
        if broken:
            return Found(list(path_actions), list(path_states), broken)
        stack.append(_shuffled(succ(t)[0], rng))
    return None


def _shuffled(out: list[tuple[int, int]], rng: random.Random) -> list[tuple[int, int]]:
    out = list(out)
    rng.shuffle(out)
    return out


def replay(comp: Compiled, initial: int, actions: Sequence[int],
           broken: Callable[[int], bool]) -> list[int] | None:
    """The packed states of running ``actions`` from ``initial``, cut at the first state
    where ``broken`` holds; None when an action is not enabled on the way or no such state
    is met."""
    succ = comp.successors
    s = initial
    states = [s]
    if broken(s):
        return states
    for a in actions:
        t = next((t for b, t in succ(s)[0] if b == a), None)
        if t is None:
            return None
        states.append(t)
        if broken(t):
            return states
        s = t
    return None


def shorten(comp: Compiled, initial: int, found: Found) -> Found:
    """``found`` without the steps it does not need: chunks of its actions, halved down to
    single steps (ddmin), are dropped while the rest still replays and still breaks one of
    the properties it broke."""
    want = found.broken
    found_in = comp.found

    def broken(s: int) -> bool:
        return bool(found_in(s, 0) & want)

    actions = list(found.actions)
    size = max(1, len(actions) // 2)
    ctl = control.current()
    while size >= 1 and actions:
        k = 0
        changed = False
        while k < len(actions):
            if ctl.poll():
                break
            trial = actions[:k] + actions[k + size:]
            states = replay(comp, initial, trial, broken)
            if states is not None:
                actions = trial[: len(states) - 1]
                changed = True
            else:
                k += size
        if not changed:
            size //= 2
    states = replay(comp, initial, actions, broken) or found.states
    return Found(actions, states, found_in(states[-1], 0) & want or want)
