"""A run of a transition system: the data every engine produces and every renderer reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from nmrcheck.ir.walkers import evaluate

if TYPE_CHECKING:
    from nmrcheck.ir.expr import Expr
    from nmrcheck.ir.system import TransitionSystem


@dataclass(frozen=True)
class Trace:
    """States ``s0 .. sn`` and the actions between them (``actions[i]`` takes ``states[i]``
    to ``states[i+1]``). A lasso has ``loop_start``: the run loops from its last state back
    to ``states[loop_start]``."""

    states: tuple[tuple[int, ...], ...]
    actions: tuple[int, ...]
    loop_start: int | None = None

    def __post_init__(self) -> None:
        if len(self.states) != len(self.actions) + 1:
            raise ValueError("a trace has one more state than actions")

    def __len__(self) -> int:
        return len(self.actions)


def divergence(ts: TransitionSystem, trace: Trace, from_initial: bool = True,
               end: Expr | None = None) -> str | None:
    """Where ``trace`` stops being a run of ``ts`` by the reference interpreter (a message),
    or ``None`` if it is one (starting in the initial state when ``from_initial``, and ending
    in a state where ``end`` holds when given). The one replay every engine and loader uses."""
    if len(trace.states[0]) != len(ts.vars):
        return f"its states have {len(trace.states[0])} values, the system {len(ts.vars)}"
    if from_initial and tuple(trace.states[0]) != ts.initial_state():
        return "the first state is not the initial state"
    for k, a in enumerate(trace.actions):
        s = trace.states[k]
        if not 0 <= a < len(ts.actions):
            return f"step {k + 1}: no action {a}"
        if evaluate(ts.halted, s) or not evaluate(ts.actions[a].guard, s):
            return f"step {k + 1}: '{ts.actions[a].label}' is not enabled"
        if ts.fire(a, s) != tuple(trace.states[k + 1]):
            return f"step {k + 1}: '{ts.actions[a].label}' leads to another state"
    if end is not None and not evaluate(end, trace.states[-1]):
        return "the last state is not the one claimed"
    return None
