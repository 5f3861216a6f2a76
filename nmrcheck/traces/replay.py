"""Replay a trace through the IR: every counterexample is checked before it is shown."""

from __future__ import annotations

from nmrcheck.errors import InternalError
from nmrcheck.ir import TransitionSystem
from nmrcheck.ir.trace import Trace, divergence

__all__ = ["check_replays", "divergence"]


def check_replays(ts: TransitionSystem, trace: Trace, from_initial: bool = True) -> None:
    """Raise InternalError unless ``trace`` is a run of ``ts``."""
    why = divergence(ts, trace, from_initial)
    if why is not None:
        raise InternalError(f"a counterexample does not replay: {why}")
