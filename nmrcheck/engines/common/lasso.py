"""Whether a run is a fair counterexample to a liveness property, by the reference
interpreter alone: what every engine's lasso (explicit fair cycles, symbolic lasso search,
a trace read back from a file) is checked against before it is shown."""

from __future__ import annotations

from nmrcheck.errors import InternalError
from nmrcheck.ir import EVENTUALLY, STRONG, WEAK, Property, TransitionSystem
from nmrcheck.ir.trace import Trace
from nmrcheck.ir.walkers import evaluate


def lasso_problem(
    ts: TransitionSystem, prop: Property, trace: Trace, trigger: int | None = None
) -> str | None:
    """Why ``trace`` is not a fair counterexample to ``prop`` (an ``eventually`` or a
    ``leads_to`` without parts), or None when it is one. Uses only the reference interpreter:
    the run replays from the initial state, its loop closes (or it stutters in a state where
    no fairness group is enabled), the loop is fair, and the property never comes true from
    the trigger on (``trigger``: its index; None tries every state)."""
    if tuple(trace.states[0]) != ts.initial_state():
        return "the first state is not the initial state"
    for k, a in enumerate(trace.actions):
        if a not in ts.enabled(trace.states[k]):
            return f"step {k + 1}: action {a} is not enabled"
        if ts.fire(a, trace.states[k]) != tuple(trace.states[k + 1]):
            return f"step {k + 1}: action {a} leads to another state"
    j, n = trace.loop_start, len(trace.states) - 1
    if j is None or not 0 <= j <= n:
        return "not a lasso"
    last = trace.states[-1]
    if evaluate(ts.halted, last):
        return "the run ends in a crash"

    def unfair(loop_states: list, loop_actions: list) -> str | None:
        for f in ts.fairness:
            acts = set(f.actions)
            taken = any(a in acts for a in loop_actions)
            on = [any(a in acts for a in ts.enabled(s)) for s in loop_states]
            if f.kind == WEAK and all(on) and not taken:
                return f"the loop is unfair to {f.name} (weak)"
            if f.kind == STRONG and any(on) and not taken:
                return f"the loop is unfair to {f.name} (strong)"
        return None

    stutter = j == n and unfair([last], []) is None
    if not stutter:
        if j == 0 or tuple(trace.states[j - 1]) != tuple(last):
            return f"the last state is not the state before step {j}"
        why = unfair(list(trace.states[j - 1 : n]), list(trace.actions[j - 1 : n]))
        if why is not None:
            return why
    if prop.kind == EVENTUALLY:
        hit = [k for k, s in enumerate(trace.states) if evaluate(prop.expr, s)]
        return f"{prop.name} holds at step {hit[0]}" if hit else None
    first_loop = n if stutter else j - 1
    candidates = range(n + 1) if trigger is None else [trigger]
    for t in candidates:
        if not evaluate(prop.expr, trace.states[t]):
            continue
        span = range(min(t, first_loop), n + 1)
        if not any(evaluate(prop.target, trace.states[k]) for k in span):
            return None
    return f"no state of the run triggers {prop.name} without its target following"


def verify_lasso(ts: TransitionSystem, prop: Property, trace: Trace, trigger: int | None) -> None:
    """Raise InternalError unless ``trace`` is a fair counterexample to ``prop``."""
    why = lasso_problem(ts, prop, trace, trigger)
    if why is not None:
        raise InternalError(f"a liveness counterexample to {prop.name} is wrong: {why}")
