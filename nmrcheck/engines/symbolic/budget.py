"""A wall-clock budget shared by all the solver calls of one engine run, within the run control.

The run control (:mod:`nmrcheck.control`) has the run's deadline and its stop requests (Ctrl-C,
SIGTERM, the memory bound). A ``Budget`` never ends after the control's deadline, and every
solver call made through :meth:`Budget.check` or :meth:`Budget.query` gets at most the time
left as its Z3 timeout and is interrupted (its context's ``interrupt``) when the run must stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import z3

from nmrcheck.control import Control, Stopped, current
from nmrcheck.engines.common.results import PARTIAL, UNKNOWN, PropertyResult
from nmrcheck.ir.system import Property

TIMEOUT = "timeout"  # the reason when the engine's own time limit ends it


class Budget:
    """``timeout`` seconds from now (``None``: no limit of its own), and never past the
    deadline of ``control`` (the current run control by default)."""

    def __init__(self, timeout: float | None, control: Control | None = None) -> None:
        self.control = control if control is not None else current()
        ends = [] if timeout is None else [time.monotonic() + max(0.0, timeout)]
        if self.control.deadline is not None:
            ends.append(self.control.deadline)
        self.end = min(ends) if ends else None

    def part(self, seconds: float | None) -> Budget:
        """At most ``seconds`` of what is left (all of it for ``None``), same control."""
        part = Budget(seconds, self.control)
        if self.end is not None and (part.end is None or part.end > self.end):
            part.end = self.end
        return part

    def left(self) -> float | None:
        """Seconds left (``None``: no limit)."""
        if self.end is None:
            return None
        return max(0.0, self.end - time.monotonic())

    def stopped(self) -> str:
        """Why the run must stop (the control's reason), or ``""``."""
        return self.control.poll()

    def expired(self) -> bool:
        """The time is up, or the run must stop."""
        if self.stopped():
            return True
        return self.end is not None and time.monotonic() >= self.end

    def why(self, fallback: str = TIMEOUT) -> str:
        """The control's reason when the run must stop, else ``fallback``."""
        return self.stopped() or fallback

    def millis(self) -> int | None:
        """Milliseconds left (at least 1), or ``None`` for no limit."""
        if self.end is None:
            return None
        return max(1, int((self.end - time.monotonic()) * 1000))

    def arm(self, solver: Any) -> None:
        """Give a Z3 ``Solver`` or ``Fixedpoint`` the time that is left, and leave Ctrl-C to
        the run control (Z3's own handler would take the signal from it during the call)."""
        ms = self.millis()
        if ms is not None:
            solver.set(timeout=ms, ctrl_c=False)
        else:
            solver.set(ctrl_c=False)

    def check(self, solver: z3.Solver, *assumptions: z3.BoolRef) -> tuple[z3.CheckSatResult, str]:
        """``solver.check(*assumptions)`` with the time left, interrupted when the run must
        stop: the answer, and why when it is ``unknown`` (the control's reason first)."""
        if self.expired():
            return z3.unknown, self.why()
        self.arm(solver)
        with self.control.on_stop(solver.ctx.interrupt):
            r = solver.check(*assumptions)
        if r != z3.unknown:
            return r, ""
        return r, self.stopped() or solver.reason_unknown() or "unknown"

    def query(self, fp: z3.Fixedpoint, *query: z3.BoolRef) -> z3.CheckSatResult:
        """``fp.query(*query)`` with the time left, interrupted when the run must stop (a
        timeout or an interrupt raises ``z3.Z3Exception``, as Z3 does)."""
        self.arm(fp)
        with self.control.on_stop(fp.ctx.interrupt):
            return fp.query(*query)


def stoppable(budget: Budget, work: Callable[[], None]) -> str:
    """Run ``work``, which ends early at its safe points (:func:`checkpoint`, solver calls that
    come back ``unknown``) or raises ``Stopped`` when the run must stop: the control's reason
    then, or ``""`` when it ran to the end. (Not one ``abortable`` block: an exception raised
    asynchronously could land in a Z3 object's finaliser, which only prints it.)"""
    try:
        work()
    except Stopped as stop:
        return stop.reason
    return budget.stopped()


def checkpoint() -> None:
    """A safe point: raise ``Stopped`` when the run control says the run must stop."""
    current().check()


def stopped(p: Property, engine: str, reason: str, bound: int | None = None) -> PropertyResult:
    """``UNKNOWN`` for a property the run stopped before deciding: ``reason`` is the
    control's (for example "time limit 5 s reached", "interrupted (Ctrl-C)")."""
    return PropertyResult(p.name, UNKNOWN, engine, coverage=PARTIAL, bound=bound, reason=reason)


def settle(results: list[PropertyResult], why: str) -> list[PropertyResult]:
    """``results``, where, when the run was stopped (``why``, the control's reason), every
    undecided property gives that reason (the engine's own, if another, in ``stats``)."""
    if why:
        for r in results:
            if r.verdict == UNKNOWN and r.reason != why:
                r.stats = dict(r.stats, gave_up=r.reason)
                r.reason = why
    return results
