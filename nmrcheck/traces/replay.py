"""Replay a trace through the IR: every counterexample is checked before it is shown."""

from __future__ import annotations

from nmrcheck.errors import InternalError
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate


def divergence(ts: TransitionSystem, trace: Trace, from_initial: bool = True) -> str | None:
    """Where ``trace`` stops being a run of ``ts`` (a message), or None if it is one."""
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
    return None


def check_replays(ts: TransitionSystem, trace: Trace, from_initial: bool = True) -> None:
    """Raise InternalError unless ``trace`` is a run of ``ts``."""
    why = divergence(ts, trace, from_initial)
    if why is not None:
        raise InternalError(f"a counterexample does not replay: {why}")
