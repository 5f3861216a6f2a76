"""The jobs that run on a worker (a Ray task or actor, or this process without ``--ray``).

Each is a module-level function (or a :class:`CheckWorker` method) of picklable arguments
returning a picklable value. A sweep's or a swarm's system arrives compiled (a
:class:`TransitionSystem`, whose expression nodes are interned again when unpickled); the
models of ``check --ray`` arrive as text and are compiled by the worker that checks them,
which sends the compiled system to the driver once. The answer goes back whole for the driver
to replay and render, exactly as a check in one process does.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field, replace

from nmrcheck import control
from nmrcheck.engines import swarm
from nmrcheck.engines.common.results import HANG, UNKNOWN, CheckResult, PropertyResult
from nmrcheck.engines.explicit import probe
from nmrcheck.engines.run import Plan
from nmrcheck.engines.run import run as run_engines
from nmrcheck.errors import Finding, InputError
from nmrcheck.ir import TransitionSystem
from nmrcheck.nmr.load import load_text

MIN_SECONDS = 0.01  # a task that starts after its deadline still answers (unknown)


@dataclass
class Outcome:
    """A check's answer, the time each phase took, and what it told the user."""

    result: CheckResult
    phases: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


def check_task(ts: TransitionSystem, plan: Plan, limit: tuple[float, float] | None,
               max_memory_mb: int | None, own_control: bool = True) -> Outcome:
    """``nmrcheck check`` of one model (one configuration): under a run control of its own
    (a worker), or under the caller's (``own_control`` False: this process, one job after
    the other, as ``check`` without ``--ray``). ``limit``: the command's ``--timeout`` and
    the deadline (``time.time()``) it sets for every task."""
    ctl = control.current()
    if own_control:
        ctl = control.Control(limit[0] if limit else None, max_memory_mb)
        if limit is not None:
            ctl.deadline = time.monotonic() + max(MIN_SECONDS, limit[1] - time.time())
    notices: list[str] = []
    plan = replace(plan, notice=notices.append, progress=None)
    if own_control:  # a Ray worker: Ray runs one beside the other on each CPU
        plan = replace(plan, cores=1)
    with ctl.installed() if own_control else contextlib.nullcontext():
        try:
            result = run_engines(ts, plan)
        except control.Stopped as stop:
            result = stopped_result(ts, plan, stop.reason, stop.interrupted)
    return Outcome(result, dict(ctl.phases) if own_control else {}, notices)


def stopped_result(ts: TransitionSystem, plan: Plan, reason: str,
                   interrupted: bool = False) -> CheckResult:
    """Every property of ``ts`` (those of ``plan``) unknown, for ``reason``."""
    names = [p.name for p in ts.properties] + ([HANG] if plan.hangs else [])
    if plan.properties:
        names = [n for n in names if n in plan.properties]
    results = [PropertyResult(n, UNKNOWN, "explicit", "partial", reason=reason) for n in names]
    return CheckResult(results, "explicit", {"complete": False, "interrupted": interrupted})


Source = tuple[str, str]  # a model's file name and text
Loaded = TransitionSystem | tuple[Finding, ...]  # a compiled model, or why it is not one


class CheckWorker:
    """A long-lived worker of ``check --ray`` (a Ray actor, one per CPU): it compiles the
    models it is given with the run's specs and knobs, keeps each until its check, and checks
    any model (one it was not given, or lost when its process was restarted, is compiled
    again from its text)."""

    def __init__(self, specs: list[tuple[str, str]], options: dict[str, str]) -> None:
        self.specs, self.options = specs, options
        self._systems: dict[str, TransitionSystem] = {}

    def load(self, sources: list[Source]) -> list[Loaded]:
        """Compile ``sources`` (kept for their checks): each system, or its findings."""
        out = [self.compile(file, text) for file, text in sources]
        for (file, _), got in zip(sources, out):
            if isinstance(got, TransitionSystem):
                self._systems[file] = got
        return out

    def compile(self, file: str, text: str) -> Loaded:
        """The system of ``text``, or its findings (an InputError does not survive
        pickling)."""
        try:
            return self._compile(file, text)
        except InputError as exc:
            return tuple(exc.findings)

    def check(self, source: Source, plan: Plan, limit: tuple[float, float] | None,
              max_memory_mb: int | None) -> Outcome:
        """:func:`check_task` of ``source`` (compiled again unless this worker kept it)."""
        ts = self._systems.pop(source[0], None) or self._compile(*source)
        return check_task(ts, plan, limit, max_memory_mb)

    def _compile(self, file: str, text: str) -> TransitionSystem:
        return load_text(text, file, self.specs, self.options)


_TARGETS: dict[str, probe.Target] = {}  # per worker process: systems compiled for runs


def swarm_task(ts: TransitionSystem, key: str, spec: swarm.RunSpec,
               deadline: float | None) -> swarm.RunResult:
    """One run of a swarm (the system compiled once per worker process and ``key``)."""
    target = _TARGETS.get(key)
    if target is None:
        _TARGETS.clear()
        target = _TARGETS[key] = probe.prepare(ts)
    return swarm.run(target, spec, deadline)
