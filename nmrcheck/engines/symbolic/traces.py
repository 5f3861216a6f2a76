"""Reading a run back from a Z3 model, and replaying it with the reference interpreter."""

from __future__ import annotations

import z3

from nmrcheck.errors import InternalError
from nmrcheck.ir.expr import Expr
from nmrcheck.ir.system import TransitionSystem
from nmrcheck.ir.trace import Trace, divergence

from .encode import action_at, var_at


def read_trace(
    ts: TransitionSystem, model: z3.ModelRef, k: int, ctx: z3.Context | None = None
) -> Trace:
    """Frames ``0..k`` and the selectors ``action#0..action#k-1`` of ``model`` as a trace."""

    def value(x: z3.ArithRef) -> int:
        return model.eval(x, model_completion=True).as_long()

    states = tuple(
        tuple(value(var_at(ts, i, j, ctx)) for i in range(len(ts.vars))) for j in range(k + 1)
    )
    actions = tuple(value(action_at(j, ctx)) for j in range(k))
    return Trace(states, actions)


def replay(
    ts: TransitionSystem,
    trace: Trace,
    *,
    from_init: bool = True,
    end: Expr | None = None,
    what: str = "trace",
) -> Trace:
    """Check ``trace`` against ``ts.enabled``/``ts.fire`` (and that it starts in the initial
    state when ``from_init``, and that its last state satisfies ``end`` when given); return it.
    A trace that does not replay is an ``InternalError``: the encoding and the interpreter
    disagree."""
    why = divergence(ts, trace, from_init, end)
    if why is not None:
        raise InternalError(f"{what}: {why}")
    return trace
